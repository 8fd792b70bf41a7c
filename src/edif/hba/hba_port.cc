#include "edif/hba/hba_port.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "edif/hba/fabric_payloads.h"
#include "edif/hba/mailbox_disk.h"
#include "util/logging.h"

namespace cafs::edif::hba {

using mailbox::MessageType;
using mailbox::Reply;

namespace {

std::uint64_t InitialEpoch(std::uint64_t configured, const Clock& clock) {
  if (configured != 0) return configured;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch()).count();
  return ms > 0 ? static_cast<std::uint64_t>(ms) : 1;
}

mailbox::EndpointConfig EndpointConfigFor(const HbaPortOptions& o, const Clock& clock) {
  mailbox::EndpointConfig c;
  c.wwpn = o.identity.wwpn;
  c.port_id = o.identity.port_id;
  c.initial_epoch = InitialEpoch(o.initial_epoch, clock);
  c.nop_timeout = o.nop_timeout;
  c.keepalive_timeout = o.keepalive_timeout;
  return c;
}

link::Direction ToLink(mailbox::SaDirection d) {
  return d == mailbox::SaDirection::kRx ? link::Direction::kRx : link::Direction::kTx;
}

}  // namespace

Result<SecureBuffer> ReadSecretFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open agent secret file " + path);
  SecureBuffer buf(4096);
  std::size_t len = 0;
  while (len < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "read agent secret file " + path);
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (len == buf.size()) return Status::InvalidArgument("agent secret file over 4095 bytes");
  if (len > 0 && buf.data()[len - 1] == '\n') --len;
  if (len < 16) return Status::InvalidArgument("agent secret " + path + " shorter than 16 bytes");
  return SecureBuffer(buf.data(), len);
}

HbaPort::HbaPort(HbaPortOptions options, SecureBuffer secret, const Clock& clock)
    : clock_(clock),
      options_(std::move(options)),
      tx_pool_(options_.frame_pool),
      rx_pool_(options_.frame_pool) {
  endpoint_ = std::make_unique<mailbox::MailboxEndpoint>(EndpointConfigFor(options_, clock),
                                                         std::move(secret), *this, clock);
}

HbaPort::~HbaPort() { StopPort(); }

Status HbaPort::StartPort(const std::string& mailbox_socket) {
  nbd::ServerOptions so;
  so.io_threads = 1;
  mailbox_server_ = std::make_unique<nbd::NbdServer>(so);
  CAFS_RETURN_IF_ERROR(mailbox_server_->AddExport("mailbox",
                                                  std::make_shared<MailboxDisk>(*endpoint_),
                                                  "EDIF mailbox disk of " + options_.name));
  mailbox_server_->SetDefaultExport("mailbox");
  CAFS_RETURN_IF_ERROR(mailbox_server_->ListenUnix(mailbox_socket));
  timer_ = std::thread([this] { TimerLoop(); });
  return Status::OK();
}

void HbaPort::StopPort() {
  {
    std::lock_guard lock(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  tx_pool_.Stop();
  rx_pool_.Stop();
  if (endpoint_) endpoint_->Shutdown();
  if (mailbox_server_) mailbox_server_->Stop();
}

void HbaPort::TimerLoop() {
  std::unique_lock lock(timer_mu_);
  while (!timer_stop_) {
    lock.unlock();
    endpoint_->Tick();
    for (const auto& s : Sessions()) s->sas().Tick();
    OnTick();
    lock.lock();
    auto wait = options_.tick_interval;
    if (auto next = endpoint_->NextDeadline()) {
      const auto now = clock_.MonotonicNow();
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now);
      if (until < wait) wait = std::max(until, std::chrono::milliseconds(1));
    }
    timer_cv_.wait_for(lock, wait, [this] { return timer_stop_; });
  }
}

std::shared_ptr<RemoteSession> HbaPort::MakeSession(PortIdentity remote,
                                                    std::shared_ptr<FabricConnection> conn) {
  auto on_expiring = [this, remote](const link::ExpiryEvent& e) {
    mailbox::SaExpiring ev;
    ev.target_wwpn = remote.wwpn;
    ev.target_port_id = remote.port_id;
    ev.spi = e.spi;
    ev.direction =
        e.direction == link::Direction::kRx ? mailbox::SaDirection::kRx : mailbox::SaDirection::kTx;
    ev.reason = static_cast<mailbox::ExpiryReason>(e.reason);
    CAFS_LOG_INFO("{}: SA 0x{:08x} of remote 0x{:016x} expiring", options_.name, e.spi,
                  remote.wwpn);
    (void)endpoint_->PostEvent(MessageType::kSaExpiring, ev);
  };
  return std::make_shared<RemoteSession>(options_.identity, remote, std::move(conn),
                                         options_.sa_policy, clock_, std::move(on_expiring),
                                         tx_pool_, rx_pool_);
}

void HbaPort::AddSession(std::shared_ptr<RemoteSession> s) {
  std::lock_guard lock(mu_);
  sessions_[s->remote().wwpn] = std::move(s);
}

void HbaPort::RemoveSession(const std::shared_ptr<RemoteSession>& s) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(s->remote().wwpn);
  if (it != sessions_.end() && it->second == s) sessions_.erase(it);
}

