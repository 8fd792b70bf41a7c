#include "edif/driver/initiator_port.h"

#include "util/logging.h"

namespace cafs::edif::driver {

using hba::RemoteSession;
using link::FrameType;
using mailbox::MessageType;

namespace {

// A target LUN as an NBD export: every request becomes a DATA request of the port.
class LunDevice final : public nbd::BlockDevice {
 public:
  LunDevice(InitiatorPort& port, std::size_t target, hba::LunInfo info)
      : port_(port), target_(target), info_(info) {}
  std::uint64_t Size() const override { return info_.size; }
  nbd::DeviceFeatures Features() const override {
    nbd::DeviceFeatures f;
    f.read_only = info_.read_only();
    return f;
  }
  nbd::BlockSizeConstraints BlockSizes() const override { return {1, 4096, hba::kMaxDataLength}; }
  void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) override {
    Submit(hba::DataCmd::kRead, offset, length, {}, false, std::move(done));
  }
  void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) override {
    const auto len = static_cast<std::uint32_t>(data.size());
    Submit(hba::DataCmd::kWrite, offset, len, std::move(data), fua, Done(std::move(done)));
  }
  void Flush(DoneCallback done) override {
    Submit(hba::DataCmd::kFlush, 0, 0, {}, false, Done(std::move(done)));
  }
  void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) override {
    Submit(hba::DataCmd::kTrim, offset, length, {}, false, Done(std::move(done)));
  }
  void WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua,
                   DoneCallback done) override {
    Submit(hba::DataCmd::kWriteZeroes, offset, length, {}, fua, Done(std::move(done)));
  }

 private:
  static InitiatorPort::IoCallback Done(DoneCallback done) {
    return [done = std::move(done)](Status s, Bytes) { done(s); };
  }
  void Submit(hba::DataCmd cmd, std::uint64_t offset, std::uint32_t length, Bytes data, bool fua,
              InitiatorPort::IoCallback done) {
    hba::DataRequest r;
    r.cmd = cmd;
    r.offset = offset;
    r.length = length;
    r.data = std::move(data);
    r.flags = fua ? hba::kDataFua : 0;
    port_.SubmitIo(target_, info_.id, std::move(r), std::move(done));
  }
  InitiatorPort& port_;
  const std::size_t target_;
  const hba::LunInfo info_;
};

Status IoError(const std::string& msg) { return Status::FromErrno(EIO, msg); }

}  // namespace

InitiatorPort::InitiatorPort(InitiatorPortConfig config, const DriverConfig& driver,
                             SecureBuffer secret, nbd::NbdServer& lun_server, const Clock& clock)
    : HbaPort(config.port, std::move(secret), clock),
      config_(std::move(config)),
      driver_(driver),
      lun_server_(lun_server) {
  for (const TargetSpec& spec : config_.targets) {
    Target t;
    t.spec = spec;
    targets_.push_back(std::move(t));
  }
}

InitiatorPort::~InitiatorPort() { Stop(); }

Status InitiatorPort::Start() {
  CAFS_RETURN_IF_ERROR(StartPort(config_.mailbox_socket));
  for (std::size_t i = 0; i < config_.targets.size(); ++i) Connect(i);
  return Status::OK();
}

void InitiatorPort::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  for (std::size_t i = 0; i < config_.targets.size(); ++i) TearDown(i, "driver stopping");
  StopPort();
  std::vector<Completion> fail;
  {
    std::lock_guard lock(mu_);
    for (Target& t : targets_) {
      for (Pending& p : t.waiting) fail.emplace_back(std::move(p.done), IoError("driver stopped"));
      t.waiting.clear();
    }
  }
  for (auto& [cb, st] : fail) cb(st, {});
}

void InitiatorPort::SetSendTap(hba::FabricConnection::Tap tap) {
  std::lock_guard lock(mu_);
  tap_ = std::move(tap);
  for (Target& t : targets_) {
    if (t.conn) t.conn->SetTap(tap_);
  }
}

std::shared_ptr<RemoteSession> InitiatorPort::SessionOf(const std::string& name) {
  std::lock_guard lock(mu_);
  for (Target& t : targets_) {
    if (t.spec.name == name) return t.session;
  }
  return nullptr;
}

