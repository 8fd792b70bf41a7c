// Helpers for EncryptedFile tests: every cipher x sector size, DEKs, scale under sanitizers.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "crypto/cipher_id.h"
#include "util/result.h"
#include "util/secure_buffer.h"

namespace cafs::format::testing {

// The value of `r`; aborts the test binary with the status if it failed.
template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    std::abort();
  }
  return std::move(r).value();
}

inline const std::vector<crypto::CipherId>& AllCiphers() {
  static const std::vector<crypto::CipherId> all = {
      crypto::CipherId::kNone, crypto::CipherId::kAes128Xts, crypto::CipherId::kAes256Xts,
      crypto::CipherId::kAes128CbcEssiv, crypto::CipherId::kAes256CbcEssiv};
  return all;
}

// A deterministic 64-byte DEK (empty for cipher none, to cover that case too).
inline SecureBuffer TestDek(crypto::CipherId cipher, std::uint8_t seed = 1) {
  if (cipher == crypto::CipherId::kNone) return SecureBuffer();
  SecureBuffer dek(64);
  for (std::size_t i = 0; i < dek.size(); ++i)
    dek.data()[i] = static_cast<std::uint8_t>(seed + i * 7);
  return dek;
}

// Multiplies the amount of random work; CAFS_TEST_SCALE overrides (e.g. 0.1 under ASan).
inline double TestScale() {
  if (const char* s = std::getenv("CAFS_TEST_SCALE")) return std::atof(s);
#if defined(__SANITIZE_ADDRESS__)
  return 0.25;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return 0.25;
#endif
#endif
#ifndef NDEBUG
  return 0.25;
#else
  return 1.0;
#endif
}

using CipherAndSector = std::tuple<crypto::CipherId, std::uint32_t>;

inline std::string ParamName(const CipherAndSector& p) {
  std::string name(crypto::CipherName(std::get<0>(p)));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name + "_" + std::to_string(std::get<1>(p));
}

}  // namespace cafs::format::testing
