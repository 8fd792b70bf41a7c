// libFuzzer target: a hostile fabric byte stream through FrameReader, DecodeFrame and
// SaDatabase::Open under a fixed RX key (SPI 0x1001, key 32 x 0x42, salt a1 b2 c3 d4: the
// seeds in tests/fuzz/corpus/link_frame_fuzzer/ are frames sealed under it).
// Invariant: nothing that opens was not sealed by the key holder; re-encoding is exact.
#include <cstdlib>

#include "edif/link/frame.h"
#include "edif/link/sa_database.h"

namespace elink = cafs::edif::link;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cafs::ByteView in(data, size);
  auto whole = elink::DecodeFrame(in);
  if (whole.ok()) {
    auto re = elink::EncodeFrame(whole->header, whole->payload);
    if (!re.ok() || cafs::ByteView(*re).size() != in.size() ||
        !std::equal(re->begin(), re->end(), in.begin())) {
      std::abort();
    }
  }
  static const cafs::ManualClock clock(cafs::Clock::TimePoint{});
  elink::SaDatabase db(elink::SaPolicy{}, clock);
  elink::SecurityAssociation sa;
  sa.spi = 0x1001;
  sa.key = cafs::SecureBuffer(cafs::Bytes(32, 0x42));
  sa.salt = {0xA1, 0xB2, 0xC3, 0xD4};
  sa.direction = elink::Direction::kRx;
  if (!db.AddRx(std::move(sa)).ok()) std::abort();
  // Feed the stream in chunks whose sizes come from the input itself.
  elink::FrameReader reader;
  std::size_t off = 0;
  std::uint64_t opened = 0, seen = 0;
  while (off < size) {
    const std::size_t chunk = std::min<std::size_t>(size - off, 1 + data[off] % 97);
    reader.Feed(in.subspan(off, chunk));
    off += chunk;
    for (;;) {
      auto next = reader.Next();
      if (!next.ok() || !next->has_value()) break;
      ++seen;
      if ((**next).header.flags & elink::kFrameSecured) {
        if (db.Open(**next).ok()) ++opened;
      }
    }
    if (!reader.Next().ok()) break;
  }
  const elink::LinkStats s = db.stats();
  if (s.rx_frames != opened || opened > seen) std::abort();
  return 0;
}
