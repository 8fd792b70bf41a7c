// Helpers for policy tests: build UTC instants from calendar values.
#pragma once

#include <chrono>

#include "util/clock.h"

namespace cafs::policy::testing {

inline Clock::TimePoint Utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  using namespace std::chrono;
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

}  // namespace cafs::policy::testing
