// ESP-like security associations for DATA frames (RFC 4303 / RFC 4106 ideas on our frames).
//
// Secured payload: SPI u32 LE || seq u64 LE || AES-256-GCM ciphertext || 16-byte ICV.
// Nonce = salt(4) || seq as its 8 wire bytes (LE). AAD = the 40-byte frame header (flags with
// kFrameSecured, payload_len = secured length) || SPI || seq: 52 bytes. Sequence numbers
// start at 1 and never repeat under one key (a TxSa refuses to go past its hard limit).
// RX anti-replay: 32-frame sliding window over the 64-bit seq, updated only after the ICV
// verifies (RFC 4303 3.4.3). Every drop is counted by reason, nothing dropped is returned.
//
// Limits: soft limits (bytes, frames, lifetime with jitter) raise "expiring" once per SA;
// hard limits stop the SA (Seal fails, Open drops with kHardLimit).
//
// Split processing for a worker pool (docs/edif-link.md 6): TxSa::Reserve fixes a frame's SA
// and sequence number (in frame order, under the caller's lock) and the SealTicket seals it
// later on any thread; RxSa::Begin runs the checks before decryption, the OpenTicket decrypts
// on any thread, and RxSa::Commit re-checks the window and accepts the seq (in frame order).
// The one-step forms (Seal, SealInto, Open, OpenInPlace) are these steps in a row.
//
// Threading: a TxSa or RxSa is not synchronized (SaDatabase locks around them). SaCipher,
// SealTicket and OpenTicket are safe from any thread (a ticket keeps its SA's key alive).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "crypto/aead.h"
#include "edif/link/frame.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/default_init_allocator.h"
#include "util/secure_buffer.h"

namespace cafs::edif::link {

inline constexpr std::size_t kSpiSize = 4;
inline constexpr std::size_t kSeqSize = 8;
inline constexpr std::size_t kIcvSize = 16;
inline constexpr std::size_t kSecuredOverhead = kSpiSize + kSeqSize + kIcvSize;  // 28
inline constexpr std::size_t kAadSize = kFrameHeaderSize + kSpiSize + kSeqSize;  // 52
inline constexpr std::uint32_t kReplayWindow = 32;

enum class Direction : std::uint8_t { kRx = 1, kTx = 2 };

struct SecurityAssociation {
  std::uint32_t spi = 0;  // nonzero
  SecureBuffer key;       // 32 bytes (AES-256-GCM)
  std::array<std::uint8_t, 4> salt{};
  Direction direction = Direction::kRx;
};

struct SaLimits {
  std::uint64_t soft_bytes = 1ull << 40;  // 1 TiB
  std::uint64_t hard_bytes = 1ull << 42;
  std::uint64_t soft_frames = 1ull << 30;  // well under 2^32
  std::uint64_t hard_frames = (1ull << 32) - 1;
  std::chrono::milliseconds soft_lifetime{std::chrono::hours(1)};
  std::chrono::milliseconds hard_lifetime{std::chrono::hours(2)};
  // The soft lifetime of each SA is shortened by a random fraction in [0, jitter) so that
  // many SAs created together do not all rekey at the same moment.
  double jitter = 0.1;
};

enum class ExpiryReason : std::uint8_t { kBytes = 1, kFrames = 2, kTime = 3 };

enum class DropReason : std::uint8_t {
  kMalformed = 0,  // too short for SPI + seq + ICV, or not flagged secured
  kUnknownSpi,     // no RX SA with this SPI
  kReplay,         // seq already seen inside the window
  kTooOld,         // seq left of the window (or seq 0)
  kAuthFailed,     // ICV did not verify: forged, corrupt or wrong key
  kHardLimit,      // SA past its hard limit
  kCleartext,      // clear DATA where a secure session is required (session layer)
  kCount,
};
std::string_view DropReasonName(DropReason r);

struct SaCounters {
  std::uint64_t bytes = 0;   // plaintext bytes sealed / opened
  std::uint64_t frames = 0;  // frames sealed / opened
};

// The 32-frame anti-replay window (RFC 4303 section 3.4.3 over a 64-bit counter).
class ReplayWindow {
 public:
  // kTooOld, kReplay, or nullopt when `seq` may be accepted.
  std::optional<DropReason> Check(std::uint64_t seq) const;
  // Marks `seq` as seen (call only after the ICV verified).
  void Accept(std::uint64_t seq);
  std::uint64_t highest() const { return top_; }

