#include "edif/link/sa_database.h"

#include <numeric>

namespace cafs::edif::link {

std::uint64_t LinkStats::drops_total() const {
  return std::accumulate(drops.begin(), drops.end(), std::uint64_t{0});
}

SaDatabase::SaDatabase(SaPolicy policy, const Clock& clock, ExpiryCallback on_expiring)
    : policy_(std::move(policy)), clock_(clock), on_expiring_(std::move(on_expiring)) {}

Status SaDatabase::AddRx(SecurityAssociation sa) {
  const std::uint32_t spi = sa.spi;
  CAFS_ASSIGN_OR_RETURN(auto rx, RxSa::Create(std::move(sa), policy_.limits, clock_));
  std::lock_guard lock(rx_mu_);
  if (rx_.count(spi) != 0) return Status::AlreadyExists("RX SPI already installed");
  if (rx_.size() >= policy_.max_rx && !EvictRetiringLocked()) {
    return Status::NoSpace("too many RX SAs installed (none is waiting for retirement)");
  }
  rx_.emplace(spi, RxEntry{std::move(rx), next_order_++, std::nullopt, 0});
  return Status::OK();
}

Status SaDatabase::InstallTx(SecurityAssociation sa) {
  const std::uint32_t spi = sa.spi;
  CAFS_ASSIGN_OR_RETURN(auto tx, TxSa::Create(std::move(sa), policy_.limits, clock_));
  std::lock_guard lock(tx_mu_);
  if (tx_ && tx_->spi() == spi) return Status::AlreadyExists("TX SPI already installed");
  if (tx_) ++rekeys_;
  tx_ = std::move(tx);
  return Status::OK();
}

Status SaDatabase::DeleteRx(std::uint32_t spi, bool force) {
  std::lock_guard lock(rx_mu_);
  auto it = rx_.find(spi);
  if (it == rx_.end()) return Status::NotFound("no RX SA with this SPI");
  if (force) {
    rx_.erase(it);
    ++rx_retired_;
    return Status::OK();
  }
  if (!it->second.delete_requested) it->second.delete_requested = clock_.MonotonicNow();
  RetireLocked(clock_.MonotonicNow());
  return Status::OK();
}

Status SaDatabase::DeleteTx(std::uint32_t spi) {
  std::lock_guard lock(tx_mu_);
  if (!tx_ || tx_->spi() != spi) return Status::NotFound("no TX SA with this SPI");
  tx_.reset();
  return Status::OK();
}

bool SaDatabase::has_tx() const {
  std::lock_guard lock(tx_mu_);
  return tx_ != nullptr;
}

bool SaDatabase::has_rx() const {
  std::lock_guard lock(rx_mu_);
  return !rx_.empty();
}

std::optional<std::uint32_t> SaDatabase::tx_spi() const {
  std::lock_guard lock(tx_mu_);
  if (!tx_) return std::nullopt;
  return tx_->spi();
}

std::vector<std::uint32_t> SaDatabase::rx_spis() const {
  std::lock_guard lock(rx_mu_);
  std::vector<std::uint32_t> out;
  for (const auto& [spi, e] : rx_) out.push_back(spi);
  return out;
}

bool SaDatabase::SupersededLocked(const RxEntry& e) const {
  if (e.delete_requested) return true;
  for (const auto& [spi, other] : rx_) {
    if (other.order > e.order) return true;
  }
  return false;
}

void SaDatabase::TakeRxExpiringLocked(RxEntry& e, std::vector<ExpiryEvent>& events) {
  // A superseded SA keeps its pending signal: it is raised only if the SA becomes the
  // newest again (a newer one force-deleted), never while a rekey has replaced it.
  if (SupersededLocked(e)) return;
  if (auto r = e.sa->lifetime().TakeExpiring()) {
    ++rx_expiring_;
    events.push_back({e.sa->spi(), Direction::kRx, *r});
  }
}

bool SaDatabase::EvictRetiringLocked() {
  auto victim = rx_.end();
  for (auto it = rx_.begin(); it != rx_.end(); ++it) {
    if (!it->second.delete_requested) continue;
    if (victim == rx_.end() || it->second.order < victim->second.order) victim = it;
  }
  if (victim == rx_.end()) return false;
  rx_.erase(victim);
  ++rx_retired_;
  ++rx_evicted_;
  return true;
}

void SaDatabase::Notify(const std::vector<ExpiryEvent>& events) {
  if (!on_expiring_) return;
  for (const ExpiryEvent& e : events) on_expiring_(e);
}

Result<Bytes> SaDatabase::Seal(const FrameHeader& header, ByteView payload) {
  UninitBytes wire;
  CAFS_RETURN_IF_ERROR(SealInto(header, payload, wire));
  return Bytes(wire.begin(), wire.end());
}

Status SaDatabase::SealInto(const FrameHeader& header, ByteView payload, UninitBytes& wire) {
  wire.clear();
  CAFS_ASSIGN_OR_RETURN(const SealTicket t, ReserveSeal(header, payload.size()));
  return t.SealInto(payload, wire);
}

Result<SealTicket> SaDatabase::ReserveSeal(const FrameHeader& header, std::size_t payload_size) {
  std::vector<ExpiryEvent> events;
  Result<SealTicket> out = Status::FailedPrecondition("no TX SA installed");
  {
    std::lock_guard lock(tx_mu_);
    if (tx_) {
      out = tx_->Reserve(header, payload_size);
      if (out.ok()) {
        tx_bytes_ += payload_size;
        ++tx_frames_;
      } else if (tx_->lifetime().hard_expired()) {
        std::lock_guard rx_lock(rx_mu_);  // drops_ lives under rx_mu_ (only nesting: tx->rx)
        ++drops_[static_cast<std::size_t>(DropReason::kHardLimit)];
      }
      if (auto r = tx_->lifetime().TakeExpiring()) {
        ++tx_expiring_;
        events.push_back({tx_->spi(), Direction::kTx, *r});
      }
    }
  }
  Notify(events);
  return out;
}

Result<Bytes> SaDatabase::Open(const FrameHeader& header, ByteView secured_payload) {
  Bytes buf(secured_payload.begin(), secured_payload.end());
  CAFS_ASSIGN_OR_RETURN(MutableByteView plain, OpenInPlace(header, buf));
  return Bytes(plain.begin(), plain.end());
}

Result<MutableByteView> SaDatabase::OpenInPlace(const FrameHeader& header,
                                                MutableByteView secured_payload) {
  CAFS_ASSIGN_OR_RETURN(const OpenTicket t, BeginOpen(header, secured_payload));
  return FinishOpen(header, secured_payload, t.DecryptInPlace(header, secured_payload));
}

Status SaDatabase::DropLocked(DropReason why) {
  ++drops_[static_cast<std::size_t>(why)];
  const std::string msg = "secured frame dropped: " + std::string(DropReasonName(why));
  if (why == DropReason::kAuthFailed) return Status::AuthFailed(msg);
  return Status::Corruption(msg);
}

Result<OpenTicket> SaDatabase::BeginOpen(const FrameHeader& header, ByteView secured_payload) {
  std::lock_guard lock(rx_mu_);
  const std::optional<std::uint32_t> spi = PeekSpi(secured_payload);
  if (!spi) return DropLocked(DropReason::kMalformed);
  auto it = rx_.find(*spi);
  if (it == rx_.end()) return DropLocked(DropReason::kUnknownSpi);
  auto begun = it->second.sa->Begin(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&begun)) return DropLocked(*bad);
  return std::get<OpenTicket>(std::move(begun));
}

