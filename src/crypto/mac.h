// HMAC-SHA-256 (RFC 2104, FIPS 198-1) on OpenSSL EVP_MAC, and a constant-time compare.
// Used for the pool file header MAC. Threading: free functions, safe from any thread.
#pragma once

#include <array>
#include <cstdint>

#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::crypto {

using Sha256Mac = std::array<std::uint8_t, 32>;

Result<Sha256Mac> HmacSha256(ByteView key, ByteView data);

// Constant-time equality of two equal-length byte strings (false if lengths differ).
bool ConstantTimeEquals(ByteView a, ByteView b);

// SHA-256 of `data` (not secret-dependent timing; for hash chains and fingerprints).
Sha256Mac Sha256(ByteView data);

}  // namespace cafs::crypto
