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

SaCipher::SaCipher(std::uint32_t spi, std::array<std::uint8_t, 4> salt, SecureBuffer key,
                   std::unique_ptr<crypto::Aes256Gcm> first)
    : spi_(spi), salt_(salt), key_(std::move(key)) {
  idle_.push_back(std::move(first));
}

Result<std::shared_ptr<SaCipher>> SaCipher::Create(const SecurityAssociation& sa) {
  CAFS_ASSIGN_OR_RETURN(auto first, crypto::Aes256Gcm::Create(sa.key.view()));
  return std::shared_ptr<SaCipher>(new SaCipher(sa.spi, sa.salt, sa.key.Clone(), std::move(first)));
}

Result<std::unique_ptr<crypto::Aes256Gcm>> SaCipher::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto ctx = std::move(idle_.back());
      idle_.pop_back();
      return ctx;
    }
  }
  return crypto::Aes256Gcm::Create(key_.view());
}

void SaCipher::Release(std::unique_ptr<crypto::Aes256Gcm> ctx) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(ctx));
}

template <typename Fn>
Status SaCipher::WithContext(Fn&& fn) {
  CAFS_ASSIGN_OR_RETURN(auto ctx, Acquire());
  Status st = fn(*ctx);
  Release(std::move(ctx));
  return st;
}

Status SaCipher::Seal(const std::uint8_t* seq_wire, ByteView aad, ByteView plaintext,
                      MutableByteView out) {
  return WithContext([&](crypto::Aes256Gcm& c) {
    return c.Seal(MakeNonce(salt_, seq_wire), aad, plaintext, out);
  });
}

Status SaCipher::Open(const std::uint8_t* seq_wire, ByteView aad, ByteView in,
                      MutableByteView out) {
  return WithContext(
      [&](crypto::Aes256Gcm& c) { return c.Open(MakeNonce(salt_, seq_wire), aad, in, out); });
}

Status SealTicket::SealInto(ByteView payload, UninitBytes& wire) const {
  wire.clear();
  if (payload.size() + kSecuredOverhead != header_.payload_len) {
    return Status::InvalidArgument("payload size differs from the reserved frame");
  }
  wire.resize(kLengthPrefixSize + kFrameHeaderSize + header_.payload_len);
  std::uint8_t* p = wire.data();
  StoreLe32(p, static_cast<std::uint32_t>(kFrameHeaderSize + header_.payload_len));
  StoreFrameHeader(header_, p + kLengthPrefixSize);
  std::uint8_t* esp = p + kLengthPrefixSize + kFrameHeaderSize;
  StoreLe32(esp, cipher_->spi());
  StoreLe64(esp + kSpiSize, seq_);
  const ByteView aad(p + kLengthPrefixSize, kAadSize);
  Status st = cipher_->Seal(esp + kSpiSize, aad, payload,
                            MutableByteView(esp + kSpiSize + kSeqSize, payload.size() + kIcvSize));
  if (!st.ok()) wire.clear();
  return st;
}

std::variant<MutableByteView, DropReason> OpenTicket::DecryptInPlace(
    const FrameHeader& header, MutableByteView secured_payload) const {
  std::array<std::uint8_t, kAadSize> aad{};
  StoreFrameHeader(header, aad.data());
  std::copy(secured_payload.begin(), secured_payload.begin() + kSpiSize + kSeqSize,
            aad.begin() + kFrameHeaderSize);
  // EVP GCM decrypts in place when the output is exactly the input (no partial overlap).
  const MutableByteView sealed = secured_payload.subspan(kSpiSize + kSeqSize);
  const MutableByteView out = sealed.first(sealed.size() - kIcvSize);
  if (!cipher_->Open(secured_payload.data() + kSpiSize, aad, sealed, out).ok()) {
    // Aes256Gcm zeroes `out` on a tag mismatch; clear it on any other failure too.
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    return DropReason::kAuthFailed;
  }
  return out;
}

TxSa::TxSa(std::shared_ptr<SaCipher> cipher, const SaLimits& limits, const Clock& clock)
    : spi_(cipher->spi()), cipher_(std::move(cipher)), lifetime_(limits, clock) {}

Result<std::unique_ptr<TxSa>> TxSa::Create(SecurityAssociation sa, const SaLimits& limits,
                                           const Clock& clock) {
  CAFS_RETURN_IF_ERROR(CheckSa(sa, Direction::kTx));
  CAFS_ASSIGN_OR_RETURN(auto cipher, SaCipher::Create(sa));
  return std::unique_ptr<TxSa>(new TxSa(std::move(cipher), limits, clock));
}

