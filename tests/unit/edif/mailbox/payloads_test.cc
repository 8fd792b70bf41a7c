#include "edif/mailbox/payloads.h"

#include <gtest/gtest.h>

#include "edif/mailbox/app_auth.h"

namespace cafs::edif::mailbox {
namespace {

template <typename T>
T RoundTrip(MessageType type, const T& v) {
  Bytes wire;
  if constexpr (std::is_same_v<decltype(EncodePayload(v)), Bytes>) {
    wire = EncodePayload(v);
  } else {
    auto r = EncodePayload(v);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    wire = *r;
  }
  auto d = DecodePayload(type, wire);
  EXPECT_TRUE(d.ok()) << MessageTypeName(type) << ": " << d.status().ToString();
  // Every strict prefix fails (no length is trusted), and so does one extra byte.
  for (std::size_t n = 0; n < wire.size(); ++n) {
    EXPECT_FALSE(DecodePayload(type, ByteView(wire).first(n)).ok())
        << MessageTypeName(type) << " prefix " << n;
  }
  Bytes longer = wire;
  longer.push_back(0);
  EXPECT_FALSE(DecodePayload(type, longer).ok()) << MessageTypeName(type);
  return std::get<T>(std::move(d).value());
}

Nonce NonceOf(std::uint8_t x) {
  Nonce n{};
  n.fill(x);
  return n;
}

TEST(MailboxPayloads, DownstreamRoundTrips) {
  AppStart start{AppStartPhase::kProve, 7, 0x55, NonceOf(1), {}, "edif-agent"};
  start.proof.fill(9);
  EXPECT_EQ(RoundTrip(MessageType::kAppStart, start), start);
  EXPECT_EQ(RoundTrip(MessageType::kAppStop, AppStop{3}), AppStop{3});
  EXPECT_EQ(RoundTrip(MessageType::kGetPortInfo, GetPortInfo{}), GetPortInfo{});
  EXPECT_EQ(RoundTrip(MessageType::kGetTargets, GetTargets{5, 10}), (GetTargets{5, 10}));
  AuthElsSend els;
  els.target_wwpn = 0x5000;
  els.target_port_id = 0x0A0B0C;
  els.exchange_id = 77;
  els.flags = kElsNewExchange;
  els.frame = Bytes(1000, 0x42);
  EXPECT_EQ(static_cast<const ElsFrame&>(RoundTrip(MessageType::kAuthElsSend, els)),
            static_cast<const ElsFrame&>(els));
  EXPECT_EQ(RoundTrip(MessageType::kAuthResult, AuthResult{1, 2, AuthOutcome::kFail, 4}),
            (AuthResult{1, 2, AuthOutcome::kFail, 4}));
  EXPECT_EQ(RoundTrip(MessageType::kEventAck, EventAck{9, MessageType::kTargetLost, 3}),
            (EventAck{9, MessageType::kTargetLost, 3}));
  EXPECT_EQ(RoundTrip(MessageType::kGetStats, GetStats{8}), GetStats{8});
  EXPECT_EQ(RoundTrip(MessageType::kKeepalive, Keepalive{}), Keepalive{});
}

TEST(MailboxPayloads, SaUpdateKeyLandsInSecureBuffer) {
  for (std::size_t key_len : {16u, 32u}) {
    SaUpdate sa;
    sa.target_wwpn = 0x1234;
    sa.target_port_id = 0x10203;
    sa.direction = SaDirection::kTx;
    sa.op = SaOp::kAdd;
    sa.spi = 0xDEADBEEF;
    Bytes key(key_len);
    for (std::size_t i = 0; i < key_len; ++i) key[i] = static_cast<std::uint8_t>(i + 1);
    sa.key = SecureBuffer(key);
    sa.salt = {1, 2, 3, 4};
    SaUpdate back = RoundTrip(MessageType::kSaUpdate, sa);
    EXPECT_TRUE(back.key.Equals(sa.key));
    EXPECT_EQ(back.spi, sa.spi);
    EXPECT_EQ(back.salt, sa.salt);
    EXPECT_EQ(back.direction, SaDirection::kTx);
  }
  SaUpdate del;
  del.op = SaOp::kDelete;
  del.spi = 5;
  EXPECT_TRUE(RoundTrip(MessageType::kSaUpdate, del).key.empty());
  // Bad key lengths and SPI 0 are refused.
  SaUpdate bad;
  bad.spi = 1;
  bad.key = SecureBuffer(24);
  EXPECT_FALSE(EncodePayload(bad).ok());
  Bytes wire = *EncodePayload(del);
  StoreLe32(wire.data() + 16, 0);  // spi
  EXPECT_EQ(ErrorOf(DecodePayload(MessageType::kSaUpdate, wire).status()),
            MailboxError::kBadPayload);
}

TEST(MailboxPayloads, UpstreamRoundTrips) {
  ResultMsg r{MessageType::kGetPortInfo,
              MailboxError::kNone,
              0,
              "ok",
              static_cast<std::uint16_t>(MessageType::kPortInfo),
              Bytes(32, 1)};
  EXPECT_EQ(RoundTrip(MessageType::kResult, r), r);
  EXPECT_EQ(RoundTrip(MessageType::kAuthNeeded, AuthNeeded{1, 2, 1}), (AuthNeeded{1, 2, 1}));
  ElsReceived els;
  els.frame = {1, 2, 3};
  els.flags = kElsReply | kElsLast;
  EXPECT_EQ(static_cast<const ElsFrame&>(RoundTrip(MessageType::kElsReceived, els)),
            static_cast<const ElsFrame&>(els));
  SaUpdateComplete c{1, 2, 3, SaDirection::kRx, SaOp::kDelete, 5};
  EXPECT_EQ(RoundTrip(MessageType::kSaUpdateComplete, c), c);
  SaExpiring x{1, 2, 3, SaDirection::kTx, ExpiryReason::kFrames};
  EXPECT_EQ(RoundTrip(MessageType::kSaExpiring, x), x);
  for (MessageType t :
       {MessageType::kTargetLost, MessageType::kSessionShutdown, MessageType::kTargetAdded}) {
    EXPECT_EQ(RoundTrip(t, TargetEvent{7, 8, 9}), (TargetEvent{7, 8, 9}));
  }
  EXPECT_EQ(RoundTrip(MessageType::kLinkState, LinkState{LinkStateValue::kUp, 32000}),
            (LinkState{LinkStateValue::kUp, 32000}));
  EXPECT_EQ(RoundTrip(MessageType::kEpochReset, EpochReset{99, 1}), (EpochReset{99, 1}));
  EXPECT_EQ(RoundTrip(MessageType::kNop, Nop{}), Nop{});
}

TEST(MailboxPayloads, ReplyPayloadRoundTrips) {
  PortInfo pi{0x2100, 0x2000, 0x010101, LinkStateValue::kUp, kPortEdifCapable, 16000};
  EXPECT_EQ(*DecodePortInfo(EncodePayload(pi)), pi);
  TargetList tl;
  tl.total = 3;
  tl.entries = {
      {1, 2, TargetState::kOnlineSecure, TargetAuthState::kAuthenticated, kTargetRequireSecure},
      {3, 4, TargetState::kOffline, TargetAuthState::kNone, 0}};
  Bytes wire = *EncodePayload(tl);
  EXPECT_EQ(*DecodeTargetList(wire), tl);
  wire.pop_back();
  EXPECT_FALSE(DecodeTargetList(wire).ok());
  Stats st;
  st.entries = {{1, 2, 3, 4, 5, 6, 7, 8}};
  EXPECT_EQ(*DecodeStats(*EncodePayload(st)), st);
  AppChallenge ch{NonceOf(3), 12};
  EXPECT_EQ(*DecodeAppChallenge(EncodePayload(ch)), ch);
  AppStartReply rep{5, 10000, 60000, 65536, 1, {}};
  rep.driver_proof.fill(4);
  EXPECT_EQ(*DecodeAppStartReply(EncodePayload(rep)), rep);
  // A count that promises more entries than the bytes hold.
  Bytes lie = *EncodePayload(TargetList{});
  StoreLe32(lie.data() + 4, 1000);
  EXPECT_FALSE(DecodeTargetList(lie).ok());
}

TEST(MailboxPayloads, LimitsAreEnforced) {
  AppStart start;
  start.app_id = std::string(kMaxAppIdLen + 1, 'a');
  EXPECT_EQ(ErrorOf(EncodePayload(start).status()), MailboxError::kPayloadTooLong);
  ElsFrame els;
  els.frame = Bytes(kMaxElsFrame + 1);
  EXPECT_EQ(ErrorOf(EncodePayload(els).status()), MailboxError::kPayloadTooLong);
  Bytes wire = *EncodePayload(ElsFrame{});
  StoreLe32(wire.data() + 20, 0xFFFFFFFF);
  EXPECT_EQ(ErrorOf(DecodePayload(MessageType::kAuthElsSend, wire).status()),
            MailboxError::kPayloadTooLong);
  EXPECT_EQ(ErrorOf(DecodePayload(MessageType::kPortInfo, {}).status()),
            MailboxError::kUnknownType);
}

TEST(MailboxAppAuth, ProofBindsEveryInputAndRole) {
  const Bytes secret(32, 0x11);
  ProofInput in;
  in.wwpn = 1;
  in.port_id = 2;
  in.epoch = 3;
  in.driver_nonce = NonceOf(4);
  in.agent_nonce = NonceOf(5);
  in.app_id = "agent";
  auto p = ComputeProof(secret, ProofRole::kAgent, in);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(VerifyProof(secret, ProofRole::kAgent, in, *p));
  EXPECT_FALSE(VerifyProof(secret, ProofRole::kDriver, in, *p));
  ProofInput other = in;
  other.epoch = 4;
  EXPECT_FALSE(VerifyProof(secret, ProofRole::kAgent, other, *p));
  other = in;
  other.driver_nonce[31] ^= 1;
  EXPECT_FALSE(VerifyProof(secret, ProofRole::kAgent, other, *p));
  EXPECT_FALSE(VerifyProof(Bytes(32, 0x12), ProofRole::kAgent, in, *p));
  EXPECT_FALSE(ComputeProof(Bytes(8, 1), ProofRole::kAgent, in).ok());
}

}  // namespace
}  // namespace cafs::edif::mailbox
