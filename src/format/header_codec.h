// Header codec: Header <-> the 4096 header bytes at offset 0 of a pool file.
//
// Decoding is in two steps on purpose. ParseHeaderUnverified checks the structure (magic,
// version, sizes, cipher id, sector size, locator, every reserved byte zero) and returns the
// fields, which are NOT yet authentic; the caller derives the MAC key from its DEK and the
// parsed file nonce (file_keys.h) and calls VerifyHeaderMac before using anything else.
// EncryptedFile::Open does both; nothing may decrypt data with an unverified header.
//
// Errors: Corruption naming the field ("pool header: bad magic", "... truncated: 100 of 4096
// bytes"), AuthFailed "header MAC mismatch: wrong key or tampered header".
// Threading: free functions, safe from any thread.
#pragma once

#include "format/header.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::format {

// Validates `h` for encoding (sizes, locator length, cipher, sector size, rekey state).
Status ValidateHeader(const Header& h);

// Writes the header fields into out[0, 4064) (zeros elsewhere) and the HMAC-SHA-256 of those
// bytes under `mac_key` into out[4064, 4096). `out` must be exactly kHeaderSize bytes.
Status EncodeHeader(const Header& h, ByteView mac_key, MutableByteView out);

// Structure check + field extraction. `bytes` shorter than kHeaderSize -> Corruption
// "truncated"; longer input: only the first kHeaderSize bytes are looked at.
Result<Header> ParseHeaderUnverified(ByteView bytes);

// Constant-time check of the stored MAC against HMAC-SHA-256(mac_key, bytes[0, 4064)).
Status VerifyHeaderMac(ByteView bytes, ByteView mac_key);

}  // namespace cafs::format
