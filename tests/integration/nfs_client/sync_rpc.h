// SyncRpc: one libnfs raw RPC connection (struct rpc_context) driven synchronously, so a test
// can issue any MOUNT or NFSv3 call with exact arguments and inspect the exact reply.
//
// Contract:
//  - Connect() opens a TCP connection to host:port for one program/version (port 0: ask the
//    portmapper). Credentials are libnfs's default AUTH_SYS (the caller's uid/gid).
//  - Call<Res>(what, issue, take): `issue(cb, private)` queues one libnfs `rpc_*_async` call
//    with the given callback; Call() services the connection until the reply arrives (or
//    30 s pass), then runs `take(const Res&)` on the decoded reply *inside* the callback:
//    libnfs frees the reply after the callback returns, so `take` must copy what it keeps.
//    Procedures with a void reply pass Res = char and an empty `take` (never called).
//    Returns false on a transport failure (no reply, RPC error, timeout); error() says why.
//  - After a timeout or a dead socket the connection is broken: every later Call() fails
//    at once. A call left without a reply keeps its bookkeeping until the destructor, where
//    libnfs cancels it (its callback then finds live memory, never a dead stack frame).
//  - Not thread-safe; one object per thread.
#pragma once

// libnfs.h first: it defines EXTERN, which libnfs-raw.h needs.
// clang-format off
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
// clang-format on

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cafs::nfs_test {

class SyncRpc {
 public:
  SyncRpc();
  ~SyncRpc();
  SyncRpc(const SyncRpc&) = delete;
  SyncRpc& operator=(const SyncRpc&) = delete;

  bool Connect(const std::string& host, int port, int program, int version);

  template <class Res, class Issue, class Take>
  bool Call(const std::string& what, Issue issue, Take take) {
    return CallRaw(
        what, [&](rpc_cb cb, void* pd) { return issue(cb, pd); },
        [&](void* data) {
          if (data != nullptr) take(*static_cast<const Res*>(data));
        });
  }

  rpc_context* context() { return rpc_; }
  const std::string& error() const { return error_; }

 private:
  struct Pending {
    bool done = false;
    int status = 0;
    std::string error;
    std::function<void(void*)> on_reply;
  };
  static void Callback(rpc_context* rpc, int status, void* data, void* private_data);
  bool CallRaw(const std::string& what, const std::function<int(rpc_cb, void*)>& issue,
               std::function<void(void*)> on_reply);
  bool Wait(Pending& pending);
  // Keeps an unanswered call's Pending alive until rpc_destroy_context() cancels it.
  void Orphan(std::unique_ptr<Pending> pending);

  std::vector<std::unique_ptr<Pending>> orphans_;
  rpc_context* rpc_;
  bool broken_ = false;
  std::string error_;
};

}  // namespace cafs::nfs_test
