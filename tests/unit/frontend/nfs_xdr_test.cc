// XDR codec (src/frontend/nfs/xdr.h): byte layouts of RFC 4506, padding, limits, sticky
// failure and encode/decode round trips.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "frontend/nfs/xdr.h"

namespace cafs::frontend::nfs {
namespace {

using Bytes = std::vector<std::uint8_t>;

TEST(XdrTest, IntegersAreBigEndian) {
  XdrEncoder enc;
  enc.U32(0x01020304u);
  enc.I32(-2);
  enc.U64(0x0102030405060708ull);
  enc.Bool(true);
  enc.Bool(false);
  const Bytes expected = {1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4,
                          5, 6, 7, 8, 0,    0,    0,    1,    0, 0, 0, 0};
  EXPECT_EQ(enc.ToBytes(), expected);

  XdrDecoder dec(enc.bytes());
  EXPECT_EQ(dec.U32(), 0x01020304u);
  EXPECT_EQ(dec.I32(), -2);
  EXPECT_EQ(dec.U64(), 0x0102030405060708ull);
  EXPECT_TRUE(dec.Bool());
  EXPECT_FALSE(dec.Bool());
  EXPECT_TRUE(dec.ok());
  EXPECT_EQ(dec.remaining(), 0u);
}

TEST(XdrTest, OpaqueAndStringArePaddedToFourBytes) {
  for (std::size_t n = 0; n <= 9; ++n) {
    XdrEncoder enc;
    const std::string s(n, 'x');
    enc.String(s);
    ASSERT_EQ(enc.size(), 4 + n + XdrPadding(n)) << n;
    EXPECT_EQ(enc.size() % 4, 0u);
    // The length word, then the bytes, then zero padding.
    EXPECT_EQ(enc.bytes()[3], n);
    for (std::size_t i = 4 + n; i < enc.size(); ++i) EXPECT_EQ(enc.bytes()[i], 0) << n;
    XdrDecoder dec(enc.bytes());
    EXPECT_EQ(dec.String(16), s);
    EXPECT_TRUE(dec.ok());
    EXPECT_EQ(dec.remaining(), 0u);
  }
  EXPECT_EQ(XdrPadding(0), 0u);
  EXPECT_EQ(XdrPadding(1), 3u);
  EXPECT_EQ(XdrPadding(3), 1u);
  EXPECT_EQ(XdrPadding(4), 0u);
}

TEST(XdrTest, FixedOpaqueHasNoLength) {
  XdrEncoder enc;
  const Bytes data = {9, 8, 7, 6, 5};
  enc.FixedOpaque(data);
  EXPECT_EQ(enc.ToBytes(), (Bytes{9, 8, 7, 6, 5, 0, 0, 0}));
  XdrDecoder dec(enc.bytes());
  std::uint8_t out[5] = {};
  dec.FixedOpaque(5, out);
  EXPECT_TRUE(dec.ok());
  EXPECT_EQ(Bytes(out, out + 5), data);
}

TEST(XdrTest, LengthAboveLimitFailsAndSticks) {
  XdrEncoder enc;
  enc.Opaque(Bytes(8, 1));
  enc.U32(7);
  XdrDecoder dec(enc.bytes());
  EXPECT_TRUE(dec.Opaque(7).empty());
  EXPECT_FALSE(dec.ok());
  // Everything after a failure reads as zero, even data that is there.
  EXPECT_EQ(dec.U32(), 0u);
  EXPECT_EQ(dec.remaining(), 0u);
  EXPECT_FALSE(dec.ok());

  XdrDecoder exact(enc.bytes());
  EXPECT_EQ(exact.Opaque(8).size(), 8u);
  EXPECT_EQ(exact.U32(), 7u);
  EXPECT_TRUE(exact.ok());
}

TEST(XdrTest, OpaqueViewPointsIntoTheBufferWithoutCopy) {
  XdrEncoder enc;
  enc.Opaque(Bytes{1, 2, 3, 4, 5});
  enc.U32(9);
  const Bytes wire = enc.ToBytes();
  XdrDecoder dec(wire);
  const ByteView v = dec.OpaqueView(5);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v.data(), wire.data() + 4);  // a view of the record, not a copy
  EXPECT_EQ(Bytes(v.begin(), v.end()), (Bytes{1, 2, 3, 4, 5}));
  EXPECT_EQ(dec.U32(), 9u);  // the padding was skipped
  EXPECT_TRUE(dec.ok());