bool InitiatorPort::SecureLocked(const Target& t, std::uint32_t lun) const {
  auto it = t.luns.find(lun);
  return t.spec.require_secure || (it != t.luns.end() && it->second.require_secure());
}

bool InitiatorPort::NeedsSecurityLocked(const Target& t) const {
  bool secure = t.spec.require_secure;
  for (const auto& [id, l] : t.luns) secure = secure || l.require_secure();
  return secure;
}

bool InitiatorPort::UsableLocked(const Target& t, std::uint32_t lun) const {
  if (t.link != Link::kLoggedIn || !t.session) return false;
  return SecureLocked(t, lun) ? t.online_secure : true;
}

Status InitiatorPort::AuthTimeoutErrorLocked(const Target& t) const {
  return IoError("I/O to target " + t.spec.name + " refused: authentication not completed within " +
                 std::to_string(driver_.auth_timeout.count()) + " ms (require_secure)");
}

void InitiatorPort::ArmAuthTimerLocked(Target& t) {
  t.auth_timed_out = false;
  t.refusal_logged = false;
  t.auth_deadline = clock_.MonotonicNow() + driver_.auth_timeout;
}

mailbox::TargetState InitiatorPort::StateLocked(const Target& t) const {
  if (t.link != Link::kLoggedIn) return mailbox::TargetState::kOffline;
  if (t.online_secure) return mailbox::TargetState::kOnlineSecure;
  return NeedsSecurityLocked(t) ? mailbox::TargetState::kLoggedIn
                                : mailbox::TargetState::kOnlineClear;
}

void InitiatorPort::Connect(std::size_t index) {
  TargetSpec spec;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    if (stopped_ || t.link != Link::kOffline) return;
    t.link = Link::kConnecting;
    t.next_attempt = clock_.MonotonicNow() + driver_.reconnect_interval;
    spec = t.spec;
  }
  auto conn = hba::FabricConnection::Connect(spec.host, spec.port, std::chrono::seconds(2));
  std::lock_guard lock(mu_);
  Target& t = targets_[index];
  if (!conn.ok()) {
    CAFS_LOG_DEBUG("{}: target {} unreachable: {}", config_.port.name, spec.name,
                   conn.status().ToString());
    t.link = Link::kOffline;
    return;
  }
  if (stopped_) {
    t.link = Link::kOffline;
    return;
  }
  std::shared_ptr<hba::FabricConnection> c = *conn;
  t.conn = c;
  t.login_deadline = clock_.MonotonicNow() + driver_.login_timeout;
  if (tap_) c->SetTap(tap_);
  std::weak_ptr<hba::FabricConnection> weak = c;
  c->Start(
      [this, index, weak](link::Frame f) {
        if (auto cc = weak.lock()) OnFrame(index, cc, std::move(f));
      },
      [this, index, weak](Status reason) {
        if (auto cc = weak.lock()) Lost(index, cc, reason, true);
      });
  link::FrameHeader h;
  h.type = FrameType::kLogin;
  h.src_wwpn = config_.port.identity.wwpn;
  h.src_port_id = config_.port.identity.port_id;
  h.dst_wwpn = spec.wwpn;
  (void)c->SendFrame(h, hba::EncodeLogin());
}

void InitiatorPort::OnFrame(std::size_t index, const std::shared_ptr<hba::FabricConnection>& conn,
                            link::Frame frame) {
  switch (frame.header.type) {
    case FrameType::kLoginAcc:
      OnLoginAcc(index, conn, frame);
      return;
    case FrameType::kLoginRjt:
    case FrameType::kLogo:
      CAFS_LOG_WARN("{}: target {} sent {}", config_.port.name, config_.targets[index].name,
                    frame.header.type == FrameType::kLogo ? "LOGO" : "LOGIN_RJT");
      conn->Close();
      Lost(index, conn, Status::Unavailable("logged out by the target"), true);
      return;
    default:
      break;
  }
  std::shared_ptr<RemoteSession> s;
  bool require_secure = false;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    if (t.conn != conn || !t.session) return;
    s = t.session;
    require_secure = SecureLocked(t, frame.header.lun);
  }
  if (frame.header.type == FrameType::kAuthEls) {
    HandleAuthEls(s, frame);
    return;
  }
  if (frame.header.type != FrameType::kData) return;
  s->ReceiveData(std::move(frame), require_secure,
                 [this, index](const link::FrameHeader& h, Result<ByteView> plain) {
                   CompleteData(index, h, plain);
                 });
}

