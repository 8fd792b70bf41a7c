#include "util/progress_text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cafs {

std::string ByteText(double n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", n, kUnits[u]);
  return buf;
}

std::string DurationText(std::optional<double> seconds) {
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0) return "--:--";
  const auto s = static_cast<long long>(std::llround(std::min(*seconds, 1e9)));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

std::string ProgressLine(const ProgressFigures& p) {
  const double frac =
      p.total > 0 ? std::clamp(p.done / p.total, 0.0, 1.0) : (p.state == "done" ? 1.0 : 0.0);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  const std::string bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
                          std::string(static_cast<std::size_t>(kWidth - filled), '.') + "]";
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%s %3.0f%%  %s / %s  %s/s  ETA %s  %llu/%llu files  %s",
                bar.c_str(), frac * 100, ByteText(p.done).c_str(), ByteText(p.total).c_str(),
                ByteText(p.rate_bps).c_str(), DurationText(p.eta_s).c_str(),
                static_cast<unsigned long long>(p.files_done),
                static_cast<unsigned long long>(p.files), p.state.c_str());
  return buf;
}

}  // namespace cafs