std::shared_ptr<RemoteSession> HbaPort::FindSession(std::uint64_t wwpn) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(wwpn);
  return it == sessions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<RemoteSession>> HbaPort::Sessions() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<RemoteSession>> out;
  for (const auto& [w, s] : sessions_) out.push_back(s);
  return out;
}

Result<link::LinkStats> HbaPort::SessionStats(std::uint64_t wwpn) const {
  auto s = FindSession(wwpn);
  if (!s) return Status::NotFound("no session with that WWPN");
  return s->sas().stats();
}

std::shared_ptr<RemoteSession> HbaPort::Lookup(std::uint64_t wwpn, std::uint32_t port_id) const {
  auto s = FindSession(wwpn);
  if (s && port_id != 0 && s->remote().port_id != port_id) return nullptr;
  return s;
}

void HbaPort::PostTargetEvent(MessageType type, const PortIdentity& remote, std::uint32_t reason,
                              std::uint16_t flags) {
  mailbox::TargetEvent ev{remote.wwpn, remote.port_id, reason};
  (void)endpoint_->PostEvent(type, ev, flags);
}

void HbaPort::HandleAuthEls(const std::shared_ptr<RemoteSession>& s, const link::Frame& frame) {
  auto els = DecodeAuthEls(frame.payload);
  if (!els.ok()) {
    CAFS_LOG_WARN("{}: bad AUTH_ELS from 0x{:016x}: {}", options_.name, s->remote().wwpn,
                  els.status().ToString());
    return;
  }
  if (!endpoint_->agent_started()) {
    if ((els->els_flags & mailbox::kElsReject) == 0) {
      CAFS_LOG_INFO("{}: no agent started: rejecting AUTH_ELS from 0x{:016x}", options_.name,
                    s->remote().wwpn);
      (void)s->Send(
          link::FrameType::kAuthEls, frame.header.exchange_id, 0,
          EncodeAuthEls(mailbox::kElsReject | mailbox::kElsLast | mailbox::kElsReply, {}));
    }
    return;
  }
  if (s->auth_state() == mailbox::TargetAuthState::kNone) {
    s->set_auth_state(mailbox::TargetAuthState::kPending);
  }
  mailbox::ElsReceived ev;
  ev.target_wwpn = s->remote().wwpn;
  ev.target_port_id = s->remote().port_id;
  ev.exchange_id = frame.header.exchange_id;
  ev.flags = els->els_flags;
  ev.frame = std::move(els->frame);
  auto payload = mailbox::EncodePayload(ev);
  if (payload.ok()) (void)endpoint_->Post(MessageType::kElsReceived, *payload);
}

