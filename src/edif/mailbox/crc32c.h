// CRC32C (Castagnoli, polynomial 0x1EDC6F41 reflected = 0x82F63B78), as in iSCSI (RFC 3720
// appendix B.4) and ext4/btrfs metadata. Check value: Crc32c("123456789") == 0xE3069283.
//
// Table-driven (slicing-by-8) because Debian 12 ships no C/C++ CRC32C library
// (Google's crc32c is not packaged there) and OpenSSL has no CRC32C.
//
// Threading: pure functions, safe from any thread.
#pragma once

#include <cstdint>

#include "util/bytes.h"

namespace cafs::edif::mailbox {

// CRC32C of `data`.
std::uint32_t Crc32c(ByteView data);

// Continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a || b).
std::uint32_t Crc32cExtend(std::uint32_t crc, ByteView data);

}  // namespace cafs::edif::mailbox
