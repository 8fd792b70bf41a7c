// Parses arbitrary bytes as a TZif time-zone file; whatever loads must convert instants
// across several centuries without crashing and with sane offsets.
#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "policy/time_zone.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto tz = cafs::policy::TimeZone::FromTzif("fuzz", cafs::ByteView(data, size));
  if (!tz.ok()) return 0;
  using namespace std::chrono;
  for (int y = 1900; y <= 2200; y += 7) {
    for (unsigned mo = 1; mo <= 12; mo += 5) {
      const auto t = sys_days(year(y) / month(mo) / 15) + hours(12);
      const cafs::policy::LocalTime lt = tz->ToLocal(t);
      if (lt.seconds_of_day < 0 || lt.seconds_of_day >= 86400) std::abort();
      if (lt.utc_offset_seconds < -26 * 3600 || lt.utc_offset_seconds > 26 * 3600) std::abort();
      (void)lt.ToString();
    }
  }
  return 0;
}
