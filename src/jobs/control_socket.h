// The control socket of cafsd (docs/jobs.md "Control channel"): a UNIX stream socket in the
// backing store, `<backing store>/.cafs-control` (a socket, so the Volume never lists it),
// mode 0600: only the user cafsd runs as (root) may connect. One request line (JSON, at most
// 64 KiB) per connection, one reply line, then the server closes. The peer's uid
// (SO_PEERCRED) becomes the job's requested_by ("local uid 0").
//
// ControlServer: one thread accepts and answers connections one at a time (every request is
// short: jobs run on their own threads); a client that sends nothing for 5 s is dropped.
// ControlCall: the client side, used by `cafsd jobs ...` / `cafsd shred`.
//
// Threading: Start/Stop from one thread; the destructor stops. Ownership: `service` is not
// owned and must outlive the server.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "jobs/control_service.h"

namespace cafs::jobs {

inline constexpr const char* kControlSocketName = ".cafs-control";

class ControlServer {
 public:
  // Binds `path` (a stale socket from a crash is replaced; sun_path holds 107 bytes:
  // ENAMETOOLONG beyond) and starts answering.
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& path,
                                                      const ControlService* service);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer(std::string path, int listen_fd, int stop_fd, const ControlService* service);
  void Loop();
  void Serve(int fd);

  const std::string path_;
  const int listen_fd_;
  const int stop_fd_;  // eventfd: written by the destructor
  const ControlService* const service_;
  std::thread thread_;
};

// Sends `request` to the server at `path` and returns its reply. Unavailable (EAGAIN) when
// nothing listens there (cafsd is not running); errno-carrying errors otherwise.
Result<nlohmann::json> ControlCall(const std::string& path, const nlohmann::json& request);

}  // namespace cafs::jobs