 private:
  std::uint64_t top_ = 0;
  std::uint32_t bitmap_ = 0;  // bit i: seq top_ - i seen
};

// Common limit bookkeeping of one SA.
class SaLifetime {
 public:
  SaLifetime(const SaLimits& limits, const Clock& clock);
  // Adds one frame of `bytes`; returns the soft limit crossed first, once.
  void Count(std::uint64_t bytes);
  bool hard_expired() const;
  // The soft limit crossed (bytes, frames or time), reported once; nullopt otherwise.
  std::optional<ExpiryReason> TakeExpiring();
  const SaCounters& counters() const { return counters_; }
  std::chrono::steady_clock::time_point created() const { return created_; }

 private:
  SaLimits limits_;
  const Clock& clock_;
  std::chrono::steady_clock::time_point created_;
  std::chrono::steady_clock::time_point soft_deadline_;
  SaCounters counters_;
  bool expiring_reported_ = false;
};

// The AES-256-GCM key of one SA with a pool of EVP contexts, so that frames under it can be
// sealed or opened on several threads at once (one crypto::Aes256Gcm is single-threaded).
// Contexts are created on demand: at most one per thread using the key at the same time.
class SaCipher {
 public:
  // InvalidArgument unless the key is 32 bytes.
  static Result<std::shared_ptr<SaCipher>> Create(const SecurityAssociation& sa);
  std::uint32_t spi() const { return spi_; }
  // Nonce = salt || the 8 wire bytes of seq at `seq_wire`; Aes256Gcm::Seal / Open.
  Status Seal(const std::uint8_t* seq_wire, ByteView aad, ByteView plaintext, MutableByteView out);
  Status Open(const std::uint8_t* seq_wire, ByteView aad, ByteView in, MutableByteView out);

 private:
  SaCipher(std::uint32_t spi, std::array<std::uint8_t, 4> salt, SecureBuffer key,
           std::unique_ptr<crypto::Aes256Gcm> first);
  Result<std::unique_ptr<crypto::Aes256Gcm>> Acquire();
  void Release(std::unique_ptr<crypto::Aes256Gcm> ctx);
  // Runs fn(context) with a context of this key taken from the pool (or a new one).
  template <typename Fn>
  Status WithContext(Fn&& fn);
  const std::uint32_t spi_;
  const std::array<std::uint8_t, 4> salt_;
  const SecureBuffer key_;
  std::mutex mu_;
  std::vector<std::unique_ptr<crypto::Aes256Gcm>> idle_;  // guarded by mu_
};

// A DATA frame whose TX SA and sequence number are fixed (TxSa::Reserve) and that is sealed
// later, on any thread, with no lock. The nonce rule is unchanged: the seq came from the SA's
// counter, so it is used once under the key whether or not the ticket is ever sealed.
class SealTicket {
 public:
  std::uint64_t seq() const { return seq_; }
  std::uint32_t spi() const { return cipher_->spi(); }
  // Writes the whole wire frame into `wire` (resized; its capacity is reused and it is not
  // zeroed first). `payload` must have the size given to Reserve and must not overlap `wire`.
  // On failure `wire` is cleared.
  Status SealInto(ByteView payload, UninitBytes& wire) const;

 private:
  friend class TxSa;
  FrameHeader header_;  // as sent: kFrameSecured set, payload_len = the envelope length
  std::uint64_t seq_ = 0;
  std::shared_ptr<SaCipher> cipher_;
};

// A secured frame that passed the checks before decryption (RxSa::Begin). Decrypt may run on
// any thread with no lock; the frame is delivered only after RxSa::Commit (in frame order).
class OpenTicket {
 public:
  std::uint64_t seq() const { return seq_; }
  // Decrypts the ciphertext of `secured_payload` over itself: the plaintext view, or
  // kAuthFailed (then the ciphertext bytes are zeroed). The window is not touched.
  std::variant<MutableByteView, DropReason> DecryptInPlace(const FrameHeader& header,
                                                           MutableByteView secured_payload) const;

