// libFuzzer target: a hostile sector buffer through every mailbox decoder and the endpoint.
// Invariants checked (abort on violation): whatever decodes re-encodes to the same bytes,
// and the endpoint never crashes, never executes a message that failed to decode.
// Second pass: the input as a sequence of records written into an endpoint whose agent has
// started (APP_START with the test secret), each record's CRC fixed up (and, when its epoch
// field is even, the live epoch put in) so the fuzzer reaches seq tracking, replays, the
// challenge store and Execute; no seq may execute twice, every upstream read must decode.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>
#include <type_traits>

#include "edif/mailbox/app_auth.h"
#include "edif/mailbox/crc32c.h"
#include "edif/mailbox/endpoint.h"
#include "edif/mailbox/message.h"
#include "edif/mailbox/payloads.h"

namespace mbx = cafs::edif::mailbox;

namespace {

class NullDelegate : public mbx::MailboxDelegate {
 public:
  mbx::Reply Execute(const mbx::Request& r) override {
    if (!executed.insert({r.header.epoch, r.header.seq}).second) std::abort();  // twice
    return mbx::Reply::Ok();
  }
  std::set<std::pair<std::uint64_t, std::uint64_t>> executed;
};

constexpr std::uint64_t kWwpn = 0x2100000000000001ull;
constexpr std::uint32_t kPortId = 0x010100;

// Every upstream message queued now, through reads that must decode.
std::vector<mbx::Message> DrainUpstream(mbx::MailboxEndpoint& ep) {
  std::vector<mbx::Message> out;
  while (ep.queued_messages() > 0) {
    bool answered = false;
    (void)ep.ParkRead(mbx::kMaxMessageSize, [&](cafs::Bytes b) {
      answered = true;
      auto m = mbx::DecodeUpstream(b);
      if (!m.ok()) std::abort();
      for (auto& one : *m) out.push_back(std::move(one));
    });
    if (!answered) std::abort();
  }
  return out;
}

cafs::Status WriteRecord(mbx::MailboxEndpoint& ep, const mbx::Header& h, cafs::ByteView payload) {
  auto wire = mbx::EncodeDownstream(h, payload);
  if (!wire.ok()) std::abort();
  return ep.Write(mbx::kReservedBytes, *wire);
}

// HELLO + PROVE as an agent with the provisioned secret; returns the live epoch.
std::uint64_t StartAgent(mbx::MailboxEndpoint& ep, const cafs::Bytes& secret) {
  mbx::AppStart app;
  app.phase = mbx::AppStartPhase::kHello;
  app.app_id = "fuzz";
  app.agent_nonce.fill(9);
  mbx::Header h;
  h.type = mbx::MessageType::kAppStart;
  h.seq = 1;
  h.req_id = 1;
  h.wwpn = kWwpn;
  h.port_id = kPortId;
  (void)WriteRecord(ep, h, *mbx::EncodePayload(app));
  std::optional<mbx::AppChallenge> ch;
  for (const mbx::Message& m : DrainUpstream(ep)) {
    auto p = mbx::DecodePayload(m.header.type, m.payload);
    if (const auto* r = p.ok() ? std::get_if<mbx::ResultMsg>(&*p) : nullptr) {
      if (auto c = mbx::DecodeAppChallenge(r->reply); c.ok()) ch = *c;
    }
  }
  if (!ch) std::abort();
  mbx::ProofInput in;
  in.wwpn = kWwpn;
  in.port_id = kPortId;
  in.epoch = ch->epoch;
  in.driver_nonce = ch->driver_nonce;
  in.agent_nonce = app.agent_nonce;
  in.app_version = app.app_version;
  in.capabilities = app.capabilities;
  in.app_id = app.app_id;
  app.phase = mbx::AppStartPhase::kProve;
  app.proof = *mbx::ComputeProof(secret, mbx::ProofRole::kAgent, in);
  h.epoch = ch->epoch;
  (void)WriteRecord(ep, h, *mbx::EncodePayload(app));
  DrainUpstream(ep);
  if (!ep.agent_started()) std::abort();
  return ch->epoch;
}

// The input as records: each is 64 + its payload_len field bytes (at most 4096), CRC fixed up.
void FuzzStartedSession(cafs::ByteView in) {
  static const cafs::ManualClock clock(cafs::Clock::TimePoint{});
  const cafs::Bytes secret(32, 1);
  NullDelegate delegate;
  mbx::EndpointConfig config;
  config.wwpn = kWwpn;
  config.port_id = kPortId;
  config.announce_epoch = false;
  mbx::MailboxEndpoint ep(config, cafs::SecureBuffer(secret), delegate, clock);
  const std::uint64_t epoch = StartAgent(ep, secret);
  for (int records = 0; in.size() >= mbx::kHeaderSize && records < 64; ++records) {
    std::size_t len = mbx::kHeaderSize + (cafs::LoadLe32(in.data() + mbx::kOffPayloadLen) & 4095);
    len = std::min(len, in.size());
    cafs::Bytes rec(in.data(), in.data() + len);
    in = in.subspan(len);
    if ((cafs::LoadLe64(rec.data() + mbx::kOffEpoch) & 1) == 0) {
      cafs::StoreLe64(rec.data() + mbx::kOffEpoch, epoch);
    }
    cafs::StoreLe32(rec.data() + mbx::kOffCrc, 0);
    cafs::StoreLe32(rec.data() + mbx::kOffCrc, mbx::Crc32c(rec));
    rec.resize((rec.size() + mbx::kSectorSize - 1) / mbx::kSectorSize * mbx::kSectorSize);
    (void)ep.Write(mbx::kReservedBytes, rec);
    DrainUpstream(ep);
  }
  ep.Shutdown();
}

cafs::Bytes Encoded(const auto& v) {
  if constexpr (std::is_same_v<decltype(mbx::EncodePayload(v)), cafs::Bytes>) {
    return mbx::EncodePayload(v);
  } else {
    auto r = mbx::EncodePayload(v);
    if (!r.ok()) std::abort();  // a decoded value must be encodable
    return *r;
  }
}

void CheckMessage(const mbx::Message& m) {
  auto again = mbx::EncodeMessage(m.header, m.payload);
  if (!again.ok()) std::abort();
  auto p = mbx::DecodePayload(m.header.type, m.payload);
  if (!p.ok()) return;
  const cafs::Bytes re = std::visit([](const auto& v) { return Encoded(v); }, *p);
  if (re != m.payload) std::abort();  // payload encodings are canonical
  if (const auto* r = std::get_if<mbx::ResultMsg>(&*p)) {
    (void)mbx::DecodePortInfo(r->reply);
    (void)mbx::DecodeTargetList(r->reply);
    (void)mbx::DecodeStats(r->reply);
    (void)mbx::DecodeAppChallenge(r->reply);
    (void)mbx::DecodeAppStartReply(r->reply);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cafs::ByteView in(data, size);
  std::size_t used = 0;
  auto one = mbx::DecodeMessage(in, &used);
  if (one.ok()) {
    CheckMessage(*one);
    auto re = mbx::EncodeMessage(one->header, one->payload);
    if (!std::equal(re->begin(), re->end(), in.begin())) std::abort();
  }
  auto ups = mbx::DecodeUpstream(in);
  if (ups.ok()) {
    for (const mbx::Message& m : *ups) CheckMessage(m);
  }
  // As a downstream WRITE (padded to whole sectors) into a live endpoint.
  cafs::Bytes sector(in.begin(), in.end());
  sector.resize((sector.size() + mbx::kSectorSize - 1) / mbx::kSectorSize * mbx::kSectorSize);
  if (sector.empty() || sector.size() > mbx::kMaxMessageSize) return 0;
  auto down = mbx::DecodeDownstream(sector);
  if (down.ok()) CheckMessage(*down);
  static const cafs::ManualClock clock(cafs::Clock::TimePoint{});
  NullDelegate delegate;
  mbx::EndpointConfig config;
  config.initial_epoch = 1;
  mbx::MailboxEndpoint ep(config, cafs::SecureBuffer(cafs::Bytes(32, 1)), delegate, clock);
  (void)ep.Write(mbx::kReservedBytes, sector);
  bool answered = false;
  (void)ep.ParkRead(4096, [&answered](cafs::Bytes b) {
    answered = true;
    if (!mbx::DecodeUpstream(b).ok()) std::abort();  // our own output always decodes
  });
  ep.Shutdown();
  if (!answered) std::abort();
  FuzzStartedSession(in);
  return 0;
}
