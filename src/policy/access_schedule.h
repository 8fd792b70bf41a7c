// AccessSchedule: when a virtual object may be accessed (the seed's <access> element), e.g.
// "at_all_times", "Mon-Fri(9am-5pm)", "Mon,Wed,Fri(8:30am-6pm),Sat(10:00-13:00)".
//
// Grammar (docs/policy.md has the EBNF): a keyword (at_all_times, or the extension never) or a
// comma-separated list of windows; a window is a day list in parentheses-prefixed form
// DAYS(START-END); DAYS is a comma-separated list of days (Mon..Sun, any case) or wrapping day
// ranges (Fri-Mon); START/END are 12-hour (9am, 8:30pm, 12am = midnight, 12pm = noon) or 24-hour
// (09:00, 17:30, 24:00 as an end only) times.
//
// Semantics: every window is half-open [START, END) in the VM set's local wall-clock time:
// Mon-Fri(9am-5pm) is open at 09:00:00 and closed at 17:00:00. When END <= START the window
// crosses midnight: Fri(10pm-2am) is open Fri 22:00 .. Sat 02:00 (the day names the day the
// window starts). A schedule is open when any of its windows is open.
//
// Threading: an immutable value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/time_zone.h"
#include "util/clock.h"
#include "util/result.h"

namespace cafs::policy {

// A time of day as written: minutes after midnight plus the notation, so ToString() gives back
// the author's style ("9am" stays "9am", "09:00" stays "09:00").
struct TimeOfDay {
  std::uint16_t minutes = 0;  // 0 .. 1440 (1440 only as an END written 24:00)
  bool twelve_hour = false;
  bool operator==(const TimeOfDay&) const = default;
};

// Days are 0 = Sun .. 6 = Sat (std::chrono::weekday::c_encoding()).
struct DayRange {
  std::uint8_t first = 0;
  std::uint8_t last = 0;  // == first for a single day; may be < first (wraps through Sun)
  bool operator==(const DayRange&) const = default;
};

struct AccessWindow {
  std::vector<DayRange> days;  // at least one
  TimeOfDay start;
  TimeOfDay end;  // end <= start: crosses midnight into the next day

  // Bit d set when the window starts on day d.
  std::uint8_t DayMask() const;
  bool CrossesMidnight() const { return end.minutes <= start.minutes; }
  bool IsOpen(const LocalTime& local) const;
  std::string ToString() const;
  bool operator==(const AccessWindow&) const = default;
};

class AccessSchedule {
 public:
  enum class Kind : unsigned char { kAlways, kNever, kWindows };

  // at_all_times.
  AccessSchedule() = default;
  static AccessSchedule Always() { return AccessSchedule(); }
  static AccessSchedule Never();

  // InvalidArgument naming the offending token and what was expected, e.g.
  // "access 'Mon-Fry(9am-5pm)': unknown day 'Fry' (expected Mon, Tue, Wed, Thu, Fri, Sat or
  // Sun)".
  static Result<AccessSchedule> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  const std::vector<AccessWindow>& windows() const { return windows_; }

  bool IsOpen(const LocalTime& local) const;
  // Converts `t` to `tz` and checks; the default zone is UTC.
  bool IsOpen(Clock::TimePoint t, const TimeZone& tz = TimeZone()) const;

  // Canonical text: "at_all_times", "never" or the windows joined by ",", days capitalised,
  // times in the notation they were written in. Parse(ToString()) == *this.
  std::string ToString() const;

  bool operator==(const AccessSchedule&) const = default;

 private:
  Kind kind_ = Kind::kAlways;
  std::vector<AccessWindow> windows_;
};

}  // namespace cafs::policy
