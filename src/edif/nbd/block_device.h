// BlockDevice: the back end of one NBD export.
//
// Asynchronous by design: every I/O method takes a completion callback that the device calls
// exactly once, later or right away, from any thread. A device may therefore PARK a request
// (the EDIF mailbox disk completes a READ only when its driver has a message) without blocking
// the connection: the NBD server keeps reading and dispatching other requests meanwhile.
//
// Contract for implementations:
//  - Callbacks must be called exactly once. A READ that succeeds delivers exactly `length`
//    bytes; any other size is treated by the server as an I/O error.
//  - The server only calls Read/Write/Trim/WriteZeroes with ranges inside [0, Size()) and
//    lengths <= min(BlockSizes().maximum, kMaxPayload); Trim/WriteZeroes/Flush only when the
//    matching Features() flag is set; Write/Trim/WriteZeroes never on a read-only device.
//  - Methods may be called concurrently from several connections (threads); devices protect
//    their own state.
//  - The callback must not be called while the device holds a lock that the callback's owner
//    could need; the NBD server's callbacks only post work to its own threads and never call
//    back into the device synchronously.
// Errors are Status values; the server maps them to NBD errors in one place (nbd/errors.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "edif/nbd/export_info.h"
#include "util/bytes.h"
#include "util/status.h"

namespace cafs::edif::nbd {

// What an export offers besides READ and WRITE (transmission flags).
struct DeviceFeatures {
  bool read_only = false;
  bool flush = true;         // NBD_FLAG_SEND_FLUSH
  bool fua = true;           // NBD_FLAG_SEND_FUA
  bool trim = true;          // NBD_FLAG_SEND_TRIM
  bool write_zeroes = true;  // NBD_FLAG_SEND_WRITE_ZEROES
  bool rotational = false;   // NBD_FLAG_ROTATIONAL
  bool multi_conn = false;   // NBD_FLAG_CAN_MULTI_CONN: flush is visible on every connection
};

// Whether the connection that issued a request is still open: the NBD server sets it false
// when the connection closes. Read from any thread.
using RequesterOpen = std::shared_ptr<const std::atomic<bool>>;

class BlockDevice {
 public:
  using ReadCallback = std::function<void(Status, Bytes)>;
  using DoneCallback = std::function<void(Status)>;

  virtual ~BlockDevice() = default;

  // Size in bytes; constant for the life of a connection.
  virtual std::uint64_t Size() const = 0;
  virtual DeviceFeatures Features() const { return {}; }
  virtual BlockSizeConstraints BlockSizes() const { return {}; }

  virtual void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) = 0;
  // A READ that says whether its requester is still there. The NBD server calls this one. A
  // device that parks reads should drop (complete without delivering anything) a parked read
  // whose requester closed, so that a closed connection holds no slot and swallows no data.
  // Default: Read().
  virtual void ReadFor(const RequesterOpen& requester, std::uint64_t offset, std::uint32_t length,
                       ReadCallback done);
  // `data` is moved in; the device owns it. With `fua`, done only once the data is durable.
  virtual void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) = 0;
  // Everything completed before this call is durable when done(OK) runs.
  virtual void Flush(DoneCallback done) = 0;
  // Advisory discard; reading a trimmed range afterwards may return old data or zeros.
  virtual void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) = 0;
  // Default: a Write of zeros.
  virtual void WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua, DoneCallback done);
};

// The wire description of `device` exported as `name`: size, transmission flags from
// Features(), block sizes clamped to valid NBD values (powers of two, maximum <= kMaxPayload).
ExportInfo DescribeExport(std::string name, std::string description, const BlockDevice& device);

}  // namespace cafs::edif::nbd
