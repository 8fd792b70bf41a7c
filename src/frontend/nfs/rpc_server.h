// RpcServer: ONC RPC (RFC 5531) over TCP on Asio, serving RpcPrograms (MOUNT v3, NFSv3,
// portmapper) on one or more listening endpoints. Every endpoint serves every program added
// (a client asking the MOUNT port for NFS gets NFS).
//
// Per connection: records are reassembled from fragments (the framing of rpc_message.h
// RecordAssembler): marks and small fragments through a 64 KiB read-ahead buffer, the body of a
// large fragment read straight into its record buffer (sized from the mark, not zero-filled,
// recycled through a pool of 16 per connection, as are large replies); a record over
// max_record_size drops the connection at once, nothing of it buffered; a record's buffer grows
// with the bytes received (at most 256 KiB ahead of them), never to the size a mark announces. Each
// call is decoded on the I/O thread (header errors are answered there) and dispatched to a worker
// pool (compute or blocking: RpcProgram::WaitsForDisk); replies are written in completion order
// (out of order) through a per-connection write queue. A connection stops reading while
// max_calls_in_flight calls are unanswered. A connection with nothing in flight and no bytes
// received for idle_timeout is closed; so is one whose peer closes or resets. Connections are
// coroutines on a strand: thousands of idle ones cost a socket and a few KiB each, no thread.
// Accept admits at most max_connections in all and max_connections_per_address per client address;
// when accept itself fails (EMFILE, ENFILE, ENOBUFS) it waits 100 ms before trying again instead of
// spinning. docs/nfs.md "Limits".
//
// Threading: all public methods are thread-safe. Programs must outlive the server (Stop()
// waits for running calls). Lifetime: Stop() (or the destructor) closes every endpoint and
// connection, abandons calls not yet started, waits for running ones and joins the threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "frontend/nfs/rpc_message.h"
#include "frontend/nfs/rpc_program.h"
#include "util/result.h"

namespace cafs::frontend::nfs {

struct RpcServerOptions {
  unsigned io_threads = 2;
  // Calls run on two pools (RpcProgram::WaitsForDisk): `compute_threads` for those that use
  // the CPU (0: one per core, at least 2), `worker_threads` for those that wait for storage.
  unsigned compute_threads = 0;
  unsigned worker_threads = 8;
  std::size_t max_record_size = kDefaultMaxRecordSize;
  std::size_t max_calls_in_flight = 64;  // per connection
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  // Beyond this, new connections are closed at accept. At most half the process's descriptor
  // limit (RLIMIT_NOFILE soft) is used, whatever is set here.
  std::size_t max_connections = 8192;
  // Connections from one client address (beyond this, that address's new connections are
  // closed at accept; other addresses are not affected): an idle or slow flood from one
  // address cannot take the connections every other client needs. A Linux client uses one
  // (nconnect: up to 16) per server.
  std::size_t max_connections_per_address = 64;
};

class RpcServer {
 public:
  explicit RpcServer(RpcServerOptions options = {});
  ~RpcServer();  // Stop()
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Adds a program (not owned). Call before the first Listen.
  void AddProgram(RpcProgram* program);

  // Listens on `host` (numeric IPv4/IPv6, "0.0.0.0", "::") port `port` (0 = a free port);
  // returns the bound port. May be called several times. Errors: bad address, bind/listen
  // failure (EADDRINUSE, EACCES for a privileged port), after Stop().
  Result<std::uint16_t> Listen(const std::string& host, std::uint16_t port);

  void Stop();  // idempotent

  std::size_t connection_count() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cafs::frontend::nfs
