#include "edif/link/security_association.h"

#include <algorithm>
#include <array>

#include "crypto/rng.h"

namespace cafs::edif::link {
namespace {

using Nonce = std::array<std::uint8_t, crypto::Aes256Gcm::kNonceSize>;

Nonce MakeNonce(const std::array<std::uint8_t, 4>& salt, const std::uint8_t* seq_wire) {
  Nonce n{};
  std::copy(salt.begin(), salt.end(), n.begin());
  std::copy(seq_wire, seq_wire + kSeqSize, n.begin() + 4);
  return n;
}

Status CheckSa(const SecurityAssociation& sa, Direction want) {
  if (sa.spi == 0) return Status::InvalidArgument("SPI 0 is reserved");
  if (sa.key.size() != crypto::Aes256Gcm::kKeySize) {
    return Status::InvalidArgument("SA key must be 32 bytes (AES-256-GCM)");
  }
  if (sa.direction != want) return Status::InvalidArgument("SA direction mismatch");
  return Status::OK();
}

// A uniformly random fraction in [0, 1).
double RandomFraction() {
  std::array<std::uint8_t, 4> r{};
  if (!crypto::RandomBytes(r).ok()) return 0.5;
  return static_cast<double>(LoadLe32(r.data())) / 4294967296.0;
}

constexpr std::array<std::string_view, static_cast<std::size_t>(DropReason::kCount)> kDropNames = {
    "malformed", "unknown_spi", "replay", "too_old", "auth_failed", "hard_limit", "cleartext"};

}  // namespace

std::string_view DropReasonName(DropReason r) {
  const auto i = static_cast<std::size_t>(r);
  return i < kDropNames.size() ? kDropNames[i] : "unknown";
}

std::optional<DropReason> ReplayWindow::Check(std::uint64_t seq) const {
  if (seq == 0) return DropReason::kTooOld;
  if (seq > top_) return std::nullopt;
  const std::uint64_t diff = top_ - seq;
  if (diff >= kReplayWindow) return DropReason::kTooOld;
  if ((bitmap_ >> diff) & 1u) return DropReason::kReplay;
  return std::nullopt;
}

void ReplayWindow::Accept(std::uint64_t seq) {
  if (seq > top_) {
    const std::uint64_t shift = seq - top_;
    bitmap_ = shift >= kReplayWindow ? 0u : static_cast<std::uint32_t>(bitmap_ << shift);
    bitmap_ |= 1u;
    top_ = seq;
  } else {
    bitmap_ |= 1u << (top_ - seq);
  }
}

SaLifetime::SaLifetime(const SaLimits& limits, const Clock& clock)
    : limits_(limits), clock_(clock), created_(clock.MonotonicNow()) {
  const double jitter = std::clamp(limits_.jitter, 0.0, 0.5);
  const auto soft = limits_.soft_lifetime;
  const auto cut = std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(soft.count()) * jitter * RandomFraction()));
  soft_deadline_ = created_ + (soft - cut);
}

void SaLifetime::Count(std::uint64_t bytes) {
  counters_.bytes += bytes;
  counters_.frames += 1;
}

bool SaLifetime::hard_expired() const {
  return counters_.bytes >= limits_.hard_bytes || counters_.frames >= limits_.hard_frames ||
         clock_.MonotonicNow() - created_ >= limits_.hard_lifetime;
}

std::optional<ExpiryReason> SaLifetime::TakeExpiring() {
  if (expiring_reported_) return std::nullopt;
  std::optional<ExpiryReason> r;
  if (counters_.bytes >= limits_.soft_bytes) {
    r = ExpiryReason::kBytes;
  } else if (counters_.frames >= limits_.soft_frames) {
    r = ExpiryReason::kFrames;
  } else if (clock_.MonotonicNow() >= soft_deadline_) {
    r = ExpiryReason::kTime;
  }
  if (r) expiring_reported_ = true;
  return r;
}

TxSa::TxSa(std::uint32_t spi, std::array<std::uint8_t, 4> salt,
           std::unique_ptr<crypto::Aes256Gcm> aead, const SaLimits& limits, const Clock& clock)
    : spi_(spi), salt_(salt), aead_(std::move(aead)), lifetime_(limits, clock) {}

Result<std::unique_ptr<TxSa>> TxSa::Create(SecurityAssociation sa, const SaLimits& limits,
                                           const Clock& clock) {
  CAFS_RETURN_IF_ERROR(CheckSa(sa, Direction::kTx));
  CAFS_ASSIGN_OR_RETURN(auto aead, crypto::Aes256Gcm::Create(sa.key.view()));
  return std::unique_ptr<TxSa>(new TxSa(sa.spi, sa.salt, std::move(aead), limits, clock));
}

Result<FrameHeader> TxSa::Prepare(const FrameHeader& header, ByteView payload) const {
  if (lifetime_.hard_expired()) return Status::FailedPrecondition("TX SA past its hard limit");
  if (payload.size() > kMaxFramePayload - kSecuredOverhead) {
    return Status::InvalidArgument("payload too long to seal in one frame");
  }
  FrameHeader h = header;
  h.flags |= kFrameSecured;
  h.payload_len = static_cast<std::uint32_t>(kSecuredOverhead + payload.size());
  if (((h.src_port_id | h.dst_port_id) & ~kPortIdMask) != 0) {
    return Status::InvalidArgument("frame port id wider than 24 bits");
  }
  return h;
}

