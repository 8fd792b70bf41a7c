#include "sync_rpc.h"

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <utility>

namespace cafs::nfs_test {
namespace {
constexpr auto kReplyTimeout = std::chrono::seconds(30);
}  // namespace

SyncRpc::SyncRpc() : rpc_(rpc_init_context()) {}

SyncRpc::~SyncRpc() {
  if (rpc_ != nullptr) rpc_destroy_context(rpc_);
}

void SyncRpc::Callback(rpc_context* /*rpc*/, int status, void* data, void* private_data) {
  auto* pending = static_cast<Pending*>(private_data);
  pending->done = true;
  pending->status = status;
  if (status == RPC_STATUS_SUCCESS) {
    if (pending->on_reply) pending->on_reply(data);
  } else if (status == RPC_STATUS_ERROR && data != nullptr) {
    pending->error = static_cast<const char*>(data);
  } else {
    pending->error = status == RPC_STATUS_TIMEOUT ? "rpc timeout" : "rpc cancelled";
  }
}

bool SyncRpc::Wait(Pending& pending) {
  const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
  while (!pending.done) {
    pollfd pfd{};
    pfd.fd = rpc_get_fd(rpc_);
    pfd.events = static_cast<short>(rpc_which_events(rpc_));
    const int n = poll(&pfd, 1, 100);
    if (n < 0 && errno != EINTR) {
      broken_ = true;
      error_ = "poll failed";
      return false;
    }
    if (rpc_service(rpc_, n > 0 ? pfd.revents : 0) < 0) {
      broken_ = true;
      const char* e = rpc_get_error(rpc_);
      error_ = std::string("connection failed: ") + (e != nullptr ? e : "?");
      return pending.done && pending.status == RPC_STATUS_SUCCESS;
    }
    if (!pending.done && std::chrono::steady_clock::now() > deadline) {
      broken_ = true;
      error_ = "no reply within 30 s";
      return false;
    }
  }
  if (pending.status != RPC_STATUS_SUCCESS) {
    error_ = pending.error;
    return false;
  }
  return true;
}

bool SyncRpc::Connect(const std::string& host, int port, int program, int version) {
  if (rpc_ == nullptr) {
    error_ = "rpc_init_context failed";
    return false;
  }
  auto pending = std::make_unique<Pending>();
  const int rc = port > 0 ? rpc_connect_port_async(rpc_, host.c_str(), port, program, version,
                                                   &Callback, pending.get())
                          : rpc_connect_program_async(rpc_, host.c_str(), program, version,
                                                      &Callback, pending.get());
  if (rc != 0) {
    error_ = std::string("connect: ") + rpc_get_error(rpc_);
    return false;
  }
  const bool ok = Wait(*pending);
  if (!ok) {
    error_ = "connect to " + host + ":" + std::to_string(port) + ": " + error_;
    broken_ = true;
  }
  Orphan(std::move(pending));
  return ok;
}

void SyncRpc::Orphan(std::unique_ptr<Pending> pending) {
  if (pending->done) return;
  pending->on_reply = nullptr;
  orphans_.push_back(std::move(pending));
}

bool SyncRpc::CallRaw(const std::string& what, const std::function<int(rpc_cb, void*)>& issue,
                      std::function<void(void*)> on_reply) {
  if (broken_) {
    error_ = what + ": connection already broken (" + error_ + ")";
    return false;
  }
  auto pending = std::make_unique<Pending>();
  pending->on_reply = std::move(on_reply);
  if (issue(&Callback, pending.get()) != 0) {
    error_ = what + ": could not queue the call: " + rpc_get_error(rpc_);
    return false;
  }
  const bool ok = Wait(*pending);
  if (!ok) error_ = what + ": " + error_;
  Orphan(std::move(pending));
  return ok;
}

}  // namespace cafs::nfs_test
