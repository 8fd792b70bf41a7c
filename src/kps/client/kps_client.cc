#include "kps/client/kps_client.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace cafs::kps::client {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;

// The first SSL-library error on this thread (0 if none: the root cause; cpp-httplib's
// SSL_shutdown after a failed handshake queues "shutdown while in init" behind it) and its
// reason text (else the first error of any library's); clears the queue.
struct OpenSslError {
  int ssl_reason = 0;
  std::string text;
};
OpenSslError TakeOpenSslError() {
  OpenSslError out;
  while (unsigned long e = ERR_get_error()) {
    const int reason = ERR_GET_REASON(e);
    const bool ssl = ERR_GET_LIB(e) == ERR_LIB_SSL && reason != SSL_R_SHUTDOWN_WHILE_IN_INIT;
    if (ssl && out.ssl_reason == 0) {
      out.ssl_reason = reason;
      if (const char* r = ERR_reason_error_string(e)) out.text = r;
    } else if (out.text.empty() && ERR_GET_LIB(e) != ERR_LIB_SSL) {
      if (const char* r = ERR_reason_error_string(e)) out.text = r;
    }
  }
  return out;
}

}  // namespace

std::string DescribeNoAnswer(NoAnswer cause, const std::string& url, const std::string& bundle,
                             const std::string& detail) {
  const std::string why = detail.empty() ? std::string() : " (" + detail + ")";
  switch (cause) {
    case NoAnswer::kRefused:
      return "cannot reach kpsd at " + url + ": connection refused or unreachable" + why +
             " — is kpsd running? (check the kpsd URL: --server, CAFS_KPS_URL or [kps] url)";
    case NoAnswer::kConnectTimeout:
      return "cannot reach kpsd at " + url + ": connecting timed out" + why +
             " — is kpsd running and the address right (a firewall dropping packets?)";
    case NoAnswer::kTimeout:
      return "kpsd at " + url + " did not answer in time" + why +
             " — kpsd is overloaded or stalled (check its log), or the network is";
    case NoAnswer::kServerNotTrusted:
      return "the server at " + url +
             " is not trusted: its certificate is not signed by the CA in " + bundle +
             " or does not name this host" + why;
    case NoAnswer::kCertificateExpired:
      return "kpsd at " + url + " rejected our certificate: it has expired" + why +
             "; ask a security-admin for a new bundle to replace " + bundle;
    case NoAnswer::kCertificateRevoked:
      return "kpsd at " + url + " rejected our certificate: it is revoked" + why +
             "; ask a security-admin for a new bundle to replace " + bundle;
    case NoAnswer::kCertificateRejected:
      return "kpsd at " + url + " rejected our certificate" + why + ": is " + bundle +
             " issued by another kpsd's CA? Ask a security-admin for a new bundle";
    case NoAnswer::kClosed:
      return "kpsd at " + url + " closed the connection before answering" + why +
             " — too many connections from this host, or kpsd is stopping (check its log)";
    case NoAnswer::kTlsFailed:
      return "TLS with " + url + " failed" + why + " — is it kpsd's TLS port?";
    case NoAnswer::kOther:
      break;
  }
  return "request to " + url + " failed" + why;
}

std::string Reply::Reason() const {
  if (body.is_object() && body.contains("reason") && body["reason"].is_string()) {
    return body["reason"].get<std::string>();
  }
  if (body.is_null()) return "HTTP " + std::to_string(status);
  return body.dump();
}

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

NoAnswer ClassifyNoAnswer(int httplib_error, int ssl_reason, bool took_the_read_timeout) {
  switch (ssl_reason) {  // an alert kpsd sent, or our own verdict on its certificate
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return NoAnswer::kCertificateExpired;
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      return NoAnswer::kCertificateRevoked;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return NoAnswer::kCertificateRejected;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return NoAnswer::kServerNotTrusted;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return NoAnswer::kTlsFailed;
    default:
      break;
  }
  switch (static_cast<httplib::Error>(httplib_error)) {
    case httplib::Error::Connection:
      return NoAnswer::kRefused;
    case httplib::Error::ConnectionTimeout:
      return NoAnswer::kConnectTimeout;
    case httplib::Error::SSLServerVerification:
      return NoAnswer::kServerNotTrusted;
    case httplib::Error::SSLConnection:
    case httplib::Error::Read:
    case httplib::Error::Write:
      // No alert: either the wait ran out, or kpsd hung up (a connection cap, a restart).
      // An end of stream is a hang-up however long it took to come (a loaded machine).
      if (ssl_reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) return NoAnswer::kClosed;
      if (took_the_read_timeout) return NoAnswer::kTimeout;
      return ssl_reason != 0 && ssl_reason != SSL_R_UNEXPECTED_EOF_WHILE_READING
                 ? NoAnswer::kTlsFailed
                 : NoAnswer::kClosed;
    default:
      return NoAnswer::kOther;
  }
}

