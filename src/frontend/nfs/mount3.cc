#include "frontend/nfs/mount3.h"

#include <cerrno>

#include "cafs/gateway.h"
#include "util/logging.h"

namespace cafs::frontend::nfs {
namespace {

enum MountProc : std::uint32_t {
  kNull = 0,
  kMnt = 1,
  kDump = 2,
  kUmnt = 3,
  kUmntAll = 4,
  kExport = 5,
};

MountStat3 ToMountStat(const Status& s) {
  switch (s.code()) {
    case Status::Code::kNotFound:
      return MountStat3::kNoEnt;
    case Status::Code::kPermissionDenied:
      return MountStat3::kAcces;
    case Status::Code::kInvalidArgument:
      return s.errno_value() == ENOTDIR ? MountStat3::kNotDir : MountStat3::kInval;
    case Status::Code::kNotSupported:
      return MountStat3::kNotSupp;
    default:
      break;
  }
  if (s.errno_value() == ENOTDIR) return MountStat3::kNotDir;
  if (s.errno_value() == ENAMETOOLONG) return MountStat3::kNameTooLong;
  if (s.errno_value() == EIO) return MountStat3::kIo;
  return MountStat3::kServerFault;
}

}  // namespace

AcceptStat Mount3Program::Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) {
  switch (call.procedure) {
    case kNull:
      return args.remaining() == 0 ? AcceptStat::kSuccess : AcceptStat::kGarbageArgs;
    case kMnt:
      return Mnt(call, args, reply);
    case kDump: {
      if (args.remaining() != 0) return AcceptStat::kGarbageArgs;
      for (const MountEntry& e : mounts()) {
        reply.Bool(true);
        reply.String(e.client);
        reply.String(e.path);
      }
      reply.Bool(false);
      return AcceptStat::kSuccess;
    }
    case kUmnt: {
      const std::string path = args.String(kMountPathLen);
      if (!args.ok() || args.remaining() != 0) return AcceptStat::kGarbageArgs;
      Result<std::string> normalized = NormalizeExportPath(path);
      std::lock_guard lock(mu_);
      mounts_.erase(MountEntry{call.peer_address, normalized.ok() ? *normalized : path});
      return AcceptStat::kSuccess;
    }
    case kUmntAll: {
      if (args.remaining() != 0) return AcceptStat::kGarbageArgs;
      std::lock_guard lock(mu_);
      std::erase_if(mounts_, [&](const MountEntry& e) { return e.client == call.peer_address; });
      return AcceptStat::kSuccess;
    }
    case kExport: {
      if (args.remaining() != 0) return AcceptStat::kGarbageArgs;
      for (const Export& e : exports_->all()) {
        reply.Bool(true);
        reply.String(e.path());
        for (const std::string& group : e.clients()) {
          reply.Bool(true);
          reply.String(group.size() <= kMountNameLen ? group : group.substr(0, kMountNameLen));
        }
        reply.Bool(false);
      }
      reply.Bool(false);
      return AcceptStat::kSuccess;
    }
    default:
      return AcceptStat::kProcUnavail;
  }
}

AcceptStat Mount3Program::Mnt(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) {
  const std::string path = args.String(kMountPathLen);
  if (!args.ok() || args.remaining() != 0) return AcceptStat::kGarbageArgs;
  auto fail = [&](MountStat3 stat) {
    reply.U32(static_cast<std::uint32_t>(stat));
    return AcceptStat::kSuccess;
  };
  Result<std::string> normalized = NormalizeExportPath(path);
  if (!normalized.ok()) return fail(MountStat3::kInval);
  Result<const Export*> e = exports_->Match(*normalized, call.peer_address);
  if (!e.ok()) {
    CAFS_LOG_WARN("nfs mount: {} refused: {}", call.peer_address, e.status().ToString());
    return fail(ToMountStat(e.status()));
  }
  Result<Bytes> handle = root_handle_(*normalized);
  if (!handle.ok() && handle.status().IsNotFound() && make_vmset_dir_) {
    const AuthIdentity id = call.flavor == AuthFlavor::kSys
                                ? (*e)->Credentials(call.sys.uid, call.sys.gid, call.sys.gids)
                                : AuthIdentity{(*e)->anon_uid(), (*e)->anon_gid(), {}};
    if (make_vmset_dir_(call.peer_address, id, *normalized).ok()) {
      handle = root_handle_(*normalized);
    }
  }
  if (!handle.ok()) {
    CAFS_LOG_WARN("nfs mount: {} mounting {}: {}", call.peer_address, *normalized,
                  handle.status().ToString());
    return fail(ToMountStat(handle.status()));
  }
  if (handle->empty() || handle->size() > kMountFhSize3) return fail(MountStat3::kServerFault);
  if (is_directory_) {
    Result<bool> dir = is_directory_(call.peer_address, *normalized);
    if (dir.ok() && !*dir) {
      CAFS_LOG_WARN("nfs mount: {} mounting {}: not a directory", call.peer_address, *normalized);
      return fail(MountStat3::kNotDir);
    }
  }
  reply.U32(static_cast<std::uint32_t>(MountStat3::kOk));
  reply.Opaque(*handle);
  reply.U32(1);  // auth_flavors<>: AUTH_SYS
  reply.U32(static_cast<std::uint32_t>(AuthFlavor::kSys));
  {
    std::lock_guard lock(mu_);
    mounts_.insert(MountEntry{call.peer_address, *normalized});
  }
  CAFS_LOG_INFO("nfs mount: {} mounted {} (export {})", call.peer_address, *normalized,
                (*e)->path());
  return AcceptStat::kSuccess;
}

std::unique_ptr<Mount3Program> Mount3Program::OverGateway(const Exports* exports,
                                                          core::Gateway* gateway) {
  return std::make_unique<Mount3Program>(
      exports, [gateway](std::string_view path) { return gateway->HandleOf(path); },
      [gateway](std::string_view client, std::string_view path) -> Result<bool> {
        core::Caller caller;
        caller.address = std::string(client);
        CAFS_ASSIGN_OR_RETURN(core::Attr attr, gateway->GetAttr(caller, path));
        return attr.type == core::FileType::kDirectory;
      },
      [gateway](std::string_view client, const AuthIdentity& id, std::string_view path) {
        return gateway->MakeVmSetDir(core::Caller{{}, id.uid, id.gid, std::string(client)}, path);
      });
}

std::vector<MountEntry> Mount3Program::mounts() const {
  std::lock_guard lock(mu_);
  return {mounts_.begin(), mounts_.end()};
}

}  // namespace cafs::frontend::nfs
