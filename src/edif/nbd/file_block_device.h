// FileBlockDevice: an export backed by a regular file or a block device (pread/pwrite).
//
// I/O runs on a small pool of worker threads owned by the device, so a slow disk request does
// not hold up the NBD connection that issued it; callbacks run on those workers. FUA is a
// pwrite followed by fdatasync; Flush is fdatasync; Trim punches a hole (files) and is a no-op
// success where the file system cannot; WriteZeroes uses FALLOC_FL_ZERO_RANGE and falls back
// to writing zeros. The size is read once at Open.
//
// Lifetime: the destructor finishes queued requests, then joins the workers; keep the device
// alive (shared_ptr) while any request is outstanding.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "edif/nbd/block_device.h"
#include "util/result.h"

namespace cafs::edif::nbd {

struct FileBlockDeviceOptions {
  bool read_only = false;
  unsigned worker_threads = 4;
  BlockSizeConstraints block_sizes = {1, 4096, kMaxPayload};
};

class FileBlockDevice final : public BlockDevice {
 public:
  // Opens `path` (which must exist). Errors: from open/fstat/ioctl, with the errno kept.
  static Result<std::shared_ptr<FileBlockDevice>> Open(const std::string& path,
                                                       FileBlockDeviceOptions options = {});
  ~FileBlockDevice() override;
  FileBlockDevice(const FileBlockDevice&) = delete;
  FileBlockDevice& operator=(const FileBlockDevice&) = delete;

  std::uint64_t Size() const override { return size_; }
  DeviceFeatures Features() const override;
  BlockSizeConstraints BlockSizes() const override { return options_.block_sizes; }

  void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) override;
  void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) override;
  void Flush(DoneCallback done) override;
  void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) override;
  void WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua,
                   DoneCallback done) override;

 private:
  FileBlockDevice(int fd, std::uint64_t size, bool is_block_device, FileBlockDeviceOptions options);
  void Submit(std::function<void()> work);
  void WorkerLoop();
  Status WriteAll(std::uint64_t offset, ByteView data) const;
  Status Sync() const;

  const int fd_;
  const std::uint64_t size_;
  const bool is_block_device_;
  const FileBlockDeviceOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace cafs::edif::nbd
