// UtcIsoText against known instants (computed independently: `date -u -d @N`).
#include "util/utc_time.h"

#include <gtest/gtest.h>

namespace cafs {
namespace {

TEST(UtcTimeTest, FormatsKnownInstants) {
  EXPECT_EQ(UtcIsoText(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(UtcIsoText(1714554000), "2024-05-01T09:00:00Z");
  EXPECT_EQ(UtcIsoText(1796630400), "2026-12-07T08:00:00Z");
  EXPECT_EQ(UtcIsoText(951782400), "2000-02-29T00:00:00Z");  // a leap day
  EXPECT_EQ(UtcIsoText(-1), "1969-12-31T23:59:59Z");
}

}  // namespace
}  // namespace cafs
