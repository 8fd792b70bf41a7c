#include "util/secure_buffer.h"

#include <gtest/gtest.h>

#include <cstring>

namespace cafs {
namespace {

TEST(SecureBufferTest, HoldsBytesAndNeverFormatsThem) {
  const std::uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
  SecureBuffer b(key, sizeof key);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(std::memcmp(b.data(), key, 4), 0);
  std::string shown = fmt::format("{}", b);
  EXPECT_EQ(shown, "<secret 4 bytes>");
  EXPECT_EQ(shown.find("de"), std::string::npos);
}

TEST(SecureBufferTest, MoveLeavesSourceEmpty) {
  SecureBuffer a(32);
  a.data()[0] = 1;
  SecureBuffer b(std::move(a));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data()[0], 1);
  SecureBuffer c = b.Clone();
  EXPECT_TRUE(c.Equals(b));
  c.data()[0] = 2;
  EXPECT_FALSE(c.Equals(b));
}

TEST(SecureBufferTest, ZeroSizeIsFine) {
  SecureBuffer z(0);
  EXPECT_TRUE(z.empty());
  EXPECT_TRUE(z.Equals(SecureBuffer()));
}

}  // namespace
}  // namespace cafs
