// NbdBlockChannel: a BlockChannel on an NBD export through libnbd (a client we did not write),
// with its asynchronous API: nbd_aio_pread / nbd_aio_pwrite with completion callbacks and our
// own poll(2) loop on nbd_aio_get_fd() plus an eventfd for Wake().
//
// URI: anything nbd_connect_uri accepts, e.g. "nbd+unix:///mbox?socket=/run/edif/host.sock"
// or "nbd://127.0.0.1:10809/mbox".
//
// libnbd's completion callbacks run inside nbd_aio_notify_*; they only record the outcome, and
// Poll() runs our callbacks afterwards (libnbd forbids calling it back from its callbacks).
// Threading: as BlockChannel (one thread; Wake() from anywhere).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edif/agent/block_channel.h"
#include "util/result.h"

struct nbd_handle;

namespace cafs::edif::agent {

class NbdBlockChannel final : public BlockChannel {
 public:
  // Connects (blocking, bounded by libnbd's own connect) and negotiates. Errors: Unavailable
  // when the server cannot be reached, InvalidArgument for a bad URI.
  static Result<std::unique_ptr<NbdBlockChannel>> Connect(const std::string& uri);
  ~NbdBlockChannel() override;
  NbdBlockChannel(const NbdBlockChannel&) = delete;
  NbdBlockChannel& operator=(const NbdBlockChannel&) = delete;

  std::uint64_t Size() const override { return size_; }
  void Read(std::uint64_t offset, std::size_t length, ReadDone done) override;
  void Write(std::uint64_t offset, Bytes data, WriteDone done) override;
  Status Poll(std::chrono::milliseconds timeout) override;
  void Wake() override;
  std::size_t in_flight() const override { return ops_.size() + ready_.size(); }

  struct Op;

 private:
  NbdBlockChannel(nbd_handle* handle, int wake_fd, std::uint64_t size);
  void FailAll(const Status& status);
  void FailSubmit(Op* raw, const Status& status);
  void RunReady();

  nbd_handle* handle_;
  int wake_fd_;
  std::uint64_t size_;
  Status dead_;
  std::map<Op*, std::unique_ptr<Op>> ops_;  // submitted to libnbd
  std::vector<std::unique_ptr<Op>> ready_;  // completed (or refused), callbacks not yet run
};

}  // namespace cafs::edif::agent
