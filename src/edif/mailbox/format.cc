#include "edif/mailbox/format.h"

#include <array>
#include <string>

namespace cafs::edif::mailbox {
namespace {

struct TypeName {
  MessageType type;
  std::string_view name;
  bool message;  // a message of its own (false: a reply payload inside RESULT)
};

constexpr std::array kTypes = {
    TypeName{MessageType::kAppStart, "APP_START", true},
    TypeName{MessageType::kAppStop, "APP_STOP", true},
    TypeName{MessageType::kGetPortInfo, "GET_PORT_INFO", true},
    TypeName{MessageType::kGetTargets, "GET_TARGETS", true},
    TypeName{MessageType::kAuthElsSend, "AUTH_ELS_SEND", true},
    TypeName{MessageType::kSaUpdate, "SA_UPDATE", true},
    TypeName{MessageType::kAuthResult, "AUTH_RESULT", true},
    TypeName{MessageType::kEventAck, "EVENT_ACK", true},
    TypeName{MessageType::kGetStats, "GET_STATS", true},
    TypeName{MessageType::kKeepalive, "KEEPALIVE", true},
    TypeName{MessageType::kResult, "RESULT", true},
    TypeName{MessageType::kAuthNeeded, "AUTH_NEEDED", true},
    TypeName{MessageType::kElsReceived, "ELS_RECEIVED", true},
    TypeName{MessageType::kSaUpdateComplete, "SA_UPDATE_COMPLETE", true},
    TypeName{MessageType::kSaExpiring, "SA_EXPIRING", true},
    TypeName{MessageType::kTargetLost, "TARGET_LOST", true},
    TypeName{MessageType::kSessionShutdown, "SESSION_SHUTDOWN", true},
    TypeName{MessageType::kTargetAdded, "TARGET_ADDED", true},
    TypeName{MessageType::kLinkState, "LINK_STATE", true},
    TypeName{MessageType::kEpochReset, "EPOCH_RESET", true},
    TypeName{MessageType::kNop, "NOP", true},
    TypeName{MessageType::kPortInfo, "PORT_INFO", false},
    TypeName{MessageType::kTargetList, "TARGET_LIST", false},
    TypeName{MessageType::kStats, "STATS", false},
    TypeName{MessageType::kAppChallenge, "APP_CHALLENGE", false},
    TypeName{MessageType::kAppStartReply, "APP_START_REPLY", false},
};

constexpr std::array<std::string_view, 21> kErrorNames = {
    "none",         "bad_magic",        "bad_version", "bad_header",  "bad_crc",
    "unknown_type", "payload_too_long", "bad_padding", "truncated",   "bad_payload",
    "reserved_lba", "misaligned",       "old_epoch",   "stale_seq",   "not_started",
    "auth_failed",  "wrong_direction",  "bad_flags",   "exec_failed", "no_challenge",
    "queue_full",
};

constexpr std::string_view kPrefix = "mailbox/";

}  // namespace

bool IsKnownMessageType(std::uint16_t t) {
  for (const TypeName& n : kTypes) {
    if (static_cast<std::uint16_t>(n.type) == t) return n.message;
  }
  return false;
}

bool IsDownstream(MessageType t) { return (static_cast<std::uint16_t>(t) & 0x8000u) == 0; }

std::string_view MessageTypeName(MessageType t) {
  for (const TypeName& n : kTypes) {
    if (n.type == t) return n.name;
  }
  return "UNKNOWN";
}

std::string_view MailboxErrorName(MailboxError e) {
  const auto i = static_cast<std::size_t>(e);
  return i < kErrorNames.size() ? kErrorNames[i] : "unknown_error";
}

Status MailboxStatus(MailboxError e, std::string_view detail) {
  std::string msg(kPrefix);
  msg += MailboxErrorName(e);
  msg += ": ";
  msg += detail;
  switch (e) {
    case MailboxError::kNone:
      return Status::OK();
    case MailboxError::kUnknownType:
      return Status::NotSupported(msg);
    case MailboxError::kPayloadTooLong:
    case MailboxError::kMisaligned:
    case MailboxError::kWrongDirection:
      return Status::InvalidArgument(msg);
    case MailboxError::kReservedLba:
    case MailboxError::kAuthFailed:
      return Status::PermissionDenied(msg);
    case MailboxError::kOldEpoch:
    case MailboxError::kStaleSeq:
    case MailboxError::kNotStarted:
    case MailboxError::kNoChallenge:
      return Status::FailedPrecondition(msg);
    case MailboxError::kQueueFull:
      return Status::Unavailable(msg);
    case MailboxError::kExecFailed:
      return Status::Internal(msg);
    default:
      return Status::Corruption(msg);
  }
}

MailboxError ErrorOf(const Status& status) {
  if (status.ok()) return MailboxError::kNone;
  const std::string& m = status.message();
  const std::size_t at = m.find(kPrefix);
  if (at == std::string::npos) return MailboxError::kNone;
  const std::string_view rest = std::string_view(m).substr(at + kPrefix.size());
  for (std::size_t i = 1; i < kErrorNames.size(); ++i) {
    const std::string_view n = kErrorNames[i];
    if (rest.size() > n.size() && rest.substr(0, n.size()) == n && rest[n.size()] == ':') {
      return static_cast<MailboxError>(i);
    }
  }
  return MailboxError::kNone;
}

}  // namespace cafs::edif::mailbox
