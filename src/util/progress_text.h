// Progress text: how the command-line tools show a long operation's progress (docs/jobs.md
// "What an administrator sees", docs/cafsctl.md "rekey status"): one line with a bar, the
// bytes done and total, the rate and the ETA. One place, so `cafsd jobs watch` and
// `cafsctl rekey status` draw the same thing.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cafs {

// "512 B", "1.5 KiB", "12.3 MiB", ... (binary units).
std::string ByteText(double bytes);
// "0:04", "1:02:03"; "--:--" when unknown.
std::string DurationText(std::optional<double> seconds);

struct ProgressFigures {
  double done = 0, total = 0;   // bytes
  double rate_bps = 0;          // bytes per second
  std::optional<double> eta_s;  // unknown until a rate is known
  std::uint64_t files_done = 0, files = 0;
  std::string state;  // shown last; "done" with total 0 draws a full bar
};
// "[#####.........................]  17%  12.3 MiB / 72.0 MiB  4.1 MiB/s  ETA 0:14  2/5 files
// running"
std::string ProgressLine(const ProgressFigures& p);

}  // namespace cafs
