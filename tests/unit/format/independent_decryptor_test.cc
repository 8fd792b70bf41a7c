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
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

// Producer side only:
#include "env/fault_injection_env.h"
#include "env/mem_env.h"
#include "format/encrypted_file.h"
#include "format/rekeyer.h"

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

// The DEKs the decryptor may use, by key GUID (16 raw bytes) + version.
using KeyTable = std::map<std::pair<Buf, std::uint32_t>, Buf>;

Buf KeyFor(const KeyTable& keys, const Buf& file, std::size_t guid_at, std::size_t version_at) {
  const Buf guid(file.begin() + static_cast<std::ptrdiff_t>(guid_at),
                 file.begin() + static_cast<std::ptrdiff_t>(guid_at + 16));
  auto it = keys.find({guid, static_cast<std::uint32_t>(Le(file, version_at, 4))});
  EXPECT_NE(it, keys.end()) << "the header names a key the test does not have";
  return it == keys.end() ? Buf() : it->second;
}

Buf Sha256(const unsigned char* data, std::size_t n) {
  Buf out(32);
  EXPECT_EQ(EVP_Digest(data, n, out.data(), nullptr, EVP_sha256(), nullptr), 1);
  return out;
}

// The data key of section 3 for a DEK (IKM rule for empty DEKs included).
struct DataKey {
  Buf key;
  Buf essiv_key;
};
DataKey DeriveDataKey(const Buf& dek, std::uint64_t cipher, const Buf& nonce) {
  static const char* names[] = {"none", "aes-128-xts", "aes-256-xts", "aes-128-cbc-essiv",
                                "aes-256-cbc-essiv"};
  static const std::size_t key_sizes[] = {0, 32, 64, 16, 32};
  const Buf ikm = dek.empty() ? Buf(32, 0) : dek;
  DataKey k;
  if (cipher != 0)
    k.key = Hkdf512(ikm, nonce, std::string("cafs/v1/data/") + names[cipher], key_sizes[cipher]);
  k.essiv_key.resize(32);
  if (cipher >= 3)
    EVP_Digest(k.key.data(), k.key.size(), k.essiv_key.data(), nullptr, EVP_sha256(), nullptr);
  return k;
}

// Section 4: one sector.
void DecryptSector(std::uint64_t cipher, const DataKey& k, std::uint64_t s, const Buf& ct,
                   unsigned char* out) {
  unsigned char iv[16] = {0};
  for (int i = 0; i < 8; ++i) iv[i] = static_cast<unsigned char>(s >> (8 * i));  // le64(s) || 0^8
  const int n = static_cast<int>(ct.size());
  switch (cipher) {
    case 0:
      std::memcpy(out, ct.data(), ct.size());
      break;
    case 1:
      Aes(EVP_aes_128_xts(), k.key.data(), iv, ct.data(), out, n, 0);
      break;
    case 2:
      Aes(EVP_aes_256_xts(), k.key.data(), iv, ct.data(), out, n, 0);
      break;
    case 3:
    case 4: {
      unsigned char essiv[16];
      Aes(EVP_aes_256_ecb(), k.essiv_key.data(), nullptr, iv, essiv, 16, 1);
      Aes(cipher == 3 ? EVP_aes_128_cbc() : EVP_aes_256_cbc(), k.key.data(), essiv, ct.data(), out,
          n, 0);
      break;
    }
    default:
      ADD_FAILURE() << "cipher " << cipher;
  }
}

