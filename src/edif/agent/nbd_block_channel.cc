#include "edif/agent/nbd_block_channel.h"

#include <libnbd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cafs::edif::agent {

struct NbdBlockChannel::Op {
  bool write = false;
  Bytes buffer;
  ReadDone read_done;
  WriteDone write_done;
  Status status;
  std::vector<std::unique_ptr<Op>>* ready = nullptr;
  std::map<Op*, std::unique_ptr<Op>>* ops = nullptr;
};

namespace {

std::string NbdError(std::string_view what) {
  const char* e = nbd_get_error();
  return std::string(what) + ": " + (e ? e : "unknown libnbd error");
}

// libnbd completion callback: record the outcome, move the op to the ready list. Returning 1
// retires the command inside libnbd (no nbd_aio_command_completed needed).
int OnComplete(void* user_data, int* error) {
  auto* op = static_cast<NbdBlockChannel::Op*>(user_data);
  if (*error != 0) {
    op->status = Status::FromErrno(*error, op->write ? "nbd write" : "nbd read");
  }
  auto it = op->ops->find(op);
  if (it != op->ops->end()) {
    op->ready->push_back(std::move(it->second));
    op->ops->erase(it);
  }
  return 1;
}

}  // namespace

Result<std::unique_ptr<NbdBlockChannel>> NbdBlockChannel::Connect(const std::string& uri) {
  nbd_handle* h = nbd_create();
  if (h == nullptr) return Status::Internal(NbdError("nbd_create"));
  if (nbd_connect_uri(h, uri.c_str()) == -1) {
    const int err = nbd_get_errno();
    Status s = Status::Unavailable(NbdError("connect " + uri));
    if (err == EINVAL) s = Status::InvalidArgument(NbdError("connect " + uri));
    nbd_close(h);
    return s;
  }
  const std::int64_t size = nbd_get_size(h);
  if (size < 0) {
    Status s = Status::FromErrno(EIO, NbdError("nbd_get_size"));
    nbd_close(h);
    return s;
  }
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    const int err = errno;
    nbd_close(h);
    return Status::FromErrno(err, "eventfd");
  }
  return std::unique_ptr<NbdBlockChannel>(
      new NbdBlockChannel(h, wake, static_cast<std::uint64_t>(size)));
}

NbdBlockChannel::NbdBlockChannel(nbd_handle* handle, int wake_fd, std::uint64_t size)
    : handle_(handle), wake_fd_(wake_fd), size_(size) {}

NbdBlockChannel::~NbdBlockChannel() {
  // nbd_close abandons commands in flight; their callbacks are not called (no .free set), so
  // complete ours first with Unavailable.
  nbd_close(handle_);
  handle_ = nullptr;
  FailAll(Status::Unavailable("nbd channel closed"));
  RunReady();
  ::close(wake_fd_);
}

void NbdBlockChannel::Read(std::uint64_t offset, std::size_t length, ReadDone done) {
  auto op = std::make_unique<Op>();
  op->read_done = std::move(done);
  op->ready = &ready_;
  op->ops = &ops_;
  op->status = CheckSectorRange(offset, length);
  if (op->status.ok() && !dead_.ok()) op->status = dead_;
  if (!op->status.ok()) {
    ready_.push_back(std::move(op));
    return;
  }
  op->buffer.resize(length);
  Op* raw = op.get();
  ops_.emplace(raw, std::move(op));
  nbd_completion_callback cb{.callback = OnComplete, .user_data = raw, .free = nullptr};
  if (nbd_aio_pread(handle_, raw->buffer.data(), length, offset, cb, 0) == -1) {
    FailSubmit(raw, Status::FromErrno(EIO, NbdError("nbd_aio_pread")));
  }
}

void NbdBlockChannel::Write(std::uint64_t offset, Bytes data, WriteDone done) {
  auto op = std::make_unique<Op>();
  op->write = true;
  op->write_done = std::move(done);
  op->ready = &ready_;
  op->ops = &ops_;
  op->status = CheckSectorRange(offset, data.size());
  if (op->status.ok() && !dead_.ok()) op->status = dead_;
  if (!op->status.ok()) {
    ready_.push_back(std::move(op));
    return;
  }
  op->buffer = std::move(data);
  Op* raw = op.get();
  ops_.emplace(raw, std::move(op));
  nbd_completion_callback cb{.callback = OnComplete, .user_data = raw, .free = nullptr};
  if (nbd_aio_pwrite(handle_, raw->buffer.data(), raw->buffer.size(), offset, cb, 0) == -1) {
    FailSubmit(raw, Status::FromErrno(EIO, NbdError("nbd_aio_pwrite")));
  }
}

void NbdBlockChannel::FailSubmit(Op* raw, const Status& status) {
  auto it = ops_.find(raw);
  if (it == ops_.end()) return;  // already completed by libnbd
  it->second->status = status;
  ready_.push_back(std::move(it->second));
  ops_.erase(it);
}

void NbdBlockChannel::FailAll(const Status& status) {
  for (auto& [raw, op] : ops_) {
    op->status = status;
    ready_.push_back(std::move(op));
  }
  ops_.clear();
}

void NbdBlockChannel::RunReady() {
  // Callbacks may queue new requests (and so append to ready_): take the list first.
  while (!ready_.empty()) {
    std::vector<std::unique_ptr<Op>> batch;
    batch.swap(ready_);
    for (auto& op : batch) {
      if (op->write) {
        // Wipe what was written: downstream messages may carry SA keys.
        if (!op->buffer.empty()) std::memset(op->buffer.data(), 0, op->buffer.size());
        op->write_done(op->status);
      } else {
        op->read_done(op->status, std::move(op->buffer));
      }
    }
  }
}

Status NbdBlockChannel::Poll(std::chrono::milliseconds timeout) {
  if (dead_.ok() && (nbd_aio_is_dead(handle_) || nbd_aio_is_closed(handle_))) {
    dead_ = Status::Unavailable(NbdError("nbd connection lost"));
    FailAll(dead_);
  }
  if (dead_.ok() && ready_.empty()) {
    pollfd fds[2];
    const unsigned dir = nbd_aio_get_direction(handle_);
    fds[0].fd = nbd_aio_get_fd(handle_);
    fds[0].events = 0;
    if (dir & LIBNBD_AIO_DIRECTION_READ) fds[0].events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE) fds[0].events |= POLLOUT;
    fds[0].revents = 0;
    fds[1].fd = wake_fd_;
    fds[1].events = POLLIN;
    fds[1].revents = 0;
    const int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
    if (n < 0 && errno != EINTR) {
      dead_ = Status::FromErrno(errno, "poll nbd socket");
    } else if (n > 0) {
      if (fds[1].revents & POLLIN) {
        std::uint64_t v;
        while (::read(wake_fd_, &v, sizeof v) > 0) {
        }
      }
      int r = 0;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) r = nbd_aio_notify_read(handle_);
      if (r != -1 && (fds[0].revents & POLLOUT)) r = nbd_aio_notify_write(handle_);
      if (r == -1 || nbd_aio_is_dead(handle_) || nbd_aio_is_closed(handle_)) {
        dead_ = Status::Unavailable(NbdError("nbd connection lost"));
      }
    }
    if (!dead_.ok()) FailAll(dead_);
  }
  RunReady();
  return dead_;
}

void NbdBlockChannel::Wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace cafs::edif::agent
