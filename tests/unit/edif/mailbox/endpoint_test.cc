#include "edif/mailbox/endpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "edif/mailbox/app_auth.h"

namespace cafs::edif::mailbox {
namespace {

using std::chrono::milliseconds;

class FakeDelegate : public MailboxDelegate {
 public:
  Reply Execute(const Request& r) override {
    executed.push_back(r.header);
    if (const auto* sa = std::get_if<SaUpdate>(&r.payload)) last_key = sa->key.Clone();
    if (hook) return hook(r);
    return Reply::Ok();
  }
  void OnAgentStarted(std::uint64_t epoch, const AppStart& app) override {
    started.push_back(epoch);
    app_id = app.app_id;
  }
  void OnAgentStopped(AgentStopReason reason) override { stopped.push_back(reason); }

  std::vector<Header> executed;
  std::vector<std::uint64_t> started;
  std::vector<AgentStopReason> stopped;
  std::string app_id;
  SecureBuffer last_key;
  std::function<Reply(const Request&)> hook;
};

constexpr std::uint64_t kWwpn = 0x21000024FF00AA01ull;
constexpr std::uint32_t kPortId = 0x0A0B0C;
constexpr std::uint64_t kLba = kReservedSectors;  // first usable sector

class MailboxEndpointTest : public testing::Test {
 protected:
  MailboxEndpointTest() : clock_(Clock::TimePoint(std::chrono::hours(1000))) {
    config_.wwpn = kWwpn;
    config_.port_id = kPortId;
    config_.initial_epoch = 100;
    config_.nop_timeout = milliseconds(100);
    config_.keepalive_timeout = milliseconds(5000);
    config_.ack_timeout = milliseconds(300);
    config_.replay_window = 8;
    Reset();
  }
  void Reset() {
    ep_ = std::make_unique<MailboxEndpoint>(config_, SecureBuffer(Secret()), delegate_, clock_);
  }
  static Bytes Secret() { return Bytes(32, 0x5A); }

  // Parks a read; the returned slot fills when the read completes.
  std::shared_ptr<std::optional<Bytes>> Park(std::size_t len = 4096) {
    auto slot = std::make_shared<std::optional<Bytes>>();
    EXPECT_TRUE(ep_->Read(kLba * kSectorSize, len, [slot](Bytes b) { *slot = std::move(b); }).ok());
    return slot;
  }
  static std::vector<Message> Decode(const Bytes& b) {
    auto m = DecodeUpstream(b);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : std::vector<Message>{};
  }
  // Everything queued now (several reads if needed).
  std::vector<Message> Drain() {
    std::vector<Message> out;
    while (ep_->queued_messages() > 0) {
      auto slot = Park(kMaxMessageSize);
      EXPECT_TRUE(slot->has_value());
      for (Message& m : Decode(**slot)) out.push_back(std::move(m));
    }
    return out;
  }
  static ResultMsg AsResult(const Message& m) {
    EXPECT_EQ(m.header.type, MessageType::kResult);
    auto p = DecodePayload(m.header.type, m.payload);
    EXPECT_TRUE(p.ok());
    return std::get<ResultMsg>(*p);
  }
  // The one RESULT produced by the last request.
  ResultMsg OneResult(std::uint64_t req_id) {
    auto msgs = Drain();
    EXPECT_EQ(msgs.size(), 1u);
    if (msgs.empty()) return {};
    EXPECT_EQ(msgs[0].header.req_id, req_id);
    return AsResult(msgs[0]);
  }

  Status Send(MessageType type, ByteView payload, std::uint64_t req_id,
              std::optional<std::uint64_t> seq = std::nullopt,
              std::optional<std::uint64_t> epoch = std::nullopt) {
    Header h;
    h.type = type;
    h.seq = seq.value_or(++seq_);
    h.epoch = epoch.value_or(epoch_);
    h.req_id = req_id;
    h.wwpn = kWwpn;
    h.port_id = kPortId;
    auto wire = EncodeDownstream(h, payload);
    EXPECT_TRUE(wire.ok());
    return ep_->Write(kLba * kSectorSize, *wire);
  }

  ProofInput Input(const AppStart& app, const AppChallenge& ch) {
    ProofInput in;
    in.wwpn = kWwpn;
    in.port_id = kPortId;
    in.epoch = ch.epoch;
    in.driver_nonce = ch.driver_nonce;
    in.agent_nonce = app.agent_nonce;
    in.app_version = app.app_version;
    in.capabilities = app.capabilities;
    in.app_id = app.app_id;
    return in;
  }