Reply HbaPort::Execute(const mailbox::Request& request) {
  const auto& p = request.payload;
  if (std::holds_alternative<mailbox::GetPortInfo>(p)) {
    mailbox::PortInfo info;
    info.wwpn = options_.identity.wwpn;
    info.node_wwn = options_.identity.wwpn | (1ull << 60);
    info.port_id = options_.identity.port_id;
    info.link_state = mailbox::LinkStateValue::kUp;
    info.port_flags = mailbox::kPortEdifCapable;
    info.speed_mbps = 10'000;
    return Reply::WithPayload(MessageType::kPortInfo, mailbox::EncodePayload(info));
  }
  if (const auto* g = std::get_if<mailbox::GetTargets>(&p)) {
    std::vector<mailbox::TargetEntry> all = ListRemotes();
    mailbox::TargetList list;
    list.total = static_cast<std::uint32_t>(all.size());
    const std::size_t max = g->max_entries == 0 ? 2048 : g->max_entries;
    for (std::size_t i = g->start_index; i < all.size() && list.entries.size() < max; ++i) {
      list.entries.push_back(all[i]);
    }
    auto enc = mailbox::EncodePayload(list);
    if (!enc.ok()) return Reply::FromStatus(enc.status());
    return Reply::WithPayload(MessageType::kTargetList, std::move(*enc));
  }
  if (const auto* e = std::get_if<mailbox::AuthElsSend>(&p)) {
    auto s = Lookup(e->target_wwpn, e->target_port_id);
    if (!s) return Reply::FromStatus(Status::NotFound("no session with that remote port"));
    if (s->auth_state() == mailbox::TargetAuthState::kNone) {
      s->set_auth_state(mailbox::TargetAuthState::kPending);
    }
    Status st =
        s->Send(link::FrameType::kAuthEls, e->exchange_id, 0, EncodeAuthEls(e->flags, e->frame));
    return st.ok() ? Reply::Ok() : Reply::FromStatus(st);
  }
  if (const auto* u = std::get_if<mailbox::SaUpdate>(&p)) return ExecuteSaUpdate(*u);
  if (const auto* r = std::get_if<mailbox::AuthResult>(&p)) {
    auto s = Lookup(r->target_wwpn, r->target_port_id);
    if (!s) return Reply::FromStatus(Status::NotFound("no session with that remote port"));
    if (r->outcome == mailbox::AuthOutcome::kOk && !s->sas().ready()) {
      return Reply::FromStatus(
          Status::FailedPrecondition("AUTH_RESULT OK before both RX and TX SAs are installed"));
    }
    Status st = OnAuthResult(*r, s);
    return st.ok() ? Reply::Ok() : Reply::FromStatus(st);
  }
  if (const auto* g = std::get_if<mailbox::GetStats>(&p)) return ExecuteStats(*g);
  if (std::holds_alternative<mailbox::EventAck>(p) || std::holds_alternative<mailbox::AppStop>(p)) {
    return Reply::Ok();
  }
  return Reply::FromStatus(mailbox::MailboxStatus(mailbox::MailboxError::kUnknownType,
                                                  "request not handled by this port"));
}

Reply HbaPort::ExecuteSaUpdate(const mailbox::SaUpdate& u) {
  auto s = Lookup(u.target_wwpn, u.target_port_id);
  Status st;
  if (!s) {
    st = Status::NotFound("no session with that remote port");
  } else if (u.op == mailbox::SaOp::kAdd) {
    if (u.key.size() != 32) {
      st = Status::InvalidArgument("only 32-byte AES-256-GCM keys are accepted");
    } else {
      link::SecurityAssociation sa;
      sa.spi = u.spi;
      sa.key = u.key.Clone();
      sa.salt = u.salt;
      sa.direction = ToLink(u.direction);
      st = u.direction == mailbox::SaDirection::kRx ? s->sas().AddRx(std::move(sa))
                                                    : s->sas().InstallTx(std::move(sa));
    }
  } else {
    st = u.direction == mailbox::SaDirection::kRx
             ? s->sas().DeleteRx(u.spi, (u.flags & mailbox::kSaFlagForceDelete) != 0)
             : s->sas().DeleteTx(u.spi);
  }
  CAFS_LOG_INFO("{}: SA_UPDATE {} {} spi 0x{:08x} remote 0x{:016x}: {}", options_.name,
                u.op == mailbox::SaOp::kAdd ? "add" : "delete",
                u.direction == mailbox::SaDirection::kRx ? "rx" : "tx", u.spi, u.target_wwpn,
                st.ToString());
  mailbox::SaUpdateComplete done{u.target_wwpn, u.target_port_id,
                                 u.spi,         u.direction,
                                 u.op,          static_cast<std::uint32_t>(st.errno_value())};
  Reply reply = st.ok() ? Reply::Ok() : Reply::FromStatus(st);
  reply.follow_ups.push_back(
      mailbox::FollowUp{MessageType::kSaUpdateComplete, mailbox::EncodePayload(done), 0});
  return reply;
}

Reply HbaPort::ExecuteStats(const mailbox::GetStats& g) {
  mailbox::Stats stats;
  for (const auto& s : Sessions()) {
    if (g.target_wwpn != 0 && s->remote().wwpn != g.target_wwpn) continue;
    const link::LinkStats ls = s->sas().stats();
    mailbox::StatsEntry e;
    e.wwpn = s->remote().wwpn;
    e.port_id = s->remote().port_id;
    e.rekey_count = static_cast<std::uint32_t>(ls.rekeys);
    e.tx_bytes = ls.tx_bytes;
    e.rx_bytes = ls.rx_bytes;
    e.tx_frames = ls.tx_frames;
    e.rx_frames = ls.rx_frames;
    e.rx_dropped = ls.drops_total();
    stats.entries.push_back(e);
  }
  if (g.target_wwpn != 0 && stats.entries.empty()) {
    return Reply::FromStatus(Status::NotFound("no session with that remote port"));
  }
  auto enc = mailbox::EncodePayload(stats);
  if (!enc.ok()) return Reply::FromStatus(enc.status());
  return Reply::WithPayload(MessageType::kStats, std::move(*enc));
}

}  // namespace cafs::edif::hba
