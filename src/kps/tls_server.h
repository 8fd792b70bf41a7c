// TlsServer: the mutual-TLS HTTP listener of kpsd (docs/kps.md "The REST listener"): TLS 1.3
// only, client certificates REQUIRED and verified against the data dir's ca.crt; each request
// goes to RestApi::Handle with the peer certificate's identity. Bodies over `max_body` bytes
// get 413 {"error","reason"}; unknown routes 404 from the RestApi.
//
// I/O is asynchronous (Asio + asio::ssl over OpenSSL): a connection that sends nothing holds
// no thread, only a socket and a timer. Every phase has a deadline (TLS handshake, request
// head, body at a minimum rate, keep-alive idle, response write); a connection past it is
// closed. Connections are capped per source address and in total (more are accepted and
// closed at once). The HTTP subset is http_request.h's strict parser. RestApi::Handle runs
// on a small worker pool, so a slow handler does not stall I/O.
//
// Threading: Run() blocks, serving on `io_threads` I/O threads (the caller's among them) and
// `workers` handler threads; Stop() may be called from any other thread (also before Run():
// Run() then returns at once). Run() returns after every handler in flight finished. `api`
// must outlive the server and be safe to call from several threads (it is).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "kps/rest_api.h"

namespace cafs::kps {

class TlsServer {
 public:
  static constexpr std::size_t kDefaultMaxBody = 1 << 20;

  struct Options {
    std::size_t max_body = kDefaultMaxBody;
    std::size_t max_head_bytes = 16 << 10;  // request line + header fields
    std::size_t max_headers = 64;
    std::size_t max_connections = 512;             // open at once, all addresses
    std::size_t max_connections_per_address = 32;  // open at once from one source address
    std::chrono::milliseconds handshake_timeout{10'000};
    std::chrono::milliseconds head_timeout{10'000};  // from a request's first byte to its end
    std::chrono::milliseconds idle_timeout{5'000};   // keep-alive wait for the next request
    std::chrono::milliseconds write_timeout{10'000};
    // A body must arrive within head_timeout + Content-Length / min_body_rate seconds.
    std::size_t min_body_rate = 16 << 10;  // bytes per second
    std::size_t max_requests_per_connection = 1000;
    unsigned io_threads = 2;
    unsigned workers = 4;
  };

  ~TlsServer();
  // Loads server.crt/server.key/ca.crt from `data_dir`.
  static Result<std::unique_ptr<TlsServer>> Create(RestApi& api, const std::string& data_dir,
                                                   const Options& options);
  static Result<std::unique_ptr<TlsServer>> Create(RestApi& api, const std::string& data_dir,
                                                   std::size_t max_body = kDefaultMaxBody) {
    Options o;
    o.max_body = max_body;
    return Create(api, data_dir, o);
  }
  // Binds host:port (a numeric address or a name; port 0 = any free port); returns the port.
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
