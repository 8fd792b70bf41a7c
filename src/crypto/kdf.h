// HKDF (RFC 5869) on OpenSSL's EVP_KDF. CAFS derives per-file keys with HKDF-SHA-512
// (docs/format.md); SHA-256 and SHA-1 exist for the RFC 5869 test vectors and for protocols
// that name them.
// Threading: free functions, safe from any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::crypto {

enum class Digest { kSha1, kSha256, kSha512 };

// HKDF-Extract-then-Expand: `length` bytes of output keying material.
// Errors: InvalidArgument for length 0 or > 255 * hash length.
Result<SecureBuffer> Hkdf(Digest digest, ByteView ikm, ByteView salt, ByteView info,
                          std::size_t length);

inline Result<SecureBuffer> HkdfSha512(ByteView ikm, ByteView salt, std::string_view info,
                                       std::size_t length) {
  return Hkdf(Digest::kSha512, ikm, salt, AsBytes(info), length);
}

}  // namespace cafs::crypto