  // The full APP_START exchange; returns the final RESULT.
  ResultMsg Start(const Bytes& secret = Secret(), std::uint8_t nonce = 7) {
    Drain();
    AppStart app;
    app.phase = AppStartPhase::kHello;
    app.app_version = 1;
    app.app_id = "test-agent";
    app.agent_nonce.fill(nonce);
    EXPECT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 1).ok());
    ResultMsg hello = OneResult(1);
    EXPECT_EQ(hello.err, 0u) << hello.detail;
    EXPECT_EQ(hello.reply_type, static_cast<std::uint16_t>(MessageType::kAppChallenge));
    AppChallenge ch = *DecodeAppChallenge(hello.reply);
    app.phase = AppStartPhase::kProve;
    app.proof = *ComputeProof(secret, ProofRole::kAgent, Input(app, ch));
    seq_ = 0;
    EXPECT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 2, 1, ch.epoch).ok());
    ResultMsg prove = OneResult(2);
    if (prove.err == 0) {
      AppStartReply reply = *DecodeAppStartReply(prove.reply);
      EXPECT_EQ(reply.epoch, ch.epoch);
      EXPECT_TRUE(VerifyProof(secret, ProofRole::kDriver, Input(app, ch), reply.driver_proof));
      EXPECT_EQ(reply.nop_timeout_ms, 100u);
      epoch_ = reply.epoch;
    }
    return prove;
  }

  ManualClock clock_;
  FakeDelegate delegate_;
  EndpointConfig config_;
  std::unique_ptr<MailboxEndpoint> ep_;
  std::uint64_t seq_ = 0;
  std::uint64_t epoch_ = 0;
};

TEST_F(MailboxEndpointTest, ReservedRegionReadsZerosAndRefusesWrites) {
  const std::size_t queued = ep_->queued_messages();
  std::optional<Bytes> got;
  ASSERT_TRUE(ep_->Read(0, 64 * kSectorSize, [&](Bytes b) { got = std::move(b); }).ok());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Bytes(64 * kSectorSize, 0));
  EXPECT_EQ(ep_->queued_messages(), queued);  // nothing consumed
  const Status w = ep_->Write(63 * kSectorSize, Bytes(kSectorSize, 0));
  EXPECT_EQ(ErrorOf(w), MailboxError::kReservedLba);
  EXPECT_TRUE(w.IsPermissionDenied());
  EXPECT_EQ(ErrorOf(ep_->Write(kLba * kSectorSize + 1, Bytes(kSectorSize, 0))),
            MailboxError::kMisaligned);
  EXPECT_EQ(ErrorOf(ep_->Read(kLba * kSectorSize, 100, [](Bytes) {})), MailboxError::kMisaligned);
}

TEST_F(MailboxEndpointTest, AnnouncesEpochThenStartsWithMutualProof) {
  auto first = Drain();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].header.type, MessageType::kEpochReset);
  EXPECT_EQ(first[0].header.epoch, 100u);
  EXPECT_EQ(first[0].header.wwpn, kWwpn);
  EXPECT_EQ(first[0].header.port_id, kPortId);
  ResultMsg r = Start();
  EXPECT_EQ(r.err, 0u) << r.detail;
  EXPECT_TRUE(ep_->agent_started());
  EXPECT_EQ(ep_->epoch(), 101u);
  EXPECT_EQ(delegate_.started, std::vector<std::uint64_t>{101});
  EXPECT_EQ(delegate_.app_id, "test-agent");
}

TEST_F(MailboxEndpointTest, WrongSecretIsRefused) {
  ResultMsg r = Start(Bytes(32, 0x5B));
  EXPECT_EQ(r.mailbox_error, MailboxError::kAuthFailed);
  EXPECT_EQ(r.err, static_cast<std::uint32_t>(EACCES));
  EXPECT_FALSE(ep_->agent_started());
  EXPECT_EQ(ep_->stats().auth_failures, 1u);
  // The challenge was single use: proving again without a HELLO fails explicitly.
  AppStart app;
  app.phase = AppStartPhase::kProve;
  app.agent_nonce.fill(7);
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 9).ok());
  EXPECT_EQ(OneResult(9).mailbox_error, MailboxError::kNoChallenge);
}

