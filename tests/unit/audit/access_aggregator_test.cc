#include "audit/access_aggregator.h"

#include <gtest/gtest.h>

#include <vector>

namespace cafs::audit {
namespace {

TEST(AccessAggregatorTest, FoldsPerKeyPerInterval) {
  std::vector<AuditRecord> out;
  AccessAggregator agg(std::chrono::milliseconds(1000), [&](AuditRecord r) { out.push_back(r); });
  for (int i = 0; i < 10; ++i)
    agg.Record("esx1", "vs", "vm", "osdisk1.vmdk", "write", 4096, 100 + i);
  agg.Record("esx1", "vs", "vm", "osdisk1.vmdk", "read", 512, 150);
  agg.Record("esx2", "vs", "vm", "osdisk1.vmdk", "write", 4096, 150);
  EXPECT_EQ(agg.pending(), 3u);

  agg.Flush(1000);  // nothing has lasted a full interval yet
  EXPECT_TRUE(out.empty());
  agg.Flush(1100);
  ASSERT_EQ(out.size(), 1u);  // only the esx1 write aggregate started at 100
  EXPECT_EQ(out[0].count, 10u);
  EXPECT_EQ(out[0].bytes, 40960u);
  EXPECT_EQ(out[0].time_ms, 100);
  EXPECT_EQ(out[0].end_ms, 109);
  agg.Flush(0, /*force=*/true);
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(agg.pending(), 0u);
}

}  // namespace
}  // namespace cafs::audit
