// The control socket of cafsd (docs/jobs.md "Control channel"): a UNIX stream socket in the
// backing store, `<backing store>/.cafs-control` (a socket, so the Volume never lists it),
// mode 0600. One request line (JSON, at most 64 KiB) per connection, one reply line, then the
// server closes. The peer's uid (SO_PEERCRED) becomes the job's requested_by ("local uid 0").
//
// Who may connect: the socket's mode lets only its owner (the user cafsd runs as) connect,
// and the server checks again with SO_PEERCRED: a peer whose uid is neither 0 nor cafsd's
// effective uid gets a PermissionDenied reply and is closed (so a socket made reachable by a
// chmod, or reached in the instant between bind and chmod, still answers nobody else).
//
// ControlServer: every listener is attacked (issue 20), so no client can hold the server:
//  - one I/O thread multiplexes every connection with poll(2); sockets are non-blocking, so
//    neither a read nor a send ever waits on a client;
//  - a client has `request_timeout` (5 s) from its accept to send its whole request line
//    (a deadline for the request, not per read: a byte-a-second client is dropped at 5 s),
//    and `reply_timeout` (5 s) from when its reply is ready to take all of it;
//  - a line longer than 64 KiB gets an InvalidArgument reply and the connection is closed;
//  - at most `max_connections` connections are open; when a new one arrives at the cap, the
//    oldest connection still sending its request is dropped to make room (an idle flood
//    cannot lock the administrator out), and if none is sending a request the newcomer gets
//    an Unavailable reply ("too many control connections");
//  - complete requests are answered by `workers` handler threads (a handler may wait for a
//    job's runner to stop, e.g. cancel); ControlService::HandleLine never throws.
// ControlCall: the client side, used by `cafsd jobs ...` / `cafsd shred` / `cafsd rekey`.
//
// Threading: Start/destroy from one thread; the destructor stops the I/O thread and the
// workers (a handler already running finishes first). Ownership: `service` is not owned and
// must outlive the server; the server owns every connection it accepted and closes each on
// every path (reply sent, deadline, error, stop).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/control_service.h"

namespace cafs::jobs {

inline constexpr const char* kControlSocketName = ".cafs-control";
// The longest request line the server reads ('\n' excluded).
inline constexpr std::size_t kMaxControlRequest = 64 * 1024;

struct ControlServerOptions {
  std::size_t max_connections = 64;
  unsigned workers = 2;
  std::chrono::milliseconds request_timeout{5000};  // accept -> whole request line read
  std::chrono::milliseconds reply_timeout{5000};    // reply ready -> whole reply sent
};

class ControlServer {
 public:
  // Binds `path` (a stale socket from a crash is replaced; sun_path holds 107 bytes:
  // ENAMETOOLONG beyond), makes it 0600 and starts answering.
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& path,
                                                      const ControlService* service,
                                                      ControlServerOptions options = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Request {  // a complete line handed to a worker
    std::uint64_t conn;
    std::string line;
    std::string peer;
  };
  struct Reply {  // a worker's answer, picked up by the I/O thread
    std::uint64_t conn;
    std::string text;
  };

  ControlServer(std::string path, int listen_fd, int stop_fd, int wake_fd,
                const ControlService* service, ControlServerOptions options);
  void Loop();  // the I/O thread
  void Work();  // a handler thread

  const std::string path_;
  const int listen_fd_;
  const int stop_fd_;  // eventfd: written by the destructor
  const int wake_fd_;  // eventfd: a worker left a reply in done_
  const ControlService* const service_;
  const ControlServerOptions options_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // with mu_: queue_ grew or stopping_
  std::deque<Request> queue_;        // guarded by mu_; at most max_connections entries
  std::vector<Reply> done_;          // guarded by mu_
  bool stopping_ = false;            // guarded by mu_

  std::thread io_thread_;
  std::vector<std::thread> workers_;
};

// Sends `request` to the server at `path` and returns its reply. Unavailable (EAGAIN) when
// nothing listens there (cafsd is not running); errno-carrying errors otherwise (Timeout when
// no whole reply came within 60 s).
Result<nlohmann::json> ControlCall(const std::string& path, const nlohmann::json& request);

}  // namespace cafs::jobs