TEST_F(MailboxEndpointTest, RequestsBeforeStartAreRefused) {
  Drain();
  ASSERT_TRUE(Send(MessageType::kGetPortInfo, {}, 5).ok());
  ResultMsg r = OneResult(5);
  EXPECT_EQ(r.mailbox_error, MailboxError::kNotStarted);
  EXPECT_EQ(r.req_type, MessageType::kGetPortInfo);
  EXPECT_TRUE(delegate_.executed.empty());
}

TEST_F(MailboxEndpointTest, ExecutesAndAnswersWithReplyPayload) {
  ASSERT_EQ(Start().err, 0u);
  PortInfo pi{kWwpn, 0x2000, kPortId, LinkStateValue::kUp, kPortEdifCapable, 32000};
  delegate_.hook = [&](const Request&) {
    return Reply::WithPayload(MessageType::kPortInfo, EncodePayload(pi));
  };
  ASSERT_TRUE(Send(MessageType::kGetPortInfo, {}, 77).ok());
  ResultMsg r = OneResult(77);
  EXPECT_EQ(r.err, 0u);
  EXPECT_EQ(r.req_type, MessageType::kGetPortInfo);
  EXPECT_EQ(*DecodePortInfo(r.reply), pi);
  ASSERT_EQ(delegate_.executed.size(), 1u);
  EXPECT_EQ(delegate_.executed[0].req_id, 77u);
  // A failing execution becomes an errno-style RESULT.
  delegate_.hook = [](const Request&) { return Reply::FromStatus(Status::NotFound("no target")); };
  ASSERT_TRUE(Send(MessageType::kGetTargets, EncodePayload(GetTargets{}), 78).ok());
  r = OneResult(78);
  EXPECT_EQ(r.err, static_cast<std::uint32_t>(ENOENT));
  EXPECT_EQ(r.mailbox_error, MailboxError::kExecFailed);
  EXPECT_NE(r.detail.find("no target"), std::string::npos);
}

TEST_F(MailboxEndpointTest, SaUpdateKeyReachesDelegateInSecureBuffer) {
  ASSERT_EQ(Start().err, 0u);
  SaUpdate sa;
  sa.spi = 0x1000;
  sa.key = SecureBuffer(Bytes(32, 0xC3));
  ASSERT_TRUE(Send(MessageType::kSaUpdate, *EncodePayload(sa), 3).ok());
  EXPECT_EQ(OneResult(3).err, 0u);
  EXPECT_TRUE(delegate_.last_key.Equals(sa.key));
}

TEST_F(MailboxEndpointTest, RepeatedSeqIsIdempotent) {
  ASSERT_EQ(Start().err, 0u);
  int calls = 0;
  delegate_.hook = [&](const Request&) {
    ++calls;
    return Reply::WithPayload(MessageType::kStats, *EncodePayload(Stats{}));
  };
  ASSERT_TRUE(Send(MessageType::kGetStats, EncodePayload(GetStats{}), 10, 8).ok());
  ASSERT_TRUE(Send(MessageType::kGetStats, EncodePayload(GetStats{}), 10, 8).ok());  // retry
  auto msgs = Drain();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(AsResult(msgs[0]), AsResult(msgs[1]));
  EXPECT_EQ(msgs[1].header.flags & kFlagRetransmit, kFlagRetransmit);
  EXPECT_EQ(msgs[1].header.req_id, 10u);
  EXPECT_EQ(ep_->stats().duplicates, 1u);
  // Out of order inside the window is new work; far behind is stale.
  ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 11, 5).ok());
  EXPECT_EQ(OneResult(11).err, 0u);
  ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 13, 16).ok());
  EXPECT_EQ(OneResult(13).err, 0u);
  ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 12, 3).ok());
  EXPECT_EQ(OneResult(12).mailbox_error, MailboxError::kStaleSeq);
}

TEST_F(MailboxEndpointTest, ASeqFarAheadIsRefusedAndDoesNotWedgeTheSession) {
  ASSERT_EQ(Start().err, 0u);  // PROVE had seq 1; the window is 8
  // One hostile or corrupt record with a huge seq must not make every later request stale.
  for (std::uint64_t seq : {~std::uint64_t{0}, std::uint64_t{1} << 63, std::uint64_t{10}}) {
    ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 20, seq).ok());
    EXPECT_EQ(OneResult(20).mailbox_error, MailboxError::kStaleSeq) << seq;
  }
  ASSERT_TRUE(Send(MessageType::kGetPortInfo, {}, 21, 2).ok());
  EXPECT_EQ(OneResult(21).err, 0u);
  ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 22, 10).ok());  // 8 ahead: still in reach
  EXPECT_EQ(OneResult(22).err, 0u);
  EXPECT_EQ(delegate_.executed.size(), 1u);
}

