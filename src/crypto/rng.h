// Cryptographic random bytes from OpenSSL's DRBG (seeded by the kernel).
// Threading: safe from any thread.
#pragma once

#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::crypto {

// Fills `out`; Internal if the DRBG fails (then nothing secret must be made from `out`).
Status RandomBytes(MutableByteView out);

// A new random key in locked memory.
Result<SecureBuffer> RandomKey(std::size_t size);

}  // namespace cafs::crypto
