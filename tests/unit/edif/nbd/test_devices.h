// Block devices for NBD server tests: one that parks reads, one that completes in reverse.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "edif/nbd/memory_block_device.h"

namespace cafs::edif::nbd::testing {

// Delegates to a MemoryBlockDevice, except READs at offsets >= park_from, which are held until
// ReleaseParked() (like the EDIF mailbox disk's upstream reads).
class ParkingDevice final : public BlockDevice {
 public:
  ParkingDevice(std::uint64_t size, std::uint64_t park_from) : mem_(size), park_from_(park_from) {}

  std::uint64_t Size() const override { return mem_.Size(); }
  void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) override {
    if (offset >= park_from_) {
      std::lock_guard lock(mu_);
      parked_.push_back([this, offset, length, done = std::move(done)]() mutable {
        mem_.Read(offset, length, std::move(done));
      });
      cv_.notify_all();
      return;
    }
    mem_.Read(offset, length, std::move(done));
  }
  void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) override {
    mem_.Write(offset, std::move(data), fua, std::move(done));
  }
  void Flush(DoneCallback done) override { mem_.Flush(std::move(done)); }
  void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) override {
    mem_.Trim(offset, length, std::move(done));
  }

  // Blocks until `n` reads are parked.
  void WaitParked(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return parked_.size() >= n; });
  }
  std::size_t parked() {
    std::lock_guard lock(mu_);
    return parked_.size();
  }
  void ReleaseParked() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mu_);
      run.swap(parked_);
    }
    for (auto& f : run) f();
  }

 private:
  MemoryBlockDevice mem_;
  const std::uint64_t park_from_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> parked_;
};

// Holds READs until `batch` of them have arrived, then completes them newest first.
class ReversingDevice final : public BlockDevice {
 public:
  ReversingDevice(std::uint64_t size, std::size_t batch) : mem_(size), batch_(batch) {}

  std::uint64_t Size() const override { return mem_.Size(); }
  void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) override {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mu_);
      held_.push_back([this, offset, length, done = std::move(done)]() mutable {
        mem_.Read(offset, length, std::move(done));
      });
      if (held_.size() < batch_) return;
      run.swap(held_);
    }
    std::reverse(run.begin(), run.end());
    for (auto& f : run) f();
  }
  void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) override {
    mem_.Write(offset, std::move(data), fua, std::move(done));
  }
  void Flush(DoneCallback done) override { mem_.Flush(std::move(done)); }
  void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) override {
    mem_.Trim(offset, length, std::move(done));
  }

 private:
  MemoryBlockDevice mem_;
  const std::size_t batch_;
  std::mutex mu_;
  std::vector<std::function<void()>> held_;
};

}  // namespace cafs::edif::nbd::testing
