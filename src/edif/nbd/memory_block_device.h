// MemoryBlockDevice: an export held in memory (tests, small scratch disks).
//
// Completes every request synchronously, inside the calling method. Thread-safe: one mutex
// guards the bytes; callbacks run after the mutex is released.
#pragma once

#include <cstdint>
#include <mutex>

#include "edif/nbd/block_device.h"

namespace cafs::edif::nbd {

class MemoryBlockDevice final : public BlockDevice {
 public:
  // A zero-filled device of `size` bytes.
  explicit MemoryBlockDevice(std::uint64_t size, DeviceFeatures features = {},
                             BlockSizeConstraints block_sizes = {});

  std::uint64_t Size() const override { return size_; }
  DeviceFeatures Features() const override { return features_; }
  BlockSizeConstraints BlockSizes() const override { return block_sizes_; }

  void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) override;
  void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) override;
  void Flush(DoneCallback done) override;
  void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) override;
  void WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua,
                   DoneCallback done) override;

  // A copy of [offset, offset + length) for test assertions (clamped to the size).
  Bytes Snapshot(std::uint64_t offset, std::uint64_t length) const;

 private:
  bool InBounds(std::uint64_t offset, std::uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

  const std::uint64_t size_;
  const DeviceFeatures features_;
  const BlockSizeConstraints block_sizes_;
  mutable std::mutex mu_;
  Bytes data_;  // guarded by mu_
};

}  // namespace cafs::edif::nbd
