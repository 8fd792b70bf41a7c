// SectorCipher: length-preserving encryption of whole sectors, keyed once.
//
// Modes (all on OpenSSL EVP, nothing hand-made):
//  - AES-128/256-XTS: tweak = the sector number as a 128-bit little-endian value, as dm-crypt
//    `plain64` (with `iv_large_sectors`: the number counts sectors of the cipher's own size).
//  - AES-128/256-CBC-ESSIV: IV = AES-256-ECB_{SHA-256(K)}(le64(sector) || 0^8), as dm-crypt
//    `aes-cbc-essiv:sha256`. No padding: a sector is a whole number of AES blocks.
//  - none: a copy (the seed's clear-text key).
//
// One call processes any number of consecutive sectors without re-keying: the expanded key
// is kept in a template context and only the IV/tweak is set per sector.
//
// Threading: Encrypt/Decrypt are safe to call from many threads at once on one SectorCipher
// (each call takes a keyed context from an internal pool). The key is copied into locked
// memory at Create and wiped on destruction.
#pragma once

#include <cstdint>
#include <memory>

#include "crypto/cipher_id.h"
#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::crypto {

class SectorCipher {
 public:
  // Errors: InvalidArgument for a key of the wrong length (CipherKeySize), an XTS key whose
  // two halves are equal (SP 800-38E), or an unsupported sector size; Internal if OpenSSL
  // refuses the key for another reason.
  static Result<std::unique_ptr<SectorCipher>> Create(CipherId id, ByteView key,
                                                      std::uint32_t sector_size);
  virtual ~SectorCipher() = default;

  // Encrypts in.size() / sector_size() consecutive sectors, the first numbered
  // `first_sector`. `in` and `out` have the same size, a multiple of sector_size(), and may
  // be the same memory (in place); partial overlap is not allowed.
  virtual Status Encrypt(std::uint64_t first_sector, ByteView in, MutableByteView out) const = 0;
  virtual Status Decrypt(std::uint64_t first_sector, ByteView in, MutableByteView out) const = 0;

  CipherId id() const { return id_; }
  std::uint32_t sector_size() const { return sector_size_; }

 protected:
  SectorCipher(CipherId id, std::uint32_t sector_size) : id_(id), sector_size_(sector_size) {}
  // Checks sizes of a call; InvalidArgument if not whole sectors or sizes differ.
  Status CheckSpans(ByteView in, MutableByteView out) const;

 private:
  CipherId id_;
  std::uint32_t sector_size_;
};

}  // namespace cafs::crypto
