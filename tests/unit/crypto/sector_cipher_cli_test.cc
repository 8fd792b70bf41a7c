// SectorCipher against an independent computation with the `openssl` command line.
//
// CBC-ESSIV (dm-crypt aes-cbc-essiv:sha256), step by step with the CLI:
//   salt = `openssl dgst -sha256` of the key
//   IV   = `openssl enc -aes-256-ecb -nopad -K salt` of le64(sector) || 0^8
//   C    = `openssl enc -aes-{128,256}-cbc -nopad -K key -iv IV` of the sector
// XTS: `openssl enc` refuses XTS ciphers ("enc XTS ciphers not supported" in OpenSSL 3.0), so
// the XTS mode itself is written out here (IEEE 1619 section 5.3: T = AES_K2(le128(sector)),
// C_j = AES_K1(P_j ^ T*a^j) ^ T*a^j in GF(2^128)) with every AES block computed by
// `openssl enc -aes-XXX-ecb -nopad`. Neither path shares code with OpenSSL's EVP XTS or with
// SectorCipher.
//
// Sector numbers include values above 2^32 (the tweak is 64-bit, unlike dm-crypt's plain) and
// the 2^32 - 1 -> 2^32 carry inside one multi-sector call.
#include <gtest/gtest.h>

#include <random>

#include "crypto/sector_cipher.h"
#include "kat_support.h"

