// KmipServer: kpsd's KMIP listener (docs/kmip.md): TLS 1.2 or 1.3 (OpenSSL) on a TCP port
// (5696 by default), client certificates REQUIRED and verified against the data dir's
// ca.crt, like the REST listener. Each connection carries request messages back to back;
// each is framed by its TTLV header (tag Request Message, type Structure, length), read
// whole (at most KmipOptions::limits.max_size bytes) and answered by KmipService::Handle.
//
// Limits: at most `max_connections` connections at once (more are accepted and closed at
// once); a connection that sends nothing for `idle_timeout_seconds` (or stalls in the TLS
// handshake or in a message) is closed; a message whose header is not a Request Message or
// is too long gets an Invalid Message response and the connection is closed.
//
// Threading: Run() blocks accepting, one thread per connection; Stop() may be called from
// any other thread: Run() then shuts every connection down, waits for their threads and
// returns. Destroy the server only after Run() returned (or if it never ran). `service`
// must outlive the server. The process must ignore SIGPIPE (kpsd does): a peer that hangs
// up while we write would otherwise kill it.
#pragma once

#include <memory>
#include <string>

#include "kps/kmip_service.h"

namespace cafs::kps {

class KmipServer {
 public:
  struct Options {
    std::size_t max_connections = 64;
    int idle_timeout_seconds = 60;
  };
  static constexpr int kDefaultPort = 5696;  // IANA "kmip"

  ~KmipServer();
  // Loads server.crt/server.key/ca.crt from `data_dir`.
  static Result<std::unique_ptr<KmipServer>> Create(KmipService& service,
                                                    const std::string& data_dir, Options options);
  static Result<std::unique_ptr<KmipServer>> Create(KmipService& service,
                                                    const std::string& data_dir) {
    return Create(service, data_dir, Options());
  }
  // Binds host:port (port 0 = any free port); returns the bound port.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop().
  Status Run();
  void Stop();

 private:
  struct Impl;
  explicit KmipServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cafs::kps
