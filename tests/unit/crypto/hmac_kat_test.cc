// HMAC-SHA-256 known answers through crypto::HmacSha256, and SHA-256.
//
// Source: RFC 4231 section 4, test cases 1-7, "HMAC-SHA-256" rows,
// https://www.rfc-editor.org/rfc/rfc4231#section-4. Test case 5 is published truncated to
// 128 bits; we compare the first 16 bytes. SHA-256 values: FIPS 180-4 examples ("abc" and the
// empty string).
#include <gtest/gtest.h>

#include "crypto/mac.h"
#include "kat_support.h"

namespace cafs::crypto {
namespace {

using testing::Hex;

struct HmacVector {
  const char* name;
  Bytes key;
  Bytes data;
  std::string_view mac;  // hex; 16 bytes for the truncated case 5
};

std::vector<HmacVector> Vectors() {
  auto text = [](std::string_view s) {
    ByteView b = AsBytes(s);
    return Bytes(b.begin(), b.end());
  };
  return {
      {"RFC4231 TC1", Bytes(20, 0x0b), text("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"RFC4231 TC2", text("Jefe"), text("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"RFC4231 TC3", Bytes(20, 0xaa), Bytes(50, 0xdd),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"RFC4231 TC4", Hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), Bytes(50, 0xcd),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"RFC4231 TC5 (truncated to 128 bits)", Bytes(20, 0x0c), text("Test With Truncation"),
       "a3b6167473100ee06e0c796c2955552b"},
      {"RFC4231 TC6", Bytes(131, 0xaa),
       text("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"RFC4231 TC7", Bytes(131, 0xaa),
       text("This is a test using a larger than block-size key and a larger than block-size "
            "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(HmacKatTest, Rfc4231HmacSha256) {
  for (const HmacVector& v : Vectors()) {
    SCOPED_TRACE(v.name);
    auto mac = HmacSha256(v.key, v.data);
    ASSERT_TRUE(mac.ok()) << mac.status().ToString();
    const std::size_t n = v.mac.size() / 2;
    EXPECT_EQ(ToHex(ByteView(*mac).first(n)), v.mac);
  }
}

TEST(HmacKatTest, ConstantTimeEqualsComparesWholeStrings) {
  const Bytes a = Hex("00112233"), b = Hex("00112233"), c = Hex("00112234");
  EXPECT_TRUE(ConstantTimeEquals(a, b));
  EXPECT_FALSE(ConstantTimeEquals(a, c));
  EXPECT_FALSE(ConstantTimeEquals(a, ByteView(b).first(3)));
  EXPECT_TRUE(ConstantTimeEquals(ByteView(), ByteView()));
}

TEST(HmacKatTest, Sha256Fips180Examples) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Sha256(ByteView())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace cafs::crypto
