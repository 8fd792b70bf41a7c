#include "edif/nbd/memory_block_device.h"

#include <algorithm>
#include <utility>

namespace cafs::edif::nbd {

MemoryBlockDevice::MemoryBlockDevice(std::uint64_t size, DeviceFeatures features,
                                     BlockSizeConstraints block_sizes)
    : size_(size), features_(features), block_sizes_(block_sizes), data_(size, 0) {}

void MemoryBlockDevice::Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) {
  if (!InBounds(offset, length)) {
    done(Status::InvalidArgument("memory device: read beyond the end"), {});
    return;
  }
  Bytes out;
  {
    std::lock_guard lock(mu_);
    const auto first = data_.begin() + static_cast<std::ptrdiff_t>(offset);
    out.assign(first, first + length);
  }
  done(Status::OK(), std::move(out));
}

void MemoryBlockDevice::Write(std::uint64_t offset, Bytes data, bool /*fua*/, DoneCallback done) {
  if (features_.read_only) {
    done(Status::PermissionDenied("memory device: read-only"));
    return;
  }
  if (!InBounds(offset, data.size())) {
    done(Status::NoSpace("memory device: write beyond the end"));
    return;
  }
  {
    std::lock_guard lock(mu_);
    std::copy(data.begin(), data.end(), data_.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  done(Status::OK());
}

void MemoryBlockDevice::Flush(DoneCallback done) { done(Status::OK()); }

void MemoryBlockDevice::Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) {
  // Trimmed ranges read back as zeros, like a thin-provisioned disk.
  WriteZeroes(offset, length, false, std::move(done));
}

void MemoryBlockDevice::WriteZeroes(std::uint64_t offset, std::uint32_t length, bool /*fua*/,
                                    DoneCallback done) {
  if (features_.read_only) {
    done(Status::PermissionDenied("memory device: read-only"));
    return;
  }
  if (!InBounds(offset, length)) {
    done(Status::NoSpace("memory device: zero beyond the end"));
    return;
  }
  {
    std::lock_guard lock(mu_);
    const auto first = data_.begin() + static_cast<std::ptrdiff_t>(offset);
    std::fill(first, first + length, std::uint8_t{0});
  }
  done(Status::OK());
}

Bytes MemoryBlockDevice::Snapshot(std::uint64_t offset, std::uint64_t length) const {
  std::lock_guard lock(mu_);
  if (offset >= size_) return {};
  length = std::min(length, size_ - offset);
  const auto first = data_.begin() + static_cast<std::ptrdiff_t>(offset);
  return Bytes(first, first + static_cast<std::ptrdiff_t>(length));
}

}  // namespace cafs::edif::nbd
