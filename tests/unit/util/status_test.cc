#include "util/status.h"

#include <gtest/gtest.h>

#include "util/result.h"

namespace cafs {
namespace {

TEST(StatusTest, OkIsCheapAndEmpty) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.errno_value(), 0);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, FromErrnoKeepsTheNumberAndPicksTheCode) {
  Status s = Status::FromErrno(ENOSPC, "pwrite pool/a");
  EXPECT_TRUE(s.IsNoSpace());
  EXPECT_EQ(s.errno_value(), ENOSPC);
  EXPECT_NE(s.ToString().find("pwrite pool/a"), std::string::npos);
  EXPECT_NE(s.ToString().find("errno 28"), std::string::npos);

  Status odd = Status::FromErrno(EROFS, "open");
  EXPECT_EQ(odd.code(), Status::Code::kIoError);
  EXPECT_EQ(odd.errno_value(), EROFS);  // not flattened to EIO (LevelDB's mistake)

  EXPECT_TRUE(Status::FromErrno(EAGAIN, "x").retryable());
  EXPECT_FALSE(Status::FromErrno(EIO, "x").retryable());
}

TEST(StatusTest, WithContextPrefixesAndKeepsCode) {
  Status s = Status::Corruption("bad magic").WithContext("reading header");
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "reading header: bad magic");
  EXPECT_EQ(s.errno_value(), EIO);
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Status Quarter(int x, int* out) {
  CAFS_ASSIGN_OR_RETURN(int h, Half(x));
  CAFS_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::OK();
}

TEST(ResultTest, ValueOrStatus) {
  EXPECT_EQ(Half(8).value(), 4);
  EXPECT_TRUE(Half(3).status().IsInvalidArgument());
  EXPECT_EQ(Half(3).value_or(-1), -1);
  int q = 0;
  EXPECT_TRUE(Quarter(8, &q).ok());
  EXPECT_EQ(q, 2);
  EXPECT_FALSE(Quarter(6, &q).ok());
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace cafs
