// TlsServer: the mutual-TLS HTTP listener of kpsd (cpp-httplib on OpenSSL): TLS 1.3 only,
// client certificates REQUIRED and verified against the data dir's ca.crt; each request goes
// to RestApi::Handle with the peer certificate's identity. Bodies over `max_body` bytes get
// 413 {"error","reason"}; unknown routes 404 from the RestApi.
//
// Threading: Run() blocks serving on httplib's thread pool; Stop() may be called from any
// other thread. `api` must outlive the server.
#pragma once

#include <memory>
#include <string>

#include "kps/rest_api.h"

namespace cafs::kps {

class TlsServer {
 public:
  static constexpr std::size_t kDefaultMaxBody = 1 << 20;

  ~TlsServer();
  // Loads server.crt/server.key/ca.crt from `data_dir`.
  static Result<std::unique_ptr<TlsServer>> Create(RestApi& api, const std::string& data_dir,
                                                   std::size_t max_body = kDefaultMaxBody);
  // Binds host:port (port 0 = any free port); returns the bound port.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop().
  Status Run();
  void Stop();

 private:
  struct Impl;
  explicit TlsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cafs::kps
