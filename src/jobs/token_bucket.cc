#include "jobs/token_bucket.h"

#include <algorithm>

namespace cafs::jobs {

TokenBucket::TokenBucket(std::uint64_t rate_bps, std::uint64_t burst, TimePoint now)
    : rate_bps_(rate_bps),
      burst_(static_cast<double>(burst != 0 ? burst : rate_bps)),
      tokens_(burst_),
      last_(now) {}

std::chrono::nanoseconds TokenBucket::Charge(std::uint64_t bytes, TimePoint now) {
  if (rate_bps_ == 0) return std::chrono::nanoseconds(0);
  std::lock_guard lock(mu_);
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * static_cast<double>(rate_bps_));
    last_ = now;
  }
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  const double wait_s = -tokens_ / static_cast<double>(rate_bps_);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(wait_s * 1e9));
}

}  // namespace cafs::jobs
