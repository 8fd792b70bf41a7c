// cafsd's NFS front-end: the [nfs] section (config.h) turned into an RpcServer serving NFSv3
// (Nfs3Program), MOUNT v3 (Mount3Program::OverGateway: root handles from Gateway::HandleOf,
// a non-directory refused after Gateway::GetAttr) and, when portmap_port is set, a portmapper
// of our own; optionally registered with a running rpcbind.
// docs/nfs.md describes ports, exports and mounting from hypervisors.
//
// Every listening port serves every program. Start() fails (and nothing keeps running) when
// an export does not load (a host name that does not resolve), the gateway cannot make file
// handles (no CAP_DAC_READ_SEARCH, a backing store without handles), a port cannot be bound,
// or register_rpcbind is set and rpcbind refuses.
//
// Threading: Start and the destructor from one thread; the server runs on its own threads.
// The gateway must outlive the service.
#pragma once

#include <memory>

#include "cafs/gateway.h"
#include "config.h"
#include "util/result.h"

namespace cafs::cafsd {

class NfsService {
 public:
  static Result<std::unique_ptr<NfsService>> Start(const NfsConfig& config, core::Gateway* gateway);
  ~NfsService();  // unregisters from rpcbind, stops the server

  struct State;

 private:
  explicit NfsService(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace cafs::cafsd
