// Portmapper (RFC 1833 version 2, program 100000) for clients that find MOUNT and NFS through
// port 111 (ESXi's `esxcli storage nfs add` has no port option), and registration of our
// programs with a running rpcbind. docs/nfs.md ("Ports") says when to use which.
//
// PortmapProgram answers NULL, GETPORT and DUMP from a fixed table; SET and UNSET are refused
// (FALSE: nobody registers with us), CALLIT is PROC_UNAVAIL. It accepts AUTH_NONE for every
// procedure, as portmappers do. Serve it with RpcServer on port 111 when no rpcbind runs.
//
// RpcbindRegistration talks to a running rpcbind: rpcbind v4 SET/UNSET over its local socket
// (/run/rpcbind.sock, where rpcbind knows our uid), else portmap v2 SET/UNSET over TCP to
// 127.0.0.1:111 (rpcbind only accepts that from a privileged loopback port in its default
// mode). Register() first removes stale entries for the same program/version.
//
// Threading: PortmapProgram is immutable after construction. RpcbindRegistration is used from
// one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/nfs/rpc_program.h"
#include "util/status.h"

namespace cafs::frontend::nfs {

inline constexpr std::uint32_t kPortmapProgram = 100000;
inline constexpr std::uint32_t kPortmapVersion = 2;
inline constexpr std::uint16_t kPortmapPort = 111;
inline constexpr std::uint32_t kIpProtoTcp = 6;
inline constexpr std::uint32_t kIpProtoUdp = 17;

struct PortMapping {
  std::uint32_t program = 0;
  std::uint32_t version = 0;
  std::uint32_t protocol = kIpProtoTcp;
  std::uint32_t port = 0;
  friend bool operator==(const PortMapping&, const PortMapping&) = default;
};

class PortmapProgram final : public RpcProgram {
 public:
  // `mappings` should include the portmapper itself ({100000, 2, tcp, 111}).
  explicit PortmapProgram(std::vector<PortMapping> mappings) : mappings_(std::move(mappings)) {}

  std::uint32_t program() const override { return kPortmapProgram; }
  std::uint32_t min_version() const override { return kPortmapVersion; }
  std::uint32_t max_version() const override { return kPortmapVersion; }
  bool accepts_auth_none() const override { return true; }
  AcceptStat Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) override;

  // GETPORT's answer: the port of the mapping with this program, version and protocol, or 0.
  std::uint32_t GetPort(std::uint32_t program, std::uint32_t version, std::uint32_t protocol) const;

 private:
  const std::vector<PortMapping> mappings_;
};

class RpcbindRegistration {
 public:
  RpcbindRegistration() = default;
  ~RpcbindRegistration();  // Unregister()
  RpcbindRegistration(const RpcbindRegistration&) = delete;
  RpcbindRegistration& operator=(const RpcbindRegistration&) = delete;

  // Registers every mapping (TCP) with the rpcbind at `local_socket` (or, when that does not
  // exist, at 127.0.0.1:111). Unavailable when no rpcbind answers; PermissionDenied when it
  // refuses. Mappings registered before a failure are kept and removed by Unregister().
  Status Register(const std::vector<PortMapping>& mappings,
                  const std::string& local_socket = "/run/rpcbind.sock");
  // Removes what Register() added. Idempotent; errors are logged, not returned.
  void Unregister();

 private:
  std::string local_socket_;
  std::vector<PortMapping> registered_;
};

}  // namespace cafs::frontend::nfs
