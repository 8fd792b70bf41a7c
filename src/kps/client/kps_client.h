// KpsClient: a REST/JSON client of kpsd over mutual TLS 1.3 (cpp-httplib SSLClient).
//
// The client authenticates with a certificate bundle (docs/kps-api.md): one PEM file holding
// the client certificate, its private key and kpsd's CA certificate. The CA certificate(s)
// of the bundle (those with basicConstraints CA:TRUE) are the only trust anchors for the
// server certificate; the host name of the URL is checked against the server's SAN.
//
// Errors: Connect() fails with InvalidArgument (bad URL, bundle unreadable or incomplete).
// Call() returns the HTTP status and JSON body of any answer the server gave (also 4xx/5xx);
// it fails with Unavailable only when no answer came (connection refused, TLS handshake
// refused, timeout), with a message that says what to check.
//
// Threading: one KpsClient per thread.
#pragma once

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

class KpsClient {
 public:
  ~KpsClient();
  // `url`: https://HOST:PORT (no path). `bundle_path`: PEM bundle (cert, key, CA).
  static Result<std::unique_ptr<KpsClient>> Connect(const std::string& url,
                                                    const std::string& bundle_path);

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
