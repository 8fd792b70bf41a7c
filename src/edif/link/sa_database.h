// SaDatabase: the SAs of one secure session (one local port <-> one remote port): the current
// TX SA and up to `max_rx` RX SAs looked up by SPI, with make-before-break rekey.
//
// Rekey (EDIF.md): the agent adds the new RX SA (AddRx), the peer switches its TX to it, the
// agent switches our TX (InstallTx, which replaces the TX SA at once: frames are sealed with
// exactly one TX SA at a time) and deletes the old RX (DeleteRx). An old RX SA stays usable
// until `retire_after_frames` frames authenticated on a newer RX SA, or `retire_timeout`
// after its deletion was requested, so frames in flight on it are not lost. With
// `auto_retire`, an older RX SA is retired after `retire_after_frames` on a newer one even
// without DeleteRx.
//
// RX slots: AddRx on a full table (`max_rx`) evicts the oldest RX SA whose deletion was
// requested (it is only waiting for retirement, frames still in flight on it are lost) and
// fails with NoSpace only when no installed RX SA is waiting for retirement. An RX SA never
// evicted this way is the newest one or one the agent has not asked to delete.
//
// Expiry: when an SA crosses a soft limit the `on_expiring` callback runs once for it (from
// Seal, Open or Tick, with no lock held); past a hard limit the SA is no longer used. An RX
// SA that is superseded (a newer RX SA is installed, or its deletion was requested) never
// signals: the rekey that would replace it is already under way. (It signals later only if
// it becomes the newest again because the newer ones were removed.)
//
// Threading: all methods are safe from any thread. TX and RX have separate locks, so one
// thread can seal while another opens.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <variant>
#include <vector>

#include "edif/link/frame.h"
#include "edif/link/security_association.h"
#include "util/clock.h"

namespace cafs::edif::link {

struct SaPolicy {
  SaLimits limits;
  std::uint32_t retire_after_frames = 3;
  std::chrono::milliseconds retire_timeout{20'000};
  bool auto_retire = true;
  std::size_t max_rx = 4;
};

struct ExpiryEvent {
  std::uint32_t spi = 0;
  Direction direction = Direction::kTx;
  ExpiryReason reason = ExpiryReason::kTime;
};

struct LinkStats {
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_frames = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_frames = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::kCount)> drops{};
  std::uint64_t rekeys = 0;  // TX switches after the first install
  std::uint64_t expiring_signals = 0;
  std::uint64_t rx_retired = 0;  // includes rx_evicted
  std::uint64_t rx_evicted = 0;  // retiring RX SAs removed early to make room (AddRx)
  std::uint64_t drops_total() const;
  std::uint64_t drop(DropReason r) const { return drops[static_cast<std::size_t>(r)]; }
};

class SaDatabase {
 public:
  using ExpiryCallback = std::function<void(const ExpiryEvent&)>;
  // `clock` must outlive the database.
  SaDatabase(SaPolicy policy, const Clock& clock, ExpiryCallback on_expiring = {});

  // Adds an RX SA. AlreadyExists for an SPI in use; on a full table evicts the oldest RX SA
  // waiting for retirement, NoSpace when there is none; InvalidArgument for a bad SA.
  Status AddRx(SecurityAssociation sa);
  // Installs (or switches to) the TX SA. AlreadyExists if `sa.spi` is the current TX SPI.
  Status InstallTx(SecurityAssociation sa);
  // Requests deletion of an RX SA (retired as described above); `force` removes it now.
  // NotFound for an unknown SPI (a stale delete).
  Status DeleteRx(std::uint32_t spi, bool force = false);
  // Removes the TX SA if its SPI is `spi`. NotFound otherwise.
  Status DeleteTx(std::uint32_t spi);

  bool has_tx() const;
  // Any RX SA installed.
  bool has_rx() const;
  std::optional<std::uint32_t> tx_spi() const;
  std::vector<std::uint32_t> rx_spis() const;
  // Both directions installed: the session may go online secure.
  bool ready() const { return has_tx() && !rx_spis().empty(); }

