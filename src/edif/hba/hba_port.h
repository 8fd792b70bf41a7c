// HbaPort: what an initiator port (edifd host) and a target port (edifd target) share: the
// port's mailbox disk (a MailboxEndpoint served as NBD export "mailbox", also the default
// export, on a Unix socket), the remote-port sessions, the mailbox requests whose meaning is
// the same on both sides, and a timer thread.
//
// Common requests (MailboxDelegate::Execute): GET_PORT_INFO, GET_TARGETS (ListRemotes),
// AUTH_ELS_SEND (an AUTH_ELS frame to the session's port), SA_UPDATE (the session's
// SaDatabase; SA_UPDATE_COMPLETE follows the RESULT), AUTH_RESULT (OK only with both SAs
// installed; then OnAuthResult), EVENT_ACK, GET_STATS, APP_STOP. Unknown remote port ->
// exec_failed ENOENT.
// From the fabric: HandleAuthEls() turns an AUTH_ELS frame into ELS_RECEIVED, or answers it
// with a REJECT when no agent is started. SA soft limits post SA_EXPIRING.
//
// Threading: thread-safe. Lock order: the role class's lock, then mu_ (sessions), then the
// endpoint's lock. Never close a FabricConnection while holding a lock its handlers take.
// Lifetime: call StopPort() in the role class's destructor/stop before members go away.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "edif/hba/remote_session.h"
#include "edif/link/frame_pool.h"
#include "edif/link/sa_database.h"
#include "edif/mailbox/endpoint.h"
#include "edif/nbd/server.h"
#include "util/clock.h"
#include "util/secure_buffer.h"

namespace cafs::edif::hba {

struct HbaPortOptions {
  std::string name;  // for logs
  PortIdentity identity;
  std::chrono::milliseconds nop_timeout{10'000};
  std::chrono::milliseconds keepalive_timeout{60'000};
  link::SaPolicy sa_policy;
  std::uint64_t initial_epoch = 0;  // 0: derived from the wall clock (differs per restart)
  std::chrono::milliseconds tick_interval{50};
  // Workers sealing (TX pool) and opening (RX pool) DATA frames, each; 0 = inline on the
  // calling thread. max_in_flight bounds each session's lane (docs/edif-link.md 6).
  link::FramePoolOptions frame_pool;
};

class HbaPort : public mailbox::MailboxDelegate {
 public:
  HbaPort(HbaPortOptions options, SecureBuffer secret, const Clock& clock);
  ~HbaPort() override;
  HbaPort(const HbaPort&) = delete;
  HbaPort& operator=(const HbaPort&) = delete;

  // Serves the mailbox disk on a Unix socket and starts the timer thread.
  Status StartPort(const std::string& mailbox_socket);
  // Stops the timer thread, the frame pools (DATA frames not yet sealed or opened are
  // dropped) and the mailbox server (parked reads answered). Idempotent.
  void StopPort();

  mailbox::MailboxEndpoint& endpoint() { return *endpoint_; }
  const HbaPortOptions& options() const { return options_; }
  bool agent_started() const { return endpoint_->agent_started(); }

  // Sessions by remote WWPN.
  std::shared_ptr<RemoteSession> FindSession(std::uint64_t wwpn) const;
  std::vector<std::shared_ptr<RemoteSession>> Sessions() const;
  // Link statistics of the session with `wwpn` (NotFound if none).
  Result<link::LinkStats> SessionStats(std::uint64_t wwpn) const;

  mailbox::Reply Execute(const mailbox::Request& request) override;

 protected:
  std::shared_ptr<RemoteSession> MakeSession(PortIdentity remote,
                                             std::shared_ptr<FabricConnection> conn);
  void AddSession(std::shared_ptr<RemoteSession> s);
  // Removes `s` if it is still the session of its WWPN.
  void RemoveSession(const std::shared_ptr<RemoteSession>& s);
  void HandleAuthEls(const std::shared_ptr<RemoteSession>& s, const link::Frame& frame);
  void PostTargetEvent(mailbox::MessageType type, const PortIdentity& remote, std::uint32_t reason,
                       std::uint16_t flags = 0);

  // Role hooks.
  virtual std::vector<mailbox::TargetEntry> ListRemotes() = 0;
  virtual Status OnAuthResult(const mailbox::AuthResult& r,
                              const std::shared_ptr<RemoteSession>& s) = 0;
  virtual void OnTick() {}

  const Clock& clock_;

 private:
  mailbox::Reply ExecuteSaUpdate(const mailbox::SaUpdate& u);
  mailbox::Reply ExecuteStats(const mailbox::GetStats& g);
  std::shared_ptr<RemoteSession> Lookup(std::uint64_t wwpn, std::uint32_t port_id) const;
  void TimerLoop();

  const HbaPortOptions options_;
  std::unique_ptr<mailbox::MailboxEndpoint> endpoint_;
  std::unique_ptr<nbd::NbdServer> mailbox_server_;
  link::FramePool tx_pool_;  // seals DATA frames of every session; stopped by StopPort
  link::FramePool rx_pool_;  // opens them

  mutable std::mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<RemoteSession>> sessions_;  // guarded by mu_

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;  // guarded by timer_mu_
  std::thread timer_;
};

// Reads an agent secret file (docs/edif.md 2.3): its bytes, one trailing newline stripped,
// at least 16 bytes.
Result<SecureBuffer> ReadSecretFile(const std::string& path);

}  // namespace cafs::edif::hba
