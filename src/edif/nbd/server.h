// NbdServer: serves named BlockDevice exports over NBD (fixed newstyle, simple replies) on TCP
// and Unix sockets.
//
// Per connection, requests are dispatched to the device as soon as they are read and replies
// are written as each completes, in any order, one at a time on the socket (a per-connection
// strand and write queue). A device that parks a request (never calls back for a while) holds
// one in-flight slot and nothing else: other requests on the same connection keep flowing.
// A connection stops reading new requests while it has max_requests_in_flight requests or
// max_bytes_in_flight payload bytes outstanding (replies not yet written).
//
// Hostile input: a bad magic, an option payload over 64 KiB, a WRITE over the maximum payload
// or a truncated message ends the connection (hard disconnect); a well-formed but invalid
// request gets an NBD error reply (nbd/codec.h CheckRequest); option haggling must finish
// within handshake_timeout, and a request whose first byte has arrived must be complete
// (header and WRITE payload) within request_timeout. A WRITE payload is buffered as it
// arrives, so memory follows the bytes a client sent, not the length it claims. At most
// max_connections connections are open at once, at most max_connections_per_address from
// one TCP peer address (more are closed at accept); a failed accept (EMFILE ...) is retried
// after accept_retry_delay. Nothing a client sends can block another connection. Limits:
// docs/nbd.md "Limits".
//
// Threading: all public methods are thread-safe. I/O runs on io_threads threads owned by the
// server. Device callbacks may come from any thread; after Stop() they are ignored.
// Lifetime: exports are shared_ptr; a connection keeps its export alive until it closes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "edif/nbd/block_device.h"
#include "util/result.h"

namespace cafs::edif::nbd {

struct ServerOptions {
  unsigned io_threads = 2;
  std::size_t max_requests_in_flight = 128;             // per connection
  std::size_t max_bytes_in_flight = 128 * 1024 * 1024;  // per connection, READ+WRITE payloads
  std::chrono::milliseconds handshake_timeout{10'000};
  // From the first byte of a request to its last payload byte; over it, the connection closes.
  std::chrono::milliseconds request_timeout{30'000};
  std::size_t max_connections = 256;                  // open at once, every listener together
  std::size_t max_connections_per_address = 16;       // TCP only: per peer IP address
  std::chrono::milliseconds accept_retry_delay{100};  // after accept() failed (EMFILE ...)
  // After NBD_CMD_DISC, how long to wait for in-flight requests before closing anyway.
  std::chrono::milliseconds disconnect_drain_timeout{30'000};
};

class NbdServer {
 public:
  explicit NbdServer(ServerOptions options = {});
  ~NbdServer();  // Stop()
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // Adds (or replaces) export `name`. New connections see it at once; connections already in
  // transmission keep the device they opened. Errors: name longer than 4096 bytes, null device.
  Status AddExport(const std::string& name, std::shared_ptr<BlockDevice> device,
                   std::string description = {});
  // Errors: NotFound.
  Status RemoveExport(const std::string& name);
  // The export a client gets when it asks for the empty name "".
  void SetDefaultExport(std::string name);

  // Starts listening; may be called several times (several sockets). `port` 0 picks a free
  // port. Returns the bound port. Errors: resolve/bind/listen failures, after Stop().
  Result<std::uint16_t> ListenTcp(const std::string& host, std::uint16_t port);
  // Listens on a Unix socket at `path` (a stale socket file there is replaced; any other file
  // is an AlreadyExists error). The file is removed by Stop().
  Status ListenUnix(const std::string& path);

  // Stops accepting, closes every connection (in-flight requests are abandoned: their device
  // callbacks become no-ops), joins the I/O threads. Idempotent.
  void Stop();

  // Connections currently open (for tests and stats).
  std::size_t connection_count() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cafs::edif::nbd
