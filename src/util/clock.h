// Clock: the seam through which CAFS reads the time, so policy (access windows), caches and
// audit can be tested with an injected time.
//
// Threading: SystemClock is stateless; ManualClock is safe to read and set from any thread.
#pragma once

#include <atomic>
#include <chrono>

namespace cafs {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  // Wall-clock time (UTC); used for access windows and audit timestamps.
  virtual TimePoint Now() const = 0;
  // Monotonic time for timeouts and cache expiry.
  virtual std::chrono::steady_clock::time_point MonotonicNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    return std::chrono::steady_clock::now();
  }
  // A process-wide instance.
  static const SystemClock& Instance() {
    static const SystemClock kClock;
    return kClock;
  }
};

// A clock tests set by hand. Monotonic time advances together with wall time.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(TimePoint::duration(now_.load())); }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            TimePoint::duration(now_.load())));
  }
  void Set(TimePoint t) { now_.store(t.time_since_epoch().count()); }
  void Advance(std::chrono::nanoseconds d) {
    now_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count());
  }

 private:
  std::atomic<TimePoint::rep> now_;
};

}  // namespace cafs
