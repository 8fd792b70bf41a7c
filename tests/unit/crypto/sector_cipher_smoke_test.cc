// Round-trip properties of every SectorCipher; the published vectors are in *_kat_test.cc.
#include <gtest/gtest.h>

#include "crypto/rng.h"
#include "crypto/sector_cipher.h"

namespace cafs::crypto {
namespace {

class SectorCipherRoundTrip : public ::testing::TestWithParam<std::tuple<CipherId, std::uint32_t>> {
};

TEST_P(SectorCipherRoundTrip, EncryptsDecryptsInPlaceAndBySector) {
  auto [id, sector] = GetParam();
  auto key = RandomKey(CipherKeySize(id));
  ASSERT_TRUE(key.ok());
  auto cipher = SectorCipher::Create(id, key->view(), sector);
  ASSERT_TRUE(cipher.ok()) << cipher.status().ToString();

  Bytes plain(sector * 8);
  ASSERT_TRUE(RandomBytes(MutableByteView(plain)).ok());
  Bytes ct(plain.size());
  ASSERT_TRUE((*cipher)->Encrypt(100, plain, MutableByteView(ct)).ok());
  if (id != CipherId::kNone) {
    EXPECT_NE(ct, plain);
  }

  // Encrypting sector by sector gives the same bytes as one call (no hidden chaining).
  for (std::size_t i = 0; i < 8; ++i) {
    Bytes one(sector);
    ASSERT_TRUE(
        (*cipher)
            ->Encrypt(100 + i, ByteView(plain).subspan(i * sector, sector), MutableByteView(one))
            .ok());
    EXPECT_TRUE(std::equal(one.begin(), one.end(), ct.begin() + static_cast<long>(i * sector)));
  }
  Bytes back = ct;
  ASSERT_TRUE((*cipher)->Decrypt(100, back, MutableByteView(back)).ok());
  EXPECT_EQ(back, plain);

  // A different sector number is a different tweak.
  if (id != CipherId::kNone) {
    Bytes other(sector);
    ASSERT_TRUE(
        (*cipher)->Encrypt(101, ByteView(plain).first(sector), MutableByteView(other)).ok());
    EXPECT_FALSE(std::equal(other.begin(), other.end(), ct.begin()));
  }
}

INSTANTIATE_TEST_SUITE_P(AllCiphers, SectorCipherRoundTrip,
                         ::testing::Combine(::testing::Values(CipherId::kNone, CipherId::kAes128Xts,
                                                              CipherId::kAes256Xts,
                                                              CipherId::kAes128CbcEssiv,
                                                              CipherId::kAes256CbcEssiv),
                                            ::testing::Values(512u, 4096u)));

TEST(SectorCipherTest, RejectsBadKeysAndSizes) {
  Bytes key(64, 1);
  EXPECT_TRUE(SectorCipher::Create(CipherId::kAes256Xts, ByteView(key).first(32), 4096)
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(SectorCipher::Create(CipherId::kAes256Xts, key, 1024).status().IsInvalidArgument());
  Bytes good(64);
  ASSERT_TRUE(RandomBytes(MutableByteView(good)).ok());
  auto c = SectorCipher::Create(CipherId::kAes256Xts, good, 512);
  ASSERT_TRUE(c.ok());
  Bytes odd(700);
  EXPECT_TRUE((*c)->Encrypt(0, odd, MutableByteView(odd)).IsInvalidArgument());
}

}  // namespace
}  // namespace cafs::crypto
