#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/openssl_error.h"

namespace cafs::crypto {

struct Aes256Gcm::Impl {
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  ~Impl() {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
  }
};

Aes256Gcm::Aes256Gcm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Aes256Gcm::~Aes256Gcm() = default;

Result<std::unique_ptr<Aes256Gcm>> Aes256Gcm::Create(ByteView key) {
  if (key.size() != kKeySize) return Status::InvalidArgument("AES-256-GCM needs a 32-byte key");
  auto impl = std::make_unique<Impl>();
  impl->enc = EVP_CIPHER_CTX_new();
  impl->dec = EVP_CIPHER_CTX_new();
  if (impl->enc == nullptr || impl->dec == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  if (EVP_EncryptInit_ex2(impl->enc, EVP_aes_256_gcm(), key.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(impl->dec, EVP_aes_256_gcm(), key.data(), nullptr, nullptr) != 1) {
    return OpenSslError("keying AES-256-GCM");
  }
  return std::unique_ptr<Aes256Gcm>(new Aes256Gcm(std::move(impl)));
}

Status Aes256Gcm::Seal(ByteView nonce, ByteView aad, ByteView plaintext, MutableByteView out) {
  if (nonce.size() != kNonceSize) return Status::InvalidArgument("GCM nonce must be 12 bytes");
  if (out.size() != plaintext.size() + kTagSize) {
    return Status::InvalidArgument("GCM seal: output must be plaintext + 16 bytes");
  }
  EVP_CIPHER_CTX* ctx = impl_->enc;
  int len = 0;
  if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
    return OpenSslError("GCM nonce");
  }
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("GCM AAD");
  }
  if (!plaintext.empty() && EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return OpenSslError("GCM encrypt");
  }
  if (EVP_EncryptFinal_ex(ctx, out.data() + plaintext.size(), &len) != 1) {
    return OpenSslError("GCM final");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          out.data() + plaintext.size()) != 1) {
    return OpenSslError("GCM tag");
  }
  return Status::OK();
}

Status Aes256Gcm::Open(ByteView nonce, ByteView aad, ByteView in, MutableByteView out) {
  if (nonce.size() != kNonceSize) return Status::InvalidArgument("GCM nonce must be 12 bytes");
  if (in.size() < kTagSize) return Status::AuthFailed("GCM input shorter than its tag");
  const std::size_t ct_len = in.size() - kTagSize;
  if (out.size() != ct_len) {
    return Status::InvalidArgument("GCM open: output must be input - 16 bytes");
  }
  EVP_CIPHER_CTX* ctx = impl_->dec;
  int len = 0;
  if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
    return OpenSslError("GCM nonce");
  }
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("GCM AAD");
  }
  if (ct_len > 0 &&
      EVP_DecryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(ct_len)) != 1) {
    return OpenSslError("GCM decrypt");
  }
  // EVP wants a non-const tag pointer; it only reads it.
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                          const_cast<std::uint8_t*>(in.data() + ct_len)) != 1) {
    return OpenSslError("GCM set tag");
  }
  std::uint8_t final_block[16];
  if (EVP_DecryptFinal_ex(ctx, final_block, &len) != 1) {
    if (!out.empty()) OPENSSL_cleanse(out.data(), out.size());
    return Status::AuthFailed("GCM tag mismatch: wrong key or modified data");
  }
  return Status::OK();
}

Result<Bytes> Aes256Gcm::Seal(ByteView nonce, ByteView aad, ByteView plaintext) {
  Bytes out(plaintext.size() + kTagSize);
  CAFS_RETURN_IF_ERROR(Seal(nonce, aad, plaintext, MutableByteView(out)));
  return out;
}

Result<Bytes> Aes256Gcm::Open(ByteView nonce, ByteView aad, ByteView in) {
  if (in.size() < kTagSize) return Status::AuthFailed("GCM input shorter than its tag");
  Bytes out(in.size() - kTagSize);
  CAFS_RETURN_IF_ERROR(Open(nonce, aad, in, MutableByteView(out)));
  return out;
}

}  // namespace cafs::crypto
