// RemoteSession: what one HBA port knows about one remote port it is logged in with: the
// fabric connection, the SAs of the link (SaDatabase), the authentication state and the
// "secure latch".
//
// Sending: Send() fills in the source and destination addresses; DATA frames are sealed with
// the TX SA as soon as one is installed, and go in clear before that. AUTH_ELS, LOGIN and
// LOGO frames always go in clear (docs/edif-link.md).
// Receiving DATA (OpenData): a secured frame is opened with the RX SAs (every failure is
// dropped and counted by the SaDatabase, nothing unauthenticated is returned); the first
// authenticated secured frame sets the latch, after which clear DATA from this peer is
// dropped (counted `cleartext`); clear DATA for something that requires security is dropped
// the same way.
//
// Threading: all methods are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "edif/hba/fabric_connection.h"
#include "edif/link/sa_database.h"
#include "edif/mailbox/payloads.h"
#include "util/clock.h"
#include "util/default_init_allocator.h"

namespace cafs::edif::hba {

struct PortIdentity {
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;  // 24 bits
};

class RemoteSession {
 public:
  RemoteSession(PortIdentity local, PortIdentity remote, std::shared_ptr<FabricConnection> conn,
                const link::SaPolicy& policy, const Clock& clock,
                link::SaDatabase::ExpiryCallback on_expiring);

  const PortIdentity& local() const { return local_; }
  const PortIdentity& remote() const { return remote_; }
  const std::shared_ptr<FabricConnection>& connection() const { return conn_; }
  link::SaDatabase& sas() { return sas_; }

  // Sends a frame of `type` to the remote port (DATA sealed once a TX SA is installed).
  Status Send(link::FrameType type, std::uint32_t exchange_id, std::uint32_t lun, ByteView payload);
  // The plaintext of a DATA frame from the remote port, or the drop reason as an error.
  // The result views frame.payload (valid while `frame` lives and is not changed): a secured
  // payload is opened in place (SaDatabase::OpenInPlace), so `frame.payload` no longer holds
  // the ciphertext afterwards (and holds no plaintext when the frame is dropped).
  Result<ByteView> OpenData(link::Frame& frame, bool require_secure);

  bool secure_latched() const { return latched_.load(); }
  // Any SA installed, or authentication pending / done: state an agent created.
  bool has_security_state() const;

  mailbox::TargetAuthState auth_state() const;
  void set_auth_state(mailbox::TargetAuthState s);

 private:
  const PortIdentity local_;
  const PortIdentity remote_;
  const std::shared_ptr<FabricConnection> conn_;
  link::SaDatabase sas_;
  std::atomic<bool> latched_{false};
  // Held from the sealing of a DATA frame until its connection's send lock is taken (lock
  // order: first), so frames leave in the order of their sequence numbers and keys while
  // one frame is written and the next one sealed.
  std::mutex seal_send_mu_;
  // Sealed wire frames, reused alternately (guarded by seal_send_mu_): one may be in the
  // middle of its write while the other is sealed; the one before that was written already
  // (its sender held the send lock before the current sealer got seal_send_mu_).
  std::array<UninitBytes, 2> seal_bufs_;
  std::size_t next_seal_buf_ = 0;
  mutable std::mutex mu_;
  mailbox::TargetAuthState auth_state_ = mailbox::TargetAuthState::kNone;  // guarded by mu_
};

}  // namespace cafs::edif::hba
