// Parses arbitrary text as an access schedule. Whatever parses must round-trip through its
// canonical text, and evaluation at any instant must agree between the two.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/access_schedule.h"

namespace {
void Check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = cafs::policy::AccessSchedule::Parse(text);
  if (!s.ok()) {
    Check(s.status().IsInvalidArgument() && !s.status().message().empty());
    return 0;
  }
  const std::string canonical = s->ToString();
  auto again = cafs::policy::AccessSchedule::Parse(canonical);
  Check(again.ok());
  Check(*again == *s);
  Check(again->ToString() == canonical);
  // A week in 7-minute steps from Monday 2026-11-16.
  using namespace std::chrono;
  const auto start = sys_days(year(2026) / November / 16);
  for (int m = 0; m < 7 * 24 * 60; m += 7) {
    const auto t = start + minutes(m);
    Check(s->IsOpen(t) == again->IsOpen(t));
  }
  return 0;
}
