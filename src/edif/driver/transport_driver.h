// TransportDriver: the host side of EDIF (`edifd host`, docs/edif.md 5.1). It owns initiator
// HBA ports (InitiatorPort); each logs in to its configured targets over the fabric, presents
// every target LUN as an NBD export `<target>-lun<id>` on the driver's LUN server, and
// presents its own mailbox disk (HbaPort) to its agent.
//
// Guest I/O on a LUN export waits (bounded by io_wait_timeout) until the target session is
// usable — ONLINE_SECURE for require_secure targets / LUNs, logged in otherwise — then goes to
// the target as a DATA frame (sealed once a TX SA is installed) and completes with the reply;
// a request without a reply within io_timeout, or outstanding when the target is lost, fails
// with EIO. Lost targets are reconnected every reconnect_interval; TARGET_LOST is posted.
// A target needing security that is not ONLINE_SECURE within auth_timeout of its login (or of
// the agent's APP_START) has its authentication given up: auth state FAILED, an error logged,
// waiting I/O to its secure LUNs failed at once with EIO and new I/O refused at once, until a
// later AUTH_RESULT OK (or a re-login / agent restart, which re-arms the timer). While an
// agent runs, the driver itself asks again (AUTH_NEEDED, a new window) auth_retry_interval
// after each give-up.
//
// Threading: thread-safe. Each port has a timer thread (HbaPort); fabric frames arrive on the
// connections' reader threads; LUN requests come from the NBD server's threads.
// Lifetime: Stop() (or the destructor) before destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edif/hba/hba_port.h"
#include "edif/nbd/server.h"
#include "util/clock.h"

namespace cafs::edif::driver {

struct TargetSpec {
  std::string name;  // unique over the driver; LUN exports are "<name>-lun<id>"
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::uint64_t wwpn = 0;  // 0: accept whatever the target reports
  bool require_secure = false;
};

struct InitiatorPortConfig {
  hba::HbaPortOptions port;  // name, wwpn, port id, mailbox timeouts, SA policy
  std::string mailbox_socket;
  std::vector<TargetSpec> targets;
};

struct DriverConfig {
  std::string lun_socket;  // NBD Unix socket for the LUN exports ("" = none)
  std::string lun_listen;  // "host:port" NBD over TCP ("" = none)
  // A LUN client that has not finished the NBD negotiation by then is disconnected.
  std::chrono::milliseconds lun_handshake_timeout{10'000};
  std::chrono::milliseconds io_wait_timeout{30'000};
  std::chrono::milliseconds io_timeout{30'000};
  std::chrono::milliseconds reconnect_interval{1'000};
  std::chrono::milliseconds login_timeout{10'000};
  std::chrono::milliseconds auth_timeout{20'000};  // > the agents' 10 s handshake timeout
  // After a give-up, while an agent runs: AUTH_NEEDED again this long after the deadline, with
  // a new auth_timeout window (0: never; the agent's own retry or restart is then needed).
  std::chrono::milliseconds auth_retry_interval{60'000};
  std::vector<InitiatorPortConfig> ports;
};

class InitiatorPort;

// Session state of one configured target, as GET_TARGETS reports it.
struct TargetStatus {
  std::string name;
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;
  mailbox::TargetState state = mailbox::TargetState::kOffline;
  mailbox::TargetAuthState auth_state = mailbox::TargetAuthState::kNone;
  std::vector<std::string> exports;
};

class TransportDriver {
 public:
  // Starts the LUN server, every port (mailbox disk, timer) and the first logins (which
  // complete asynchronously). `secrets[i]` is the agent secret of ports[i].
  static Result<std::unique_ptr<TransportDriver>> Start(DriverConfig config,
                                                        std::vector<SecureBuffer> secrets,
                                                        const Clock& clock);
  ~TransportDriver();
  // LOGO to every target, stops ports and servers. Idempotent.
  void Stop();

  // The TCP port of the LUN server (0 if it has none).
  std::uint16_t lun_tcp_port() const { return lun_tcp_port_; }
  InitiatorPort* port(const std::string& name);
  std::vector<TargetStatus> Targets();

 private:
  TransportDriver() = default;
  DriverConfig config_;
  std::unique_ptr<nbd::NbdServer> lun_server_;
  std::uint16_t lun_tcp_port_ = 0;
  std::vector<std::unique_ptr<InitiatorPort>> ports_;
  bool stopped_ = false;
};

}  // namespace cafs::edif::driver
