#include "util/uuid.h"

#include <gtest/gtest.h>

#include <set>

namespace cafs {
namespace {

TEST(UuidTest, ParsesTheSeedGuids) {
  auto pd = Uuid::Parse("45aa9e57-bf64-11df-8d3e-000c29abeb4d");
  ASSERT_TRUE(pd.ok()) << pd.status().ToString();
  EXPECT_EQ(pd->ToString(), "45aa9e57-bf64-11df-8d3e-000c29abeb4d");
  EXPECT_EQ(pd->bytes()[0], 0x45);
  EXPECT_EQ(pd->bytes()[15], 0x4d);
  EXPECT_EQ(Uuid::Parse("01010101-0101-0101-0101-010101010101").value(), Uuid::ClearTextKey());
  EXPECT_EQ(Uuid::Parse("062B9056-BF64-11DF-8D3E-000C29ABEB4D")->ToString(),
            "062b9056-bf64-11df-8d3e-000c29abeb4d");
}

TEST(UuidTest, RejectsMalformed) {
  EXPECT_FALSE(Uuid::Parse("").ok());
  EXPECT_FALSE(Uuid::Parse("45aa9e57bf6411df8d3e000c29abeb4d").ok());
  EXPECT_FALSE(Uuid::Parse("45aa9e57-bf64-11df-8d3e-000c29abeb4g").ok());
  EXPECT_FALSE(Uuid::Parse("45aa9e57+bf64-11df-8d3e-000c29abeb4d").ok());
}

TEST(UuidTest, RandomIsVersion4AndDistinct) {
  std::set<Uuid> seen;
  for (int i = 0; i < 1000; ++i) {
    Uuid u = Uuid::Random();
    EXPECT_EQ(u.bytes()[6] >> 4, 4);
    EXPECT_EQ(u.bytes()[8] >> 6, 2);
    EXPECT_EQ(Uuid::Parse(u.ToString()).value(), u);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_TRUE(Uuid().IsNil());
}

}  // namespace
}  // namespace cafs
