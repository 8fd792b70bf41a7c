#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "crypto/openssl_error.h"

namespace cafs::crypto {

namespace {
const char* DigestName(Digest d) {
  switch (d) {
    case Digest::kSha1:
      return "SHA1";
    case Digest::kSha256:
      return "SHA256";
    case Digest::kSha512:
      return "SHA512";
  }
  return "SHA512";
}
std::size_t DigestSize(Digest d) {
  switch (d) {
    case Digest::kSha1:
      return 20;
    case Digest::kSha256:
      return 32;
    case Digest::kSha512:
      return 64;
  }
  return 64;
}
}  // namespace

Result<SecureBuffer> Hkdf(Digest digest, ByteView ikm, ByteView salt, ByteView info,
                          std::size_t length) {
  if (length == 0 || length > 255 * DigestSize(digest)) {
    return Status::InvalidArgument("HKDF output length out of range");
  }
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        &EVP_KDF_free);
  if (!kdf) return OpenSslError("fetching HKDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (!ctx) return OpenSslError("HKDF context");

  // OSSL_PARAM takes non-const pointers; HKDF only reads them.
  auto param_bytes = [](const char* key, ByteView v) {
    return OSSL_PARAM_construct_octet_string(key, const_cast<std::uint8_t*>(v.data()), v.size());
  };
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 const_cast<char*>(DigestName(digest)), 0);
  params[n++] = param_bytes(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) params[n++] = param_bytes(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) params[n++] = param_bytes(OSSL_KDF_PARAM_INFO, info);
  params[n] = OSSL_PARAM_construct_end();

  SecureBuffer out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return OpenSslError("HKDF derive");
  }
  return out;
}

}  // namespace cafs::crypto
