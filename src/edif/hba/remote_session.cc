#include "edif/hba/remote_session.h"

namespace cafs::edif::hba {

RemoteSession::RemoteSession(PortIdentity local, PortIdentity remote,
                             std::shared_ptr<FabricConnection> conn, const link::SaPolicy& policy,
                             const Clock& clock, link::SaDatabase::ExpiryCallback on_expiring)
    : local_(local),
      remote_(remote),
      conn_(std::move(conn)),
      sas_(policy, clock, std::move(on_expiring)) {}

Status RemoteSession::Send(link::FrameType type, std::uint32_t exchange_id, std::uint32_t lun,
                           ByteView payload) {
  link::FrameHeader h;
  h.type = type;
  h.src_port_id = local_.port_id;
  h.src_wwpn = local_.wwpn;
  h.dst_port_id = remote_.port_id;
  h.dst_wwpn = remote_.wwpn;
  h.exchange_id = exchange_id;
  h.lun = lun;
  if (type == link::FrameType::kData && sas_.has_tx()) {
    // Seal and send as one step: frames leave in the order of their sequence numbers and
    // keys, so no frame sealed under a replaced TX SA follows frames under the new one (the
    // peer retires the old RX SA after a few frames on the new one and would drop it).
    // The send lock is taken before seal_send_mu_ is released: the next frame is sealed
    // (into the other buffer) while this one is written, and cannot overtake it.
    std::unique_lock seal_lock(seal_send_mu_);
    UninitBytes& wire = seal_bufs_[next_seal_buf_];
    next_seal_buf_ ^= 1;
    CAFS_RETURN_IF_ERROR(sas_.SealInto(h, payload, wire));
    const std::unique_lock send_lock = conn_->LockSend();
    seal_lock.unlock();
    return conn_->SendLocked(send_lock, wire);
  }
  return conn_->SendFrame(h, payload);
}

Result<ByteView> RemoteSession::OpenData(link::Frame& frame, bool require_secure) {
  if ((frame.header.flags & link::kFrameSecured) != 0) {
    CAFS_ASSIGN_OR_RETURN(MutableByteView plain, sas_.OpenInPlace(frame.header, frame.payload));
    latched_.store(true);
    return ByteView(plain);
  }
  if (require_secure || latched_.load()) {
    sas_.CountDrop(link::DropReason::kCleartext);
    return Status::PermissionDenied("clear DATA frame where a secure session is required");
  }
  return ByteView(frame.payload);
}

bool RemoteSession::has_security_state() const {
  const mailbox::TargetAuthState s = auth_state();
  return sas_.has_tx() || !sas_.rx_spis().empty() || s == mailbox::TargetAuthState::kPending ||
         s == mailbox::TargetAuthState::kAuthenticated;
}

mailbox::TargetAuthState RemoteSession::auth_state() const {
  std::lock_guard lock(mu_);
  return auth_state_;
}

void RemoteSession::set_auth_state(mailbox::TargetAuthState s) {
  std::lock_guard lock(mu_);
  auth_state_ = s;
}

}  // namespace cafs::edif::hba