void InitiatorPort::CompleteData(std::size_t index, const link::FrameHeader& h,
                                 const Result<ByteView>& plain) {
  if (!plain.ok()) {
    CAFS_LOG_DEBUG("{}: DATA from target {} dropped: {}", config_.port.name,
                   config_.targets[index].name, plain.status().ToString());
    return;
  }
  auto reply = hba::DecodeDataReply(*plain);
  if (!reply.ok()) {
    CAFS_LOG_WARN("{}: bad DATA reply from target {}: {}", config_.port.name,
                  config_.targets[index].name, reply.status().ToString());
    return;
  }
  IoCallback done;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    auto it = t.outstanding.find(h.exchange_id);
    if (it == t.outstanding.end()) return;  // timed out already
    done = std::move(it->second.done);
    t.outstanding.erase(it);
  }
  if (reply->err != 0) {
    done(Status::FromErrno(static_cast<int>(reply->err), "target " + config_.targets[index].name),
         {});
  } else {
    done(Status::OK(), std::move(reply->data));
  }
}

void InitiatorPort::OnLoginAcc(std::size_t index,
                               const std::shared_ptr<hba::FabricConnection>& conn,
                               const link::Frame& frame) {
  auto luns = hba::DecodeLoginAcc(frame.payload);
  std::shared_ptr<RemoteSession> session;
  std::vector<std::pair<std::string, hba::LunInfo>> new_exports;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    if (t.conn != conn || t.link != Link::kConnecting) return;
    if (!luns.ok() || (t.spec.wwpn != 0 && frame.header.src_wwpn != t.spec.wwpn)) {
      CAFS_LOG_ERROR("{}: target {}: bad LOGIN_ACC ({})", config_.port.name, t.spec.name,
                     luns.ok() ? "unexpected WWPN" : luns.status().ToString());
      t.conn = nullptr;
      t.link = Link::kOffline;
      session = nullptr;
    } else {
      t.remote = {frame.header.src_wwpn, frame.header.src_port_id};
      t.session = MakeSession(t.remote, conn);
      session = t.session;
      t.link = Link::kLoggedIn;
      t.online_secure = false;
      ArmAuthTimerLocked(t);
      for (const hba::LunInfo& l : *luns) {
        const std::string name = t.spec.name + "-lun" + std::to_string(l.id);
        if (t.luns.count(l.id) == 0) new_exports.emplace_back(name, l);
        t.luns[l.id] = l;
      }
    }
  }
  if (!session) {
    conn->Close();
    return;
  }
  AddSession(session);
  for (const auto& [name, info] : new_exports) {
    Status s = lun_server_.AddExport(
        name, std::make_shared<LunDevice>(*this, index, info),
        "EDIF LUN " + std::to_string(info.id) + " of " + config_.targets[index].name);
    if (s.ok()) {
      std::lock_guard lock(mu_);
      targets_[index].exports.push_back(name);
    }
    CAFS_LOG_INFO("{}: export {} ({} bytes{}): {}", config_.port.name, name, info.size,
                  info.require_secure() ? ", require_secure" : "", s.ToString());
  }
  CAFS_LOG_INFO("{}: logged in to target {} (wwpn 0x{:016x}, port_id 0x{:06x})", config_.port.name,
                config_.targets[index].name, session->remote().wwpn, session->remote().port_id);
  PostTargetEvent(MessageType::kTargetAdded, session->remote(), 0);
  if (agent_started()) PostAuthNeeded(session, mailbox::AuthReason::kLogin);
  KickWaiting(index);
}

