// TokenBucket: the I/O rate limit of a job (bytes per second with a burst), shared by the
// job's workers. Pure arithmetic on the times it is given (no clock, no sleeping), so it is
// tested without timing: the caller charges the bytes it just moved and sleeps for the
// duration returned.
//
// Threading: safe from many threads (one mutex). rate 0 means unlimited (Charge returns 0).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace cafs::jobs {

class TokenBucket {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `burst`: the most bytes that may pass without waiting after an idle period (at least one
  // step; 0 picks one second's worth).
  TokenBucket(std::uint64_t rate_bps, std::uint64_t burst, TimePoint now);

  // Takes `bytes` tokens at `now` (the bucket may go into debt) and returns how long the
  // caller must wait before its next I/O so that the long-run rate stays at rate_bps.
  std::chrono::nanoseconds Charge(std::uint64_t bytes, TimePoint now);

  std::uint64_t rate_bps() const { return rate_bps_; }

 private:
  std::mutex mu_;
  const std::uint64_t rate_bps_;
  const double burst_;
  double tokens_;   // guarded by mu_; negative = debt
  TimePoint last_;  // guarded by mu_
};

}  // namespace cafs::jobs
