// AES key wrap with padding known answers through crypto::WrapKey / UnwrapKey.
//
// Source: RFC 5649 section 6, "Padded Key Wrap Test Vectors" (192-bit KEK, a 20-octet and a
// 7-octet key), https://www.rfc-editor.org/rfc/rfc5649#section-6.
#include <gtest/gtest.h>

#include "crypto/key_wrap.h"
#include "kat_support.h"

namespace cafs::crypto {
namespace {

using testing::Hex;

constexpr std::string_view kKek = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8";

struct WrapVector {
  const char* name;
  std::string_view key, wrapped;
};

constexpr WrapVector kVectors[] = {
    {"RFC5649 s6 20-octet key", "c37b7e6492584340bed12207808941155068f738",
     "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
    {"RFC5649 s6 7-octet key", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
};

TEST(KeyWrapKatTest, WrapMatchesRfc5649) {
  const SecureBuffer kek(Hex(kKek));
  for (const WrapVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto wrapped = WrapKey(kek, Hex(v.key));
    ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
    EXPECT_EQ(ToHex(*wrapped), v.wrapped);
  }
}

TEST(KeyWrapKatTest, UnwrapMatchesRfc5649) {
  const SecureBuffer kek(Hex(kKek));
  for (const WrapVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto key = UnwrapKey(kek, Hex(v.wrapped));
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(ToHex(key->view()), v.key);
  }
}

// Any flipped byte of the wrapped key (AIV or payload) is an integrity failure, never a
// silently different key.
TEST(KeyWrapKatTest, FlippedByteGivesAuthFailed) {
  const SecureBuffer kek(Hex(kKek));
  for (const WrapVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    const Bytes good = Hex(v.wrapped);
    for (std::size_t i = 0; i < good.size(); ++i) {
      Bytes bad = good;
      bad[i] ^= 0x01;
      auto key = UnwrapKey(kek, bad);
      EXPECT_EQ(key.status().code(), Status::Code::kAuthFailed) << "byte " << i;
    }
  }
}

TEST(KeyWrapKatTest, WrongKekGivesAuthFailed) {
  Bytes other = Hex(kKek);
  other[23] ^= 0x80;
  const SecureBuffer kek(other);
  EXPECT_EQ(UnwrapKey(kek, Hex(kVectors[0].wrapped)).status().code(), Status::Code::kAuthFailed);
}

TEST(KeyWrapKatTest, RejectsBadKekSizesAndEmptyKeys) {
  const SecureBuffer short_kek(Bytes(15, 1));
  EXPECT_TRUE(WrapKey(short_kek, Hex("00")).status().IsInvalidArgument());
  const SecureBuffer kek(Hex(kKek));
  EXPECT_TRUE(WrapKey(kek, ByteView()).status().IsInvalidArgument());
  // A length that no wrap can produce is reported as damage, not passed to OpenSSL.
  EXPECT_EQ(UnwrapKey(kek, Bytes(12, 0)).status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace cafs::crypto
