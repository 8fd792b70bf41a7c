#include "frontend/nfs/rpc_message.h"

#include <algorithm>
#include <exception>

#include "util/logging.h"

namespace cafs::frontend::nfs {
namespace {

constexpr std::uint32_t kMsgCall = 0;
constexpr std::uint32_t kMsgReply = 1;
constexpr std::uint32_t kMsgAccepted = 0;
constexpr std::uint32_t kMsgDenied = 1;
constexpr std::uint32_t kRejectRpcMismatch = 0;
constexpr std::uint32_t kRejectAuthError = 1;
constexpr std::uint32_t kAuthShort = 2;

XdrBytes DeniedReply(std::uint32_t xid, std::uint32_t reject_stat, std::uint32_t a, std::uint32_t b,
                     bool two_words) {
  XdrEncoder out;
  out.ReserveU32();
  out.U32(xid);
  out.U32(kMsgReply);
  out.U32(kMsgDenied);
  out.U32(reject_stat);
  out.U32(a);
  if (two_words) out.U32(b);
  FinishRecord(out);
  return std::move(out.bytes());
}

XdrBytes AuthError(std::uint32_t xid, AuthStat stat) {
  return DeniedReply(xid, kRejectAuthError, static_cast<std::uint32_t>(stat), 0, false);
}

XdrBytes AcceptedError(std::uint32_t xid, AcceptStat stat, const RpcProgram* program) {
  XdrEncoder out;
  EncodeReplyHeader(out, xid, stat);
  if (stat == AcceptStat::kProgMismatch && program != nullptr) {
    out.U32(program->min_version());
    out.U32(program->max_version());
  }
  FinishRecord(out);
  return std::move(out.bytes());
}

// AUTH_SYS body; false when it does not decode exactly.
bool DecodeAuthSys(ByteView body, AuthSys& sys) {
  XdrDecoder d(body);
  sys.stamp = d.U32();
  sys.machine_name = d.String(kMaxMachineName);
  sys.uid = d.U32();
  sys.gid = d.U32();
  const std::uint32_t n = d.U32();
  if (n > kMaxAuthSysGids) return false;
  sys.gids.resize(d.ok() ? n : 0);
  for (std::uint32_t& g : sys.gids) g = d.U32();
  return d.ok() && d.remaining() == 0;
}

}  // namespace

RecordMark DecodeRecordMark(const std::uint8_t* mark) {
  const std::uint32_t word = (std::uint32_t{mark[0]} << 24) | (std::uint32_t{mark[1]} << 16) |
                             (std::uint32_t{mark[2]} << 8) | std::uint32_t{mark[3]};
  return RecordMark{word & ~kLastFragment, (word & kLastFragment) != 0};
}

Status RecordAssembler::Feed(ByteView data, std::vector<Bytes>& records) {
  if (failed_) return Status::InvalidArgument("rpc record stream already failed");
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (!in_fragment_) {
      const std::size_t take = std::min(data.size() - pos, sizeof mark_ - mark_have_);
      std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(pos), take, mark_ + mark_have_);
      mark_have_ += take;
      pos += take;
      if (mark_have_ < sizeof mark_) break;
      mark_have_ = 0;
      const RecordMark mark = DecodeRecordMark(mark_);
      last_ = mark.last;
      frag_left_ = mark.length;
      if (frag_left_ > max_ || record_.size() > max_ - frag_left_) {
        failed_ = true;
        record_ = Bytes();
        return Status::InvalidArgument("rpc record larger than " + std::to_string(max_) + " bytes");
      }
      in_fragment_ = true;
    }
    const std::size_t take = std::min(data.size() - pos, frag_left_);
    record_.insert(record_.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                   data.begin() + static_cast<std::ptrdiff_t>(pos + take));
    pos += take;
    frag_left_ -= take;
    if (frag_left_ == 0) {
      in_fragment_ = false;
      if (last_) {
        records.push_back(std::move(record_));
        record_ = Bytes();
      }
    }
  }
  return Status::OK();
}

void FinishRecord(XdrEncoder& message) {
  message.PatchU32(0, kLastFragment | static_cast<std::uint32_t>(message.size() - 4));
}

void EncodeReplyHeader(XdrEncoder& out, std::uint32_t xid, AcceptStat stat) {
  out.ReserveU32();
  out.U32(xid);
  out.U32(kMsgReply);
  out.U32(kMsgAccepted);
  out.U32(static_cast<std::uint32_t>(AuthFlavor::kNone));  // verifier: AUTH_NONE, empty
  out.U32(0);
  out.U32(static_cast<std::uint32_t>(stat));
}

void RpcDispatcher::Add(RpcProgram* program) { programs_[program->program()] = program; }

