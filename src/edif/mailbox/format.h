// Mailbox disk format constants: sector geometry, the message header layout, message types,
// flags and the mailbox error codes. The byte grammar is in docs/mailbox-protocol.md; this
// header and that document must change together.
//
// Threading: constants and pure functions only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace cafs::edif::mailbox {

inline constexpr std::size_t kSectorSize = 512;
// LBA 0..63 are reserved: reads return zeros and consume nothing, writes are rejected.
inline constexpr std::uint64_t kReservedSectors = 64;
inline constexpr std::uint64_t kReservedBytes = kReservedSectors * kSectorSize;

inline constexpr std::uint32_t kMagic = 0x58424D43u;  // bytes "CMBX" on disk
inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 64;
// A whole message (header + payload) is at most 64 KiB: one WRITE of 128 sectors.
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;
inline constexpr std::size_t kMaxPayload = kMaxMessageSize - kHeaderSize;
// Upstream messages are packed back-to-back, each padded to this alignment.
inline constexpr std::size_t kUpstreamAlign = 8;
inline constexpr std::uint32_t kPortIdMask = 0x00FFFFFFu;

// Header field offsets (little-endian).
inline constexpr std::size_t kOffMagic = 0;        // u32
inline constexpr std::size_t kOffVersion = 4;      // u16
inline constexpr std::size_t kOffType = 6;         // u16
inline constexpr std::size_t kOffFlags = 8;        // u16
inline constexpr std::size_t kOffHeaderSize = 10;  // u16, always kHeaderSize
inline constexpr std::size_t kOffPayloadLen = 12;  // u32
inline constexpr std::size_t kOffEpoch = 16;       // u64
inline constexpr std::size_t kOffSeq = 24;         // u64
inline constexpr std::size_t kOffAckSeq = 32;      // u64
inline constexpr std::size_t kOffReqId = 40;       // u64
inline constexpr std::size_t kOffWwpn = 48;        // u64
inline constexpr std::size_t kOffPortId = 56;      // u32 (24 bits used)
inline constexpr std::size_t kOffCrc = 60;         // u32 CRC32C(header with crc=0 || payload)

// Header flags.
inline constexpr std::uint16_t kFlagAckRequired = 0x0001;   // upstream: answer with EVENT_ACK
inline constexpr std::uint16_t kFlagRetransmit = 0x0002;    // sender repeats an earlier message
inline constexpr std::uint16_t kFlagReadTooSmall = 0x0004;  // NOP: head message did not fit
inline constexpr std::uint16_t kKnownFlags = kFlagAckRequired | kFlagRetransmit | kFlagReadTooSmall;

// Message types. 0x00xx downstream (agent -> driver), 0x80xx upstream (driver -> agent).
enum class MessageType : std::uint16_t {
  kAppStart = 0x0001,
  kAppStop = 0x0002,
  kGetPortInfo = 0x0003,
  kGetTargets = 0x0004,
  kAuthElsSend = 0x0005,
  kSaUpdate = 0x0006,
  kAuthResult = 0x0007,
  kEventAck = 0x0008,
  kGetStats = 0x0009,
  kKeepalive = 0x000A,

  kResult = 0x8001,
  kAuthNeeded = 0x8002,
  kElsReceived = 0x8003,
  kSaUpdateComplete = 0x8004,
  kSaExpiring = 0x8005,
  kTargetLost = 0x8006,
  kSessionShutdown = 0x8007,
  kTargetAdded = 0x8008,
  kLinkState = 0x8009,
  kEpochReset = 0x800A,
  kNop = 0x800B,
  // Reply payloads, carried inside RESULT (never sent as messages of their own).
  kPortInfo = 0x8101,
  kTargetList = 0x8102,
  kStats = 0x8103,
  kAppChallenge = 0x8104,
  kAppStartReply = 0x8105,
};

// Whether `t` is a message type (not a reply payload type) this version knows.
bool IsKnownMessageType(std::uint16_t t);
bool IsDownstream(MessageType t);
std::string_view MessageTypeName(MessageType t);

// Mailbox error codes: on the wire in RESULT.mailbox_error, and in every decode Status.
enum class MailboxError : std::uint16_t {
  kNone = 0,
  kBadMagic = 1,         // header magic is not "CMBX" (not a message, or garbage)
  kBadVersion = 2,       // header version unsupported
  kBadHeader = 3,        // header_size field, reserved bits or port id out of range
  kBadCrc = 4,           // CRC32C mismatch: torn or corrupt sector
  kUnknownType = 5,      // type not in this version's vocabulary
  kPayloadTooLong = 6,   // payload_len > kMaxPayload or beyond the buffer
  kBadPadding = 7,       // non-zero bytes in padding or after the terminator
  kTruncated = 8,        // buffer shorter than a header / declared payload
  kBadPayload = 9,       // payload does not parse for its type (lengths, enums)
  kReservedLba = 10,     // WRITE in LBA 0..63
  kMisaligned = 11,      // offset or length not whole sectors
  kOldEpoch = 12,        // message epoch is not the driver's current epoch
  kStaleSeq = 13,        // seq older than the replay window
  kNotStarted = 14,      // request before a successful APP_START
  kAuthFailed = 15,      // APP_START proof did not verify
  kWrongDirection = 16,  // an upstream type written downstream (or the reverse)
  kBadFlags = 17,        // unknown header flag set
  kExecFailed = 18,      // decoded fine; the driver could not execute it (see errno)
  kNoChallenge = 19,     // APP_START proof without a preceding HELLO
  kQueueFull = 20,       // upstream queue overflow
};

std::string_view MailboxErrorName(MailboxError e);

// A Status for `e`: the message starts with "mailbox/<name>: " so ErrorOf() can recover `e`.
// Code mapping: bad magic/version/header/crc/padding/truncated/payload -> Corruption (EIO);
// unknown type -> NotSupported; too long -> InvalidArgument; reserved LBA, auth ->
// PermissionDenied; epoch/seq/not started -> FailedPrecondition.
Status MailboxStatus(MailboxError e, std::string_view detail);
// The MailboxError carried by a Status made by MailboxStatus (kNone if OK or not ours).
MailboxError ErrorOf(const Status& status);

}  // namespace cafs::edif::mailbox