struct KpsClient::Impl {
  std::unique_ptr<httplib::SSLClient> client;
  std::string bundle_path;
  std::chrono::milliseconds read_timeout{0};
};

KpsClient::KpsClient(std::unique_ptr<Impl> impl, std::string url)
    : impl_(std::move(impl)), url_(std::move(url)) {}
KpsClient::~KpsClient() = default;

Result<std::unique_ptr<KpsClient>> KpsClient::Connect(const std::string& url,
                                                      const std::string& bundle_path,
                                                      const ClientTimeouts& timeouts) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    return Status::InvalidArgument("the kpsd URL must be https://HOST:PORT, got '" + url + "'");
  }
  std::string hostport = url.substr(scheme.size());
  while (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos || hostport.find('/') != std::string::npos) {
    return Status::InvalidArgument("the kpsd URL must be https://HOST:PORT, got '" + url + "'");
  }
  const std::string host = hostport.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(hostport.substr(colon + 1));
  } catch (const std::exception&) {
    return Status::InvalidArgument("bad port in the kpsd URL '" + url + "'");
  }
  if (host.empty() || port <= 0 || port > 65535) {
    return Status::InvalidArgument("bad host or port in the kpsd URL '" + url + "'");
  }

  std::ifstream in(bundle_path, std::ios::binary);
  if (!in) {
    return Status::FromErrno(
        errno, "cannot read the certificate bundle " + bundle_path +
                   " (give --cert or set CAFS_KPS_CERT, or [kps] cert in cafsd.conf)");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string pem = ss.str();
  X509Ptr client_cert;
  StorePtr store(X509_STORE_new());
  int cas = 0;
  {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509Ptr cert(raw);
      if (X509_check_ca(cert.get()) > 0) {
        X509_STORE_add_cert(store.get(), cert.get());
        ++cas;
      } else if (!client_cert) {
        client_cert = std::move(cert);
      }
    }
    ERR_clear_error();
  }
  PKeyPtr key;
  {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
  }
  std::fill(pem.begin(), pem.end(), '\0');
  if (!client_cert || !key || cas == 0) {
    return Status::InvalidArgument(
        bundle_path +
        " is not a certificate bundle: it needs a client certificate, its private key and "
        "kpsd's CA certificate (as written by `kpsd init`, `cafsctl admin add` or `cafsctl "
        "gateway enroll`)");
  }
  if (X509_check_private_key(client_cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(bundle_path +
                                   ": the private key does not match the client certificate");
  }
  auto impl = std::make_unique<Impl>();
  impl->bundle_path = bundle_path;
  impl->client = std::make_unique<httplib::SSLClient>(host, port, client_cert.get(), key.get());
  if (!impl->client->is_valid()) {
    return Status::InvalidArgument("cannot use the certificate and key of " + bundle_path);
  }
  SSL_CTX_set_min_proto_version(impl->client->ssl_context(), TLS1_3_VERSION);
  impl->client->set_ca_cert_store(store.release());  // the client owns it now
  impl->client->enable_server_certificate_verification(true);
  impl->client->set_connection_timeout(timeouts.connect);
  impl->client->set_read_timeout(timeouts.read);
  impl->client->set_write_timeout(timeouts.read);
  impl->read_timeout = timeouts.read;
  // One connection per request: kpsd closes an idle keep-alive connection after 5 s, and
  // cpp-httplib 0.11 (Debian 12) reuses such a dead socket without checking, failing the next
  // request with a read/write error (cafsd's key fetch or audit push after a quiet spell).
  impl->client->set_keep_alive(false);
  return std::unique_ptr<KpsClient>(new KpsClient(std::move(impl), url));
}

Result<Reply> KpsClient::Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body) {
  httplib::SSLClient& c = *impl_->client;
  ERR_clear_error();
  const auto start = std::chrono::steady_clock::now();
  const std::string content = body.is_null() ? std::string() : body.dump();
  const char* type = "application/json";
  httplib::Result res{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    res = c.Get(path.c_str());
  } else if (method == "POST") {
    res = c.Post(path.c_str(), content, type);
  } else if (method == "PUT") {
    res = c.Put(path.c_str(), content, type);
  } else if (method == "DELETE") {
    res = c.Delete(path.c_str());
  } else {
    return Status::InvalidArgument("unknown HTTP method " + method);
  }
  if (!res) {
    const OpenSslError ssl = TakeOpenSslError();
    const NoAnswer cause =
        ClassifyNoAnswer(static_cast<int>(res.error()), ssl.ssl_reason,
                         std::chrono::steady_clock::now() - start >= impl_->read_timeout * 9 / 10);
    const std::string detail = ssl.text.empty() ? httplib::to_string(res.error()) : ssl.text;
    return Status::Unavailable(DescribeNoAnswer(cause, url_, impl_->bundle_path, detail));
  }
  Reply r;
  r.status = res->status;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  if (r.body.is_discarded()) r.body = nullptr;
  return r;
}

}  // namespace cafs::kps::client
