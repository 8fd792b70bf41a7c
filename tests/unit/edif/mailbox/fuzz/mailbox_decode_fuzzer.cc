// libFuzzer target: a hostile sector buffer through every mailbox decoder and the endpoint.
// Invariants checked (abort on violation): whatever decodes re-encodes to the same bytes,
// and the endpoint never crashes, never executes a message that failed to decode.
#include <cstdlib>
#include <type_traits>

#include "edif/mailbox/endpoint.h"
#include "edif/mailbox/message.h"
#include "edif/mailbox/payloads.h"

namespace mbx = cafs::edif::mailbox;

namespace {

class NullDelegate : public mbx::MailboxDelegate {
 public:
  mbx::Reply Execute(const mbx::Request&) override { return mbx::Reply::Ok(); }
};

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
  return 0;
}