TEST_F(MailboxEndpointTest, AnotherWritersHelloDoesNotVoidTheAgentsChallenge) {
  Drain();
  AppStart app;
  app.phase = AppStartPhase::kHello;
  app.app_version = 1;
  app.app_id = "agent";
  app.agent_nonce.fill(7);
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 1).ok());
  const AppChallenge ch = *DecodeAppChallenge(OneResult(1).reply);
  // Meanwhile other writers say HELLO (names that are not UTF-8, or hold '#') ...
  AppStart other = app;
  other.app_id = std::string("\xff\xfe#x", 4);
  for (int i = 0; i < 10; ++i) {
    other.agent_nonce.fill(static_cast<std::uint8_t>(100 + i));
    ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(other), 50).ok());
    EXPECT_EQ(OneResult(50).err, 0u);
  }
  // ... and one proves wrongly: that consumes its own challenge only.
  other.phase = AppStartPhase::kProve;
  other.proof.fill(3);
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(other), 51, 1, ch.epoch).ok());
  EXPECT_EQ(OneResult(51).mailbox_error, MailboxError::kAuthFailed);
  // The agent's PROVE still matches its challenge.
  app.phase = AppStartPhase::kProve;
  app.proof = *ComputeProof(Secret(), ProofRole::kAgent, Input(app, ch));
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 2, 1, ch.epoch).ok());
  const ResultMsg prove = OneResult(2);
  EXPECT_EQ(prove.err, 0u) << prove.detail;
  EXPECT_EQ(delegate_.app_id, "agent");
  // Every other pending challenge named the epoch just opened: gone.
  other.agent_nonce.fill(105);
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(other), 52, 5, ch.epoch).ok());
  EXPECT_EQ(OneResult(52).mailbox_error, MailboxError::kNoChallenge);
}

TEST_F(MailboxEndpointTest, ParkedReadsOfAReaderThatLeftGetNoMessageAndHoldNoSlot) {
  Drain();
  auto open = std::make_shared<std::atomic<bool>>(true);
  int abandoned_answers = 0;
  EndpointConfig defaults;
  for (std::size_t i = 0; i < defaults.max_parked; ++i) {
    ASSERT_TRUE(ep_->Read(
                       kLba * kSectorSize, 4096,
                       [&abandoned_answers](Bytes) { ++abandoned_answers; },
                       [open] { return open->load(); })
                    .ok());
  }
  EXPECT_FALSE(ep_->Read(kLba * kSectorSize, 4096, [](Bytes) {}).ok());  // full
  open->store(false);  // that reader's connection closed
  auto slot = Park();  // the slots are free again
  EXPECT_EQ(ep_->parked_reads(), 1u);
  EXPECT_EQ(abandoned_answers, static_cast<int>(defaults.max_parked));
  // The next message goes to the reader that is still there.
  ASSERT_TRUE(ep_->PostEvent(MessageType::kLinkState, LinkState{LinkStateValue::kUp, 8000}).ok());
  ASSERT_TRUE(slot->has_value());
  auto msgs = Decode(**slot);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.type, MessageType::kLinkState);
  EXPECT_EQ(ep_->stats().abandoned_reads, defaults.max_parked);
}

TEST_F(MailboxEndpointTest, OldEpochIsDroppedWithExplicitResult) {
  ASSERT_EQ(Start().err, 0u);
  ASSERT_TRUE(Send(MessageType::kGetPortInfo, {}, 4, std::nullopt, epoch_ - 1).ok());
  ResultMsg r = OneResult(4);
  EXPECT_EQ(r.mailbox_error, MailboxError::kOldEpoch);
  EXPECT_TRUE(delegate_.executed.empty());
  EXPECT_EQ(ep_->stats().old_epoch, 1u);
}

