#include "edif/agent/block_channel.h"

#include <string>

namespace cafs::edif::agent {

Status CheckSectorRange(std::uint64_t offset, std::size_t length) {
  if (length == 0 || offset % kChannelSectorSize != 0 || length % kChannelSectorSize != 0) {
    return Status::InvalidArgument("block channel: offset " + std::to_string(offset) + " length " +
                                   std::to_string(length) + " is not whole 512-byte sectors");
  }
  return Status::OK();
}

}  // namespace cafs::edif::agent
