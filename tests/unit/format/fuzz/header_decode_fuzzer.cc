// libFuzzer target: ParseHeaderUnverified on arbitrary bytes; when the structure parses,
// re-encode and re-parse (round trip must hold) and check the MAC under a fixed key. Run with
// no argument other than the corpus; `header_decode_fuzzer -write_seed=DIR` is not needed:
// seeds are committed in tests/fuzz/corpus/header_decode_fuzzer/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "format/header_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cafs::format;
  static const std::vector<std::uint8_t> kMacKey(32, 0x42);
  const cafs::ByteView input(data, size);
  auto parsed = ParseHeaderUnverified(input);
  if (!parsed.ok()) return 0;
  (void)VerifyHeaderMac(input, kMacKey);
  std::vector<std::uint8_t> again(kHeaderSize);
  if (!EncodeHeader(*parsed, kMacKey, again).ok()) std::abort();  // parsed => encodable
  auto reparsed = ParseHeaderUnverified(again);
  if (!reparsed.ok() || !(*reparsed == *parsed)) std::abort();
  if (!VerifyHeaderMac(again, kMacKey).ok()) std::abort();
  return 0;
}