TEST_F(MailboxEndpointTest, CorruptSectorFailsTheWriteAndTheDriverKeepsRunning) {
  ASSERT_EQ(Start().err, 0u);
  Header h;
  h.type = MessageType::kGetPortInfo;
  h.seq = 50;
  h.epoch = epoch_;
  h.req_id = 6;
  Bytes wire = *EncodeDownstream(h, {});
  wire[20] ^= 0x10;
  const Status w = ep_->Write(kLba * kSectorSize, wire);
  EXPECT_EQ(ErrorOf(w), MailboxError::kBadCrc);
  EXPECT_TRUE(w.IsCorruption());
  ResultMsg r = OneResult(0);  // untrusted header: req_id 0
  EXPECT_EQ(r.mailbox_error, MailboxError::kBadCrc);
  EXPECT_TRUE(delegate_.executed.empty());
  EXPECT_EQ(ep_->stats().rejected_writes, 1u);
  // Garbage sector.
  EXPECT_EQ(ErrorOf(ep_->Write(kLba * kSectorSize, Bytes(kSectorSize, 0xEE))),
            MailboxError::kBadMagic);
  Drain();
  // Still serving.
  ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 7).ok());
  EXPECT_EQ(OneResult(7).err, 0u);
}

TEST_F(MailboxEndpointTest, UnknownTypeGetsResultWithItsReqId) {
  ASSERT_EQ(Start().err, 0u);
  ASSERT_TRUE(Send(static_cast<MessageType>(0x0042), {}, 8).ok());
  ResultMsg r = OneResult(8);
  EXPECT_EQ(r.mailbox_error, MailboxError::kUnknownType);
  EXPECT_EQ(static_cast<std::uint16_t>(r.req_type), 0x0042);
  EXPECT_NE(r.err, 0u);
  // A known type whose payload does not parse.
  ASSERT_TRUE(Send(MessageType::kAppStop, Bytes(3, 0), 9).ok());
  EXPECT_EQ(OneResult(9).mailbox_error, MailboxError::kBadPayload);
}

TEST_F(MailboxEndpointTest, ParkedReadsCompleteOldestFirst) {
  Drain();
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ep_->Read(kLba * kSectorSize, 4096,
                          [&order, i](Bytes b) {
                            auto m = DecodeUpstream(b);
                            ASSERT_TRUE(m.ok());
                            ASSERT_EQ(m->size(), 1u);
                            EXPECT_EQ((*m)[0].header.type, MessageType::kLinkState);
                            order.push_back(i);
                          })
                    .ok());
  }
  EXPECT_EQ(ep_->parked_reads(), 3u);
  ASSERT_TRUE(ep_->PostEvent(MessageType::kLinkState, LinkState{LinkStateValue::kUp, 1}).ok());
  EXPECT_EQ(order, std::vector<int>{0});
  ASSERT_TRUE(ep_->PostEvent(MessageType::kLinkState, LinkState{LinkStateValue::kDown, 0}).ok());
  ASSERT_TRUE(ep_->PostEvent(MessageType::kLinkState, LinkState{LinkStateValue::kUp, 2}).ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(ep_->parked_reads(), 0u);
}

TEST_F(MailboxEndpointTest, OneReadCarriesSeveralQueuedMessages) {
  Drain();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ep_->PostEvent(MessageType::kTargetAdded, TargetEvent{1, 2, 3}).ok());
  }
  auto slot = Park(4096);
  ASSERT_TRUE(slot->has_value());
  auto msgs = Decode(**slot);
  ASSERT_EQ(msgs.size(), 4u);
  for (std::size_t i = 1; i < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].header.seq, msgs[i - 1].header.seq + 1);
  }
}

TEST_F(MailboxEndpointTest, NopAfterTimeoutForEveryParkedRead) {
  Drain();
  auto a = Park();
  clock_.Advance(milliseconds(40));
  auto b = Park();
  EXPECT_EQ(ep_->NextDeadline(), clock_.MonotonicNow() + milliseconds(60));
  clock_.Advance(milliseconds(59));
  ep_->Tick();
  EXPECT_FALSE(a->has_value());
  clock_.Advance(milliseconds(1));
  ep_->Tick();
  ASSERT_TRUE(a->has_value());
  EXPECT_FALSE(b->has_value());
  auto msgs = Decode(**a);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.type, MessageType::kNop);
  clock_.Advance(milliseconds(40));
  ep_->Tick();
  ASSERT_TRUE(b->has_value());
  EXPECT_EQ(Decode(**b)[0].header.type, MessageType::kNop);
  EXPECT_EQ(ep_->stats().nops, 2u);
  EXPECT_FALSE(ep_->NextDeadline().has_value());
}

