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
// Threading: a TxSa or RxSa is not synchronized (SaDatabase locks around them).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

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
  // used up).
  Status SealInto(const FrameHeader& header, ByteView payload, UninitBytes& wire);
  std::uint32_t spi() const { return spi_; }
  std::uint64_t last_seq() const { return seq_; }
  SaLifetime& lifetime() { return lifetime_; }

 private:
  TxSa(std::uint32_t spi, std::array<std::uint8_t, 4> salt, std::unique_ptr<crypto::Aes256Gcm> aead,
       const SaLimits& limits, const Clock& clock);
  // Checks the SA and the frame; the header to send (secured flag, payload_len).
  Result<FrameHeader> Prepare(const FrameHeader& header, ByteView payload) const;
  // Writes the wire frame of `h` (from Prepare) to `out` (its whole size) and counts it.
  Status SealTo(const FrameHeader& h, ByteView payload, std::uint8_t* out);
  std::uint32_t spi_;
  std::array<std::uint8_t, 4> salt_;
  std::unique_ptr<crypto::Aes256Gcm> aead_;
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
  std::uint32_t spi() const { return spi_; }
  const ReplayWindow& window() const { return window_; }
  SaLifetime& lifetime() { return lifetime_; }

 private:
  RxSa(std::uint32_t spi, std::array<std::uint8_t, 4> salt, std::unique_ptr<crypto::Aes256Gcm> aead,
       const SaLimits& limits, const Clock& clock);
  // The checks before decryption (flags, length, SPI, hard limit, replay window): the
  // sequence number, or the drop reason.
  std::variant<std::uint64_t, DropReason> Check(const FrameHeader& header,
                                                ByteView secured_payload) const;
  // Decrypts the ciphertext of `secured_payload` (checked) into `out` (its plaintext size;
  // out.data() may be the ciphertext itself) and, if it authenticates, accepts `seq`.
  // On failure `out` is zeroed.
  std::optional<DropReason> Decrypt(const FrameHeader& header, ByteView secured_payload,
                                    std::uint64_t seq, MutableByteView out);
  std::uint32_t spi_;
  std::array<std::uint8_t, 4> salt_;
  std::unique_ptr<crypto::Aes256Gcm> aead_;
  SaLifetime lifetime_;
  ReplayWindow window_;
};

// The SPI of a secured payload (nullopt if shorter than SPI + seq + ICV).
std::optional<std::uint32_t> PeekSpi(ByteView secured_payload);

}  // namespace cafs::edif::link