  // Seals a frame under the current TX SA. FailedPrecondition without a usable TX SA.
  // (The allocating forms of Seal and Open copy once more than the *Into / *InPlace forms
  // the data path uses.)
  Result<Bytes> Seal(const FrameHeader& header, ByteView payload);
  // The same into `wire` (TxSa::SealInto: capacity reused, not zeroed first; cleared on
  // failure). `payload` must not overlap `wire`.
  Status SealInto(const FrameHeader& header, ByteView payload, UninitBytes& wire);
  // Opens a secured frame: the plaintext, or AuthFailed / Corruption naming the drop reason
  // (already counted). Nothing unauthenticated is ever returned.
  Result<Bytes> Open(const FrameHeader& header, ByteView secured_payload);
  Result<Bytes> Open(const Frame& frame) { return Open(frame.header, frame.payload); }
  // The same in place (RxSa::OpenInPlace): the plaintext is decrypted over the ciphertext
  // inside `secured_payload` and the result views it. On an ICV failure the ciphertext bytes
  // are zeroed; on any failure nothing in `secured_payload` is plaintext.
  Result<MutableByteView> OpenInPlace(const FrameHeader& header, MutableByteView secured_payload);

  // The same steps split for a worker pool (frames sealed and opened on several threads, in
  // frame order around them; docs/edif-link.md 6). SealInto is ReserveSeal + SealTicket::
  // SealInto; OpenInPlace is BeginOpen + OpenTicket::DecryptInPlace + FinishOpen.
  //
  // Fixes the current TX SA and the next sequence number of a frame (so the key is the one
  // current now, in frame order) and counts it; the ticket seals it later on any thread.
  // FailedPrecondition without a usable TX SA (a hard-limit drop is counted).
  Result<SealTicket> ReserveSeal(const FrameHeader& header, std::size_t payload_size);
  // The checks before decryption (SPI lookup, hard limit, replay pre-check). A drop is
  // counted and returned as AuthFailed / Corruption like OpenInPlace.
  Result<OpenTicket> BeginOpen(const FrameHeader& header, ByteView secured_payload);
  // Call in frame order with what the ticket's DecryptInPlace returned for the same frame:
  // re-checks the SA and the window, accepts the seq, counts, retires old RX SAs. A frame
  // that fails here (or failed to decrypt) is dropped and counted, and its plaintext
  // zeroed: nothing unauthenticated or undelivered stays in `secured_payload`.
  Result<MutableByteView> FinishOpen(const FrameHeader& header, MutableByteView secured_payload,
                                     std::variant<MutableByteView, DropReason> decrypted);
  // Counts a frame the session layer dropped itself (e.g. kCleartext).
  void CountDrop(DropReason reason);

  // Time-based work: soft-lifetime expiry, RX retirement timeouts.
  void Tick();
  LinkStats stats() const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct RxEntry {
    std::unique_ptr<RxSa> sa;
    std::uint64_t order;  // install order: larger is newer
    std::optional<TimePoint> delete_requested;
    std::uint64_t frames_at_delete_request = 0;  // of the newest RX then
  };
  // rx_mu_ held.
  void RetireLocked(TimePoint now);
  // A newer RX SA exists or the deletion of `e` was requested.
  bool SupersededLocked(const RxEntry& e) const;
  // Queues the expiry signal of `e` unless it is superseded.
  void TakeRxExpiringLocked(RxEntry& e, std::vector<ExpiryEvent>& events);
  // Removes the oldest RX SA waiting for retirement; false if there is none.
  bool EvictRetiringLocked();
  void Notify(const std::vector<ExpiryEvent>& events);
  // rx_mu_ held: counts the drop; the error OpenInPlace returns for it.
  Status DropLocked(DropReason why);

  const SaPolicy policy_;
  const Clock& clock_;
  const ExpiryCallback on_expiring_;

  // Lock order: tx_mu_ before rx_mu_ (Seal takes rx_mu_ briefly to count a hard-limit drop).
  mutable std::mutex tx_mu_;
  std::unique_ptr<TxSa> tx_;
  std::uint64_t tx_bytes_ = 0, tx_frames_ = 0, rekeys_ = 0, tx_expiring_ = 0;

  mutable std::mutex rx_mu_;
  std::map<std::uint32_t, RxEntry> rx_;
  std::uint64_t next_order_ = 0;
  std::uint64_t rx_bytes_ = 0, rx_frames_ = 0, rx_expiring_ = 0, rx_retired_ = 0, rx_evicted_ = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::kCount)> drops_{};
};

}  // namespace cafs::edif::link
