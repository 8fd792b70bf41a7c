// FileKeys: the per-file keys derived from a DEK and a pool file's header (docs/format.md):
//   data key = HKDF-SHA-512(IKM, salt = file nonce, info = "cafs/v1/data/" + cipher name),
//              CipherKeySize(cipher) bytes (none: no data key)
//   MAC key  = HKDF-SHA-512(IKM, salt = file nonce, info = "cafs/v1/header-mac"), 32 bytes
//   key check = HKDF-SHA-512(IKM, salt = file nonce, info = "cafs/v2/key-check"), 32 bytes
//              (stored for a rekey's target key, docs/format.md 8.1)
// IKM is the DEK; an empty DEK (allowed only with cipher none, the seed's clear-text key)
// uses IKM = 32 zero bytes: the header MAC then protects against accidents (a torn or
// bit-flipped header), not against an attacker, who can recompute it.
// Threading: free functions; the result is a plain value.
#pragma once

#include <array>

#include "crypto/cipher_id.h"
#include "format/header_layout.h"
#include "util/result.h"
#include "util/secure_buffer.h"

namespace cafs::format {

inline constexpr char kDataKeyInfoPrefix[] = "cafs/v1/data/";
inline constexpr char kHeaderMacInfo[] = "cafs/v1/header-mac";
inline constexpr std::size_t kHeaderMacKeySize = 32;
inline constexpr char kKeyCheckInfo[] = "cafs/v2/key-check";

struct FileKeys {
  SecureBuffer data_key;  // empty for cipher none
  SecureBuffer mac_key;   // kHeaderMacKeySize bytes
  std::array<std::uint8_t, kKeyCheckSize> key_check{};
};

// Errors: InvalidArgument for an empty DEK with a cipher other than none.
Result<FileKeys> DeriveFileKeys(const SecureBuffer& dek, crypto::CipherId cipher,
                                const std::array<std::uint8_t, kFileNonceSize>& file_nonce);

}  // namespace cafs::format