void InitiatorPort::PostAuthNeeded(const std::shared_ptr<RemoteSession>& s,
                                   mailbox::AuthReason reason) {
  s->set_auth_state(mailbox::TargetAuthState::kPending);
  mailbox::AuthNeeded ev{s->remote().wwpn, s->remote().port_id, static_cast<std::uint32_t>(reason)};
  (void)endpoint().PostEvent(MessageType::kAuthNeeded, ev);
}

void InitiatorPort::Lost(std::size_t index, const std::shared_ptr<hba::FabricConnection>& conn,
                         const Status& reason, bool notify) {
  std::vector<Completion> fail;
  std::shared_ptr<RemoteSession> session;
  bool was_logged_in = false;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    if (t.conn != conn) return;
    was_logged_in = t.link == Link::kLoggedIn;
    session = t.session;
    t.conn = nullptr;
    t.session = nullptr;
    t.link = Link::kOffline;
    t.online_secure = false;
    t.auth_timed_out = false;
    t.next_attempt = clock_.MonotonicNow() + driver_.reconnect_interval;
    for (auto& [xid, o] : t.outstanding) {
      fail.emplace_back(std::move(o.done),
                        IoError("target " + t.spec.name + " lost: " + reason.ToString()));
    }
    t.outstanding.clear();
  }
  if (session) RemoveSession(session);
  if (was_logged_in) {
    CAFS_LOG_WARN("{}: target {} lost: {} ({} I/O failed)", config_.port.name,
                  config_.targets[index].name, reason.ToString(), fail.size());
    if (notify && session) {
      PostTargetEvent(MessageType::kTargetLost, session->remote(), 0, mailbox::kFlagAckRequired);
    }
  }
  for (auto& [cb, st] : fail) cb(st, {});
}

void InitiatorPort::TearDown(std::size_t index, const char* why) {
  std::shared_ptr<hba::FabricConnection> conn;
  std::shared_ptr<RemoteSession> s;
  {
    std::lock_guard lock(mu_);
    conn = targets_[index].conn;
    s = targets_[index].session;
  }
  if (!conn) return;
  CAFS_LOG_INFO("{}: logging out of target {}: {}", config_.port.name, config_.targets[index].name,
                why);
  if (s) (void)s->Send(FrameType::kLogo, 0, 0, {});
  conn->Close();
  Lost(index, conn, Status::Unavailable(why), false);
}

void InitiatorPort::SubmitIo(std::size_t index, std::uint32_t lun, hba::DataRequest request,
                             IoCallback done) {
  Status refused;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    if (stopped_) {
      refused = IoError("driver stopped");
    } else if (t.link == Link::kLoggedIn && t.auth_timed_out && SecureLocked(t, lun)) {
      refused = AuthTimeoutErrorLocked(t);
      if (!t.refusal_logged) {  // once per timeout, not per request
        t.refusal_logged = true;
        CAFS_LOG_ERROR("{}: {} (further refusals not logged)", config_.port.name,
                       refused.message());
      }
    } else if (!UsableLocked(t, lun) || !t.waiting.empty()) {
      t.waiting.push_back(Pending{lun, std::move(request), std::move(done),
                                  clock_.MonotonicNow() + driver_.io_wait_timeout});
      return;
    }
  }
  if (!refused.ok()) {
    done(refused, {});
    return;
  }
  Issue(index, lun, std::move(request), std::move(done));
}

void InitiatorPort::Issue(std::size_t index, std::uint32_t lun, hba::DataRequest request,
                          IoCallback done) {
  auto payload = hba::EncodeDataRequest(request);
  if (!payload.ok()) {
    done(payload.status(), {});
    return;
  }
  std::shared_ptr<RemoteSession> s;
  std::uint32_t xid = 0;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    s = t.session;
    if (!s) {
      done(IoError("target " + t.spec.name + " not logged in"), {});
      return;
    }
    xid = next_exchange_++;
    if (next_exchange_ == 0) next_exchange_ = 1;
    t.outstanding[xid] = Outstanding{std::move(done), clock_.MonotonicNow() + driver_.io_timeout};
  }
  Status st = s->SendData(xid, lun, std::move(*payload));
  if (!st.ok()) {
    IoCallback cb;
    {
      std::lock_guard lock(mu_);
      auto& out = targets_[index].outstanding;
      auto it = out.find(xid);
      if (it == out.end()) return;
      cb = std::move(it->second.done);
      out.erase(it);
    }
    cb(IoError("send to target " + config_.targets[index].name + ": " + st.ToString()), {});
  }
}