// Decrypts a whole pool file image (section 7 for version 1, 8.7 for version 2, also caught
// mid-rekey); returns the plaintext (logical size bytes). `hotzone_new` (optional) counts
// the active-hotzone sectors found under the target key.
Buf DecryptPoolFile(const Buf& file, const KeyTable& keys, int* hotzone_new = nullptr) {
  EXPECT_GE(file.size(), 4096u);
  EXPECT_EQ(std::memcmp(file.data(), "CAFSPOOL", 8), 0);
  const auto byte8 = Le(file, 8, 2);
  const bool v2 = byte8 == 2 || (byte8 == 1 && file[3585] == 2);
  EXPECT_TRUE(byte8 == 1 || byte8 == 2);
  EXPECT_EQ(Le(file, 10, 2), 4096u);  // header size
  // The cipher: byte 12, or the tail's when the cipher flag (3587) is 1 (8.8).
  const bool cipher_in_tail = v2 && file[3587] == 1;
  EXPECT_TRUE(!v2 || file[3587] <= 1) << "cipher flag";
  const auto cipher = cipher_in_tail ? Le(file, 3704, 2) : Le(file, 12, 2);
  const auto sector = static_cast<std::size_t>(Le(file, 16, 4));
  const Buf nonce(file.begin() + 96, file.begin() + 112);
  const std::uint64_t size = Le(file, 4056, 8);
  // The file's key: bytes 72/88 in v1, the tail in v2.
  const Buf dek = v2 ? KeyFor(keys, file, 3592, 3588) : KeyFor(keys, file, 72, 88);
  const Buf ikm = dek.empty() ? Buf(32, 0) : dek;
  // Header MAC: v1 over [0, 4064); v2 over block 0 (version taken as 2) + [3584, 4064).
  Buf mac_input;
  if (v2) {
    mac_input.assign(file.begin(), file.begin() + 512);
    mac_input[8] = 2;
    mac_input[9] = 0;
    mac_input.insert(mac_input.end(), file.begin() + 3584, file.begin() + 4064);
  } else {
    mac_input.assign(file.begin(), file.begin() + 4064);
  }
  const Buf mac_key = Hkdf512(ikm, nonce, "cafs/v1/header-mac", 32);
  const Buf mac = HmacSha256(mac_key, mac_input.data(), mac_input.size());
  EXPECT_EQ(std::memcmp(mac.data(), file.data() + 4064, 32), 0) << "header MAC";
  const DataKey old_key = DeriveDataKey(dek, cipher, nonce);
  // Rekey state (8.1): watermark w, active journal of n entries of format f (8.3).
  const bool rekeying = v2 && file[3584] == 1;
  std::uint64_t w = 0, n = 0;
  const unsigned f = v2 ? file[3586] : 0;
  EXPECT_LE(f, 1u) << "journal format";
  const std::size_t entry_size = f == 1 ? 1 : 8;
  DataKey target_key;
  std::uint64_t target_cipher = cipher;
  if (rekeying) {
    const Buf target = KeyFor(keys, file, 3608, 3624);
    const Buf check = Hkdf512(target.empty() ? Buf(32, 0) : target, nonce, "cafs/v2/key-check", 32);
    EXPECT_EQ(std::memcmp(check.data(), file.data() + 3640, 32), 0) << "target key check";
    target_cipher = cipher_in_tail ? Le(file, 3706, 2) : cipher;
    target_key = DeriveDataKey(target, target_cipher, nonce);
    w = Le(file, 3632, 8);
    n = Le(file, 3628, 4);
    EXPECT_LE(n, f == 1 ? 3072u : 384u);
    if (n > 0) {
      const Buf digest = Sha256(file.data() + 512, entry_size * n);
      EXPECT_EQ(std::memcmp(digest.data(), file.data() + 3672, 32), 0) << "journal digest";
    }
  }
  Buf plain((size + sector - 1) / sector * sector, 0);
  for (std::size_t s = 0; s * sector < plain.size(); ++s) {
    const std::size_t at = 4096 + s * sector;
    if (at >= file.size()) break;  // beyond the physical end: a hole
    Buf ct(sector, 0);
    std::memcpy(ct.data(), file.data() + at, std::min(sector, file.size() - at));
    bool hole = true;
    for (auto b : ct) hole = hole && b == 0;
    if (hole) continue;
    bool use_target = rekeying && s < w;
    if (rekeying && s >= w && s < w + n) {
      const unsigned char* e = file.data() + 512 + entry_size * (s - w);
      if (f == 1) {
        // 8.3 compact: e - 1 = 2b + v; the sector's bit b (LSB first) equals v: target.
        EXPECT_GE(e[0], 1) << "hotzone entry of a non-hole sector " << s;
        EXPECT_LE(e[0], 254) << "hotzone entry of sector " << s;
        const unsigned b = (e[0] - 1u) >> 1, v = (e[0] - 1u) & 1u;
        use_target = (static_cast<unsigned>(ct[b / 8] >> (b % 8)) & 1u) == v;
      } else {
        // 8.3 fingerprint: entry = target ciphertext bytes [0,4) || [S-4,S).
        const bool head = std::memcmp(e, ct.data(), 4) == 0;
        const bool tail = std::memcmp(e + 4, ct.data() + sector - 4, 4) == 0;
        EXPECT_EQ(head, tail) << "torn hotzone sector " << s;
        use_target = head && tail;
      }
      if (use_target && hotzone_new != nullptr) ++*hotzone_new;
    }
    DecryptSector(use_target ? target_cipher : cipher, use_target ? target_key : old_key, s, ct,
                  plain.data() + s * sector);
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
  KeyTable keys;
  keys[{Buf(16, 0), 0}] = dek_bytes;  // the file's key: nil GUID, version 0
  EXPECT_EQ(DecryptPoolFile(image, keys), model);
}

// A file caught mid-rekey: sectors below the watermark under the target key, an active
// hotzone journal whose sectors are partly rewritten (the step failed writing them), the rest
// under the old key. The decryptor follows docs/format.md 8.7 with both keys. Both journal
// formats (8.3): compact (written now) and fingerprint (older builds).
// With `to` other than `cipher`, a file caught mid-conversion (8.8): the target's sectors are
// under `to`.
void DecryptMidRekey(cafs::crypto::CipherId cipher, std::uint32_t sector, std::uint8_t format,
                     std::optional<cafs::crypto::CipherId> to = std::nullopt) {
  auto make_dek = [&](unsigned seed, Buf* bytes) {
    cafs::SecureBuffer dek;
    if ((seed == 3 ? cipher : to.value_or(cipher)) == cafs::crypto::CipherId::kNone) return dek;
    dek = cafs::SecureBuffer(64);
    for (std::size_t i = 0; i < 64; ++i) dek.data()[i] = static_cast<std::uint8_t>(seed * i + 1);
    bytes->assign(dek.data(), dek.data() + 64);
    return dek;
  };
  Buf old_bytes, new_bytes;
  const auto old_dek = make_dek(3, &old_bytes);
  const auto new_dek = make_dek(5, &new_bytes);
  const auto clear = cafs::Uuid::ClearTextKey();
  const auto old_guid = cipher == cafs::crypto::CipherId::kNone ? clear : cafs::Uuid::Random();
  const auto new_guid =
      to.value_or(cipher) == cafs::crypto::CipherId::kNone ? clear : cafs::Uuid::Random();
  cafs::env::MemEnv mem;
  cafs::env::FaultInjectionEnv env(&mem);
  cafs::format::CreateParams params;
  params.cipher = cipher;
  params.sector_size = sector;
  params.key_guid = old_guid;
  params.key_version = 4;
  auto ef = cafs::format::EncryptedFile::Create(
      std::move(env.OpenFile("/pool", cafs::env::OpenOptions::CreateNew())).value(), params,
      old_dek);
  ASSERT_TRUE(ef.ok()) << ef.status().ToString();
  // 40 sectors, a hole every 4th sector so the hotzone is written in several runs.
  Buf model;
  std::mt19937 rng(static_cast<unsigned>(sector) * 7 + static_cast<unsigned>(cipher));
  for (std::size_t s = 0; s < 40; ++s) {
    Buf data(sector);
    for (auto& b : data) b = static_cast<unsigned char>(rng() | 1);
    if (s % 4 == 2) std::fill(data.begin(), data.end(), 0);
    if (s % 4 != 2) {
      ASSERT_TRUE((*ef)->Write(s * sector, data).ok());
    }
    model.insert(model.end(), data.begin(), data.end());
  }
  ASSERT_TRUE((*ef)->Sync().ok());
  auto rk = cafs::format::Rekeyer::Start(
      **ef, new_guid, 9, new_dek,
      {.hotzone_sectors = 12, .journal_format = format, .target_cipher = to});
  ASSERT_TRUE(rk.ok()) << rk.status().ToString();
  ASSERT_TRUE((*rk)->Step().ok());  // sectors [0, 12) under the new key
  // The second hotzone [12, 24): its journal becomes durable, then writes of sectors >= 18 fail.
  env.SetWriteFault([&](const std::string&, std::uint64_t off, std::uint64_t) {
    return off >= 4096 + 18 * std::uint64_t{sector};
  });
  EXPECT_FALSE((*rk)->Step().ok());
  env.ClearFaults();
  ASSERT_TRUE((*ef)->Write(30 * sector + 5, Buf(10, 0xee)).ok());  // above: old key
  std::fill(model.begin() + 30 * sector + 5, model.begin() + 30 * sector + 15, 0xee);
  ASSERT_TRUE((*ef)->Sync().ok());
  auto raw = env.OpenFile("/pool", cafs::env::OpenOptions::ReadOnly());
  ASSERT_TRUE(raw.ok());
  Buf image(*(*raw)->Size());
  ASSERT_EQ(*(*raw)->ReadAt(0, image), image.size());
  ASSERT_EQ(Le(image, 3584, 1), 1u);   // rekey in progress
  ASSERT_EQ(Le(image, 3632, 8), 12u);  // watermark
  ASSERT_EQ(Le(image, 3628, 4), 12u);  // active journal of 12 sectors
  ASSERT_EQ(Le(image, 3586, 1), format);
  ASSERT_EQ(Le(image, 3587, 1), to && *to != cipher ? 1u : 0u);  // cipher flag (8.8)
  KeyTable keys;
  Buf g_old(old_guid.bytes().begin(), old_guid.bytes().end());
  Buf g_new(new_guid.bytes().begin(), new_guid.bytes().end());
  keys[{g_old, 4}] = old_bytes;
  keys[{g_new, 9}] = new_bytes;
  int hotzone_new = 0;
  EXPECT_EQ(DecryptPoolFile(image, keys, &hotzone_new), model);
  // Sectors 12..17 of the hotzone minus the hole at 14 were rewritten, 18..23 were not (with
  // cipher none old and new ciphertext are the same bytes: all 9 non-hole sectors match).
  const bool same_bytes = cipher == cafs::crypto::CipherId::kNone && to.value_or(cipher) == cipher;
  EXPECT_EQ(hotzone_new, same_bytes ? 9 : 5);
  if (!to) return;
  // Finished: the header names only the target key and cipher; the new key alone decrypts.
  while (true) {
    auto p = (*rk)->Step();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    if (p->finished) break;
  }
  ASSERT_TRUE((*ef)->Sync().ok());
  ASSERT_EQ(*(*raw)->ReadAt(0, image), image.size());
  EXPECT_EQ(Le(image, 3584, 1), 0u);
  EXPECT_EQ(Le(image, 3704, 2), static_cast<std::uint64_t>(*to));
  EXPECT_EQ(Le(image, 12, 2), static_cast<std::uint64_t>(cipher));  // the creation cipher
  KeyTable only_new;
  only_new[{g_new, 9}] = new_bytes;
  EXPECT_EQ(DecryptPoolFile(image, only_new), model);
}

TEST(IndependentDecryptorConversionTest, DecryptsAFileCaughtMidConversionAndAfter) {
  using cafs::crypto::CipherId;
  for (auto [from, to] : {std::pair{CipherId::kNone, CipherId::kAes256Xts},
                          std::pair{CipherId::kAes256CbcEssiv, CipherId::kAes256Xts},
                          std::pair{CipherId::kAes128Xts, CipherId::kNone}}) {
    for (std::uint32_t sector : {512u, 4096u}) {
      SCOPED_TRACE(std::string(cafs::crypto::CipherName(from)) + " -> " +
                   std::string(cafs::crypto::CipherName(to)) + " " + std::to_string(sector));
      DecryptMidRekey(from, sector, cafs::format::kJournalCompact, to);
    }
  }
}

TEST_P(IndependentDecryptorTest, DecryptsAFileCaughtMidRekey) {
  const auto [cipher, sector] = GetParam();
  for (std::uint8_t format : {cafs::format::kJournalCompact, cafs::format::kJournalFingerprint}) {
    SCOPED_TRACE(format == cafs::format::kJournalCompact ? "compact journal" : "fingerprint");
    DecryptMidRekey(cipher, sector, format);
  }
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
