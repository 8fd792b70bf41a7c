#include "kps/tls_server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include "util/logging.h"

namespace cafs::kps {

struct TlsServer::Impl {
  RestApi* api = nullptr;
  std::unique_ptr<httplib::SSLServer> server;
};

TlsServer::TlsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServer::~TlsServer() = default;

Result<std::unique_ptr<TlsServer>> TlsServer::Create(RestApi& api, const std::string& data_dir,
                                                     std::size_t max_body) {
  CAFS_ASSIGN_OR_RETURN(const CertificateAuthority::ServerFiles files,
                        CertificateAuthority::ServerFilesOf(data_dir));
  const std::string& cert = files.cert;
  const std::string& key = files.key;
  const std::string& ca = files.ca;
  auto impl = std::make_unique<Impl>();
  impl->api = &api;
  impl->server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(&ctx, ca.c_str(), nullptr) != 1) {
      return false;
    }
    SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(ca.c_str()));
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    return true;
  });
  if (!impl->server->is_valid()) {
    return Status::InvalidArgument("cannot load the TLS certificate, key or CA from " + data_dir);
  }
  auto& srv = *impl->server;
  srv.set_payload_max_length(max_body);
  srv.set_read_timeout(10, 0);
  srv.set_write_timeout(10, 0);
  RestApi* api_ptr = &api;
  auto handler = [api_ptr](const httplib::Request& req, httplib::Response& res) {
    ApiRequest ar;
    ar.method = req.method;
    ar.path = req.path;
    for (const auto& [k, v] : req.params) ar.query[k] = v;
    ar.body = req.body;
    X509* peer = req.ssl ? SSL_get0_peer_certificate(req.ssl) : nullptr;
    ApiResponse out;
    if (peer == nullptr) {
      out = {401, {{"error", "unauthenticated"}, {"reason", "a client certificate is required"}}};
    } else {
      ar.peer = IdentityFromCert(peer);
      out = api_ptr->Handle(ar);
    }
    res.status = out.status;
    res.set_content(out.body.dump(), "application/json");
  };
  srv.Get(".*", handler);
  srv.Post(".*", handler);
  srv.Put(".*", handler);
  srv.Delete(".*", handler);
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    nlohmann::json j = {{"error", res.status == 413 ? "payload too large" : "bad request"},
                        {"reason", res.status == 413 ? "the body exceeds the size limit"
                                                     : "the request could not be handled"}};
    res.set_content(j.dump(), "application/json");
  });
  return std::unique_ptr<TlsServer>(new TlsServer(std::move(impl)));
}

Result<int> TlsServer::Bind(const std::string& host, int port) {
  int bound = port == 0 ? impl_->server->bind_to_any_port(host)
                        : (impl_->server->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port));
  }
  return bound;
}

Status TlsServer::Run() {
  if (!impl_->server->listen_after_bind()) return Status::Internal("listener failed");
  return Status::OK();
}

void TlsServer::Stop() { impl_->server->stop(); }

}  // namespace cafs::kps
