#include "edif/target/target_port.h"

#include "edif/nbd/file_block_device.h"
#include "util/logging.h"

namespace cafs::edif::target {

using hba::RemoteSession;
using link::FrameType;
using mailbox::MessageType;

TargetPort::TargetPort(TargetConfig config, SecureBuffer secret, const Clock& clock)
    : HbaPort(config.port, std::move(secret), clock), config_(std::move(config)) {}

Result<std::unique_ptr<TargetPort>> TargetPort::Start(TargetConfig config, SecureBuffer secret,
                                                      const Clock& clock) {
  std::unique_ptr<TargetPort> t(new TargetPort(std::move(config), std::move(secret), clock));
  for (const LunConfig& lc : t->config_.luns) {
    if (t->luns_.count(lc.id) != 0) {
      return Status::InvalidArgument("LUN " + std::to_string(lc.id) + " configured twice");
    }
    nbd::FileBlockDeviceOptions fo;
    fo.read_only = lc.read_only;
    auto dev = nbd::FileBlockDevice::Open(lc.path, fo);
    if (!dev.ok()) return dev.status().WithContext("LUN " + std::to_string(lc.id));
    Lun lun;
    lun.info.id = lc.id;
    lun.info.size = (*dev)->Size();
    lun.info.flags = static_cast<std::uint16_t>((lc.require_secure ? hba::kLunRequireSecure : 0) |
                                                (lc.read_only ? hba::kLunReadOnly : 0));
    lun.device = *dev;
    t->luns_[lc.id] = std::move(lun);
  }
  CAFS_RETURN_IF_ERROR(t->StartPort(t->config_.mailbox_socket));
  TargetPort* raw = t.get();
  CAFS_ASSIGN_OR_RETURN(
      t->listener_, hba::FabricListener::Listen(t->config_.listen_host, t->config_.listen_port,
                                                [raw](std::shared_ptr<hba::FabricConnection> c) {
                                                  raw->OnAccept(std::move(c));
                                                }));
  CAFS_LOG_INFO("{}: target port wwpn 0x{:016x} port_id 0x{:06x} listening on {}:{}, {} LUN(s)",
                t->config_.port.name, t->config_.port.identity.wwpn,
                t->config_.port.identity.port_id, t->config_.listen_host, t->listener_->port(),
                t->luns_.size());
  return t;
}

TargetPort::~TargetPort() { Stop(); }

void TargetPort::Stop() {
  std::vector<std::shared_ptr<hba::FabricConnection>> conns;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : conns_) {
      if (auto c = w.lock()) conns.push_back(c);
    }
    conns_.clear();
  }
  if (listener_) listener_->Stop();
  for (const auto& s : Sessions()) (void)s->Send(FrameType::kLogo, 0, 0, {});
  for (auto& c : conns) c->Close();
  StopPort();
}

void TargetPort::SetSendTap(hba::FabricConnection::Tap tap) {
  std::lock_guard lock(mu_);
  tap_ = std::move(tap);
  for (auto& w : conns_) {
    if (auto c = w.lock()) c->SetTap(tap_);
  }
}

void TargetPort::OnAccept(std::shared_ptr<hba::FabricConnection> conn) {
  auto st = std::make_shared<ConnState>();
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    std::erase_if(conns_, [](const auto& w) { return w.expired(); });
    conns_.push_back(conn);
    if (tap_) conn->SetTap(tap_);
  }
  std::weak_ptr<hba::FabricConnection> weak = conn;
  conn->Start(
      [this, weak, st](link::Frame f) {
        if (auto c = weak.lock()) OnFrame(c, st, std::move(f));
      },
      [this, st](Status reason) { OnClosed(st, reason); });
}

void TargetPort::OnClosed(const std::shared_ptr<ConnState>& st, const Status& reason) {
  std::shared_ptr<RemoteSession> s = st->session;
  if (!s) return;
  CAFS_LOG_INFO("{}: initiator 0x{:016x} gone: {}", config_.port.name, s->remote().wwpn,
                reason.ToString());
  if (FindSession(s->remote().wwpn) == s) {
    RemoveSession(s);
    PostTargetEvent(MessageType::kSessionShutdown, s->remote(), 0, mailbox::kFlagAckRequired);
  }
}

