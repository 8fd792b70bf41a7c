#include "edif/mailbox/payloads.h"

#include <algorithm>

namespace cafs::edif::mailbox {
namespace {

class Writer {
 public:
  void U8(std::uint8_t v) { out_.push_back(v); }
  void U16(std::uint16_t v) { Put(v, 2); }
  void U32(std::uint32_t v) { Put(v, 4); }
  void U64(std::uint64_t v) { Put(v, 8); }
  void Raw(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void Zeros(std::size_t n) { out_.insert(out_.end(), n, 0); }
  Bytes Take() { return std::move(out_); }

 private:
  void Put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes out_;
};

// Reads fields in order; any read past the end sets a sticky failure.
class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  std::uint8_t U8() { return static_cast<std::uint8_t>(Get(1)); }
  std::uint16_t U16() { return static_cast<std::uint16_t>(Get(2)); }
  std::uint32_t U32() { return static_cast<std::uint32_t>(Get(4)); }
  std::uint64_t U64() { return Get(8); }
  ByteView Raw(std::size_t n) {
    if (!ok_ || n > b_.size() - off_) {
      ok_ = false;
      return {};
    }
    ByteView v = b_.subspan(off_, n);
    off_ += n;
    return v;
  }
  template <std::size_t N>
  void Array(std::array<std::uint8_t, N>& a) {
    ByteView v = Raw(N);
    if (ok_) std::copy(v.begin(), v.end(), a.begin());
  }
  // Zero bytes that must stay zero (reserved / padding).
  void Reserved(std::size_t n) {
    ByteView v = Raw(n);
    if (std::any_of(v.begin(), v.end(), [](std::uint8_t x) { return x != 0; })) ok_ = false;
  }
  void Fail() { ok_ = false; }
  // OK if every field was read and nothing is left over.
  Status Finish(std::string_view what) const {
    if (!ok_) return MailboxStatus(MailboxError::kBadPayload, std::string(what) + " malformed");
    if (off_ != b_.size()) {
      return MailboxStatus(MailboxError::kBadPayload, std::string(what) + " has trailing bytes");
    }
    return Status::OK();
  }

