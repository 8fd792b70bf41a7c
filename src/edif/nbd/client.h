// NbdClient: our NBD client on Asio (fixed newstyle, NBD_OPT_GO, simple replies).
//
// Connect() opens a TCP or Unix connection, negotiates export `name` with NBD_OPT_GO (falling
// back to NBD_OPT_EXPORT_NAME when the server answers NBD_REP_ERR_UNSUP) and returns a
// client in the transmission phase. Any number of requests may be in flight; replies are
// matched by cookie, in whatever order the server sends them.
//
// The client does not pre-check requests against the export (size, read-only, block sizes):
// the server decides and its NBD error comes back as a Status (nbd/errors.h FromNbdError).
// A protocol violation by the server (bad magic, unknown cookie) or a lost connection fails
// every outstanding request with that Status and every later one at once.
//
// Threading: every method is thread-safe. Async callbacks run on the client's single I/O
// thread: keep them short, and do not call the blocking methods (Read, Write, ...) from them;
// those return FailedPrecondition when called on the I/O thread.
// Lifetime: the destructor calls Close(); callbacks of requests still outstanding then run
// with an Unavailable status before the destructor returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edif/nbd/codec.h"
#include "edif/nbd/endpoint.h"
#include "edif/nbd/export_info.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::edif::nbd {

struct ClientOptions {
  // Bound on connect + negotiation (and on Close() waiting for the server to hang up).
  std::chrono::milliseconds timeout{10'000};
};

class NbdClient {
 public:
  using ReadCallback = std::function<void(Status, Bytes)>;
  using DoneCallback = std::function<void(Status)>;

  // Errors: Unavailable (cannot connect, connection lost), Timeout, NotFound (no such export:
  // NBD_REP_ERR_UNKNOWN), NotSupported (not a fixed newstyle server), InvalidArgument
  // (malformed server messages), PermissionDenied (NBD_REP_ERR_POLICY / TLS_REQD).
  static Result<std::unique_ptr<NbdClient>> Connect(const Endpoint& endpoint,
                                                    const std::string& export_name,
                                                    ClientOptions options = {});
  // NBD_OPT_LIST, then NBD_OPT_ABORT.
  static Result<std::vector<ExportListing>> ListExports(const Endpoint& endpoint,
                                                        ClientOptions options = {});

  ~NbdClient();
  NbdClient(const NbdClient&) = delete;
  NbdClient& operator=(const NbdClient&) = delete;

  // Size, transmission flags and block sizes the server announced.
  const ExportInfo& export_info() const;

  void AsyncRead(std::uint64_t offset, std::uint32_t length, ReadCallback done);
  void AsyncWrite(std::uint64_t offset, Bytes data, bool fua, DoneCallback done);
  void AsyncFlush(DoneCallback done);
  void AsyncTrim(std::uint64_t offset, std::uint32_t length, DoneCallback done);
  void AsyncWriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua, DoneCallback done);
  // Any request, as is (tests use it to send what a well-behaved client would not). For
  // kCmdWrite, `data` is sent after the header; for kCmdRead, a successful reply carries
  // request.length bytes. request.cookie is replaced by the client's own. kCmdDisc has no
  // reply: `done` runs with OK once it is queued.
  void AsyncRaw(Request request, Bytes data, ReadCallback done);

  // Blocking forms of the above.
  Result<Bytes> Read(std::uint64_t offset, std::uint32_t length);
  Status Write(std::uint64_t offset, ByteView data, bool fua = false);
  Status Flush();
  Status Trim(std::uint64_t offset, std::uint32_t length);
  Status WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua = false);

  // Soft disconnect: sends NBD_CMD_DISC after the requests already queued, waits (bounded by
  // the timeout) for the server to close, then fails whatever is still outstanding.
  // Idempotent.
  void Close();

  class Impl;

 private:
  explicit NbdClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cafs::edif::nbd