void TargetPort::OnFrame(const std::shared_ptr<hba::FabricConnection>& conn,
                         const std::shared_ptr<ConnState>& st, link::Frame frame) {
  const link::FrameHeader& h = frame.header;
  if (h.type == FrameType::kLogin) {
    HandleLogin(conn, st, frame);
    return;
  }
  std::shared_ptr<RemoteSession> s = st->session;
  if (!s || h.src_wwpn != s->remote().wwpn) {
    CAFS_LOG_WARN("{}: frame type {} from {} before LOGIN: closing", config_.port.name,
                  static_cast<int>(h.type), conn->peer());
    conn->Close();
    return;
  }
  switch (h.type) {
    case FrameType::kAuthEls:
      HandleAuthEls(s, frame);
      break;
    case FrameType::kData:
      HandleData(s, std::move(frame));
      break;
    case FrameType::kLogo:
      CAFS_LOG_INFO("{}: LOGO from 0x{:016x}", config_.port.name, s->remote().wwpn);
      conn->Close();
      OnClosed(st, Status::Unavailable("LOGO"));
      break;
    default:
      CAFS_LOG_WARN("{}: unexpected frame type {} from 0x{:016x}", config_.port.name,
                    static_cast<int>(h.type), s->remote().wwpn);
      break;
  }
}

void TargetPort::HandleLogin(const std::shared_ptr<hba::FabricConnection>& conn,
                             const std::shared_ptr<ConnState>& st, const link::Frame& frame) {
  const link::FrameHeader& h = frame.header;
  link::FrameHeader reply;
  reply.src_wwpn = config_.port.identity.wwpn;
  reply.src_port_id = config_.port.identity.port_id;
  reply.dst_wwpn = h.src_wwpn;
  reply.dst_port_id = h.src_port_id;
  reply.exchange_id = h.exchange_id;
  Status ok = hba::DecodeLogin(frame.payload);
  if (!ok.ok() || st->session || h.src_wwpn == 0 ||
      (h.dst_wwpn != 0 && h.dst_wwpn != config_.port.identity.wwpn)) {
    CAFS_LOG_WARN("{}: LOGIN from {} rejected", config_.port.name, conn->peer());
    reply.type = FrameType::kLoginRjt;
    (void)conn->SendFrame(reply, hba::EncodeLoginRjt(EINVAL));
    return;
  }
  std::shared_ptr<RemoteSession> old = FindSession(h.src_wwpn);
  if (old) Logout(old, "replaced by a new LOGIN");
  auto s = MakeSession({h.src_wwpn, h.src_port_id}, conn);
  st->session = s;
  AddSession(s);
  std::vector<hba::LunInfo> infos;
  for (const auto& [id, lun] : luns_) infos.push_back(lun.info);
  auto acc = hba::EncodeLoginAcc(infos);
  reply.type = FrameType::kLoginAcc;
  (void)conn->SendFrame(reply, acc.ok() ? *acc : Bytes{});
  CAFS_LOG_INFO("{}: initiator 0x{:016x} (port_id 0x{:06x}) logged in from {}", config_.port.name,
                h.src_wwpn, h.src_port_id, conn->peer());
  PostTargetEvent(MessageType::kTargetAdded, s->remote(), 0);
}

void TargetPort::HandleData(const std::shared_ptr<RemoteSession>& s, link::Frame frame) {
  auto it = luns_.find(frame.header.lun);
  const bool require_secure = it != luns_.end() && it->second.info.require_secure();
  s->ReceiveData(
      std::move(frame), require_secure,
      [this, s](const link::FrameHeader& h, Result<ByteView> plain) { ExecuteData(s, h, plain); });
}