Result<FrameHeader> TxSa::Prepare(const FrameHeader& header, std::size_t payload_size) const {
  if (lifetime_.hard_expired()) return Status::FailedPrecondition("TX SA past its hard limit");
  if (payload_size > kMaxFramePayload - kSecuredOverhead) {
    return Status::InvalidArgument("payload too long to seal in one frame");
  }
  FrameHeader h = header;
  h.flags |= kFrameSecured;
  h.payload_len = static_cast<std::uint32_t>(kSecuredOverhead + payload_size);
  if (((h.src_port_id | h.dst_port_id) & ~kPortIdMask) != 0) {
    return Status::InvalidArgument("frame port id wider than 24 bits");
  }
  return h;
}

Result<SealTicket> TxSa::Reserve(const FrameHeader& header, std::size_t payload_size) {
  CAFS_ASSIGN_OR_RETURN(const FrameHeader h, Prepare(header, payload_size));
  SealTicket t;
  t.header_ = h;
  t.seq_ = ++seq_;
  t.cipher_ = cipher_;
  lifetime_.Count(payload_size);
  return t;
}

Result<Bytes> TxSa::Seal(const FrameHeader& header, ByteView payload) {
  UninitBytes wire;
  CAFS_RETURN_IF_ERROR(SealInto(header, payload, wire));
  return Bytes(wire.begin(), wire.end());
}

Status TxSa::SealInto(const FrameHeader& header, ByteView payload, UninitBytes& wire) {
  wire.clear();
  CAFS_ASSIGN_OR_RETURN(const SealTicket t, Reserve(header, payload.size()));
  return t.SealInto(payload, wire);
}

RxSa::RxSa(std::shared_ptr<SaCipher> cipher, const SaLimits& limits, const Clock& clock)
    : spi_(cipher->spi()), cipher_(std::move(cipher)), lifetime_(limits, clock) {}

Result<std::unique_ptr<RxSa>> RxSa::Create(SecurityAssociation sa, const SaLimits& limits,
                                           const Clock& clock) {
  CAFS_RETURN_IF_ERROR(CheckSa(sa, Direction::kRx));
  CAFS_ASSIGN_OR_RETURN(auto cipher, SaCipher::Create(sa));
  return std::unique_ptr<RxSa>(new RxSa(std::move(cipher), limits, clock));
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

std::variant<OpenTicket, DropReason> RxSa::Begin(const FrameHeader& header,
                                                 ByteView secured_payload) const {
  const auto checked = Check(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&checked)) return *bad;
  OpenTicket t;
  t.seq_ = std::get<std::uint64_t>(checked);
  t.cipher_ = cipher_;
  return t;
}

std::optional<DropReason> RxSa::Commit(const FrameHeader& header, ByteView secured_payload,
                                       std::size_t plaintext_size) {
  const auto checked = Check(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&checked)) return *bad;
  window_.Accept(std::get<std::uint64_t>(checked));
  lifetime_.Count(plaintext_size);
  return std::nullopt;
}

std::variant<RxSa::Opened, DropReason> RxSa::Open(const FrameHeader& header,
                                                  ByteView secured_payload) {
  Bytes buf(secured_payload.begin(), secured_payload.end());
  auto r = OpenInPlace(header, buf);
  if (const auto* bad = std::get_if<DropReason>(&r)) return *bad;
  const auto& in_place = std::get<OpenedInPlace>(r);
  return Opened{Bytes(in_place.plaintext.begin(), in_place.plaintext.end()), in_place.seq};
}

std::variant<RxSa::OpenedInPlace, DropReason> RxSa::OpenInPlace(const FrameHeader& header,
                                                                MutableByteView secured_payload) {
  auto begun = Begin(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&begun)) return *bad;
  const OpenTicket& t = std::get<OpenTicket>(begun);
  auto decrypted = t.DecryptInPlace(header, secured_payload);
  if (const auto* bad = std::get_if<DropReason>(&decrypted)) return *bad;
  const MutableByteView plain = std::get<MutableByteView>(decrypted);
  if (auto bad = Commit(header, secured_payload, plain.size())) {
    std::fill(plain.begin(), plain.end(), std::uint8_t{0});
    return *bad;
  }
  return OpenedInPlace{plain, t.seq()};
}

}  // namespace cafs::edif::link
