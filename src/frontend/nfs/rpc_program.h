// The seam between the ONC RPC transport (rpc_server.h) and the programs it serves (MOUNT v3,
// NFSv3, portmapper): the server decodes the call header and credentials, finds the program
// and version, and hands the argument bytes to `RpcProgram::Dispatch`; the program decodes its
// arguments, does the work and encodes the result body. docs/nfs.md ("ONC RPC") has the byte
// layouts of the call and reply headers.
//
// Threading: Dispatch runs on one of the server's two worker pools (see WaitsForDisk) and may be
// called concurrently for many calls (also from one connection: replies go out in completion
// order); programs keep their own state thread-safe. Dispatch may block (disk I/O); it must not
// keep references to `args` after it returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/nfs/xdr.h"

namespace cafs::frontend::nfs {

// RFC 5531 auth flavors this server knows.
enum class AuthFlavor : std::uint32_t { kNone = 0, kSys = 1 };

// AUTH_SYS credential body (RFC 5531 appendix A).
struct AuthSys {
  std::uint32_t stamp = 0;
  std::string machine_name;  // <= 255 bytes
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> gids;  // <= 16
};

// What a program learns about a call besides its arguments.
struct RpcCall {
  std::uint32_t xid = 0;
  std::uint32_t program = 0;
  std::uint32_t version = 0;
  std::uint32_t procedure = 0;
  AuthFlavor flavor = AuthFlavor::kNone;
  AuthSys sys;                  // valid when flavor == kSys
  std::string peer_address;     // the client's IP address as text ("127.0.0.2", "::1")
  std::uint16_t peer_port = 0;  // < 1024 means a privileged (root) client port
  // False while the call runs on the server's compute pool (RpcProgram::WaitsForDisk said no):
  // a procedure that finds it would wait for storage may then return kAcceptWouldWait.
  bool may_wait = true;
};

// accept_stat of RFC 5531 for an accepted call.
enum class AcceptStat : std::uint32_t {
  kSuccess = 0,
  kProgUnavail = 1,
  kProgMismatch = 2,  // the server adds the low/high versions
  kProcUnavail = 3,
  kGarbageArgs = 4,
  kSystemErr = 5,
};

// Not an accept_stat of RFC 5531 and never sent: what Dispatch of a call with `may_wait` false
// returns when serving it would wait for storage (NFS READ of data not in the page cache), after
// doing nothing that needs undoing; the server runs the call again, from the start, on its
// blocking pool with `may_wait` true. Returned for a call with `may_wait` true, it is
// SYSTEM_ERR.
inline constexpr AcceptStat kAcceptWouldWait = static_cast<AcceptStat>(0xffffffffu);

class RpcProgram {
 public:
  virtual ~RpcProgram() = default;

  virtual std::uint32_t program() const = 0;
  virtual std::uint32_t min_version() const = 0;
  virtual std::uint32_t max_version() const = 0;

  // Serves one call whose version is within [min_version, max_version] and whose credentials
  // the server accepted (AUTH_NONE reaches only procedure 0 unless `accepts_auth_none`).
  // Writes the result body into `reply` and returns kSuccess, or returns another stat (the
  // server then discards whatever was written to `reply`). kGarbageArgs when `args` does not
  // decode (or has bytes left over).
  virtual AcceptStat Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) = 0;

  // Whether serving this call is expected to wait for storage (a stable write, COMMIT, a
  // namespace change that syncs a directory). Such calls run on the server's blocking pool
  // (many threads: they sleep), the others on its compute pool (one thread per core: they
  // use the CPU, and more threads than cores would only add wake-ups and context switches).
  // `args` are the call's undecoded arguments; this must be cheap and must not fail (a call
  // whose arguments do not decode may go either way). Default: true (the safe choice).
  virtual bool WaitsForDisk(const RpcCall& call, ByteView args) const {
    (void)call;
    (void)args;
    return true;
  }

  // Whether procedures other than NULL may be called with AUTH_NONE (portmapper: yes).
  virtual bool accepts_auth_none() const { return false; }
};

}  // namespace cafs::frontend::nfs