 private:
  std::uint64_t Get(int n) {
    ByteView v = Raw(static_cast<std::size_t>(n));
    if (!ok_) return 0;
    std::uint64_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = (x << 8) | v[static_cast<std::size_t>(i)];
    return x;
  }
  ByteView b_;
  std::size_t off_ = 0;
  bool ok_ = true;
};

Status TooLong(std::string_view what) {
  return MailboxStatus(MailboxError::kPayloadTooLong, std::string(what) + " over its limit");
}

bool ValidDirection(std::uint8_t v) { return v == 1 || v == 2; }

void WriteTargetEntry(Writer& w, const TargetEntry& e) {
  w.U64(e.wwpn);
  w.U32(e.port_id);
  w.U8(static_cast<std::uint8_t>(e.state));
  w.U8(static_cast<std::uint8_t>(e.auth_state));
  w.U16(e.flags);
}

Result<ElsFrame> DecodeEls(ByteView b) {
  Reader r(b);
  ElsFrame v;
  v.target_wwpn = r.U64();
  v.target_port_id = r.U32();
  v.exchange_id = r.U32();
  v.flags = r.U16();
  r.Reserved(2);
  const std::uint32_t len = r.U32();
  if (len > kMaxElsFrame) return TooLong("ELS frame");
  ByteView f = r.Raw(len);
  CAFS_RETURN_IF_ERROR(r.Finish("ELS frame"));
  if ((v.target_port_id & ~kPortIdMask) != 0) {
    return MailboxStatus(MailboxError::kBadPayload, "ELS port id wider than 24 bits");
  }
  v.frame.assign(f.begin(), f.end());
  return v;
}

}  // namespace

Result<Bytes> EncodePayload(const AppStart& v) {
  if (v.app_id.size() > kMaxAppIdLen) return TooLong("app id");
  Writer w;
  w.U8(static_cast<std::uint8_t>(v.phase));
  w.Zeros(3);
  w.U32(v.app_version);
  w.U64(v.capabilities);
  w.Raw(v.agent_nonce);
  w.Raw(v.proof);
  w.U16(static_cast<std::uint16_t>(v.app_id.size()));
  w.Raw(AsBytes(v.app_id));
  return w.Take();
}
Bytes EncodePayload(const AppStop& v) {
  Writer w;
  w.U32(v.reason);
  return w.Take();
}
Bytes EncodePayload(const GetPortInfo&) { return {}; }
Bytes EncodePayload(const GetTargets& v) {
  Writer w;
  w.U32(v.start_index);
  w.U32(v.max_entries);
  return w.Take();
}
Result<Bytes> EncodePayload(const ElsFrame& v) {
  if (v.frame.size() > kMaxElsFrame) return TooLong("ELS frame");
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U32(v.exchange_id);
  w.U16(v.flags);
  w.Zeros(2);
  w.U32(static_cast<std::uint32_t>(v.frame.size()));
  w.Raw(v.frame);
  return w.Take();
}
Result<Bytes> EncodePayload(const SaUpdate& v) {
  if (v.op == SaOp::kAdd && v.key.size() != 16 && v.key.size() != 32) {
    return MailboxStatus(MailboxError::kBadPayload, "SA key must be 16 or 32 bytes");
  }
  if (v.op == SaOp::kDelete && !v.key.empty()) {
    return MailboxStatus(MailboxError::kBadPayload, "SA delete carries no key");
  }
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U8(static_cast<std::uint8_t>(v.direction));
  w.U8(static_cast<std::uint8_t>(v.op));
  w.U16(v.flags);
  w.U32(v.spi);
  w.U16(static_cast<std::uint16_t>(v.key.size()));
  w.Zeros(2);
  w.Raw(v.salt);
  w.Raw(v.key.view());
  w.Zeros(32 - v.key.size());
  return w.Take();
}
Bytes EncodePayload(const AuthResult& v) {
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U8(static_cast<std::uint8_t>(v.outcome));
  w.Zeros(3);
  w.U32(v.reason);
  return w.Take();
}
Bytes EncodePayload(const EventAck& v) {
  Writer w;
  w.U64(v.acked_seq);
  w.U16(static_cast<std::uint16_t>(v.event_type));
  w.Zeros(2);
  w.U32(v.target_port_id);
  return w.Take();
}
Bytes EncodePayload(const GetStats& v) {
  Writer w;
  w.U64(v.target_wwpn);
  return w.Take();
}
Bytes EncodePayload(const Keepalive&) { return {}; }
Result<Bytes> EncodePayload(const ResultMsg& v) {
  if (v.detail.size() > kMaxDetailLen) return TooLong("RESULT detail");
  if (v.reply.size() > kMaxPayload - 16 - v.detail.size()) return TooLong("RESULT reply");
  Writer w;
  w.U16(static_cast<std::uint16_t>(v.req_type));
  w.U16(static_cast<std::uint16_t>(v.mailbox_error));
  w.U32(v.err);
  w.U16(v.reply_type);
  w.U16(static_cast<std::uint16_t>(v.detail.size()));
  w.U32(static_cast<std::uint32_t>(v.reply.size()));
  w.Raw(AsBytes(v.detail));
  w.Raw(v.reply);
  return w.Take();
}
Bytes EncodePayload(const AuthNeeded& v) {
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U32(v.reason);
  return w.Take();
}
Bytes EncodePayload(const SaUpdateComplete& v) {
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U32(v.spi);
  w.U8(static_cast<std::uint8_t>(v.direction));
  w.U8(static_cast<std::uint8_t>(v.op));
  w.Zeros(2);
  w.U32(v.err);
  return w.Take();
}
Bytes EncodePayload(const SaExpiring& v) {
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U32(v.spi);
  w.U8(static_cast<std::uint8_t>(v.direction));
  w.U8(static_cast<std::uint8_t>(v.reason));
  w.Zeros(2);
  return w.Take();
}
Bytes EncodePayload(const TargetEvent& v) {
  Writer w;
  w.U64(v.target_wwpn);
  w.U32(v.target_port_id);
  w.U32(v.reason);
  return w.Take();
}
Bytes EncodePayload(const LinkState& v) {
  Writer w;
  w.U8(static_cast<std::uint8_t>(v.state));
  w.Zeros(3);
  w.U32(v.speed_mbps);
  return w.Take();
}
Bytes EncodePayload(const EpochReset& v) {
  Writer w;
  w.U64(v.new_epoch);
  w.U32(v.reason);
  return w.Take();
}
Bytes EncodePayload(const Nop&) { return {}; }
Bytes EncodePayload(const PortInfo& v) {
  Writer w;
  w.U64(v.wwpn);
  w.U64(v.node_wwn);
  w.U32(v.port_id);
  w.U8(static_cast<std::uint8_t>(v.link_state));
  w.U8(v.port_flags);
  w.Zeros(2);
  w.U32(v.speed_mbps);
  return w.Take();
}
Result<Bytes> EncodePayload(const TargetList& v) {
  if (v.entries.size() > kMaxTargets) return TooLong("target list");
  Writer w;
  w.U32(v.total);
  w.U32(static_cast<std::uint32_t>(v.entries.size()));
  for (const TargetEntry& e : v.entries) WriteTargetEntry(w, e);
  return w.Take();
}
Result<Bytes> EncodePayload(const Stats& v) {
  if (v.entries.size() > kMaxStatsEntries) return TooLong("stats");
  Writer w;
  w.U32(static_cast<std::uint32_t>(v.entries.size()));
  w.Zeros(4);
  for (const StatsEntry& e : v.entries) {
    w.U64(e.wwpn);
    w.U32(e.port_id);
    w.U32(e.rekey_count);
    w.U64(e.tx_bytes);
    w.U64(e.rx_bytes);
    w.U64(e.tx_frames);
    w.U64(e.rx_frames);
    w.U64(e.rx_dropped);
  }
  return w.Take();
}
Bytes EncodePayload(const AppChallenge& v) {
  Writer w;
  w.Raw(v.driver_nonce);
  w.U64(v.epoch);
  return w.Take();
}
Bytes EncodePayload(const AppStartReply& v) {
  Writer w;
  w.U64(v.epoch);
  w.U32(v.nop_timeout_ms);
  w.U32(v.keepalive_timeout_ms);
  w.U32(v.max_message);
  w.Zeros(4);
  w.U64(v.capabilities);
  w.Raw(v.driver_proof);
  return w.Take();
}

Result<PortInfo> DecodePortInfo(ByteView b) {
  Reader r(b);
  PortInfo v;
  v.wwpn = r.U64();
  v.node_wwn = r.U64();
  v.port_id = r.U32();
  const std::uint8_t ls = r.U8();
  v.port_flags = r.U8();
  r.Reserved(2);
  v.speed_mbps = r.U32();
  if (ls > 1) r.Fail();
  v.link_state = static_cast<LinkStateValue>(ls);
  CAFS_RETURN_IF_ERROR(r.Finish("PORT_INFO"));
  return v;
}

Result<TargetList> DecodeTargetList(ByteView b) {
  Reader r(b);
  TargetList v;
  v.total = r.U32();
  const std::uint32_t n = r.U32();
  if (n > kMaxTargets) return TooLong("target list");
  if (static_cast<std::size_t>(n) * 16 != b.size() - std::min<std::size_t>(b.size(), 8)) {
    return MailboxStatus(MailboxError::kBadPayload, "TARGET_LIST count does not match length");
  }
  v.entries.resize(n);
  for (TargetEntry& e : v.entries) {
    e.wwpn = r.U64();
    e.port_id = r.U32();
    const std::uint8_t st = r.U8();
    const std::uint8_t as = r.U8();
    e.flags = r.U16();
    if (st > 3 || as > 3) r.Fail();
    e.state = static_cast<TargetState>(st);
    e.auth_state = static_cast<TargetAuthState>(as);
  }
  CAFS_RETURN_IF_ERROR(r.Finish("TARGET_LIST"));
  return v;
}

Result<Stats> DecodeStats(ByteView b) {
  Reader r(b);
  Stats v;
  const std::uint32_t n = r.U32();
  r.Reserved(4);
  if (n > kMaxStatsEntries) return TooLong("stats");
  if (static_cast<std::size_t>(n) * 56 != b.size() - std::min<std::size_t>(b.size(), 8)) {
    return MailboxStatus(MailboxError::kBadPayload, "STATS count does not match length");
  }
  v.entries.resize(n);
  for (StatsEntry& e : v.entries) {
    e.wwpn = r.U64();
    e.port_id = r.U32();
    e.rekey_count = r.U32();
    e.tx_bytes = r.U64();
    e.rx_bytes = r.U64();
    e.tx_frames = r.U64();
    e.rx_frames = r.U64();
    e.rx_dropped = r.U64();
  }
  CAFS_RETURN_IF_ERROR(r.Finish("STATS"));
  return v;
}

Result<AppChallenge> DecodeAppChallenge(ByteView b) {
  Reader r(b);
  AppChallenge v;
  r.Array(v.driver_nonce);
  v.epoch = r.U64();
  CAFS_RETURN_IF_ERROR(r.Finish("APP_CHALLENGE"));
  return v;
}

Result<AppStartReply> DecodeAppStartReply(ByteView b) {
  Reader r(b);
  AppStartReply v;
  v.epoch = r.U64();
  v.nop_timeout_ms = r.U32();
  v.keepalive_timeout_ms = r.U32();
  v.max_message = r.U32();
  r.Reserved(4);
  v.capabilities = r.U64();
  r.Array(v.driver_proof);
  CAFS_RETURN_IF_ERROR(r.Finish("APP_START_REPLY"));
  return v;
}

Result<Payload> DecodePayload(MessageType type, ByteView b) {
  Reader r(b);
  switch (type) {
    case MessageType::kAppStart: {
      AppStart v;
      const std::uint8_t phase = r.U8();
      r.Reserved(3);
      v.app_version = r.U32();
      v.capabilities = r.U64();
      r.Array(v.agent_nonce);
      r.Array(v.proof);
      const std::uint16_t len = r.U16();
      if (len > kMaxAppIdLen) return TooLong("app id");
      ByteView id = r.Raw(len);
      if (phase != 1 && phase != 2) r.Fail();
      CAFS_RETURN_IF_ERROR(r.Finish("APP_START"));
      v.phase = static_cast<AppStartPhase>(phase);
      v.app_id.assign(id.begin(), id.end());
      return Payload(std::move(v));
    }
    case MessageType::kAppStop: {
      AppStop v;
      v.reason = r.U32();
      CAFS_RETURN_IF_ERROR(r.Finish("APP_STOP"));
      return Payload(v);
    }
    case MessageType::kGetPortInfo:
      CAFS_RETURN_IF_ERROR(r.Finish("GET_PORT_INFO"));
      return Payload(GetPortInfo{});
    case MessageType::kGetTargets: {
      GetTargets v;
      v.start_index = r.U32();
      v.max_entries = r.U32();
      CAFS_RETURN_IF_ERROR(r.Finish("GET_TARGETS"));
      return Payload(v);
    }
    case MessageType::kAuthElsSend: {
      CAFS_ASSIGN_OR_RETURN(ElsFrame f, DecodeEls(b));
      return Payload(AuthElsSend{std::move(f)});
    }
    case MessageType::kElsReceived: {
      CAFS_ASSIGN_OR_RETURN(ElsFrame f, DecodeEls(b));
      return Payload(ElsReceived{std::move(f)});
    }
    case MessageType::kSaUpdate: {
      SaUpdate v;
      v.target_wwpn = r.U64();
      v.target_port_id = r.U32();
      const std::uint8_t dir = r.U8();
      const std::uint8_t op = r.U8();
      v.flags = r.U16();
      v.spi = r.U32();
      const std::uint16_t key_len = r.U16();
      r.Reserved(2);
      r.Array(v.salt);
      ByteView key = r.Raw(32);
      CAFS_RETURN_IF_ERROR(r.Finish("SA_UPDATE"));
      if (!ValidDirection(dir) || (op != 1 && op != 2) ||
          (op == 1 && key_len != 16 && key_len != 32) || (op == 2 && key_len != 0) ||
          (v.flags & ~kSaFlagForceDelete) != 0 || v.spi == 0 ||
          std::any_of(key.begin() + key_len, key.end(), [](std::uint8_t x) { return x != 0; })) {
        return MailboxStatus(MailboxError::kBadPayload, "SA_UPDATE field out of range");
      }
      v.direction = static_cast<SaDirection>(dir);
      v.op = static_cast<SaOp>(op);
      v.key = SecureBuffer(key.first(key_len));
      return Payload(std::move(v));
    }
    case MessageType::kAuthResult: {
      AuthResult v;
      v.target_wwpn = r.U64();
      v.target_port_id = r.U32();
      const std::uint8_t outcome = r.U8();
      r.Reserved(3);
      v.reason = r.U32();
      if (outcome != 1 && outcome != 2) r.Fail();
      CAFS_RETURN_IF_ERROR(r.Finish("AUTH_RESULT"));
      v.outcome = static_cast<AuthOutcome>(outcome);
      return Payload(v);
    }
    case MessageType::kEventAck: {
      EventAck v;
      v.acked_seq = r.U64();
      v.event_type = static_cast<MessageType>(r.U16());
      r.Reserved(2);
      v.target_port_id = r.U32();
      CAFS_RETURN_IF_ERROR(r.Finish("EVENT_ACK"));
      return Payload(v);
    }
    case MessageType::kGetStats: {
      GetStats v;
      v.target_wwpn = r.U64();
      CAFS_RETURN_IF_ERROR(r.Finish("GET_STATS"));
      return Payload(v);
    }
    case MessageType::kKeepalive:
      CAFS_RETURN_IF_ERROR(r.Finish("KEEPALIVE"));
      return Payload(Keepalive{});
    case MessageType::kResult: {
      ResultMsg v;
      v.req_type = static_cast<MessageType>(r.U16());
      v.mailbox_error = static_cast<MailboxError>(r.U16());
      v.err = r.U32();
      v.reply_type = r.U16();
      const std::uint16_t detail_len = r.U16();
      const std::uint32_t reply_len = r.U32();
      if (detail_len > kMaxDetailLen) return TooLong("RESULT detail");
      ByteView detail = r.Raw(detail_len);
      ByteView reply = r.Raw(reply_len);
      CAFS_RETURN_IF_ERROR(r.Finish("RESULT"));
      v.detail.assign(detail.begin(), detail.end());
      v.reply.assign(reply.begin(), reply.end());
      return Payload(std::move(v));
    }
    case MessageType::kAuthNeeded: {
      AuthNeeded v;
      v.target_wwpn = r.U64();
      v.target_port_id = r.U32();
      v.reason = r.U32();
      CAFS_RETURN_IF_ERROR(r.Finish("AUTH_NEEDED"));
      return Payload(v);
    }
    case MessageType::kSaUpdateComplete: {
      SaUpdateComplete v;
      v.target_wwpn = r.U64();
      v.target_port_id = r.U32();
      v.spi = r.U32();
      const std::uint8_t dir = r.U8();
      const std::uint8_t op = r.U8();
      r.Reserved(2);
      v.err = r.U32();
      if (!ValidDirection(dir) || (op != 1 && op != 2)) r.Fail();
      CAFS_RETURN_IF_ERROR(r.Finish("SA_UPDATE_COMPLETE"));
      v.direction = static_cast<SaDirection>(dir);
      v.op = static_cast<SaOp>(op);
      return Payload(v);
    }
    case MessageType::kSaExpiring: {
      SaExpiring v;
      v.target_wwpn = r.U64();
      v.target_port_id = r.U32();
      v.spi = r.U32();
      const std::uint8_t dir = r.U8();
      const std::uint8_t reason = r.U8();
      r.Reserved(2);
      if (!ValidDirection(dir) || reason < 1 || reason > 3) r.Fail();
      CAFS_RETURN_IF_ERROR(r.Finish("SA_EXPIRING"));
      v.direction = static_cast<SaDirection>(dir);
      v.reason = static_cast<ExpiryReason>(reason);
      return Payload(v);
    }
    case MessageType::kTargetLost:
    case MessageType::kSessionShutdown:
    case MessageType::kTargetAdded: {
      TargetEvent v;
      v.target_wwpn = r.U64();
      v.target_port_id = r.U32();
      v.reason = r.U32();
      CAFS_RETURN_IF_ERROR(r.Finish(MessageTypeName(type)));
      return Payload(v);
    }
    case MessageType::kLinkState: {
      LinkState v;
      const std::uint8_t st = r.U8();
      r.Reserved(3);
      v.speed_mbps = r.U32();
      if (st > 1) r.Fail();
      CAFS_RETURN_IF_ERROR(r.Finish("LINK_STATE"));
      v.state = static_cast<LinkStateValue>(st);
      return Payload(v);
    }
    case MessageType::kEpochReset: {
      EpochReset v;
      v.new_epoch = r.U64();
      v.reason = r.U32();
      CAFS_RETURN_IF_ERROR(r.Finish("EPOCH_RESET"));
      return Payload(v);
    }
    case MessageType::kNop:
      CAFS_RETURN_IF_ERROR(r.Finish("NOP"));
      return Payload(Nop{});
    default:
      break;
  }
  return MailboxStatus(MailboxError::kUnknownType, "no payload decoder for this type");
}

}  // namespace cafs::edif::mailbox