 private:
  friend class RxSa;
  std::uint64_t seq_ = 0;
  std::shared_ptr<SaCipher> cipher_;
};

class TxSa {
 public:
  // InvalidArgument unless spi != 0, key is 32 bytes and direction is kTx.
  static Result<std::unique_ptr<TxSa>> Create(SecurityAssociation sa, const SaLimits& limits,
                                              const Clock& clock);
  // A whole wire frame (length prefix included) carrying `payload` sealed under this SA.
  // `header.flags` gets kFrameSecured; payload_len is set. FailedPrecondition past the hard
  // limit (then nothing is sealed).
  Result<Bytes> Seal(const FrameHeader& header, ByteView payload);
  // The same frame written into `wire` (resized to the whole wire frame; its capacity is
  // reused and it is not zeroed first: every byte is written). `payload` must not overlap
  // `wire`. On failure `wire` is cleared and nothing is sealed (the sequence number is not
  // used up unless the cipher itself failed).
  Status SealInto(const FrameHeader& header, ByteView payload, UninitBytes& wire);
  // Fixes the SA and the next sequence number for a frame of `payload_size` plaintext bytes
  // and counts it against the limits (it is sealed by the ticket, later, on any thread).
  // FailedPrecondition past the hard limit, InvalidArgument for a bad header or size.
  Result<SealTicket> Reserve(const FrameHeader& header, std::size_t payload_size);
  std::uint32_t spi() const { return spi_; }
  std::uint64_t last_seq() const { return seq_; }
  SaLifetime& lifetime() { return lifetime_; }

 private:
  TxSa(std::shared_ptr<SaCipher> cipher, const SaLimits& limits, const Clock& clock);
  // Checks the SA and the frame; the header to send (secured flag, payload_len).
  Result<FrameHeader> Prepare(const FrameHeader& header, std::size_t payload_size) const;
  std::uint32_t spi_;
  std::shared_ptr<SaCipher> cipher_;
  SaLifetime lifetime_;
  std::uint64_t seq_ = 0;
};

class RxSa {
 public:
  // InvalidArgument unless spi != 0, key is 32 bytes and direction is kRx.
  static Result<std::unique_ptr<RxSa>> Create(SecurityAssociation sa, const SaLimits& limits,
                                              const Clock& clock);
  // Opens a secured frame addressed to this SA. On failure returns the reason (and no
  // plaintext); the caller counts it.
  struct Opened {
    Bytes plaintext;
    std::uint64_t seq;
  };
  std::variant<Opened, DropReason> Open(const FrameHeader& header, ByteView secured_payload);
  // Opens in place: the ciphertext inside `secured_payload` is decrypted over itself and
  // `plaintext` views it (secured_payload minus the 12-byte SPI || seq prefix and the ICV).
  // On failure the reason; if the ICV was checked and failed, the ciphertext bytes of
  // `secured_payload` are zeroed (no unauthenticated plaintext is left in the buffer).
  struct OpenedInPlace {
    MutableByteView plaintext;
    std::uint64_t seq;
  };
  std::variant<OpenedInPlace, DropReason> OpenInPlace(const FrameHeader& header,
                                                      MutableByteView secured_payload);
  // The checks before decryption (flags, length, SPI, hard limit, replay window): a ticket
  // to decrypt the frame with, or the drop reason. Nothing changes in the SA.
  std::variant<OpenTicket, DropReason> Begin(const FrameHeader& header,
                                             ByteView secured_payload) const;
  // After the ticket's frame authenticated: the same checks again (a frame with the same seq
  // may have been accepted meanwhile; the SA may have passed its hard limit), then the seq is
  // marked in the window and `plaintext_size` counted. The drop reason otherwise.
  std::optional<DropReason> Commit(const FrameHeader& header, ByteView secured_payload,
                                   std::size_t plaintext_size);
  std::uint32_t spi() const { return spi_; }
  const ReplayWindow& window() const { return window_; }
  SaLifetime& lifetime() { return lifetime_; }

 private:
  RxSa(std::shared_ptr<SaCipher> cipher, const SaLimits& limits, const Clock& clock);
  // The checks of Begin: the sequence number, or the drop reason.
  std::variant<std::uint64_t, DropReason> Check(const FrameHeader& header,
                                                ByteView secured_payload) const;
  std::uint32_t spi_;
  std::shared_ptr<SaCipher> cipher_;
  SaLifetime lifetime_;
  ReplayWindow window_;
};

// The SPI of a secured payload (nullopt if shorter than SPI + seq + ICV).
std::optional<std::uint32_t> PeekSpi(ByteView secured_payload);

}  // namespace cafs::edif::link
