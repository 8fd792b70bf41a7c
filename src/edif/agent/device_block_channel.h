// DeviceBlockChannel: a BlockChannel on a raw block device or file (inside a VM: the mailbox
// disk attached as virtio-blk, e.g. /dev/vdb), opened with O_DIRECT so every READ and WRITE
// reaches the (emulated) device instead of the guest page cache. Buffers are 4096-aligned.
//
// A mailbox READ blocks in the device until the driver has something to say (up to the NOP
// timeout), so requests run on a small pool of I/O threads (`io_threads`, which must exceed
// the number of READs the agent keeps posted, or WRITEs would wait behind parked READs);
// completions are handed to Poll() through a queue and an eventfd.
//
// O_DIRECT is refused by some file systems (tmpfs): with `allow_buffered` the channel falls
// back to buffered I/O and says so in direct(); without it Open fails with NotSupported.
// Threading: as BlockChannel. The destructor waits for the I/O threads (a READ blocked in the
// device delays it until that READ returns).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "edif/agent/block_channel.h"
#include "util/result.h"

namespace cafs::edif::agent {

struct DeviceChannelOptions {
  unsigned io_threads = 8;
  bool allow_buffered = false;
};

class DeviceBlockChannel final : public BlockChannel {
 public:
  static Result<std::unique_ptr<DeviceBlockChannel>> Open(const std::string& path,
                                                          DeviceChannelOptions options = {});
  ~DeviceBlockChannel() override;
  DeviceBlockChannel(const DeviceBlockChannel&) = delete;
  DeviceBlockChannel& operator=(const DeviceBlockChannel&) = delete;

  std::uint64_t Size() const override { return size_; }
  void Read(std::uint64_t offset, std::size_t length, ReadDone done) override;
  void Write(std::uint64_t offset, Bytes data, WriteDone done) override;
  Status Poll(std::chrono::milliseconds timeout) override;
  void Wake() override;
  std::size_t in_flight() const override;
  // Whether the device is open with O_DIRECT.
  bool direct() const { return direct_; }

 private:
  struct Job {
    bool write = false;
    std::uint64_t offset = 0;
    std::size_t length = 0;
    Bytes data;
    ReadDone read_done;
    WriteDone write_done;
    Status status;
  };
  DeviceBlockChannel(int fd, bool direct, std::uint64_t size, unsigned threads);
  void Worker();
  void Execute(Job& job);
  void Complete(std::unique_ptr<Job> job);

  const int fd_;
  const bool direct_;
  const std::uint64_t size_;
  int wake_fd_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<std::unique_ptr<Job>> pending_;  // guarded by mu_
  std::deque<std::unique_ptr<Job>> done_;     // guarded by mu_
  std::size_t in_flight_ = 0;                 // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace cafs::edif::agent
