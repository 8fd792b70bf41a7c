// Aes256Gcm: AES-256-GCM authenticated encryption (NIST SP 800-38D) on OpenSSL EVP.
//
// Seal output is ciphertext || 16-byte tag; Open checks the tag before releasing anything
// and returns AuthFailed on a wrong key, nonce, AAD or a modified ciphertext/tag.
// Nonces are 12 bytes; the caller guarantees uniqueness per key (EDIF: salt || seq).
//
// Threading: one Aes256Gcm keeps one context per direction; it is NOT safe to call from two
// threads at once. Give each thread (or each SA direction) its own instance.
#pragma once

#include <cstdint>
#include <memory>

#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::crypto {

class Aes256Gcm {
 public:
  static constexpr std::size_t kKeySize = 32;
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kTagSize = 16;

  // InvalidArgument unless key is 32 bytes.
  static Result<std::unique_ptr<Aes256Gcm>> Create(ByteView key);
  ~Aes256Gcm();
  Aes256Gcm(const Aes256Gcm&) = delete;
  Aes256Gcm& operator=(const Aes256Gcm&) = delete;

  // Writes plaintext.size() + kTagSize bytes to `out` (which must be that large).
  Status Seal(ByteView nonce, ByteView aad, ByteView plaintext, MutableByteView out);
  // `in` is ciphertext || tag; writes in.size() - kTagSize bytes to `out`.
  // AuthFailed when the tag does not verify (then `out` holds no plaintext: it is zeroed).
  Status Open(ByteView nonce, ByteView aad, ByteView in, MutableByteView out);

  // Convenience forms that allocate.
  Result<Bytes> Seal(ByteView nonce, ByteView aad, ByteView plaintext);
  Result<Bytes> Open(ByteView nonce, ByteView aad, ByteView in);

 private:
  struct Impl;
  explicit Aes256Gcm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cafs::crypto
