#include "crypto/openssl_error.h"

#include <openssl/err.h>

#include <string>

namespace cafs::crypto {

Status OpenSslError(std::string_view what) {
  std::string msg(what);
  unsigned long err = ERR_get_error();
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return Status::Internal(msg);
}

}  // namespace cafs::crypto