void InitiatorPort::KickWaiting(std::size_t index) {
  std::vector<Pending> ready;
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    while (!t.waiting.empty() && UsableLocked(t, t.waiting.front().lun)) {
      ready.push_back(std::move(t.waiting.front()));
      t.waiting.pop_front();
    }
  }
  for (Pending& p : ready) Issue(index, p.lun, std::move(p.request), std::move(p.done));
}

void InitiatorPort::OnTick() {
  const TimePoint now = clock_.MonotonicNow();
  std::vector<Completion> fail;
  std::vector<std::size_t> to_connect;
  std::vector<std::pair<std::size_t, std::shared_ptr<hba::FabricConnection>>> login_timeouts;
  std::vector<std::pair<std::size_t, std::shared_ptr<RemoteSession>>> auth_retries;
  const bool agent = agent_started();
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      Target& t = targets_[i];
      while (!t.waiting.empty() && t.waiting.front().deadline <= now) {
        Pending& p = t.waiting.front();
        const bool secure = SecureLocked(t, p.lun);
        const std::string what = t.link != Link::kLoggedIn ? "not logged in" : "not online secure";
        const std::string msg = "I/O to target " + t.spec.name + " (wwpn 0x" +
                                fmt::format("{:016x}", t.remote.wwpn) + ") failed: " + what +
                                " after " + std::to_string(driver_.io_wait_timeout.count()) +
                                " ms" + (secure ? " (require_secure)" : "");
        CAFS_LOG_ERROR("{}: {}", config_.port.name, msg);
        fail.emplace_back(std::move(p.done), IoError(msg));
        t.waiting.pop_front();
      }
      if (t.link == Link::kLoggedIn && t.session && !t.online_secure && !t.auth_timed_out &&
          NeedsSecurityLocked(t) && now >= t.auth_deadline) {
        t.auth_timed_out = true;
        t.session->set_auth_state(mailbox::TargetAuthState::kFailed);
        CAFS_LOG_ERROR(
            "{}: target {} (wwpn 0x{:016x}): authentication not completed within {} ms ({}): "
            "require_secure LUNs stay offline, their I/O fails with EIO",
            config_.port.name, t.spec.name, t.remote.wwpn, driver_.auth_timeout.count(),
            agent_started() ? "the agent did not finish it" : "no agent started on this port");
        for (auto it = t.waiting.begin(); it != t.waiting.end();) {
          if (SecureLocked(t, it->lun)) {
            fail.emplace_back(std::move(it->done), AuthTimeoutErrorLocked(t));
            it = t.waiting.erase(it);
          } else {
            ++it;
          }
        }
      }
      if (t.link == Link::kLoggedIn && t.session && !t.online_secure && t.auth_timed_out && agent &&
          driver_.auth_retry_interval.count() > 0 &&
          now >= t.auth_deadline + driver_.auth_retry_interval) {
        ArmAuthTimerLocked(t);  // a new chance, as at APP_START
        auth_retries.emplace_back(i, t.session);
      }
      for (auto it = t.outstanding.begin(); it != t.outstanding.end();) {
        if (it->second.deadline <= now) {
          CAFS_LOG_ERROR("{}: DATA request to target {} timed out", config_.port.name, t.spec.name);
          fail.emplace_back(std::move(it->second.done),
                            IoError("no reply from target " + t.spec.name));
          it = t.outstanding.erase(it);
        } else {
          ++it;
        }
      }
      if (t.link == Link::kOffline && now >= t.next_attempt) to_connect.push_back(i);
      if (t.link == Link::kConnecting && t.conn && now >= t.login_deadline) {
        login_timeouts.emplace_back(i, t.conn);
      }
    }
  }
  for (auto& [cb, st] : fail) cb(st, {});
  for (auto& [i, s] : auth_retries) {
    CAFS_LOG_INFO("{}: target {}: asking the agent to authenticate again (AUTH_NEEDED)",
                  config_.port.name, config_.targets[i].name);
    PostAuthNeeded(s, mailbox::AuthReason::kLogin);
  }
  for (auto& [i, c] : login_timeouts) {
    c->Close();
    Lost(i, c, Status::Timeout("no LOGIN_ACC"), false);
  }
  for (std::size_t i : to_connect) Connect(i);
}

