// ExportInfo: what an NBD export looks like on the wire (size, transmission flags, block size
// constraints, name, description). The server derives one from a BlockDevice
// (nbd/block_device.h DescribeExport); the client fills one from the server's NBD_REP_INFO.
//
// Threading: plain values.
#pragma once

#include <cstdint>
#include <string>

#include "edif/nbd/protocol.h"

namespace cafs::edif::nbd {

// NBD_INFO_BLOCK_SIZE. minimum and preferred are powers of two; maximum is a multiple of
// minimum (or 0xffffffff for "no limit"). Our server never advertises more than kMaxPayload.
struct BlockSizeConstraints {
  std::uint32_t minimum = 1;
  std::uint32_t preferred = 4096;
  std::uint32_t maximum = kMaxPayload;

  bool operator==(const BlockSizeConstraints&) const = default;
};

struct ExportInfo {
  std::string name;
  std::string description;
  std::uint64_t size = 0;
  std::uint16_t transmission_flags = kFlagHasFlags;
  BlockSizeConstraints block_sizes;

  bool read_only() const { return (transmission_flags & kFlagReadOnly) != 0; }
  bool can_flush() const { return (transmission_flags & kFlagSendFlush) != 0; }
  bool can_fua() const { return (transmission_flags & kFlagSendFua) != 0; }
  bool can_trim() const { return (transmission_flags & kFlagSendTrim) != 0; }
  bool can_write_zeroes() const { return (transmission_flags & kFlagSendWriteZeroes) != 0; }
  // The largest READ/WRITE payload accepted on this export: min(maximum, kMaxPayload).
  std::uint32_t max_payload() const {
    return block_sizes.maximum < kMaxPayload ? block_sizes.maximum : kMaxPayload;
  }
};

}  // namespace cafs::edif::nbd
