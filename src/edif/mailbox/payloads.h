// Typed payloads of every mailbox message and reply, with encoders and decoders.
//
// Decoders check every length against the buffer and the limits below and every enum value;
// a failure is MailboxStatus(kBadPayload) (or kPayloadTooLong for an over-limit field).
// Trailing bytes after a payload are an error: a payload is exactly as long as its fields.
// Key material (SA_UPDATE) decodes into a SecureBuffer.
//
// Layouts: docs/mailbox-protocol.md. Threading: pure functions, safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "edif/mailbox/format.h"
#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::edif::mailbox {

inline constexpr std::size_t kNonceSize = 32;
inline constexpr std::size_t kProofSize = 32;
inline constexpr std::size_t kMaxAppIdLen = 64;
inline constexpr std::size_t kMaxDetailLen = 256;
inline constexpr std::size_t kMaxElsFrame = 32 * 1024;
inline constexpr std::size_t kMaxTargets = 1024;
inline constexpr std::size_t kMaxStatsEntries = 1024;

using Nonce = std::array<std::uint8_t, kNonceSize>;
using Proof = std::array<std::uint8_t, kProofSize>;

// ---- downstream ----
enum class AppStartPhase : std::uint8_t { kHello = 1, kProve = 2 };
struct AppStart {
  AppStartPhase phase = AppStartPhase::kHello;
  std::uint32_t app_version = 0;
  std::uint64_t capabilities = 0;
  Nonce agent_nonce{};
  Proof proof{};       // zero in HELLO
  std::string app_id;  // <= kMaxAppIdLen bytes
  bool operator==(const AppStart&) const = default;
};
struct AppStop {
  std::uint32_t reason = 0;
  bool operator==(const AppStop&) const = default;
};
struct GetPortInfo {
  bool operator==(const GetPortInfo&) const = default;
};
struct GetTargets {
  std::uint32_t start_index = 0;
  std::uint32_t max_entries = 0;  // 0: as many as fit
  bool operator==(const GetTargets&) const = default;
};
// ELS flags (AUTH_ELS_SEND and ELS_RECEIVED).
inline constexpr std::uint16_t kElsNewExchange = 0x0001;
inline constexpr std::uint16_t kElsReply = 0x0002;
inline constexpr std::uint16_t kElsReject = 0x0004;
inline constexpr std::uint16_t kElsLast = 0x0008;  // last frame of the exchange
struct ElsFrame {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  std::uint32_t exchange_id = 0;
  std::uint16_t flags = 0;
  Bytes frame;  // opaque, <= kMaxElsFrame
  bool operator==(const ElsFrame&) const = default;
};
struct AuthElsSend : ElsFrame {};
enum class SaDirection : std::uint8_t { kRx = 1, kTx = 2 };
enum class SaOp : std::uint8_t { kAdd = 1, kDelete = 2 };
inline constexpr std::uint16_t kSaFlagForceDelete = 0x0001;
struct SaUpdate {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  SaDirection direction = SaDirection::kRx;
  SaOp op = SaOp::kAdd;
  std::uint16_t flags = 0;
  std::uint32_t spi = 0;
  SecureBuffer key;  // 16 or 32 bytes for kAdd, empty for kDelete
  std::array<std::uint8_t, 4> salt{};
};
enum class AuthOutcome : std::uint8_t { kOk = 1, kFail = 2 };
struct AuthResult {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  AuthOutcome outcome = AuthOutcome::kOk;
  std::uint32_t reason = 0;
  bool operator==(const AuthResult&) const = default;
};
struct EventAck {
  std::uint64_t acked_seq = 0;
  MessageType event_type = MessageType::kNop;
  std::uint32_t target_port_id = 0;
  bool operator==(const EventAck&) const = default;
};
struct GetStats {
  std::uint64_t target_wwpn = 0;  // 0: every target
  bool operator==(const GetStats&) const = default;
};
struct Keepalive {
  bool operator==(const Keepalive&) const = default;
};

// ---- upstream ----
struct ResultMsg {
  MessageType req_type = MessageType::kNop;  // type of the request answered
  MailboxError mailbox_error = MailboxError::kNone;
  std::uint32_t err = 0;         // errno-style, 0 = success
  std::string detail;            // <= kMaxDetailLen
  std::uint16_t reply_type = 0;  // 0 or a reply payload type (kPortInfo ...)
  Bytes reply;                   // encoded reply payload
  bool operator==(const ResultMsg&) const = default;
};
enum class AuthReason : std::uint32_t { kLogin = 1, kRekey = 2, kPeerRequest = 3 };
struct AuthNeeded {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  std::uint32_t reason = 0;
  bool operator==(const AuthNeeded&) const = default;
};
struct ElsReceived : ElsFrame {};
struct SaUpdateComplete {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  std::uint32_t spi = 0;
  SaDirection direction = SaDirection::kRx;
  SaOp op = SaOp::kAdd;
  std::uint32_t err = 0;
  bool operator==(const SaUpdateComplete&) const = default;
};
enum class ExpiryReason : std::uint8_t { kBytes = 1, kFrames = 2, kTime = 3 };
struct SaExpiring {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  std::uint32_t spi = 0;
  SaDirection direction = SaDirection::kTx;
  ExpiryReason reason = ExpiryReason::kTime;
  bool operator==(const SaExpiring&) const = default;
};
// TARGET_LOST, SESSION_SHUTDOWN and TARGET_ADDED share one layout.
struct TargetEvent {
  std::uint64_t target_wwpn = 0;
  std::uint32_t target_port_id = 0;
  std::uint32_t reason = 0;
  bool operator==(const TargetEvent&) const = default;
};
enum class LinkStateValue : std::uint8_t { kDown = 0, kUp = 1 };
struct LinkState {
  LinkStateValue state = LinkStateValue::kDown;
  std::uint32_t speed_mbps = 0;
  bool operator==(const LinkState&) const = default;
};
struct EpochReset {
  std::uint64_t new_epoch = 0;
  std::uint32_t reason = 0;
  bool operator==(const EpochReset&) const = default;
};
struct Nop {
  bool operator==(const Nop&) const = default;
};

