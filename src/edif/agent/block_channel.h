// BlockChannel: how edif-agent reaches its mailbox disk. Sector-granular asynchronous READs and
// WRITEs, nothing else: the agent never sees a socket of the driver, only a block device.
//
// Two implementations: NbdBlockChannel (an NBD URI, libnbd's asynchronous API) and
// DeviceBlockChannel (a raw block device or file opened with O_DIRECT, what the agent uses
// inside a VM whose mailbox disk is attached as /dev/vdX).
//
// Contract:
//  - offset and length must be multiples of kChannelSectorSize (512) and length > 0; a request
//    that is not fails through its callback with InvalidArgument.
//  - Read()/Write() only queue; their callbacks run later, from Poll(), on the thread calling
//    Poll(), each exactly once (with Unavailable if the channel is closed first). Many requests
//    may be in flight at once and complete in any order (a mailbox READ may stay parked for
//    seconds while WRITEs complete).
//  - Poll() waits up to `timeout` for completions and runs their callbacks. It returns an
//    error when the channel is dead (connection to the NBD server lost, device gone); every
//    request still in flight then completes with that error.
//  - Wake() is thread-safe and async-signal-safe: it makes a Poll() in progress (or the next
//    one) return at once.
// Threading: except Wake(), one thread uses a channel.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "util/bytes.h"
#include "util/status.h"

namespace cafs::edif::agent {

inline constexpr std::size_t kChannelSectorSize = 512;

class BlockChannel {
 public:
  using ReadDone = std::function<void(Status, Bytes)>;
  using WriteDone = std::function<void(Status)>;

  virtual ~BlockChannel() = default;

  // Size of the disk in bytes.
  virtual std::uint64_t Size() const = 0;
  virtual void Read(std::uint64_t offset, std::size_t length, ReadDone done) = 0;
  virtual void Write(std::uint64_t offset, Bytes data, WriteDone done) = 0;
  virtual Status Poll(std::chrono::milliseconds timeout) = 0;
  virtual void Wake() = 0;
  // Requests queued or in flight whose callbacks have not run yet.
  virtual std::size_t in_flight() const = 0;
};

// InvalidArgument unless offset and length are whole sectors and length > 0.
Status CheckSectorRange(std::uint64_t offset, std::size_t length);

}  // namespace cafs::edif::agent