Result<MutableByteView> SaDatabase::FinishOpen(
    const FrameHeader& header, MutableByteView secured_payload,
    std::variant<MutableByteView, DropReason> decrypted) {
  std::vector<ExpiryEvent> events;
  Status dropped;
  {
    std::lock_guard lock(rx_mu_);
    std::optional<DropReason> why;
    if (const auto* bad = std::get_if<DropReason>(&decrypted)) why = *bad;
    const std::optional<std::uint32_t> spi = PeekSpi(secured_payload);
    auto it = spi ? rx_.find(*spi) : rx_.end();
    if (!why && it == rx_.end()) why = DropReason::kUnknownSpi;  // retired meanwhile
    if (!why) {
      const MutableByteView plain = std::get<MutableByteView>(decrypted);
      why = it->second.sa->Commit(header, secured_payload, plain.size());
      if (why) std::fill(plain.begin(), plain.end(), std::uint8_t{0});
    }
    if (it != rx_.end()) TakeRxExpiringLocked(it->second, events);
    if (why) {
      dropped = DropLocked(*why);
    } else {
      rx_bytes_ += std::get<MutableByteView>(decrypted).size();
      ++rx_frames_;
      RetireLocked(clock_.MonotonicNow());
    }
  }
  Notify(events);
  if (!dropped.ok()) return dropped;
  return std::get<MutableByteView>(decrypted);
}

void SaDatabase::CountDrop(DropReason reason) {
  std::lock_guard lock(rx_mu_);
  ++drops_[static_cast<std::size_t>(reason)];
}

void SaDatabase::RetireLocked(TimePoint now) {
  for (auto it = rx_.begin(); it != rx_.end();) {
    const RxEntry& e = it->second;
    bool newer_proven = false;
    for (const auto& [spi, other] : rx_) {
      if (other.order > e.order &&
          other.sa->lifetime().counters().frames >= policy_.retire_after_frames) {
        newer_proven = true;
      }
    }
    const bool requested = e.delete_requested.has_value();
    const bool retire = (newer_proven && (requested || policy_.auto_retire)) ||
                        (requested && now - *e.delete_requested >= policy_.retire_timeout);
    if (retire) {
      it = rx_.erase(it);
      ++rx_retired_;
    } else {
      ++it;
    }
  }
}

void SaDatabase::Tick() {
  std::vector<ExpiryEvent> events;
  {
    std::lock_guard lock(tx_mu_);
    if (tx_) {
      if (auto r = tx_->lifetime().TakeExpiring()) {
        ++tx_expiring_;
        events.push_back({tx_->spi(), Direction::kTx, *r});
      }
    }
  }
  {
    std::lock_guard lock(rx_mu_);
    for (auto& [spi, e] : rx_) TakeRxExpiringLocked(e, events);
    RetireLocked(clock_.MonotonicNow());
  }
  Notify(events);
}

LinkStats SaDatabase::stats() const {
  LinkStats s;
  {
    std::lock_guard lock(tx_mu_);
    s.tx_bytes = tx_bytes_;
    s.tx_frames = tx_frames_;
    s.rekeys = rekeys_;
    s.expiring_signals = tx_expiring_;
  }
  std::lock_guard lock(rx_mu_);
  s.rx_bytes = rx_bytes_;
  s.rx_frames = rx_frames_;
  s.drops = drops_;
  s.expiring_signals += rx_expiring_;
  s.rx_retired = rx_retired_;
  s.rx_evicted = rx_evicted_;
  return s;
}

}  // namespace cafs::edif::link