TEST_F(MailboxEndpointTest, ReadTooSmallForHeadMessageGetsFlaggedNop) {
  Drain();
  ElsReceived els;
  els.frame = Bytes(2000, 1);
  ASSERT_TRUE(ep_->Post(MessageType::kElsReceived, *EncodePayload(els)).ok());
  auto small = Park(512);
  ASSERT_TRUE(small->has_value());
  auto msgs = Decode(**small);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.type, MessageType::kNop);
  EXPECT_EQ(msgs[0].header.flags & kFlagReadTooSmall, kFlagReadTooSmall);
  EXPECT_EQ(ep_->queued_messages(), 1u);
  auto big = Park(4096);
  ASSERT_TRUE(big->has_value());
  EXPECT_EQ(Decode(**big)[0].header.type, MessageType::kElsReceived);
}

TEST_F(MailboxEndpointTest, AckRequiredEventsAreRedeliveredUntilAcked) {
  ASSERT_EQ(Start().err, 0u);
  ASSERT_TRUE(
      ep_->PostEvent(MessageType::kTargetLost, TargetEvent{5, 6, 1}, kFlagAckRequired).ok());
  auto msgs = Drain();
  ASSERT_EQ(msgs.size(), 1u);
  const std::uint64_t event_seq = msgs[0].header.seq;
  EXPECT_EQ(ep_->unacked_events(), 1u);
  clock_.Advance(milliseconds(300));
  ep_->Tick();
  msgs = Drain();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.seq, event_seq);  // same seq: the agent can deduplicate
  EXPECT_EQ(msgs[0].header.flags & kFlagRetransmit, kFlagRetransmit);
  ASSERT_TRUE(Send(MessageType::kEventAck,
                   EncodePayload(EventAck{event_seq, MessageType::kTargetLost, 6}), 30)
                  .ok());
  EXPECT_EQ(OneResult(30).err, 0u);
  EXPECT_EQ(ep_->unacked_events(), 0u);
  clock_.Advance(milliseconds(1000));
  ep_->Tick();
  EXPECT_EQ(ep_->queued_messages(), 0u);
  EXPECT_EQ(ep_->stats().redelivered, 1u);
}

TEST_F(MailboxEndpointTest, SilentAgentIsStopped) {
  ASSERT_EQ(Start().err, 0u);
  clock_.Advance(milliseconds(4999));
  ep_->Tick();
  EXPECT_TRUE(ep_->agent_started());
  clock_.Advance(milliseconds(1));
  ep_->Tick();
  EXPECT_FALSE(ep_->agent_started());
  EXPECT_EQ(delegate_.stopped, std::vector<AgentStopReason>{AgentStopReason::kKeepaliveTimeout});
}

TEST_F(MailboxEndpointTest, AgentRestartOpensANewEpoch) {
  ASSERT_EQ(Start().err, 0u);
  const std::uint64_t old_epoch = epoch_;
  ASSERT_EQ(Start(Secret(), 8).err, 0u);
  EXPECT_EQ(epoch_, old_epoch + 1);
  EXPECT_EQ(delegate_.stopped, std::vector<AgentStopReason>{AgentStopReason::kRestarted});
  // The dead agent's late write is dropped.
  ASSERT_TRUE(Send(MessageType::kGetTargets, EncodePayload(GetTargets{}), 40, 99, old_epoch).ok());
  EXPECT_EQ(OneResult(40).mailbox_error, MailboxError::kOldEpoch);
  EXPECT_TRUE(delegate_.executed.empty());
}

TEST_F(MailboxEndpointTest, DriverEpochResetIsAnnounced) {
  ASSERT_EQ(Start().err, 0u);
  ep_->ResetEpoch(500, 2);
  auto msgs = Drain();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header.type, MessageType::kEpochReset);
  auto p = DecodePayload(MessageType::kEpochReset, msgs[0].payload);
  EXPECT_EQ(std::get<EpochReset>(*p), (EpochReset{500, 2}));
  EXPECT_FALSE(ep_->agent_started());
  EXPECT_EQ(delegate_.stopped, std::vector<AgentStopReason>{AgentStopReason::kEpochReset});
  ASSERT_TRUE(Send(MessageType::kKeepalive, {}, 41).ok());
  EXPECT_EQ(OneResult(41).mailbox_error, MailboxError::kNotStarted);
  ASSERT_EQ(Start(Secret(), 9).err, 0u);
  EXPECT_EQ(epoch_, 501u);
}

