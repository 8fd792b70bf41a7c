#include "kps/tls_context.h"

#include <openssl/err.h>

#include "kps/ca.h"

namespace cafs::kps {

Result<SslCtxPtr> NewServerTlsContext(const std::string& data_dir, int min_version) {
  CAFS_ASSIGN_OR_RETURN(const CertificateAuthority::ServerFiles files,
                        CertificateAuthority::ServerFilesOf(data_dir));
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status::Internal("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("cannot load the TLS certificate, key or CA from " + data_dir);
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str());
  if (names == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument("cannot read the CA names of " + files.ca);
  }
  SSL_CTX_set_client_CA_list(ctx.get(), names);  // the context owns them now
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

}  // namespace cafs::kps