PreparedCall RpcDispatcher::Prepare(ByteView record, const std::string& peer_address,
                                    std::uint16_t peer_port) const {
  PreparedCall p;
  XdrDecoder d(record);
  RpcCall& call = p.call;
  call.xid = d.U32();
  const std::uint32_t msg_type = d.U32();
  if (!d.ok() || msg_type != kMsgCall) return p;  // kIgnore
  call.peer_address = peer_address;
  call.peer_port = peer_port;
  const std::uint32_t rpcvers = d.U32();
  if (!d.ok()) return p;  // nothing to answer a call that ends after its xid
  p.action = PreparedCall::Action::kReply;
  if (rpcvers != kRpcVersion) {
    p.reply = DeniedReply(call.xid, kRejectRpcMismatch, kRpcVersion, kRpcVersion, true);
    return p;
  }
  call.program = d.U32();
  call.version = d.U32();
  call.procedure = d.U32();
  const std::uint32_t cred_flavor = d.U32();
  const std::vector<std::uint8_t> cred = d.Opaque(kMaxAuthBody);
  d.U32();  // verifier flavor: AUTH_NONE/AUTH_SYS carry no verifier; any is tolerated
  const std::uint32_t verf_length = d.U32();
  if (verf_length > kMaxAuthBody) d.Fail();
  d.Skip(verf_length);
  if (!d.ok()) {
    p.reply = AuthError(call.xid, AuthStat::kBadCred);
    return p;
  }
  p.args_offset = d.position();
  if (cred_flavor == static_cast<std::uint32_t>(AuthFlavor::kSys)) {
    call.flavor = AuthFlavor::kSys;
    if (!DecodeAuthSys(cred, call.sys)) {
      p.reply = AuthError(call.xid, AuthStat::kBadCred);
      return p;
    }
  } else if (cred_flavor == static_cast<std::uint32_t>(AuthFlavor::kNone)) {
    call.flavor = AuthFlavor::kNone;
  } else {
    p.reply = AuthError(call.xid,
                        cred_flavor == kAuthShort ? AuthStat::kRejectedCred : AuthStat::kBadCred);
    return p;
  }
  auto it = programs_.find(call.program);
  if (it == programs_.end()) {
    p.reply = AcceptedError(call.xid, AcceptStat::kProgUnavail, nullptr);
    return p;
  }
  RpcProgram* program = it->second;
  if (call.version < program->min_version() || call.version > program->max_version()) {
    p.reply = AcceptedError(call.xid, AcceptStat::kProgMismatch, program);
    return p;
  }
  if (call.flavor == AuthFlavor::kNone && call.procedure != 0 && !program->accepts_auth_none()) {
    p.reply = AuthError(call.xid, AuthStat::kTooWeak);
    return p;
  }
  p.action = PreparedCall::Action::kDispatch;
  p.program = program;
  return p;
}

XdrBytes RpcDispatcher::Execute(const PreparedCall& prepared, ByteView record, XdrBytes buffer,
                                bool* would_wait) const {
  XdrEncoder out(std::move(buffer));
  EncodeReplyHeader(out, prepared.call.xid, AcceptStat::kSuccess);
  AcceptStat stat = AcceptStat::kSystemErr;
  try {
    XdrDecoder args(record.subspan(std::min(prepared.args_offset, record.size())));
    stat = prepared.program->Dispatch(prepared.call, args, out);
  } catch (const std::exception& e) {
    // Programs end their own exceptions (NFSv3: NFS3ERR_IO); this is the net under the rest.
    CAFS_LOG_ERROR("rpc: program {} procedure {} from {} failed: {} (answered SYSTEM_ERR)",
                   prepared.call.program, prepared.call.procedure, prepared.call.peer_address,
                   e.what());
    stat = AcceptStat::kSystemErr;
  } catch (...) {
    CAFS_LOG_ERROR("rpc: program {} procedure {} from {} failed (answered SYSTEM_ERR)",
                   prepared.call.program, prepared.call.procedure, prepared.call.peer_address);
    stat = AcceptStat::kSystemErr;
  }
  if (stat == kAcceptWouldWait) {
    if (would_wait != nullptr && !prepared.call.may_wait) {
      *would_wait = true;
      out.Truncate(0);
      return std::move(out.bytes());
    }
    CAFS_LOG_ERROR("rpc: program {} procedure {} from {} would wait although it may",
                   prepared.call.program, prepared.call.procedure, prepared.call.peer_address);
    stat = AcceptStat::kSystemErr;
  }
  if (stat != AcceptStat::kSuccess) return AcceptedError(prepared.call.xid, stat, prepared.program);
  FinishRecord(out);
  return std::move(out.bytes());
}

}  // namespace cafs::frontend::nfs