namespace cafs::crypto {
namespace {

using testing::CliAesCbc;
using testing::CliAesEcbEncrypt;
using testing::CliSha256;
using testing::TempDir;

constexpr std::uint64_t kSectors[] = {0,
                                      1,
                                      7,
                                      0xfffffffeu,
                                      0xffffffffu,
                                      0x100000000ull,
                                      0x123456789abcdef0ull,
                                      0xffffffffffffffffull};

Bytes Random(std::mt19937_64& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

Bytes Plain64Block(std::uint64_t sector) {
  Bytes b(16, 0);
  StoreLe64(b.data(), sector);
  return b;
}

// One sector by the CLI recipe for CBC-ESSIV.
std::optional<Bytes> CliEssivSector(const TempDir& dir, ByteView key, ByteView salt,
                                    std::uint64_t sector, ByteView plain) {
  auto iv = CliAesEcbEncrypt(dir, salt, Plain64Block(sector));
  if (!iv || iv->size() != 16) return std::nullopt;
  return CliAesCbc(dir, key, *iv, plain, /*encrypt=*/true);
}

// Multiplies the XTS tweak by the primitive element a (x) of GF(2^128), little-endian.
void MulAlpha(std::uint8_t t[16]) {
  const std::uint8_t carry = static_cast<std::uint8_t>(t[15] >> 7);
  for (int i = 15; i > 0; --i) {
    t[i] = static_cast<std::uint8_t>((t[i] << 1) | (t[i - 1] >> 7));
  }
  t[0] = static_cast<std::uint8_t>((t[0] << 1) ^ (carry != 0 ? 0x87 : 0));
}

// One sector by IEEE 1619 XTS with CLI AES blocks (no ciphertext stealing: sectors are whole
// blocks).
std::optional<Bytes> CliXtsSector(const TempDir& dir, ByteView key, std::uint64_t sector,
                                  ByteView plain) {
  const ByteView k1 = key.first(key.size() / 2);
  const ByteView k2 = key.last(key.size() / 2);
  auto t0 = CliAesEcbEncrypt(dir, k2, Plain64Block(sector));
  if (!t0 || t0->size() != 16) return std::nullopt;
  const std::size_t blocks = plain.size() / 16;
  Bytes tweaks(plain.size());
  Bytes masked(plain.size());
  std::uint8_t t[16];
  std::copy(t0->begin(), t0->end(), t);
  for (std::size_t j = 0; j < blocks; ++j) {
    for (std::size_t b = 0; b < 16; ++b) {
      tweaks[16 * j + b] = t[b];
      masked[16 * j + b] = plain[16 * j + b] ^ t[b];
    }
    MulAlpha(t);
  }
  auto enc = CliAesEcbEncrypt(dir, k1, masked);
  if (!enc || enc->size() != plain.size()) return std::nullopt;
  for (std::size_t i = 0; i < enc->size(); ++i) (*enc)[i] ^= tweaks[i];
  return enc;
}

class SectorCipherCliTest : public ::testing::TestWithParam<std::tuple<CipherId, std::uint32_t>> {
 protected:
  void SetUp() override {
    if (!testing::OpenSslCliAvailable()) GTEST_SKIP() << "no OpenSSL 3 `openssl` command line";
    ASSERT_TRUE(dir_.ok());
  }
  TempDir dir_;
};

TEST_P(SectorCipherCliTest, MatchesIndependentCommandLineComputation) {
  auto [id, sector_size] = GetParam();
  const bool xts = id == CipherId::kAes128Xts || id == CipherId::kAes256Xts;
  std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 7919 + sector_size);
  const Bytes key = Random(rng, CipherKeySize(id));
  auto cipher = SectorCipher::Create(id, key, sector_size);
  ASSERT_TRUE(cipher.ok()) << cipher.status().ToString();

  Bytes salt;
  if (!xts) {
    auto s = CliSha256(dir_, key);
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(s->size(), 32u);
    salt = *s;
  }
  auto reference = [&](std::uint64_t sector, ByteView plain) {
    return xts ? CliXtsSector(dir_, key, sector, plain)
               : CliEssivSector(dir_, key, salt, sector, plain);
  };

  for (std::uint64_t sector : kSectors) {
    SCOPED_TRACE(::testing::Message() << "sector " << sector);
    const Bytes plain = Random(rng, sector_size);
    auto expected = reference(sector, plain);
    ASSERT_TRUE(expected.has_value());
    Bytes ours(sector_size);
    ASSERT_TRUE((*cipher)->Encrypt(sector, plain, MutableByteView(ours)).ok());
    EXPECT_EQ(ToHex(ours), ToHex(*expected));
    Bytes back(sector_size);
    ASSERT_TRUE((*cipher)->Decrypt(sector, *expected, MutableByteView(back)).ok());
    EXPECT_EQ(back, plain);
  }

  // One call across the 32-bit boundary: sectors 2^32-2, 2^32-1, 2^32.
  const std::uint64_t first = 0xfffffffeu;
  const Bytes plain = Random(rng, 3 * std::size_t{sector_size});
  Bytes ours(plain.size());
  ASSERT_TRUE((*cipher)->Encrypt(first, plain, MutableByteView(ours)).ok());
  for (std::size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(::testing::Message() << "multi-sector call, sector " << first + i);
    auto expected = reference(first + i, ByteView(plain).subspan(i * sector_size, sector_size));
    ASSERT_TRUE(expected.has_value());
    EXPECT_EQ(ToHex(ByteView(ours).subspan(i * sector_size, sector_size)), ToHex(*expected));
  }
}

// The CBC decrypt direction through the CLI too (ESSIV only: the CLI has no XTS).
TEST(SectorCipherCliEssivTest, CliDecryptsOurEssivSectors) {
  if (!testing::OpenSslCliAvailable()) GTEST_SKIP() << "no OpenSSL 3 `openssl` command line";
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  for (CipherId id : {CipherId::kAes128CbcEssiv, CipherId::kAes256CbcEssiv}) {
    for (std::uint32_t sector_size : {512u, 4096u}) {
      SCOPED_TRACE(::testing::Message() << CipherName(id) << "/" << sector_size);
      std::mt19937_64 rng(4242 + sector_size);
      const Bytes key = Random(rng, CipherKeySize(id));
      auto cipher = SectorCipher::Create(id, key, sector_size);
      ASSERT_TRUE(cipher.ok());
      auto salt = CliSha256(dir, key);
      ASSERT_TRUE(salt.has_value());
      const std::uint64_t sector = 0x200000001ull;
      const Bytes plain = Random(rng, sector_size);
      Bytes ours(sector_size);
      ASSERT_TRUE((*cipher)->Encrypt(sector, plain, MutableByteView(ours)).ok());
      auto iv = CliAesEcbEncrypt(dir, *salt, Plain64Block(sector));
      ASSERT_TRUE(iv.has_value());
      auto back = CliAesCbc(dir, key, *iv, ours, /*encrypt=*/false);
      ASSERT_TRUE(back.has_value());
      EXPECT_EQ(*back, plain);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ciphers, SectorCipherCliTest,
    ::testing::Combine(::testing::Values(CipherId::kAes128CbcEssiv, CipherId::kAes256CbcEssiv,
                                         CipherId::kAes128Xts, CipherId::kAes256Xts),
                       ::testing::Values(512u, 4096u)),
    [](const auto& param_info) {
      std::string name(CipherName(std::get<0>(param_info.param)));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name + "_" + std::to_string(std::get<1>(param_info.param));
    });

}  // namespace
}  // namespace cafs::crypto
