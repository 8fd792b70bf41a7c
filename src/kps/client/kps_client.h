// KpsClient: a REST/JSON client of kpsd over mutual TLS 1.3 (cpp-httplib SSLClient).
//
// The client authenticates with a certificate bundle (docs/kps-api.md): one PEM file holding
// the client certificate, its private key and kpsd's CA certificate. The CA certificate(s)
// of the bundle (those with basicConstraints CA:TRUE) are the only trust anchors for the
// server certificate; the host name of the URL is checked against the server's SAN.
//
// Errors: Connect() fails with InvalidArgument (bad URL, bundle unreadable or incomplete).
// Call() returns the HTTP status and JSON body of any answer the server gave (also 4xx/5xx:
// the caller says what the status means for it). It fails with Unavailable only when no
// answer came, with a message naming the cause (NoAnswer: refused, timed out, our
// certificate rejected and why, kpsd's certificate not trusted, connection closed) and what
// to check.
//
// Threading: one KpsClient per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace cafs::kps::client {

struct Reply {
  int status = 0;
  nlohmann::json body;  // the server's JSON (null when the body was not JSON)
  bool ok() const { return status >= 200 && status < 300; }
  // The server's "reason" (or the raw body) for a failed reply.
  std::string Reason() const;
};

// Why a request got no HTTP answer.
enum class NoAnswer {
  kRefused,              // TCP connect refused or unreachable
  kConnectTimeout,       // TCP connect timed out
  kTimeout,              // connected, but no answer within the read timeout
  kServerNotTrusted,     // kpsd's certificate failed our verification
  kCertificateExpired,   // kpsd rejected our certificate: expired
  kCertificateRevoked,   // kpsd rejected our certificate: revoked
  kCertificateRejected,  // kpsd rejected our certificate: unknown CA, none, bad
  kClosed,               // kpsd hung up without an alert (connection cap, stopping)
  kTlsFailed,            // another TLS failure (not a TLS port, no common version)
  kOther,
};

// The cause from what the transport saw: cpp-httplib's error (httplib::Error as int), the
// reason code of the last SSL-library error (0 if none), and whether the call lasted the
// whole read timeout (a failure without an alert after that long is a timeout).
NoAnswer ClassifyNoAnswer(int httplib_error, int ssl_reason, bool took_the_read_timeout);

// The message for a request to `url` with `bundle` that got no answer; `detail` is the
// transport's own words (OpenSSL's reason).
std::string DescribeNoAnswer(NoAnswer cause, const std::string& url, const std::string& bundle,
                             const std::string& detail);

struct ClientTimeouts {
  std::chrono::milliseconds connect{5'000};
  std::chrono::milliseconds read{30'000};  // also bounds the TLS handshake and each write
};

class KpsClient {
 public:
  ~KpsClient();
  // `url`: https://HOST:PORT (no path). `bundle_path`: PEM bundle (cert, key, CA).
  static Result<std::unique_ptr<KpsClient>> Connect(const std::string& url,
                                                    const std::string& bundle_path,
                                                    const ClientTimeouts& timeouts = {});

  // `method`: GET, POST, PUT, DELETE; `path` with query ("/v1/keys?vmset=a"); `body` is
  // sent as JSON unless it is null.
  Result<Reply> Call(const std::string& method, const std::string& path,
                     const nlohmann::json& body = nullptr);

  const std::string& url() const { return url_; }

 private:
  struct Impl;
  KpsClient(std::unique_ptr<Impl> impl, std::string url);
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

// Percent-encodes one path segment or query value.
std::string UrlEncode(const std::string& s);

}  // namespace cafs::kps::client
