// RpcClient: a minimal blocking ONC RPC client over one stream socket (Unix or TCP), one call
// at a time. cafsd uses it to register with rpcbind; tests use it to talk to RpcServer.
//
// Calls carry AUTH_SYS with this process's uid/gid (rpcbind wants a credential it can name).
// Replies are matched by xid; a reply for another xid is skipped.
//
// Threading: not thread-safe; one caller at a time. Owns its socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace cafs::frontend::nfs {

class RpcClient {
 public:
  RpcClient(RpcClient&& other) noexcept;
  RpcClient& operator=(RpcClient&& other) noexcept;
  ~RpcClient();

  static Result<RpcClient> ConnectUnix(const std::string& path, std::chrono::milliseconds timeout);
  // `privileged_port`: bind a local port below 1024 first (root only; rpcbind's portmap SET
  // over loopback wants one).
  static Result<RpcClient> ConnectTcp(const std::string& host, std::uint16_t port,
                                      std::chrono::milliseconds timeout,
                                      bool privileged_port = false);

  // One call; returns the result body of an accepted SUCCESS reply. Errors: Unavailable or
  // Timeout for transport failures, PermissionDenied for an AUTH_ERROR, NotSupported for
  // PROG_UNAVAIL/PROG_MISMATCH/PROC_UNAVAIL, InvalidArgument for GARBAGE_ARGS, IoError else.
  Result<Bytes> Call(std::uint32_t program, std::uint32_t version, std::uint32_t procedure,
                     ByteView args);

 private:
  RpcClient(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  Status SendAll(ByteView data);
  Status ReadExactly(std::uint8_t* out, std::size_t n);
  Result<Bytes> ReadRecord();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::uint32_t next_xid_ = 1;
};

}  // namespace cafs::frontend::nfs