Status TxSa::SealTo(const FrameHeader& h, ByteView payload, std::uint8_t* p) {
  const std::uint64_t seq = seq_ + 1;
  StoreLe32(p, static_cast<std::uint32_t>(kFrameHeaderSize + h.payload_len));
  StoreFrameHeader(h, p + kLengthPrefixSize);
  std::uint8_t* esp = p + kLengthPrefixSize + kFrameHeaderSize;
  StoreLe32(esp, spi_);
  StoreLe64(esp + kSpiSize, seq);
  const Nonce nonce = MakeNonce(salt_, esp + kSpiSize);
  const ByteView aad(p + kLengthPrefixSize, kAadSize);
  CAFS_RETURN_IF_ERROR(aead_->Seal(
      nonce, aad, payload, MutableByteView(esp + kSpiSize + kSeqSize, payload.size() + kIcvSize)));
  seq_ = seq;
  lifetime_.Count(payload.size());
  return Status::OK();
}

Result<Bytes> TxSa::Seal(const FrameHeader& header, ByteView payload) {
  CAFS_ASSIGN_OR_RETURN(const FrameHeader h, Prepare(header, payload));
  Bytes out(kLengthPrefixSize + kFrameHeaderSize + h.payload_len);
  CAFS_RETURN_IF_ERROR(SealTo(h, payload, out.data()));
  return out;
}

Status TxSa::SealInto(const FrameHeader& header, ByteView payload, UninitBytes& wire) {
  wire.clear();
  CAFS_ASSIGN_OR_RETURN(const FrameHeader h, Prepare(header, payload));
  wire.resize(kLengthPrefixSize + kFrameHeaderSize + h.payload_len);
  Status st = SealTo(h, payload, wire.data());
  if (!st.ok()) wire.clear();
  return st;
}

RxSa::RxSa(std::uint32_t spi, std::array<std::uint8_t, 4> salt,
           std::unique_ptr<crypto::Aes256Gcm> aead, const SaLimits& limits, const Clock& clock)
    : spi_(spi), salt_(salt), aead_(std::move(aead)), lifetime_(limits, clock) {}

Result<std::unique_ptr<RxSa>> RxSa::Create(SecurityAssociation sa, const SaLimits& limits,
                                           const Clock& clock) {
  CAFS_RETURN_IF_ERROR(CheckSa(sa, Direction::kRx));
  CAFS_ASSIGN_OR_RETURN(auto aead, crypto::Aes256Gcm::Create(sa.key.view()));
  return std::unique_ptr<RxSa>(new RxSa(sa.spi, sa.salt, std::move(aead), limits, clock));
}

std::optional<std::uint32_t> PeekSpi(ByteView secured_payload) {
  if (secured_payload.size() < kSecuredOverhead) return std::nullopt;
  return LoadLe32(secured_payload.data());
}

std::variant<std::uint64_t, DropReason> RxSa::Check(const FrameHeader& header,
                                                    ByteView secured_payload) const {
  if ((header.flags & kFrameSecured) == 0 || secured_payload.size() < kSecuredOverhead ||
      header.payload_len != secured_payload.size()) {
    return DropReason::kMalformed;
  }
  if (LoadLe32(secured_payload.data()) != spi_) return DropReason::kUnknownSpi;
  if (lifetime_.hard_expired()) return DropReason::kHardLimit;
  const std::uint64_t seq = LoadLe64(secured_payload.data() + kSpiSize);
  if (auto bad = window_.Check(seq)) return *bad;
  return seq;
}

std::optional<DropReason> RxSa::Decrypt(const FrameHeader& header, ByteView secured_payload,
                                        std::uint64_t seq, MutableByteView out) {
  std::array<std::uint8_t, kAadSize> aad{};
  StoreFrameHeader(header, aad.data());
  std::copy(secured_payload.begin(), secured_payload.begin() + kSpiSize + kSeqSize,
            aad.begin() + kFrameHeaderSize);
  const Nonce nonce = MakeNonce(salt_, secured_payload.data() + kSpiSize);
  const ByteView sealed = secured_payload.subspan(kSpiSize + kSeqSize);
  if (!aead_->Open(nonce, aad, sealed, out).ok()) {
    // Aes256Gcm zeroes `out` on a tag mismatch; clear it on any other failure too.
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    return DropReason::kAuthFailed;
  }
  window_.Accept(seq);
  lifetime_.Count(out.size());
  return std::nullopt;
}

std::variant<RxSa::Opened, DropReason> RxSa::Open(const FrameHeader& header,
                                                  ByteView secured_payload) {
  const auto checked = Check(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&checked)) return *bad;
  Opened opened;
  opened.seq = std::get<std::uint64_t>(checked);
  opened.plaintext.resize(secured_payload.size() - kSecuredOverhead);
  if (auto bad = Decrypt(header, secured_payload, opened.seq, opened.plaintext)) return *bad;
  return opened;
}

std::variant<RxSa::OpenedInPlace, DropReason> RxSa::OpenInPlace(const FrameHeader& header,
                                                                MutableByteView secured_payload) {
  const auto checked = Check(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&checked)) return *bad;
  OpenedInPlace opened;
  opened.seq = std::get<std::uint64_t>(checked);
  // EVP GCM decrypts in place when the output is exactly the input (no partial overlap).
  opened.plaintext =
      secured_payload.subspan(kSpiSize + kSeqSize, secured_payload.size() - kSecuredOverhead);
  if (auto bad = Decrypt(header, secured_payload, opened.seq, opened.plaintext)) return *bad;
  return opened;
}

}  // namespace cafs::edif::link
