#include "edif/mailbox/crc32c.h"

#include <gtest/gtest.h>

namespace cafs::edif::mailbox {
namespace {

TEST(Crc32c, CheckValueRfc3720) { EXPECT_EQ(Crc32c(AsBytes("123456789")), 0xE3069283u); }

TEST(Crc32c, Rfc3720Vectors) {
  // RFC 3720 B.4: 32 bytes of zeros, of 0xFF, incrementing, decrementing.
  Bytes zeros(32, 0), ones(32, 0xFF), inc(32), dec(32);
  for (std::size_t i = 0; i < 32; ++i) {
    inc[i] = static_cast<std::uint8_t>(i);
    dec[i] = static_cast<std::uint8_t>(31 - i);
  }
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(dec), 0x113FDB5Cu);
}

TEST(Crc32c, ExtendEqualsWholeForEverySplit) {
  Bytes data(100);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const std::uint32_t whole = Crc32c(data);
  for (std::size_t split = 0; split <= data.size(); ++split) {
    const ByteView v(data);
    EXPECT_EQ(Crc32cExtend(Crc32c(v.first(split)), v.subspan(split)), whole) << split;
  }
  EXPECT_EQ(Crc32c({}), 0u);
}

}  // namespace
}  // namespace cafs::edif::mailbox