void TargetPort::ExecuteData(const std::shared_ptr<RemoteSession>& s, const link::FrameHeader& h,
                             const Result<ByteView>& plain) {
  const std::uint32_t lun_id = h.lun;
  const std::uint32_t xid = h.exchange_id;
  auto it = luns_.find(lun_id);
  if (!plain.ok()) {
    CAFS_LOG_DEBUG("{}: DATA from 0x{:016x} dropped: {}", config_.port.name, s->remote().wwpn,
                   plain.status().ToString());
    return;
  }
  auto req = hba::DecodeDataRequest(*plain);
  auto reply = [s, lun_id, xid](hba::DataCmd cmd, const Status& st, Bytes data) {
    hba::DataReply r;
    r.cmd = cmd;
    r.err = static_cast<std::uint32_t>(st.errno_value());
    if (st.ok()) r.data = std::move(data);
    (void)s->SendData(xid, lun_id, hba::EncodeDataReply(r));
  };
  if (!req.ok()) {
    CAFS_LOG_WARN("{}: bad DATA request from 0x{:016x}: {}", config_.port.name, s->remote().wwpn,
                  req.status().ToString());
    return;
  }
  const hba::DataCmd cmd = req->cmd;
  if (it == luns_.end()) {
    reply(cmd, Status::FromErrno(ENXIO, "no such LUN"), {});
    return;
  }
  nbd::BlockDevice& dev = *it->second.device;
  const hba::LunInfo& info = it->second.info;
  const bool writes = cmd != hba::DataCmd::kRead && cmd != hba::DataCmd::kFlush;
  if (writes && info.read_only()) {
    reply(cmd, Status::PermissionDenied("read-only LUN"), {});
    return;
  }
  if (cmd != hba::DataCmd::kFlush &&
      (req->offset > info.size || req->length > info.size - req->offset)) {
    reply(cmd, Status::FromErrno(ENOSPC, "beyond the end of the LUN"), {});
    return;
  }
  auto done = [reply, cmd](Status st) { reply(cmd, st, {}); };
  const bool fua = (req->flags & hba::kDataFua) != 0;
  switch (cmd) {
    case hba::DataCmd::kRead:
      dev.Read(req->offset, req->length,
               [reply, cmd](Status st, Bytes data) { reply(cmd, st, std::move(data)); });
      break;
    case hba::DataCmd::kWrite:
      dev.Write(req->offset, std::move(req->data), fua, done);
      break;
    case hba::DataCmd::kFlush:
      dev.Flush(done);
      break;
    case hba::DataCmd::kTrim:
      dev.Trim(req->offset, req->length, done);
      break;
    case hba::DataCmd::kWriteZeroes:
      dev.WriteZeroes(req->offset, req->length, fua, done);
      break;
  }
}

void TargetPort::Logout(const std::shared_ptr<RemoteSession>& s, const char* why) {
  CAFS_LOG_INFO("{}: logging out initiator 0x{:016x}: {}", config_.port.name, s->remote().wwpn,
                why);
  RemoveSession(s);
  (void)s->Send(FrameType::kLogo, 0, 0, {});
  s->connection()->Close();
}

std::vector<mailbox::TargetEntry> TargetPort::ListRemotes() {
  std::vector<mailbox::TargetEntry> out;
  for (const auto& s : Sessions()) {
    mailbox::TargetEntry e;
    e.wwpn = s->remote().wwpn;
    e.port_id = s->remote().port_id;
    e.auth_state = s->auth_state();
    e.state = e.auth_state == mailbox::TargetAuthState::kAuthenticated
                  ? mailbox::TargetState::kOnlineSecure
                  : mailbox::TargetState::kOnlineClear;
    out.push_back(e);
  }
  return out;
}

Status TargetPort::OnAuthResult(const mailbox::AuthResult& r,
                                const std::shared_ptr<RemoteSession>& s) {
  if (r.outcome == mailbox::AuthOutcome::kOk) {
    s->set_auth_state(mailbox::TargetAuthState::kAuthenticated);
    CAFS_LOG_INFO("{}: initiator 0x{:016x} online secure", config_.port.name, s->remote().wwpn);
    return Status::OK();
  }
  s->set_auth_state(mailbox::TargetAuthState::kFailed);
  Logout(s, "AUTH_RESULT FAIL");
  return Status::OK();
}

void TargetPort::OnAgentStopped(mailbox::AgentStopReason reason) {
  CAFS_LOG_INFO("{}: agent stopped (reason {})", config_.port.name, static_cast<int>(reason));
  for (const auto& s : Sessions()) {
    if (s->has_security_state()) Logout(s, "agent stopped");
  }
}

}  // namespace cafs::edif::target
