// CipherId: the data ciphers a pool file can use. The numeric values are on disk
// (docs/format.md): never renumber.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/result.h"

namespace cafs::crypto {

enum class CipherId : std::uint16_t {
  kNone = 0,            // the seed's clear-text key: data stored as is
  kAes128Xts = 1,       // AES-128-XTS, 32-byte key, tweak = sector number (plain64)
  kAes256Xts = 2,       // AES-256-XTS, 64-byte key (the default)
  kAes128CbcEssiv = 3,  // AES-128-CBC, IV = AES-256_{SHA-256(K)}(sector number)
  kAes256CbcEssiv = 4,  // AES-256-CBC, same ESSIV
};

// "none", "aes-128-xts", "aes-256-xts", "aes-128-cbc-essiv", "aes-256-cbc-essiv".
std::string_view CipherName(CipherId id);
Result<CipherId> ParseCipherName(std::string_view name);
// Validates a numeric id read from disk.
Result<CipherId> CipherIdFromWire(std::uint16_t value);

// Length in bytes of the data key the cipher takes (0 for kNone).
std::size_t CipherKeySize(CipherId id);

// Sector sizes a SectorCipher accepts.
inline bool IsSupportedSectorSize(std::uint32_t size) { return size == 512 || size == 4096; }

}  // namespace cafs::crypto
