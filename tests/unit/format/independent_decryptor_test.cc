// An independent decryptor for pool files, written from docs/format.md alone with raw
// OpenSSL calls (EVP_KDF HKDF, EVP_MAC HMAC, EVP_aes_*_xts / _cbc, ESSIV by hand with
// EVP_aes_256_ecb + EVP_sha256). It shares no code with src/format: the CAFS headers below
// are used only to PRODUCE the files it then decrypts.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

// Producer side only:
#include "env/mem_env.h"
#include "format/encrypted_file.h"

namespace {

using Buf = std::vector<unsigned char>;

// ---- the decryptor (docs/format.md) ----

std::uint64_t Le(const Buf& b, std::size_t off, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[off + static_cast<std::size_t>(i)];
  return v;
}

Buf Hkdf512(const Buf& ikm, const Buf& salt, const std::string& info, std::size_t len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  OSSL_PARAM p[] = {
      OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA512"), 0),
      OSSL_PARAM_construct_octet_string("key", const_cast<unsigned char*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string("salt", const_cast<unsigned char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string("info", const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  Buf out(len);
  EXPECT_EQ(EVP_KDF_derive(ctx, out.data(), len, p), 1);
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return out;
}

Buf HmacSha256(const Buf& key, const unsigned char* data, std::size_t n) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA256"), 0),
                    OSSL_PARAM_construct_end()};
  Buf out(32);
  std::size_t outl = 0;
  EXPECT_EQ(EVP_MAC_init(ctx, key.data(), key.size(), p), 1);
  EXPECT_EQ(EVP_MAC_update(ctx, data, n), 1);
  EXPECT_EQ(EVP_MAC_final(ctx, out.data(), &outl, out.size()), 1);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return out;
}

// One AES call without padding.
void Aes(const EVP_CIPHER* c, const unsigned char* key, const unsigned char* iv,
         const unsigned char* in, unsigned char* out, int n, int enc) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ASSERT_EQ(EVP_CipherInit_ex(ctx, c, nullptr, key, iv, enc), 1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  int outl = 0;
  ASSERT_EQ(EVP_CipherUpdate(ctx, out, &outl, in, n), 1);
  ASSERT_EQ(outl, n);
  EVP_CIPHER_CTX_free(ctx);
}

// Decrypts a whole pool file image; returns the plaintext (logical size bytes).
Buf DecryptPoolFile(const Buf& file, const Buf& dek) {
  EXPECT_GE(file.size(), 4096u);
  EXPECT_EQ(std::memcmp(file.data(), "CAFSPOOL", 8), 0);
  EXPECT_EQ(Le(file, 8, 2), 1u);      // version
  EXPECT_EQ(Le(file, 10, 2), 4096u);  // header size
  const auto cipher = Le(file, 12, 2);
  const auto sector = static_cast<std::size_t>(Le(file, 16, 4));
  const Buf nonce(file.begin() + 96, file.begin() + 112);
  const std::uint64_t size = Le(file, 4056, 8);
  const Buf ikm = dek.empty() ? Buf(32, 0) : dek;
  // Header MAC over bytes [0, 4064).
  const Buf mac_key = Hkdf512(ikm, nonce, "cafs/v1/header-mac", 32);
  const Buf mac = HmacSha256(mac_key, file.data(), 4064);
  EXPECT_EQ(std::memcmp(mac.data(), file.data() + 4064, 32), 0) << "header MAC";
  static const char* names[] = {"none", "aes-128-xts", "aes-256-xts", "aes-128-cbc-essiv",
                                "aes-256-cbc-essiv"};
  static const std::size_t key_sizes[] = {0, 32, 64, 16, 32};
  Buf key;
  if (cipher != 0)
    key = Hkdf512(ikm, nonce, std::string("cafs/v1/data/") + names[cipher], key_sizes[cipher]);
  Buf essiv_key(32);
  if (cipher >= 3)
    EVP_Digest(key.data(), key.size(), essiv_key.data(), nullptr, EVP_sha256(), nullptr);
  Buf plain((size + sector - 1) / sector * sector, 0);
  for (std::size_t s = 0; s * sector < plain.size(); ++s) {
    const std::size_t at = 4096 + s * sector;
    if (at >= file.size()) break;  // beyond the physical end: a hole
    Buf ct(sector, 0);
    std::memcpy(ct.data(), file.data() + at, std::min(sector, file.size() - at));
    bool hole = true;
    for (auto b : ct) hole = hole && b == 0;
    if (hole) continue;
    unsigned char iv[16] = {0};
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<unsigned char>(s >> (8 * i));  // le64(s) || 0^8
    unsigned char* out = plain.data() + s * sector;
    const int n = static_cast<int>(sector);
    switch (cipher) {
      case 0:
        std::memcpy(out, ct.data(), sector);
        break;
      case 1:
        Aes(EVP_aes_128_xts(), key.data(), iv, ct.data(), out, n, 0);
        break;
      case 2:
        Aes(EVP_aes_256_xts(), key.data(), iv, ct.data(), out, n, 0);
        break;
      case 3:
      case 4: {
        unsigned char essiv[16];
        Aes(EVP_aes_256_ecb(), essiv_key.data(), nullptr, iv, essiv, 16, 1);
        Aes(cipher == 3 ? EVP_aes_128_cbc() : EVP_aes_256_cbc(), key.data(), essiv, ct.data(), out,
            n, 0);
        break;
      }
      default:
        ADD_FAILURE() << "cipher " << cipher;
    }
  }
  plain.resize(size);
  return plain;
}

// ---- the test: produce files with EncryptedFile, decrypt independently ----

class IndependentDecryptorTest
    : public ::testing::TestWithParam<std::tuple<cafs::crypto::CipherId, std::uint32_t>> {};

TEST_P(IndependentDecryptorTest, DecryptsWhatEncryptedFileWrote) {
  const auto [cipher, sector] = GetParam();
  cafs::SecureBuffer dek;
  Buf dek_bytes;
  if (cipher != cafs::crypto::CipherId::kNone) {
    dek = cafs::SecureBuffer(64);
    for (std::size_t i = 0; i < 64; ++i) dek.data()[i] = static_cast<std::uint8_t>(3 * i + 1);
    dek_bytes.assign(dek.data(), dek.data() + 64);
  }
  cafs::env::MemEnv env;
  cafs::format::CreateParams params;
  params.cipher = cipher;
  params.sector_size = sector;
  auto file = env.OpenFile("/pool", cafs::env::OpenOptions::CreateNew());
  ASSERT_TRUE(file.ok());
  auto ef = cafs::format::EncryptedFile::Create(std::move(file).value(), params, dek);
  ASSERT_TRUE(ef.ok()) << ef.status().ToString();
  Buf model;
  std::mt19937 rng(static_cast<unsigned>(sector) + static_cast<unsigned>(cipher));
  for (int i = 0; i < 20; ++i) {
    const std::size_t off = rng() % 300000, len = 1 + rng() % 40000;
    Buf data(len);
    for (auto& b : data) b = static_cast<unsigned char>(rng());
    ASSERT_TRUE((*ef)->Write(off, data).ok());
    if (model.size() < off + len) model.resize(off + len, 0);
    std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(off));
  }
  ASSERT_TRUE((*ef)->Truncate(model.size() - 1234).ok());
  model.resize(model.size() - 1234);
  ASSERT_TRUE((*ef)->Sync().ok());
  auto raw = env.OpenFile("/pool", cafs::env::OpenOptions::ReadOnly());
  ASSERT_TRUE(raw.ok());
  Buf image(*(*raw)->Size());
  ASSERT_EQ(*(*raw)->ReadAt(0, image), image.size());
  EXPECT_EQ(DecryptPoolFile(image, dek_bytes), model);
}

INSTANTIATE_TEST_SUITE_P(
    AllCiphers, IndependentDecryptorTest,
    ::testing::Combine(::testing::Values(cafs::crypto::CipherId::kNone,
                                         cafs::crypto::CipherId::kAes128Xts,
                                         cafs::crypto::CipherId::kAes256Xts,
                                         cafs::crypto::CipherId::kAes128CbcEssiv,
                                         cafs::crypto::CipherId::kAes256CbcEssiv),
                       ::testing::Values(std::uint32_t{512}, std::uint32_t{4096})));

}  // namespace
