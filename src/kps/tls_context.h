// The server-side TLS context of kpsd's two listeners (the REST API, tls_server.h; KMIP,
// kmip_server.h): the data dir's server.crt (chain) and server.key, client certificates
// REQUIRED and verified against its ca.crt (a handshake without one, or with one another CA
// issued or that has expired, is refused with the matching TLS alert).
//
// Threading: the returned context is shared by every connection of a listener (OpenSSL
// makes SSL_CTX safe for that once it is set up).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "util/result.h"

namespace cafs::kps {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// `min_version`: TLS1_3_VERSION (REST) or TLS1_2_VERSION (KMIP 1.x profiles).
Result<SslCtxPtr> NewServerTlsContext(const std::string& data_dir, int min_version);

}  // namespace cafs::kps
