#include "nfs_service.h"

#include <string>
#include <vector>

#include "frontend/nfs/exports.h"
#include "frontend/nfs/mount3.h"
#include "frontend/nfs/nfs3_program.h"
#include "frontend/nfs/portmap.h"
#include "frontend/nfs/rpc_server.h"
#include "util/logging.h"

namespace cafs::cafsd {

using namespace frontend::nfs;

// Declaration order is teardown order reversed: the server stops before the programs go.
struct NfsService::State {
  std::unique_ptr<Exports> exports;
  std::unique_ptr<Nfs3Program> nfs3;
  std::unique_ptr<Mount3Program> mount;
  std::unique_ptr<PortmapProgram> portmap;
  std::unique_ptr<RpcServer> server;
  RpcbindRegistration rpcbind;
};

NfsService::NfsService(std::unique_ptr<State> state) : state_(std::move(state)) {}

NfsService::~NfsService() {
  state_->rpcbind.Unregister();
  state_->server->Stop();
}

Result<std::unique_ptr<NfsService>> NfsService::Start(const NfsConfig& config,
                                                      core::Gateway* gateway) {
  auto state = std::make_unique<State>();
  Result<Exports> exports = Exports::Create(config.exports);
  if (!exports.ok()) return exports.status().WithContext("[nfs.export]");
  state->exports = std::make_unique<Exports>(std::move(*exports));
  // File handles must work before a client gets one (root + CAP_DAC_READ_SEARCH, a backing
  // filesystem with handles).
  if (Result<Bytes> root = gateway->HandleOf("/"); !root.ok()) {
    return root.status().WithContext("nfs: file handles over the backing store");
  }
  state->nfs3 = std::make_unique<Nfs3Program>(gateway, state->exports.get());
  state->mount = Mount3Program::OverGateway(state->exports.get(), gateway);
  const std::uint32_t tcp = kIpProtoTcp;
  std::vector<PortMapping> table = {{kNfsProgram, kNfsVersion3, tcp, config.port},
                                    {kMountProgram, kMountVersion3, tcp, config.mount_port}};
  if (config.portmap_port != 0) {
    table.push_back({kPortmapProgram, kPortmapVersion, tcp, config.portmap_port});
    state->portmap = std::make_unique<PortmapProgram>(table);
  }
  RpcServerOptions options;
  options.compute_threads = config.compute_threads;
  options.worker_threads = config.worker_threads;
  options.idle_timeout = std::chrono::seconds(config.idle_timeout_s);
  state->server = std::make_unique<RpcServer>(options);
  state->server->AddProgram(state->nfs3.get());
  state->server->AddProgram(state->mount.get());
  if (state->portmap) state->server->AddProgram(state->portmap.get());
  std::vector<std::uint16_t> ports = {config.port, config.mount_port};
  if (config.portmap_port != 0) ports.push_back(config.portmap_port);
  for (std::uint16_t port : ports) {
    Result<std::uint16_t> bound = state->server->Listen(config.listen, port);
    if (!bound.ok()) return bound.status().WithContext("[nfs]");
  }
  if (config.register_rpcbind) {
    // Register NFS and MOUNT only: rpcbind itself owns the portmapper entry.
    std::vector<PortMapping> ours(table.begin(), table.begin() + 2);
    if (Status s = state->rpcbind.Register(ours); !s.ok()) {
      return s.WithContext("[nfs] register_rpcbind");
    }
  }
  CAFS_LOG_INFO("cafsd: NFSv3 on {} port {}, MOUNT port {}{}{}, {} export(s)", config.listen,
                config.port, config.mount_port,
                config.portmap_port != 0 ? ", portmap port " + std::to_string(config.portmap_port)
                                         : std::string(),
                config.register_rpcbind ? ", registered with rpcbind" : "",
                state->exports->all().size());
  return std::unique_ptr<NfsService>(new NfsService(std::move(state)));
}

}  // namespace cafs::cafsd
