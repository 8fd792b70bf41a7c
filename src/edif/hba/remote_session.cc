#include "edif/hba/remote_session.h"

#include "util/logging.h"

namespace cafs::edif::hba {

namespace {

// One DATA frame on its way out: the frame's seq and key (fixed), its plaintext, its wire
// buffer. Shared by the seal step and the write step.
struct TxJob {
  link::SealTicket ticket;
  Bytes payload;
  UninitBytes wire;
};

// One DATA frame on its way in: kept alive from arrival until its handler has run.
struct RxJob {
  link::Frame frame;
  bool require_secure = false;
  std::optional<link::OpenTicket> ticket;  // secured and past the pre-check
  Status precheck;                         // the pre-check's drop, delivered in order
  std::optional<std::variant<MutableByteView, link::DropReason>> decrypted;
};

// Sealed-frame buffers kept for reuse: as many as can be in flight plus one.
constexpr std::size_t kMaxSpareWire = 17;
// A frame up to this size is sealed or opened on the calling thread when its lane is idle
// (e.g. 4 KiB at queue depth 1): GCM takes less time than handing it to a worker would.
constexpr std::size_t kInlineFrameBytes = 16 * 1024;

}  // namespace

RemoteSession::RemoteSession(PortIdentity local, PortIdentity remote,
                             std::shared_ptr<FabricConnection> conn, const link::SaPolicy& policy,
                             const Clock& clock, link::SaDatabase::ExpiryCallback on_expiring,
                             link::FramePool& tx_pool, link::FramePool& rx_pool)
    : local_(local),
      remote_(remote),
      conn_(std::move(conn)),
      sas_(policy, clock, std::move(on_expiring)),
      tx_lane_(tx_pool.NewLane()),
      rx_lane_(rx_pool.NewLane()) {}

link::FrameHeader RemoteSession::HeaderFor(link::FrameType type, std::uint32_t exchange_id,
                                           std::uint32_t lun) const {
  link::FrameHeader h;
  h.type = type;
  h.src_port_id = local_.port_id;
  h.src_wwpn = local_.wwpn;
  h.dst_port_id = remote_.port_id;
  h.dst_wwpn = remote_.wwpn;
  h.exchange_id = exchange_id;
  h.lun = lun;
  return h;
}

Status RemoteSession::Send(link::FrameType type, std::uint32_t exchange_id, std::uint32_t lun,
                           ByteView payload) {
  if (type == link::FrameType::kData) {
    return SendData(exchange_id, lun, Bytes(payload.begin(), payload.end()));
  }
  return conn_->SendFrame(HeaderFor(type, exchange_id, lun), payload);
}

UninitBytes RemoteSession::TakeWireBuffer() {
  std::lock_guard lock(spare_mu_);
  if (spare_wire_.empty()) return {};
  UninitBytes b = std::move(spare_wire_.back());
  spare_wire_.pop_back();
  return b;
}

void RemoteSession::ReturnWireBuffer(UninitBytes buf) {
  std::lock_guard lock(spare_mu_);
  if (spare_wire_.size() < kMaxSpareWire) spare_wire_.push_back(std::move(buf));
}

Status RemoteSession::SendData(std::uint32_t exchange_id, std::uint32_t lun, Bytes payload) {
  const link::FrameHeader h = HeaderFor(link::FrameType::kData, exchange_id, lun);
  // The order lock covers the choice between clear and sealed, the sequence number and the
  // lane's order: no frame sealed under a replaced TX SA follows frames under the new one
  // (the peer retires the old RX SA after a few frames on the new one and would drop it).
  std::lock_guard order(tx_order_mu_);
  if (!sas_.has_tx() && tx_lane_->in_flight() == 0) return conn_->SendFrame(h, payload);
  CAFS_ASSIGN_OR_RETURN(link::SealTicket ticket, sas_.ReserveSeal(h, payload.size()));
  auto job =
      std::make_shared<TxJob>(TxJob{std::move(ticket), std::move(payload), TakeWireBuffer()});
  return tx_lane_->Submit([job] { return job->ticket.SealInto(job->payload, job->wire); },
                          [self = shared_from_this(), job](Status st) {
                            if (st.ok()) st = self->conn_->Send(job->wire);
                            if (!st.ok() && !self->conn_->closed()) {
                              CAFS_LOG_WARN("DATA frame to 0x{:016x} not sent: {}; closing",
                                            self->remote_.wwpn, st.ToString());
                              self->conn_->Shutdown();
                            }
                            self->ReturnWireBuffer(std::move(job->wire));
                          },
                          job->payload.size() <= kInlineFrameBytes);
}

void RemoteSession::ReceiveData(link::Frame frame, bool require_secure, DataHandler handler) {
  const bool secured = (frame.header.flags & link::kFrameSecured) != 0;
  if (!secured && !sas_.has_rx() && rx_lane_->in_flight() == 0) {
    handler(frame.header, Finish(frame, require_secure, std::nullopt));
    return;
  }
  auto job = std::make_shared<RxJob>();
  job->frame = std::move(frame);
  job->require_secure = require_secure;
  if (secured) {
    auto ticket = sas_.BeginOpen(job->frame.header, job->frame.payload);
    if (ticket.ok()) {
      job->ticket = std::move(*ticket);
    } else {
      job->precheck = ticket.status();
    }
  }
  Status queued = rx_lane_->Submit(
      [job] {
        if (job->ticket) {
          job->decrypted = job->ticket->DecryptInPlace(job->frame.header, job->frame.payload);
        }
        return Status::OK();
      },
      [self = shared_from_this(), job, handler](Status st) {
        if (!st.ok()) {
          handler(job->frame.header, st);
        } else if (!job->precheck.ok()) {
          handler(job->frame.header, job->precheck);
        } else {
          handler(job->frame.header, self->Finish(job->frame, job->require_secure, job->decrypted));
        }
      },
      job->frame.payload.size() <= kInlineFrameBytes);
  if (!queued.ok()) handler(job->frame.header, queued);
}

Result<ByteView> RemoteSession::OpenData(link::Frame& frame, bool require_secure) {
  if ((frame.header.flags & link::kFrameSecured) != 0) {
    CAFS_ASSIGN_OR_RETURN(const link::OpenTicket t, sas_.BeginOpen(frame.header, frame.payload));
    return Finish(frame, require_secure, t.DecryptInPlace(frame.header, frame.payload));
  }
  return Finish(frame, require_secure, std::nullopt);
}

Result<ByteView> RemoteSession::Finish(
    link::Frame& frame, bool require_secure,
    std::optional<std::variant<MutableByteView, link::DropReason>> decrypted) {
  if (decrypted) {
    CAFS_ASSIGN_OR_RETURN(MutableByteView plain,
                          sas_.FinishOpen(frame.header, frame.payload, *decrypted));
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
