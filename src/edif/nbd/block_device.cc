#include "edif/nbd/block_device.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace cafs::edif::nbd {

void BlockDevice::ReadFor(const RequesterOpen& /*requester*/, std::uint64_t offset,
                          std::uint32_t length, ReadCallback done) {
  Read(offset, length, std::move(done));
}

void BlockDevice::WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua,
                              DoneCallback done) {
  Write(offset, Bytes(length, 0), fua, std::move(done));
}

ExportInfo DescribeExport(std::string name, std::string description, const BlockDevice& device) {
  ExportInfo info;
  info.name = std::move(name);
  info.description = std::move(description);
  info.size = device.Size();
  const DeviceFeatures f = device.Features();
  std::uint16_t flags = kFlagHasFlags;
  if (f.read_only) flags |= kFlagReadOnly;
  if (f.flush) flags |= kFlagSendFlush;
  if (f.fua) flags |= kFlagSendFua;
  if (f.rotational) flags |= kFlagRotational;
  if (f.trim && !f.read_only) flags |= kFlagSendTrim;
  if (f.write_zeroes && !f.read_only) flags |= kFlagSendWriteZeroes;
  if (f.multi_conn) flags |= kFlagCanMultiConn;
  info.transmission_flags = flags;

  BlockSizeConstraints b = device.BlockSizes();
  // minimum: a power of two in [1, 64 KiB]; preferred: a power of two >= minimum, at most
  // 32 MiB and <= maximum; maximum: a multiple of minimum, at most kMaxPayload.
  b.minimum = std::clamp<std::uint32_t>(std::bit_floor(std::max<std::uint32_t>(b.minimum, 1)), 1,
                                        64 * 1024);
  b.preferred = std::clamp<std::uint32_t>(std::bit_floor(std::max<std::uint32_t>(b.preferred, 1)),
                                          b.minimum, kMaxPayload);
  b.maximum = std::min(b.maximum, kMaxPayload);
  b.maximum -= b.maximum % b.minimum;
  if (b.maximum < b.minimum) b.maximum = b.minimum;
  if (b.preferred > b.maximum) b.preferred = std::max(b.minimum, std::bit_floor(b.maximum));
  info.block_sizes = b;
  return info;
}

}  // namespace cafs::edif::nbd
