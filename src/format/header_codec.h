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

// Writes the header fields into out[0, 4064) (zeros elsewhere, including the version 2
// journal area) and the header MAC (docs/format.md 2 for version 1, 8.1 for version 2) under
// `mac_key` into out[4064, 4096). `out` must be exactly kHeaderSize bytes. The layout follows
// h.version; a version 2 header with upgrade_incomplete gets byte 8 = 1.
Status EncodeHeader(const Header& h, ByteView mac_key, MutableByteView out);

// Structure check + field extraction. `bytes` shorter than kHeaderSize -> Corruption
// "truncated"; longer input: only the first kHeaderSize bytes are looked at.
Result<Header> ParseHeaderUnverified(ByteView bytes);

// Constant-time check of the stored MAC against the HMAC-SHA-256 under `mac_key` of the MAC
// input of the header's version (v1: bytes [0, 4064); v2: block 0 with version 2 + the tail).
Status VerifyHeaderMac(ByteView bytes, ByteView mac_key);

}  // namespace cafs::format