TEST_F(MailboxEndpointTest, AppStopStopsTheAgent) {
  ASSERT_EQ(Start().err, 0u);
  ASSERT_TRUE(Send(MessageType::kAppStop, EncodePayload(AppStop{0}), 50).ok());
  EXPECT_EQ(OneResult(50).err, 0u);
  EXPECT_FALSE(ep_->agent_started());
  EXPECT_EQ(delegate_.stopped, std::vector<AgentStopReason>{AgentStopReason::kAppStop});
}

TEST_F(MailboxEndpointTest, ShutdownAnswersParkedReads) {
  Drain();
  auto a = Park();
  ep_->Shutdown();
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ(Decode(**a)[0].header.type, MessageType::kNop);
  EXPECT_FALSE(ep_->ParkRead(512, [](Bytes) {}).ok());
}

TEST_F(MailboxEndpointTest, DelegateMayPostWhileExecuting) {
  ASSERT_EQ(Start().err, 0u);
  delegate_.hook = [&](const Request& r) {
    const auto& sa = std::get<SaUpdate>(r.payload);
    EXPECT_TRUE(ep_->PostEvent(MessageType::kSaUpdateComplete,
                               SaUpdateComplete{sa.target_wwpn, sa.target_port_id, sa.spi,
                                                sa.direction, sa.op, 0})
                    .ok());
    return Reply::Ok();
  };
  SaUpdate sa;
  sa.spi = 9;
  sa.key = SecureBuffer(Bytes(32, 1));
  ASSERT_TRUE(Send(MessageType::kSaUpdate, *EncodePayload(sa), 60).ok());
  auto msgs = Drain();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].header.type, MessageType::kSaUpdateComplete);
  EXPECT_EQ(msgs[1].header.type, MessageType::kResult);
  EXPECT_EQ(msgs[1].header.ack_seq, seq_);
}

TEST_F(MailboxEndpointTest, HelloRetryGetsTheSameChallenge) {
  Drain();
  AppStart app;
  app.agent_nonce.fill(3);
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 1).ok());
  const AppChallenge first = *DecodeAppChallenge(OneResult(1).reply);
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 1).ok());
  const AppChallenge second = *DecodeAppChallenge(OneResult(1).reply);
  EXPECT_EQ(first, second);
  app.agent_nonce.fill(4);  // a new agent instance gets a fresh challenge
  ASSERT_TRUE(Send(MessageType::kAppStart, *EncodePayload(app), 2).ok());
  EXPECT_NE(DecodeAppChallenge(OneResult(2).reply)->driver_nonce, first.driver_nonce);
}

// Posters and a reader on several threads: every event is delivered exactly once (no seq
// lost or duplicated).
TEST_F(MailboxEndpointTest, ConcurrentPostsAndReadsDeliverEverythingOnce) {
  Drain();
  constexpr int kPosters = 3;
  constexpr int kPerPoster = 200;
  std::mutex mu;
  std::vector<std::uint64_t> seqs;
  std::atomic<int> outstanding{0};
  std::function<void()> park = [&] {
    ++outstanding;
    ASSERT_TRUE(ep_->ParkRead(4096,
                              [&](Bytes b) {
                                auto msgs = DecodeUpstream(b);
                                ASSERT_TRUE(msgs.ok());
                                {
                                  std::lock_guard lock(mu);
                                  for (const Message& m : *msgs) {
                                    if (m.header.type == MessageType::kLinkState)
                                      seqs.push_back(m.header.seq);
                                  }
                                }
                                --outstanding;
                              })
                    .ok());
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kPosters; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerPoster; ++i) {
        ASSERT_TRUE(ep_->PostEvent(MessageType::kLinkState, LinkState{}).ok());
      }
    });
  }
  auto all_seen = [&] {
    std::lock_guard lock(mu);
    return seqs.size() == static_cast<std::size_t>(kPosters * kPerPoster);
  };
  std::thread reader([&] {
    while (!all_seen()) {
      if (outstanding.load() < 4) {
        park();
      } else {
        std::this_thread::yield();
      }
    }
  });
  for (auto& t : threads) t.join();
  reader.join();
  Drain();
  ep_->Shutdown();
  std::lock_guard lock(mu);
  std::vector<std::uint64_t> sorted = seqs;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted.size(), static_cast<std::size_t>(kPosters * kPerPoster));
  EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
}

}  // namespace
}  // namespace cafs::edif::mailbox
