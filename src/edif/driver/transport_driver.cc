#include "edif/driver/transport_driver.h"

#include <set>

#include "edif/driver/initiator_port.h"
#include "edif/hba/fabric_connection.h"
#include "util/logging.h"

namespace cafs::edif::driver {

Result<std::unique_ptr<TransportDriver>> TransportDriver::Start(DriverConfig config,
                                                                std::vector<SecureBuffer> secrets,
                                                                const Clock& clock) {
  if (secrets.size() != config.ports.size()) {
    return Status::InvalidArgument("one agent secret per port is needed");
  }
  if (config.lun_socket.empty() && config.lun_listen.empty()) {
    return Status::InvalidArgument("lun_socket or lun_listen is needed");
  }
  std::set<std::string> names;
  for (const auto& p : config.ports) {
    for (const auto& t : p.targets) {
      if (!names.insert(t.name).second) {
        return Status::InvalidArgument("target name '" + t.name + "' used twice");
      }
    }
  }
  std::unique_ptr<TransportDriver> d(new TransportDriver());
  d->config_ = std::move(config);
  nbd::ServerOptions lun_options;
  lun_options.handshake_timeout = d->config_.lun_handshake_timeout;
  d->lun_server_ = std::make_unique<nbd::NbdServer>(lun_options);
  if (!d->config_.lun_socket.empty()) {
    CAFS_RETURN_IF_ERROR(d->lun_server_->ListenUnix(d->config_.lun_socket));
  }
  if (!d->config_.lun_listen.empty()) {
    CAFS_ASSIGN_OR_RETURN(auto hp, hba::ParseHostPort(d->config_.lun_listen));
    CAFS_ASSIGN_OR_RETURN(d->lun_tcp_port_, d->lun_server_->ListenTcp(hp.first, hp.second));
  }
  for (std::size_t i = 0; i < d->config_.ports.size(); ++i) {
    d->ports_.push_back(std::make_unique<InitiatorPort>(
        d->config_.ports[i], d->config_, std::move(secrets[i]), *d->lun_server_, clock));
  }
  for (auto& p : d->ports_) CAFS_RETURN_IF_ERROR(p->Start());
  return d;
}

TransportDriver::~TransportDriver() { Stop(); }

void TransportDriver::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (lun_server_) lun_server_->Stop();
  for (auto& p : ports_) p->Stop();
}

InitiatorPort* TransportDriver::port(const std::string& name) {
  for (auto& p : ports_) {
    if (p->options().name == name) return p.get();
  }
  return nullptr;
}

std::vector<TargetStatus> TransportDriver::Targets() {
  std::vector<TargetStatus> out;
  for (auto& p : ports_) {
    for (auto& t : p->Targets()) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace cafs::edif::driver
