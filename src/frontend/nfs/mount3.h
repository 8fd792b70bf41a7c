// Mount3Program: the MOUNT protocol version 3 (RFC 1813 appendix I, program 100005): NULL, MNT,
// DUMP, UMNT, UMNTALL, EXPORT. docs/nfs.md ("MOUNT v3") has the argument and result layouts.
//
// MNT checks the path against the exports for the client's address (Exports::Match):
// no export covers the path -> MNT3ERR_NOENT, exports cover it but none admits the client ->
// MNT3ERR_ACCES (logged with the client's address), a malformed path -> MNT3ERR_INVAL; then
// asks `root_handle` for the file handle of the path (the NFSv3 program's handles; NotFound ->
// NOENT, PermissionDenied -> ACCES, ENOTDIR -> NOTDIR, anything else -> SERVERFAULT), then
// `is_directory` (when given) whether the path is a directory as the client sees it: a file,
// symlink or other non-directory -> MNT3ERR_NOTDIR (RFC 1813); when it cannot tell (an error:
// a policy denial, an unreachable key server) the handle stands, as every NFS call on it is
// checked anyway. It answers the handle with auth flavors [AUTH_SYS]. A path below an export's path
// may be mounted (the handle is that directory's). The mount list (DUMP) is kept in memory, one
// entry per (client address, path); UMNT/UMNTALL remove entries. MOUNT accepts AUTH_NONE (as mountd
// does): what a client may mount is decided by its address.
//
// A path whose handle is NotFound is given to `make_vmset_dir` (when given) and looked up again
// when that succeeded: a configured VM set is mountable before its directory exists (the
// directory is made, owned by the client's squashed AUTH_SYS identity, nobody for AUTH_NONE);
// an unknown VM set, or any path below VM set level, stays MNT3ERR_NOENT.
//
// OverGateway wires the functions to a core::Gateway as cafsd does: Gateway::HandleOf,
// Gateway::GetAttr and Gateway::MakeVmSetDir with the client's address as the caller (server id).
//
// Threading: Dispatch is thread-safe. `exports` (and the gateway) are not owned and must
// outlive the program.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frontend/nfs/exports.h"
#include "frontend/nfs/rpc_program.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::core {
class Gateway;
}

namespace cafs::frontend::nfs {

inline constexpr std::uint32_t kMountProgram = 100005;
inline constexpr std::uint32_t kMountVersion3 = 3;
inline constexpr std::size_t kMountPathLen = 1024;  // MNTPATHLEN
inline constexpr std::size_t kMountNameLen = 255;   // MNTNAMLEN
inline constexpr std::size_t kMountFhSize3 = 64;    // FHSIZE3

enum class MountStat3 : std::uint32_t {
  kOk = 0,
  kPerm = 1,
  kNoEnt = 2,
  kIo = 5,
  kAcces = 13,
  kNotDir = 20,
  kInval = 22,
  kNameTooLong = 63,
  kNotSupp = 10004,
  kServerFault = 10006,
};

// Returns the NFSv3 file handle (<= 64 bytes) of a gateway path.
using RootHandleFn = std::function<Result<Bytes>(std::string_view gateway_path)>;
// Whether a gateway path is a directory, asked as the client at `client_address`.
using IsDirectoryFn =
    std::function<Result<bool>(std::string_view client_address, std::string_view gateway_path)>;

// Makes the directory of `gateway_path` when it is a configured VM set's (Gateway::MakeVmSetDir)
// for the client at `client_address` with `identity` (its AUTH_SYS identity after the
// export's squash). Any error leaves MNT's answer to the handle lookup (NOENT).
using MakeVmSetDirFn = std::function<Status(
    std::string_view client_address, const AuthIdentity& identity, std::string_view gateway_path)>;

struct MountEntry {
  std::string client;  // the client's address
  std::string path;    // the normalized path it mounted
  friend auto operator<=>(const MountEntry&, const MountEntry&) = default;
};

class Mount3Program final : public RpcProgram {
 public:
  Mount3Program(const Exports* exports, RootHandleFn root_handle,
                IsDirectoryFn is_directory = nullptr, MakeVmSetDirFn make_vmset_dir = nullptr)
      : exports_(exports),
        root_handle_(std::move(root_handle)),
        is_directory_(std::move(is_directory)),
        make_vmset_dir_(std::move(make_vmset_dir)) {}

  static std::unique_ptr<Mount3Program> OverGateway(const Exports* exports, core::Gateway* gateway);

  std::uint32_t program() const override { return kMountProgram; }
  std::uint32_t min_version() const override { return kMountVersion3; }
  std::uint32_t max_version() const override { return kMountVersion3; }
  bool accepts_auth_none() const override { return true; }
  AcceptStat Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) override;

  std::vector<MountEntry> mounts() const;

 private:
  AcceptStat Mnt(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply);

  const Exports* const exports_;
  const RootHandleFn root_handle_;
  const IsDirectoryFn is_directory_;     // may be empty: no check
  const MakeVmSetDirFn make_vmset_dir_;  // may be empty: a missing directory is NOENT
  mutable std::mutex mu_;
  std::set<MountEntry> mounts_;  // guarded by mu_
};

}  // namespace cafs::frontend::nfs
