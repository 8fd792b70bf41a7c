#include "util/bytes.h"

#include <gtest/gtest.h>

namespace cafs {
namespace {

TEST(BytesTest, HexRoundTrip) {
  Bytes b = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(ToHex(b), "000fa5ff");
  EXPECT_EQ(FromHex("000FA5ff").value(), b);
  EXPECT_FALSE(FromHex("abc").ok());
  EXPECT_FALSE(FromHex("zz").ok());
}

TEST(BytesTest, EndianHelpers) {
  std::uint8_t buf[8];
  StoreLe64(buf, 0x0102030405060708ULL);
  EXPECT_EQ(buf[0], 0x08);
  EXPECT_EQ(LoadLe64(buf), 0x0102030405060708ULL);
  StoreBe32(buf, 0x11223344);
  EXPECT_EQ(buf[0], 0x11);
  EXPECT_EQ(LoadBe32(buf), 0x11223344u);
  StoreLe16(buf, 0xabcd);
  EXPECT_EQ(LoadLe16(buf), 0xabcd);
}

}  // namespace
}  // namespace cafs
