// TokenBucket: pure arithmetic on given time points (no sleeping, no timing assertions).
#include "jobs/token_bucket.h"

#include <gtest/gtest.h>

namespace cafs::jobs {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, UnlimitedNeverWaits) {
  const auto t0 = std::chrono::steady_clock::time_point{};
  TokenBucket b(0, 0, t0);
  EXPECT_EQ(b.Charge(1ull << 40, t0), 0ns);
}

TEST(TokenBucketTest, BurstThenTheRate) {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  TokenBucket b(1000, 1000, t0);        // 1000 B/s, burst 1000 B
  EXPECT_EQ(b.Charge(1000, t0), 0ns);   // the burst
  EXPECT_EQ(b.Charge(500, t0), 500ms);  // in debt: wait until it is repaid
  // After waiting what it said, the next charge of the same size waits the same again.
  EXPECT_EQ(b.Charge(500, t0 + 500ms), 500ms);
  // Long idle: the bucket refills to the burst only, never more.
  EXPECT_EQ(b.Charge(1000, t0 + 1h), 0ns);
  EXPECT_EQ(b.Charge(1, t0 + 1h), 1ms);
}

TEST(TokenBucketTest, LongRunRateHolds) {
  // Many workers charging 4 KiB steps at a 1 MiB/s limit: following the waits, 64 MiB
  // takes 64 s of simulated time (minus the burst).
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  TokenBucket b(1 << 20, 1 << 18, t0);
  auto now = t0;
  for (int i = 0; i < 16384; ++i) now += b.Charge(4096, now);
  const double secs = std::chrono::duration<double>(now - t0).count();
  EXPECT_NEAR(secs, 64.0 - 0.25, 0.01);
}

}  // namespace
}  // namespace cafs::jobs
