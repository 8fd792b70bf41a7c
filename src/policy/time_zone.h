// TimeZone: converts an instant (UTC) to the wall-clock time of a VM set's time zone, so access
// windows such as Mon-Fri(9am-5pm) are evaluated in the tenant's local time.
//
// Why not std::chrono::locate_zone: GCC 12's libstdc++ does not have the C++20 time-zone
// database (it arrived in GCC 13), and localtime_r() depends on the process-wide TZ variable
// (setenv is not thread-safe). So this reads the system's compiled tz database (RFC 8536 TZif
// files under /usr/share/zoneinfo, Debian package tzdata) once, at load time, and keeps the
// transitions plus the POSIX TZ footer rule (for instants after the last transition) in an
// immutable object.
//
// Accepted names:
//   "UTC" (also "Etc/UTC", "Z")      built in, no file needed
//   "UTC+hh:mm" / "UTC-hh:mm"        fixed offset east of UTC (CAFS extension), |offset| <= 14:00
//   an IANA name ("Europe/Berlin")   read from <zoneinfo_dir>/<name>; the name may contain only
//                                    [A-Za-z0-9_+-/], no "." or ".." components
//
// Threading: a loaded TimeZone is immutable; copies share the data; all methods are const and
// safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/bytes.h"
#include "util/result.h"

namespace cafs::policy {

// Wall-clock time in a zone.
struct LocalTime {
  std::chrono::sys_seconds utc;         // the instant (truncated to seconds)
  std::int32_t utc_offset_seconds = 0;  // local = utc + offset
  std::string abbreviation;             // "CET", "CEST", "UTC", "UTC+02:00"
  std::chrono::year_month_day date;     // local date
  std::chrono::weekday weekday;         // local day of the week
  std::int32_t seconds_of_day = 0;      // 0 .. 86399, local

  // "Sat 2026-11-21 14:03 UTC"
  std::string ToString() const;
};

class TimeZone {
 public:
  static constexpr std::string_view kDefaultZoneinfoDir = "/usr/share/zoneinfo";

  // UTC.
  TimeZone();

  // Loads `name` (see the header comment). Errors: InvalidArgument for a malformed name or
  // offset, NotFound when the zone file does not exist, Corruption when it is not valid TZif.
  static Result<TimeZone> Load(std::string_view name,
                               std::string_view zoneinfo_dir = kDefaultZoneinfoDir);
  // Parses the bytes of a TZif file (version 1, 2, 3 or 4). `name` is kept for Name().
  static Result<TimeZone> FromTzif(std::string_view name, ByteView data);

  const std::string& Name() const;
  LocalTime ToLocal(std::chrono::system_clock::time_point t) const;

  struct Data;  // defined in time_zone.cc

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

// Checks the syntax of a zone name without loading it (used by the VM set parser so the
// message can name the XML line). Does not check that the file exists.
Status ValidateTimeZoneName(std::string_view name);

}  // namespace cafs::policy