std::size_t InitiatorPort::IndexOf(const std::shared_ptr<RemoteSession>& s) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (targets_[i].session == s) return i;
  }
  return targets_.size();
}

Status InitiatorPort::OnAuthResult(const mailbox::AuthResult& r,
                                   const std::shared_ptr<RemoteSession>& s) {
  const std::size_t i = IndexOf(s);
  if (i == targets_.size()) return Status::NotFound("target no longer logged in");
  if (r.outcome == mailbox::AuthOutcome::kOk) {
    s->set_auth_state(mailbox::TargetAuthState::kAuthenticated);
    {
      std::lock_guard lock(mu_);
      targets_[i].online_secure = true;
      targets_[i].auth_timed_out = false;
    }
    CAFS_LOG_INFO("{}: target {} ONLINE secure", config_.port.name, config_.targets[i].name);
    KickWaiting(i);
    return Status::OK();
  }
  s->set_auth_state(mailbox::TargetAuthState::kFailed);
  CAFS_LOG_WARN("{}: authentication of target {} failed (reason {}): logging out",
                config_.port.name, config_.targets[i].name, r.reason);
  TearDown(i, "AUTH_RESULT FAIL");
  return Status::OK();
}

void InitiatorPort::OnAgentStarted(std::uint64_t epoch, const mailbox::AppStart& app) {
  CAFS_LOG_INFO("{}: agent '{}' started, epoch {}", config_.port.name, app.app_id, epoch);
  {
    std::lock_guard lock(mu_);
    for (Target& t : targets_) {
      if (t.link == Link::kLoggedIn && !t.online_secure) ArmAuthTimerLocked(t);  // a new chance
    }
  }
  for (const auto& s : Sessions()) {
    if (s->auth_state() != mailbox::TargetAuthState::kAuthenticated) {
      PostAuthNeeded(s, mailbox::AuthReason::kLogin);
    }
  }
}

void InitiatorPort::OnAgentStopped(mailbox::AgentStopReason reason) {
  CAFS_LOG_WARN("{}: agent stopped (reason {}): tearing down secured sessions", config_.port.name,
                static_cast<int>(reason));
  std::vector<std::size_t> down;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (targets_[i].session && targets_[i].session->has_security_state()) down.push_back(i);
    }
  }
  for (std::size_t i : down) TearDown(i, "agent stopped");
}

std::vector<TargetStatus> InitiatorPort::Targets() {
  std::lock_guard lock(mu_);
  std::vector<TargetStatus> out;
  for (const Target& t : targets_) {
    TargetStatus s;
    s.name = t.spec.name;
    s.wwpn = t.remote.wwpn != 0 ? t.remote.wwpn : t.spec.wwpn;
    s.port_id = t.remote.port_id;
    s.state = StateLocked(t);
    s.auth_state = t.session ? t.session->auth_state() : mailbox::TargetAuthState::kNone;
    s.exports = t.exports;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<mailbox::TargetEntry> InitiatorPort::ListRemotes() {
  std::vector<mailbox::TargetEntry> out;
  std::lock_guard lock(mu_);
  for (const Target& t : targets_) {
    mailbox::TargetEntry e;
    e.wwpn = t.remote.wwpn != 0 ? t.remote.wwpn : t.spec.wwpn;
    e.port_id = t.remote.port_id;
    e.state = StateLocked(t);
    e.auth_state = t.session ? t.session->auth_state() : mailbox::TargetAuthState::kNone;
    e.flags = NeedsSecurityLocked(t) ? mailbox::kTargetRequireSecure : 0;
    out.push_back(e);
  }
  return out;
}

}  // namespace cafs::edif::driver
