// RemoteSession: what one HBA port knows about one remote port it is logged in with: the
// fabric connection, the SAs of the link (SaDatabase), the authentication state and the
// "secure latch".
//
// Sending: Send() fills in the source and destination addresses; DATA frames (SendData) are
// sealed with the TX SA as soon as one is installed, and go in clear before that. AUTH_ELS,
// LOGIN and LOGO frames always go in clear (docs/edif-link.md).
// Receiving DATA (ReceiveData, OpenData): a secured frame is opened with the RX SAs (every
// failure is dropped and counted by the SaDatabase, nothing unauthenticated is returned); the
// first authenticated secured frame sets the latch, after which clear DATA from this peer is
// dropped (counted `cleartext`); clear DATA for something that requires security is dropped
// the same way.
// Worker pools (docs/edif-link.md 6): secured DATA is sealed on `tx_pool` and opened on
// `rx_pool` (one lane per direction per session): the sequence number and key of a frame are
// fixed when SendData is called, frames are written in that order, and received frames are
// committed to the anti-replay window and handed back in arrival order. Two pools so that a
// worker blocked in a socket write never holds up the opening of received frames.
//
// Threading: all methods are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include "edif/hba/fabric_connection.h"
#include "edif/link/frame_pool.h"
#include "edif/link/sa_database.h"
#include "edif/mailbox/payloads.h"
#include "util/clock.h"
#include "util/default_init_allocator.h"

namespace cafs::edif::hba {

struct PortIdentity {
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;  // 24 bits
};

// Lifetime: shared_ptr (frames queued on a pool keep their session alive).
class RemoteSession : public std::enable_shared_from_this<RemoteSession> {
 public:
  // The pools must stay usable (or be stopped) while the session sends or receives DATA.
  RemoteSession(PortIdentity local, PortIdentity remote, std::shared_ptr<FabricConnection> conn,
                const link::SaPolicy& policy, const Clock& clock,
                link::SaDatabase::ExpiryCallback on_expiring, link::FramePool& tx_pool,
                link::FramePool& rx_pool);

  const PortIdentity& local() const { return local_; }
  const PortIdentity& remote() const { return remote_; }
  const std::shared_ptr<FabricConnection>& connection() const { return conn_; }
  link::SaDatabase& sas() { return sas_; }

  // Sends a frame of `type` to the remote port (DATA: SendData with a copy of `payload`).
  Status Send(link::FrameType type, std::uint32_t exchange_id, std::uint32_t lun, ByteView payload);
  // Sends a DATA frame. With no TX SA (and no sealed frame still queued) it is written in clear
  // before this returns. Otherwise its SA and sequence number are fixed now, in call order, and
  // it is sealed on the TX pool and written in that order after this returns (it blocks while
  // the session's TX lane is full). Errors here: no usable TX SA, pool stopped. A frame that
  // fails to seal or write later shuts the connection down (the stream would have a gap): its
  // owner sees the connection close, as for any write error.
  Status SendData(std::uint32_t exchange_id, std::uint32_t lun, Bytes payload);
  // Hands `handler` the plaintext of a DATA frame from the remote port (or the drop reason),
  // in arrival order: secured frames are opened on the RX pool (so `handler` runs on a pool
  // worker, after this returns); clear frames while no RX SA is installed and nothing is queued
  // are handled inline. The view is valid during the call. Call from the connection's reader
  // thread only (one caller keeps the arrival order). On a stopped pool: Unavailable.
  using DataHandler = std::function<void(const link::FrameHeader&, Result<ByteView>)>;
  void ReceiveData(link::Frame frame, bool require_secure, DataHandler handler);
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
  link::FrameHeader HeaderFor(link::FrameType type, std::uint32_t exchange_id,
                              std::uint32_t lun) const;
  // The rule after decryption (in arrival order): FinishOpen and the latch for a secured frame
  // (`decrypted` set), the clear-DATA rule otherwise.
  Result<ByteView> Finish(link::Frame& frame, bool require_secure,
                          std::optional<std::variant<MutableByteView, link::DropReason>> decrypted);
  UninitBytes TakeWireBuffer();
  void ReturnWireBuffer(UninitBytes buf);

  const PortIdentity local_;
  const PortIdentity remote_;
  const std::shared_ptr<FabricConnection> conn_;
  link::SaDatabase sas_;
  std::atomic<bool> latched_{false};
  // Held while a DATA frame gets its sequence number and enters the TX lane (lock order:
  // first), so frames leave in the order of their sequence numbers and keys.
  std::mutex tx_order_mu_;
  const std::shared_ptr<link::FrameLane> tx_lane_;
  const std::shared_ptr<link::FrameLane> rx_lane_;  // submitted to by the reader thread only
  std::mutex spare_mu_;
  std::vector<UninitBytes> spare_wire_;  // guarded by spare_mu_: sealed-frame buffers to reuse
  mutable std::mutex mu_;
  mailbox::TargetAuthState auth_state_ = mailbox::TargetAuthState::kNone;  // guarded by mu_
};

}  // namespace cafs::edif::hba
