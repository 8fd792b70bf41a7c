// Input: "<pattern>\n<path>". Parsing and matching must not crash or take more than
// O(pattern * path) steps; a pattern without metacharacters matches exactly itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/vglob.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = text.find('\n');
  const std::string_view pattern = text.substr(0, nl);
  const std::string_view path = nl == std::string_view::npos ? "" : text.substr(nl + 1);
  auto g = cafs::policy::Vglob::Parse(pattern);
  if (!g.ok()) return 0;
  const bool matched = g->Matches(path);
  if (pattern.find_first_of("*?[\\") == std::string_view::npos && !g->IsCatchAll()) {
    if (matched != (pattern == path)) std::abort();
  }
  return 0;
}
