// TargetPort: the target HBA port of `edifd target` (docs/edif.md 5.2): a fabric listener,
// LUNs served from files or block devices, per-LUN require_secure, initiator sessions, and
// its own mailbox disk for its own agent (HbaPort).
//
// Frames: LOGIN -> session (replacing an older one of the same initiator WWPN), LOGIN_ACC
// with the LUN list, TARGET_ADDED to the agent; AUTH_ELS -> ELS_RECEIVED (REJECT without an
// agent); DATA -> opened (RemoteSession::OpenData: secured frames authenticated, clear ones
// refused for require_secure LUNs and after the secure latch), executed on the LUN, replied
// (sealed once a TX SA exists); LOGO / connection loss -> session removed, SESSION_SHUTDOWN.
// Agent stopped / restarted / AUTH_RESULT FAIL: sessions with security state get LOGO.
//
// Threading: thread-safe; frames are handled on each connection's reader thread, DATA frames
// opened and replies sealed on the port's frame pools, LUN I/O on the LUN devices' workers.
// Lifetime: Stop() (or the destructor) before destruction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "edif/hba/fabric_connection.h"
#include "edif/hba/fabric_payloads.h"
#include "edif/hba/hba_port.h"
#include "edif/nbd/block_device.h"

namespace cafs::edif::target {

struct LunConfig {
  std::uint32_t id = 0;
  std::string path;
  bool require_secure = false;
  bool read_only = false;
};

struct TargetConfig {
  hba::HbaPortOptions port;  // name, wwpn, port id, timeouts
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  std::string mailbox_socket;
  std::vector<LunConfig> luns;
};

class TargetPort final : public hba::HbaPort {
 public:
  // Opens the LUNs, serves the mailbox disk, starts listening.
  static Result<std::unique_ptr<TargetPort>> Start(TargetConfig config, SecureBuffer secret,
                                                   const Clock& clock);
  ~TargetPort() override;

  std::uint16_t port() const { return listener_->port(); }
  // Sends LOGO to every initiator, closes connections, stops the mailbox. Idempotent.
  void Stop();

  // Test hook: every wire frame the target sends (all connections).
  void SetSendTap(hba::FabricConnection::Tap tap);

 protected:
  std::vector<mailbox::TargetEntry> ListRemotes() override;
  Status OnAuthResult(const mailbox::AuthResult& r,
                      const std::shared_ptr<hba::RemoteSession>& s) override;
  void OnAgentStopped(mailbox::AgentStopReason reason) override;

 private:
  struct Lun {
    hba::LunInfo info;
    std::shared_ptr<nbd::BlockDevice> device;
  };
  struct ConnState {
    std::shared_ptr<hba::RemoteSession> session;  // after LOGIN
  };

  TargetPort(TargetConfig config, SecureBuffer secret, const Clock& clock);
  void OnAccept(std::shared_ptr<hba::FabricConnection> conn);
  void OnFrame(const std::shared_ptr<hba::FabricConnection>& conn,
               const std::shared_ptr<ConnState>& st, link::Frame frame);
  void OnClosed(const std::shared_ptr<ConnState>& st, const Status& reason);
  void HandleLogin(const std::shared_ptr<hba::FabricConnection>& conn,
                   const std::shared_ptr<ConnState>& st, const link::Frame& frame);
  // Opens a DATA frame (RemoteSession::ReceiveData: on the RX pool, in arrival order), then
  // ExecuteData: the request on its LUN, the reply sealed on the TX pool.
  void HandleData(const std::shared_ptr<hba::RemoteSession>& s, link::Frame frame);
  void ExecuteData(const std::shared_ptr<hba::RemoteSession>& s, const link::FrameHeader& h,
                   const Result<ByteView>& plain);
  // LOGO + close; the session is removed.
  void Logout(const std::shared_ptr<hba::RemoteSession>& s, const char* why);

  const TargetConfig config_;
  std::map<std::uint32_t, Lun> luns_;
  std::unique_ptr<hba::FabricListener> listener_;
  std::mutex mu_;
  std::vector<std::weak_ptr<hba::FabricConnection>> conns_;  // guarded by mu_
  hba::FabricConnection::Tap tap_;                           // guarded by mu_
  bool stopped_ = false;                                     // guarded by mu_
};

}  // namespace cafs::edif::target
