#include "frontend/nfs/portmap.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>

#include "frontend/nfs/rpc_client.h"
#include "util/logging.h"

namespace cafs::frontend::nfs {
namespace {

enum PmapProc : std::uint32_t { kNull = 0, kSet = 1, kUnset = 2, kGetPort = 3, kDump = 4 };

constexpr std::uint32_t kRpcbVersion4 = 4;
constexpr std::uint32_t kRpcbSet = 1;
constexpr std::uint32_t kRpcbUnset = 2;
constexpr auto kRpcbindTimeout = std::chrono::seconds(3);

PortMapping DecodeMapping(XdrDecoder& d) {
  PortMapping m;
  m.program = d.U32();
  m.version = d.U32();
  m.protocol = d.U32();
  m.port = d.U32();
  return m;
}

// rpcbind v4 `rpcb` arguments; `netid` empty means every transport (UNSET).
Bytes RpcbArgs(const PortMapping& m, const std::string& netid) {
  XdrEncoder e;
  e.U32(m.program);
  e.U32(m.version);
  e.String(netid);
  // Universal address of 0.0.0.0:port ("0.0.0.0.p1.p2"); rpcbind fills in the host.
  e.String(netid.empty()
               ? std::string()
               : "0.0.0.0." + std::to_string(m.port >> 8) + "." + std::to_string(m.port & 0xff));
  e.String("cafsd");
  return e.ToBytes();
}

Bytes PmapArgs(const PortMapping& m) {
  XdrEncoder e;
  e.U32(m.program);
  e.U32(m.version);
  e.U32(m.protocol);
  e.U32(m.port);
  return e.ToBytes();
}

Result<bool> DecodeBoolReply(ByteView reply) {
  XdrDecoder d(reply);
  const bool ok = d.Bool();
  if (!d.ok()) return Status::FromErrno(EPROTO, "rpcbind: malformed SET/UNSET reply");
  return ok;
}

// SET or UNSET one mapping; true when rpcbind said TRUE.
Result<bool> Change(const std::string& local_socket, const PortMapping& m, bool set) {
  struct stat st {};
  if (!local_socket.empty() && ::stat(local_socket.c_str(), &st) == 0) {
    CAFS_ASSIGN_OR_RETURN(RpcClient client, RpcClient::ConnectUnix(local_socket, kRpcbindTimeout));
    CAFS_ASSIGN_OR_RETURN(Bytes reply,
                          client.Call(kPortmapProgram, kRpcbVersion4, set ? kRpcbSet : kRpcbUnset,
                                      RpcbArgs(m, set ? "tcp" : "")));
    return DecodeBoolReply(reply);
  }
  CAFS_ASSIGN_OR_RETURN(RpcClient client,
                        RpcClient::ConnectTcp("127.0.0.1", kPortmapPort, kRpcbindTimeout, true));
  CAFS_ASSIGN_OR_RETURN(
      Bytes reply, client.Call(kPortmapProgram, kPortmapVersion, set ? kSet : kUnset, PmapArgs(m)));
  return DecodeBoolReply(reply);
}

}  // namespace

std::uint32_t PortmapProgram::GetPort(std::uint32_t program, std::uint32_t version,
                                      std::uint32_t protocol) const {
  for (const PortMapping& m : mappings_) {
    if (m.program == program && m.version == version && m.protocol == protocol) return m.port;
  }
  return 0;
}

AcceptStat PortmapProgram::Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) {
  switch (call.procedure) {
    case kNull:
      return args.remaining() == 0 ? AcceptStat::kSuccess : AcceptStat::kGarbageArgs;
    case kSet:
    case kUnset: {
      DecodeMapping(args);
      if (!args.ok() || args.remaining() != 0) return AcceptStat::kGarbageArgs;
      reply.Bool(false);  // our table is fixed
      return AcceptStat::kSuccess;
    }
    case kGetPort: {
      const PortMapping q = DecodeMapping(args);
      if (!args.ok() || args.remaining() != 0) return AcceptStat::kGarbageArgs;
      reply.U32(GetPort(q.program, q.version, q.protocol));
      return AcceptStat::kSuccess;
    }
    case kDump:
      if (args.remaining() != 0) return AcceptStat::kGarbageArgs;
      for (const PortMapping& m : mappings_) {
        reply.Bool(true);
        reply.U32(m.program);
        reply.U32(m.version);
        reply.U32(m.protocol);
        reply.U32(m.port);
      }
      reply.Bool(false);
      return AcceptStat::kSuccess;
    default:  // CALLIT (5): not offered (an amplification vector, and TCP-only here)
      return AcceptStat::kProcUnavail;
  }
}

RpcbindRegistration::~RpcbindRegistration() { Unregister(); }

Status RpcbindRegistration::Register(const std::vector<PortMapping>& mappings,
                                     const std::string& local_socket) {
  local_socket_ = local_socket;
  for (const PortMapping& m : mappings) {
    // Stale entries (a previous cafsd that died) would make SET fail.
    Result<bool> cleared = Change(local_socket_, m, false);
    if (!cleared.ok()) return cleared.status().WithContext("rpcbind unset");
    Result<bool> set = Change(local_socket_, m, true);
    if (!set.ok()) return set.status().WithContext("rpcbind set");
    if (!*set) {
      return Status::PermissionDenied(
          "rpcbind refused to register program " + std::to_string(m.program) + " version " +
          std::to_string(m.version) + " on port " + std::to_string(m.port));
    }
    registered_.push_back(m);
  }
  return Status::OK();
}

void RpcbindRegistration::Unregister() {
  for (const PortMapping& m : registered_) {
    Result<bool> r = Change(local_socket_, m, false);
    if (!r.ok()) {
      CAFS_LOG_WARN("rpcbind: unregistering program {} version {}: {}", m.program, m.version,
                    r.status().ToString());
    }
  }
  registered_.clear();
}

}  // namespace cafs::frontend::nfs