  XdrDecoder limited(wire);
  EXPECT_TRUE(limited.OpaqueView(4).empty());
  EXPECT_FALSE(limited.ok());
}

TEST(XdrTest, EncoderReusesAGivenBuffer) {
  XdrBytes old(4096, 7);
  const std::uint8_t* storage = old.data();
  XdrEncoder enc(std::move(old));
  EXPECT_EQ(enc.size(), 0u);  // cleared
  enc.U32(1);
  EXPECT_EQ(enc.ToBytes(), (Bytes{0, 0, 0, 1}));
  EXPECT_EQ(enc.bytes().data(), storage);  // the capacity was kept
}

TEST(XdrTest, HugeLengthDoesNotOverflow) {
  for (std::uint32_t len : {0xffffffffu, 0xfffffffdu, 0x7fffffffu}) {
    XdrEncoder enc;
    enc.U32(len);
    enc.U32(0);
    XdrDecoder dec(enc.bytes());
    EXPECT_TRUE(dec.Opaque(std::numeric_limits<std::size_t>::max()).empty());
    EXPECT_FALSE(dec.ok());
    XdrDecoder sdec(enc.bytes());
    EXPECT_TRUE(sdec.String(std::numeric_limits<std::size_t>::max()).empty());
    EXPECT_FALSE(sdec.ok());
  }
}

TEST(XdrTest, TruncatedInputFails) {
  const Bytes three = {0, 0, 1};
  XdrDecoder dec(three);
  EXPECT_EQ(dec.U32(), 0u);
  EXPECT_FALSE(dec.ok());

  const Bytes four = {0, 0, 0, 1};
  XdrDecoder dec64(four);
  EXPECT_EQ(dec64.U64(), 0u);
  EXPECT_FALSE(dec64.ok());

  // A string whose bytes are there but whose padding is not.
  const Bytes unpadded = {0, 0, 0, 2, 'a', 'b'};
  XdrDecoder sdec(unpadded);
  EXPECT_EQ(sdec.String(10), "");
  EXPECT_FALSE(sdec.ok());

  XdrDecoder skip(unpadded);
  skip.Skip(4);
  EXPECT_TRUE(skip.ok());
  skip.Skip(1);  // 1 + 3 padding > 2 left
  EXPECT_FALSE(skip.ok());
}

TEST(XdrTest, BoolOtherThanZeroOrOneFails) {
  const Bytes two = {0, 0, 0, 2};
  XdrDecoder dec(two);
  EXPECT_FALSE(dec.Bool());
  EXPECT_FALSE(dec.ok());
}

TEST(XdrTest, FixedOpaqueFailureZeroesOutput) {
  const Bytes short_input = {1, 2};
  XdrDecoder dec(short_input);
  std::uint8_t out[4] = {0xaa, 0xaa, 0xaa, 0xaa};
  dec.FixedOpaque(4, out);
  EXPECT_FALSE(dec.ok());
  EXPECT_EQ(Bytes(out, out + 4), (Bytes{0, 0, 0, 0}));
}

TEST(XdrTest, ExplicitFailSticks) {
  const Bytes data = {0, 0, 0, 5};
  XdrDecoder dec(data);
  dec.Fail();
  EXPECT_EQ(dec.U32(), 0u);
  EXPECT_FALSE(dec.ok());
}

TEST(XdrTest, PositionAndRemaining) {
  XdrEncoder enc;
  enc.U32(1);
  enc.String("abcde");
  XdrDecoder dec(enc.bytes());
  EXPECT_EQ(dec.position(), 0u);
  EXPECT_EQ(dec.remaining(), 16u);
  dec.U32();
  EXPECT_EQ(dec.position(), 4u);
  dec.String(5);
  EXPECT_EQ(dec.position(), 16u);
  EXPECT_EQ(dec.remaining(), 0u);
}

TEST(XdrTest, ReservePatchAndVariableData) {
  // The READ pattern: reserve the length, append the maximum, use part, truncate, patch, pad.
  // The encoder reuses a dirty buffer: AppendSpace does not zero, the padding must still be 0.
  XdrEncoder enc(XdrBytes(256, 0xff));
  enc.U32(0xdeadbeefu);
  const std::size_t len_slot = enc.ReserveU32();
  const std::size_t start = enc.AppendSpace(100);
  for (std::size_t i = 0; i < 6; ++i) enc.bytes()[start + i] = static_cast<std::uint8_t>('a' + i);
  enc.Truncate(start + 6);
  enc.PatchU32(len_slot, 6);
  enc.AlignTo4();
  EXPECT_EQ(enc.size(), 4u + 4u + 8u);
  EXPECT_EQ(enc.bytes()[14], 0);
  EXPECT_EQ(enc.bytes()[15], 0);
  XdrDecoder dec(enc.bytes());
  EXPECT_EQ(dec.U32(), 0xdeadbeefu);
  EXPECT_EQ(dec.String(100), "abcdef");
  EXPECT_TRUE(dec.ok());
  EXPECT_EQ(dec.remaining(), 0u);
}

TEST(XdrTest, RoundTripMixed) {
  XdrEncoder enc;
  const Bytes blob = {0, 1, 2, 3, 4, 5, 6};
  enc.U64(std::numeric_limits<std::uint64_t>::max());
  enc.Opaque(blob);
  enc.I32(std::numeric_limits<std::int32_t>::min());
  enc.String("");
  enc.U32(42);
  XdrDecoder dec(enc.bytes());
  EXPECT_EQ(dec.U64(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(dec.Opaque(64), blob);
  EXPECT_EQ(dec.I32(), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(dec.String(0), "");
  EXPECT_EQ(dec.U32(), 42u);
  EXPECT_TRUE(dec.ok());
  EXPECT_EQ(dec.remaining(), 0u);
}

}  // namespace
}  // namespace cafs::frontend::nfs
