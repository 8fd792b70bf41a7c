#include "crypto/key_wrap.h"

#include <openssl/evp.h>

#include <memory>

#include "crypto/openssl_error.h"

namespace cafs::crypto {

namespace {

const EVP_CIPHER* WrapCipher(std::size_t kek_size) {
  switch (kek_size) {
    case 16:
      return EVP_aes_128_wrap_pad();
    case 24:
      return EVP_aes_192_wrap_pad();
    case 32:
      return EVP_aes_256_wrap_pad();
    default:
      return nullptr;
  }
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Runs one wrap or unwrap; returns the output length or -1 on failure.
int RunWrap(const SecureBuffer& kek, bool wrap, ByteView in, std::uint8_t* out) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return -1;
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex2(ctx.get(), WrapCipher(kek.size()), kek.data(), nullptr, wrap ? 1 : 0,
                         nullptr) != 1) {
    return -1;
  }
  int len = 0;
  if (EVP_CipherUpdate(ctx.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1) {
    return -1;
  }
  int fin = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out + len, &fin) != 1) return -1;
  return len + fin;
}

}  // namespace

Result<Bytes> WrapKey(const SecureBuffer& kek, ByteView key) {
  if (WrapCipher(kek.size()) == nullptr) {
    return Status::InvalidArgument("key-encryption key must be 16, 24 or 32 bytes");
  }
  if (key.empty()) return Status::InvalidArgument("nothing to wrap");
  Bytes out(8 + (key.size() + 7) / 8 * 8 + 8);
  int n = RunWrap(kek, true, key, out.data());
  if (n < 0) return OpenSslError("AES-KWP wrap");
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<SecureBuffer> UnwrapKey(const SecureBuffer& kek, ByteView wrapped) {
  if (WrapCipher(kek.size()) == nullptr) {
    return Status::InvalidArgument("key-encryption key must be 16, 24 or 32 bytes");
  }
  if (wrapped.size() < 16 || wrapped.size() % 8 != 0) {
    return Status::Corruption("wrapped key has an impossible length " +
                              std::to_string(wrapped.size()));
  }
  SecureBuffer out(wrapped.size());
  int n = RunWrap(kek, false, wrapped, out.data());
  if (n < 0) {
    (void)OpenSslError("AES-KWP unwrap");  // clears the error queue
    return Status::AuthFailed("key unwrap failed its integrity check: wrong KEK or damaged key");
  }
  return SecureBuffer(out.data(), static_cast<std::size_t>(n));
}

}  // namespace cafs::crypto
