#include "crypto/rng.h"

#include <openssl/rand.h>

#include "crypto/openssl_error.h"

namespace cafs::crypto {

Status RandomBytes(MutableByteView out) {
  if (out.empty()) return Status::OK();
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return OpenSslError("RAND_bytes");
  }
  return Status::OK();
}

Result<SecureBuffer> RandomKey(std::size_t size) {
  SecureBuffer key(size);
  CAFS_RETURN_IF_ERROR(RandomBytes(key.mutable_view()));
  return key;
}

}  // namespace cafs::crypto
