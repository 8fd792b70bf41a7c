// What the gateway tests share about the seed's VM set: its server id, the key of its
// *osdisk* virtual object, and an instant inside its Mon-Fri(9am-5pm) window.
#pragma once

#include <chrono>

#include "util/clock.h"

namespace cafs::core::testing {

inline constexpr char kServer[] = "755083456";
inline constexpr char kOsdiskKey[] = "062b9056-bf64-11df-8d3e-000c29abeb4d";

// Wed 2026-11-18 10:00 UTC: inside Mon-Fri(9am-5pm).
inline Clock::TimePoint Weekday10am() {
  return std::chrono::sys_days{std::chrono::year{2026} / 11 / 18} + std::chrono::hours(10);
}

}  // namespace cafs::core::testing
