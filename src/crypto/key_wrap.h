// AES key wrap with padding (RFC 5649, NIST SP 800-38F KWP) on OpenSSL EVP.
// Used for DEK <- KEK <- master key in the key & policy server.
//
// Errors: InvalidArgument for a KEK that is not 16, 24 or 32 bytes or an empty key to wrap;
// AuthFailed when unwrapping fails its integrity check (wrong KEK or modified bytes).
// Threading: free functions, safe from any thread.
#pragma once

#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::crypto {

// Wraps `key` (1 .. 2^32-1 bytes) under `kek`. Output is 8 + ceil(len/8)*8 bytes.
Result<Bytes> WrapKey(const SecureBuffer& kek, ByteView key);

// Unwraps; the result lives in locked memory.
Result<SecureBuffer> UnwrapKey(const SecureBuffer& kek, ByteView wrapped);

}  // namespace cafs::crypto