// ---- reply payloads (inside RESULT) ----
inline constexpr std::uint8_t kPortEdifCapable = 0x01;
struct PortInfo {
  std::uint64_t wwpn = 0;
  std::uint64_t node_wwn = 0;
  std::uint32_t port_id = 0;
  LinkStateValue link_state = LinkStateValue::kDown;
  std::uint8_t port_flags = 0;
  std::uint32_t speed_mbps = 0;
  bool operator==(const PortInfo&) const = default;
};
enum class TargetState : std::uint8_t {
  kOffline = 0,
  kLoggedIn = 1,
  kOnlineClear = 2,
  kOnlineSecure = 3
};
enum class TargetAuthState : std::uint8_t {
  kNone = 0,
  kPending = 1,
  kAuthenticated = 2,
  kFailed = 3
};
inline constexpr std::uint16_t kTargetRequireSecure = 0x0001;
struct TargetEntry {
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;
  TargetState state = TargetState::kOffline;
  TargetAuthState auth_state = TargetAuthState::kNone;
  std::uint16_t flags = 0;
  bool operator==(const TargetEntry&) const = default;
};
struct TargetList {
  std::uint32_t total = 0;  // targets known in all (entries may be a page of them)
  std::vector<TargetEntry> entries;
  bool operator==(const TargetList&) const = default;
};
struct StatsEntry {
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;
  std::uint32_t rekey_count = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_frames = 0;
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_dropped = 0;
  bool operator==(const StatsEntry&) const = default;
};
struct Stats {
  std::vector<StatsEntry> entries;
  bool operator==(const Stats&) const = default;
};
struct AppChallenge {
  Nonce driver_nonce{};
  std::uint64_t epoch = 0;  // the epoch the PROVE must name
  bool operator==(const AppChallenge&) const = default;
};
struct AppStartReply {
  std::uint64_t epoch = 0;
  std::uint32_t nop_timeout_ms = 0;
  std::uint32_t keepalive_timeout_ms = 0;
  std::uint32_t max_message = 0;
  std::uint64_t capabilities = 0;
  Proof driver_proof{};
  bool operator==(const AppStartReply&) const = default;
};

// Payload of a message of its own, by type (reply payloads are decoded with DecodeReply).
using Payload =
    std::variant<AppStart, AppStop, GetPortInfo, GetTargets, AuthElsSend, SaUpdate, AuthResult,
                 EventAck, GetStats, Keepalive, ResultMsg, AuthNeeded, ElsReceived,
                 SaUpdateComplete, SaExpiring, TargetEvent, LinkState, EpochReset, Nop>;

// Encoders (infallible: callers build values within the limits; over-limit strings and
// frames are a bug checked by Encode* returning InvalidArgument).
Result<Bytes> EncodePayload(const AppStart& v);
Bytes EncodePayload(const AppStop& v);
Bytes EncodePayload(const GetPortInfo& v);
Bytes EncodePayload(const GetTargets& v);
Result<Bytes> EncodePayload(const ElsFrame& v);
Result<Bytes> EncodePayload(const SaUpdate& v);  // the returned buffer holds the key: wipe it
Bytes EncodePayload(const AuthResult& v);
Bytes EncodePayload(const EventAck& v);
Bytes EncodePayload(const GetStats& v);
Bytes EncodePayload(const Keepalive& v);
Result<Bytes> EncodePayload(const ResultMsg& v);
Bytes EncodePayload(const AuthNeeded& v);
Bytes EncodePayload(const SaUpdateComplete& v);
Bytes EncodePayload(const SaExpiring& v);
Bytes EncodePayload(const TargetEvent& v);
Bytes EncodePayload(const LinkState& v);
Bytes EncodePayload(const EpochReset& v);
Bytes EncodePayload(const Nop& v);
Bytes EncodePayload(const PortInfo& v);
Result<Bytes> EncodePayload(const TargetList& v);
Result<Bytes> EncodePayload(const Stats& v);
Bytes EncodePayload(const AppChallenge& v);
Bytes EncodePayload(const AppStartReply& v);

// Decodes the payload of a message of type `type` (a message type, not a reply type).
Result<Payload> DecodePayload(MessageType type, ByteView payload);

// Reply payload decoders (RESULT.reply of the matching reply_type).
Result<PortInfo> DecodePortInfo(ByteView b);
Result<TargetList> DecodeTargetList(ByteView b);
Result<Stats> DecodeStats(ByteView b);
Result<AppChallenge> DecodeAppChallenge(ByteView b);
Result<AppStartReply> DecodeAppStartReply(ByteView b);

}  // namespace cafs::edif::mailbox
