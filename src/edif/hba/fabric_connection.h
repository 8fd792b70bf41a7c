// FabricConnection: one TCP connection between two HBA ports, carrying link frames
// (docs/edif-link.md). FabricListener: accepts such connections.
//
// A connection owns its socket and one reader thread (started by Start) that reassembles
// frames and hands each to `on_frame`; when the stream ends, fails or carries a corrupt frame
// (no resynchronisation) `on_closed` runs once with the reason and the thread ends.
// Send() writes one whole wire frame; several threads may send at once (frames never
// interleave). A send tap (tests) sees every wire frame just before it is written.
//
// Threading: all methods are thread-safe. Handlers run on the reader thread; they may call
// Send() and Close() (Close from a handler does not wait for the thread).
// Lifetime: shared_ptr; the reader thread keeps the connection alive while it runs. After
// Close() returns (from another thread) no handler runs any more.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "edif/link/frame.h"
#include "util/result.h"

namespace cafs::edif::hba {

class FabricConnection : public std::enable_shared_from_this<FabricConnection> {
 public:
  using FrameHandler = std::function<void(link::Frame)>;
  using CloseHandler = std::function<void(Status)>;
  using Tap = std::function<void(ByteView wire)>;

  // Connects to `host`:`port` (a literal IPv4 address). Errors: Unavailable, Timeout.
  static Result<std::shared_ptr<FabricConnection>> Connect(const std::string& host,
                                                           std::uint16_t port,
                                                           std::chrono::milliseconds timeout);
  // Takes ownership of a connected socket.
  static std::shared_ptr<FabricConnection> Adopt(int fd, std::string peer);

  ~FabricConnection();
  FabricConnection(const FabricConnection&) = delete;
  FabricConnection& operator=(const FabricConnection&) = delete;

  // Starts the reader thread. Call once.
  void Start(FrameHandler on_frame, CloseHandler on_closed);
  // Writes one wire frame (length prefix included). Unavailable once closed or on error.
  Status Send(ByteView wire);
  // The same in two steps, for a caller that orders frames under a lock of its own: it takes
  // the send lock (LockSend) before releasing its own, then writes with SendLocked while
  // the next frame is prepared. `lock` must come from LockSend of this connection.
  std::unique_lock<std::mutex> LockSend();
  Status SendLocked(const std::unique_lock<std::mutex>& lock, ByteView wire);
  // Encodes and sends.
  Status SendFrame(const link::FrameHeader& header, ByteView payload);
  void SetTap(Tap tap);
  // Shuts the socket down without waiting: the reader thread ends and `on_closed` runs (from
  // any thread, under any lock the handlers do not take).
  void Shutdown();
  // Shuts the socket down; waits for the reader thread unless called on it. Idempotent.
  void Close();
  bool closed() const { return closed_.load(); }
  const std::string& peer() const { return peer_; }

 private:
  FabricConnection(int fd, std::string peer);
  void ReadLoop(FrameHandler on_frame, CloseHandler on_closed);

  const int fd_;
  const std::string peer_;
  std::atomic<bool> closed_{false};
  std::mutex send_mu_;
  Tap tap_;  // guarded by send_mu_
  std::mutex thread_mu_;
  std::thread reader_;  // guarded by thread_mu_
};

class FabricListener {
 public:
  using AcceptHandler = std::function<void(std::shared_ptr<FabricConnection>)>;
  // Listens on `host`:`port` (port 0: any free port). The accept thread calls `on_accept`
  // for each new connection (not yet started).
  static Result<std::unique_ptr<FabricListener>> Listen(const std::string& host, std::uint16_t port,
                                                        AcceptHandler on_accept);
  ~FabricListener();  // Stop()
  std::uint16_t port() const { return port_; }
  // Stops accepting and joins the accept thread. Idempotent.
  void Stop();

 private:
  FabricListener(int fd, std::uint16_t port);
  const int fd_;
  const std::uint16_t port_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

// Parses "host:port" (IPv4 literal). InvalidArgument otherwise.
Result<std::pair<std::string, std::uint16_t>> ParseHostPort(const std::string& text);

}  // namespace cafs::edif::hba
