// KmipServer: kpsd's KMIP listener (docs/kmip.md): TLS 1.2 or 1.3 (OpenSSL) on a TCP port
// (5696 by default), client certificates REQUIRED and verified against the data dir's
// ca.crt, like the REST listener. Each connection carries request messages back to back;
// each is framed by its TTLV header (tag Request Message, type Structure, length), read
// whole (at most KmipOptions::limits.max_size bytes) and answered by KmipService::Handle.
//
// Limits (docs/kps.md "The KMIP listener"): at most `max_connections` connections at once,
// and at most `max_connections_per_address` from one source address (more are accepted and
// closed at once), so a flood from one address cannot lock other clients out. The TLS
// handshake must finish within `handshake_timeout_seconds`; a connection that starts no
// message for `idle_timeout_seconds` is closed, and a message must arrive whole within
// `message_timeout_seconds` of its first byte (a byte-a-second sender is cut off). A message
// whose header is not a Request Message or is too long gets an Invalid Message response and
// the connection is closed.
//
// Why a thread per connection is safe here: threads are bounded by `max_connections`, and a
// thread is held by a client that sends nothing for at most the handshake or idle timeout,
// by a slow one for at most the message timeout; one address holds at most
// `max_connections_per_address` of them.
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
    std::size_t max_connections_per_address = 16;
    int handshake_timeout_seconds = 10;
    int idle_timeout_seconds = 60;
    int message_timeout_seconds = 30;
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
