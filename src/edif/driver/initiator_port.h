// InitiatorPort: one initiator HBA port of the transport driver (see transport_driver.h).
//
// Threading: thread-safe. Lock order: mu_, then HbaPort's locks. Connections are closed and
// LUN-request callbacks run with mu_ released.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "edif/driver/transport_driver.h"
#include "edif/hba/fabric_payloads.h"

namespace cafs::edif::driver {

class InitiatorPort final : public hba::HbaPort {
 public:
  using IoCallback = std::function<void(Status, Bytes)>;

  InitiatorPort(InitiatorPortConfig config, const DriverConfig& driver, SecureBuffer secret,
                nbd::NbdServer& lun_server, const Clock& clock);
  ~InitiatorPort() override;

  Status Start();
  void Stop();

  // Queues a DATA request for LUN `lun` of target `target_index` (see the header of
  // transport_driver.h for waiting and errors). `done` runs exactly once, never under a lock.
  void SubmitIo(std::size_t target_index, std::uint32_t lun, hba::DataRequest request,
                IoCallback done);

  std::vector<TargetStatus> Targets();
  // Test hook: every wire frame this port sends (all its connections, current and future).
  void SetSendTap(hba::FabricConnection::Tap tap);
  // The session of target `name` (nullptr when not logged in).
  std::shared_ptr<hba::RemoteSession> SessionOf(const std::string& name);

 protected:
  std::vector<mailbox::TargetEntry> ListRemotes() override;
  Status OnAuthResult(const mailbox::AuthResult& r,
                      const std::shared_ptr<hba::RemoteSession>& s) override;
  void OnAgentStarted(std::uint64_t epoch, const mailbox::AppStart& app) override;
  void OnAgentStopped(mailbox::AgentStopReason reason) override;
  void OnTick() override;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Pending {
    std::uint32_t lun;
    hba::DataRequest request;
    IoCallback done;
    TimePoint deadline;
  };
  struct Outstanding {
    IoCallback done;
    TimePoint deadline;
  };
  enum class Link { kOffline, kConnecting, kLoggedIn };
  struct Target {
    TargetSpec spec;
    Link link = Link::kOffline;
    std::shared_ptr<hba::FabricConnection> conn;
    std::shared_ptr<hba::RemoteSession> session;
    hba::PortIdentity remote;
    std::map<std::uint32_t, hba::LunInfo> luns;
    bool online_secure = false;
    bool auth_timed_out = false;  // auth_timeout passed without ONLINE_SECURE
    bool refusal_logged = false;  // the first I/O refused after that was logged
    TimePoint auth_deadline{};
    TimePoint next_attempt{};
    TimePoint login_deadline{};
    std::deque<Pending> waiting;
    std::map<std::uint32_t, Outstanding> outstanding;  // by exchange id
    std::vector<std::string> exports;
  };
  using Completion = std::pair<IoCallback, Status>;

  // mu_ held.
  bool UsableLocked(const Target& t, std::uint32_t lun) const;
  // Whether I/O to `lun` of `t` needs an ONLINE_SECURE session.
  bool SecureLocked(const Target& t, std::uint32_t lun) const;
  // Whether any LUN of `t` (or the whole target) needs security.
  bool NeedsSecurityLocked(const Target& t) const;
  // The EIO for I/O refused because the authentication of `t` timed out.
  Status AuthTimeoutErrorLocked(const Target& t) const;
  // Starts a new auth_timeout window for `t`.
  void ArmAuthTimerLocked(Target& t);
  mailbox::TargetState StateLocked(const Target& t) const;
  // Issues every waiting request that is now usable; returns the sends to do unlocked.
  void Connect(std::size_t index);
  void OnFrame(std::size_t index, const std::shared_ptr<hba::FabricConnection>& conn,
               link::Frame frame);
  // A DATA reply, opened (in arrival order, on the port's RX pool): completes its request.
  void CompleteData(std::size_t index, const link::FrameHeader& h, const Result<ByteView>& plain);
  void OnLoginAcc(std::size_t index, const std::shared_ptr<hba::FabricConnection>& conn,
                  const link::Frame& frame);
  // The target's connection `conn` is gone: outstanding I/O fails, TARGET_LOST if `notify`.
  void Lost(std::size_t index, const std::shared_ptr<hba::FabricConnection>& conn,
            const Status& reason, bool notify);
  // LOGO, close, Lost (no TARGET_LOST event).
  void TearDown(std::size_t index, const char* why);
  void Issue(std::size_t index, std::uint32_t lun, hba::DataRequest request, IoCallback done);
  void KickWaiting(std::size_t index);
  void PostAuthNeeded(const std::shared_ptr<hba::RemoteSession>& s, mailbox::AuthReason reason);
  std::size_t IndexOf(const std::shared_ptr<hba::RemoteSession>& s);

  const InitiatorPortConfig config_;
  const DriverConfig driver_;
  nbd::NbdServer& lun_server_;

  std::mutex mu_;
  std::vector<Target> targets_;      // guarded by mu_ (fixed size)
  std::uint32_t next_exchange_ = 1;  // guarded by mu_
  hba::FabricConnection::Tap tap_;   // guarded by mu_
  bool stopped_ = false;             // guarded by mu_
};

}  // namespace cafs::edif::driver
