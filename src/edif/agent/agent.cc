#include "edif/agent/agent.h"

#include <algorithm>
#include <cstring>

#include "crypto/rng.h"
#include "edif/mailbox/app_auth.h"
#include "util/logging.h"

namespace cafs::edif::agent {

namespace mbx = cafs::edif::mailbox;
using mbx::MessageType;

namespace {

std::string Wwpn(std::uint64_t w) { return fmt::format("{:016x}", w); }

template <typename T>
const T* As(const mbx::Payload& p) {
  return std::get_if<T>(&p);
}

}  // namespace

AgentConfig AgentConfig::Clone() const {
  AgentConfig c;
  c.role = role;
  c.credentials.ca_file = credentials.ca_file;
  c.credentials.cert_file = credentials.cert_file;
  c.credentials.key_file = credentials.key_file;
  c.credentials.psk_secret = credentials.psk_secret.Clone();
  c.secret = secret.Clone();
  c.app_id = app_id;
  c.app_version = app_version;
  c.posted_reads = posted_reads;
  c.read_size = read_size;
  c.handshake_timeout = handshake_timeout;
  c.retry_delay = retry_delay;
  c.max_retry_delay = max_retry_delay;
  c.start_timeout = start_timeout;
  return c;
}

Result<std::unique_ptr<Agent>> Agent::Create(AgentConfig config, BlockChannel& channel,
                                             const Clock& clock) {
  if (config.secret.size() < 16) {
    return Status::InvalidArgument("APP_START secret must be at least 16 bytes");
  }
  if (config.read_size < mbx::kMaxMessageSize || config.read_size % kChannelSectorSize != 0) {
    return Status::InvalidArgument("read size must be whole sectors and >= 64 KiB");
  }
  CAFS_ASSIGN_OR_RETURN(auto tls, TlsContext::Create(config.role, config.credentials));
  return std::unique_ptr<Agent>(new Agent(std::move(config), channel, clock, std::move(tls)));
}

Agent::Agent(AgentConfig config, BlockChannel& channel, const Clock& clock,
             std::shared_ptr<TlsContext> tls)
    : config_(std::move(config)),
      channel_(channel),
      clock_(clock),
      tls_(std::move(tls)),
      self_(std::make_shared<Agent*>(this)) {}

Agent::~Agent() { self_.reset(); }

void Agent::Begin() {
  if (begun_) return;
  begun_ = true;
  // Request ids start at a random point: another writer of the disk cannot make the driver
  // answer one of ours (e.g. with old_epoch) without reading the disk first.
  if (!crypto::RandomBytes(
           MutableByteView(reinterpret_cast<std::uint8_t*>(&next_req_id_), sizeof next_req_id_))
           .ok()) {
    CAFS_LOG_ERROR("RNG failure");
  }
  next_req_id_ = (next_req_id_ >> 1) + 1;  // nonzero, far from wrapping
  for (std::size_t i = 0; i < config_.posted_reads; ++i) PostRead();
  StartApp();
}

// ---------------------------------------------------------------- mailbox I/O

void Agent::PostRead() {
  std::weak_ptr<Agent*> weak = self_;
  channel_.Read(mbx::kReservedBytes, config_.read_size, [weak](Status st, Bytes data) {
    if (auto self = weak.lock()) (*self)->OnRead(std::move(st), std::move(data));
  });
}

void Agent::OnRead(Status status, Bytes data) {
  if (!status.ok()) {
    CAFS_LOG_WARN("mailbox read failed: {}", status.ToString());
    if (status.code() != Status::Code::kUnavailable && !stop_) PostRead();
    return;
  }
  if (!stop_) PostRead();  // keep the same number posted
  auto msgs = mbx::DecodeUpstream(data);
  if (!msgs.ok()) {
    CAFS_LOG_WARN("mailbox read: undecodable upstream data: {}", msgs.status().ToString());
    return;
  }
  for (const auto& m : *msgs) Dispatch(m);
}

void Agent::Send(MessageType type, Bytes payload, ResultHandler on_result) {
  mbx::Header h;
  h.type = type;
  h.epoch = epoch_;
  h.seq = next_seq_++;
  h.req_id = next_req_id_++;
  h.wwpn = wwpn_;
  h.port_id = port_id_;
  auto encoded = mbx::EncodeDownstream(h, payload);
  if (!payload.empty()) std::memset(payload.data(), 0, payload.size());  // may hold keys
  if (!encoded.ok()) {
    CAFS_LOG_ERROR("cannot encode {}: {}", mbx::MessageTypeName(type), encoded.status().ToString());
    return;
  }
  pending_[h.req_id] = std::move(on_result);  // an empty handler still marks it as ours
  while (pending_.size() > kMaxPendingRequests) pending_.erase(pending_.begin());
  last_sent_ = Now();
  WriteWithRetry(std::make_shared<Bytes>(std::move(encoded).value()), 3);
}

void Agent::WriteWithRetry(std::shared_ptr<Bytes> encoded, int attempts_left) {
  std::weak_ptr<Agent*> weak = self_;
  Bytes copy = *encoded;  // the channel wipes what it wrote
  channel_.Write(mbx::kReservedBytes, std::move(copy), [weak, encoded, attempts_left](Status st) {
    auto self = weak.lock();
    if (!self) return;
    if (st.ok() || attempts_left <= 1 || st.code() == Status::Code::kUnavailable) {
      if (!st.ok()) CAFS_LOG_ERROR("mailbox write failed: {}", st.ToString());
      std::memset(encoded->data(), 0, encoded->size());
      return;
    }
    // Same bytes, same seq: the driver executes once and answers each copy (idempotent).
    CAFS_LOG_WARN("mailbox write failed ({}), retrying", st.ToString());
    (*self)->WriteWithRetry(encoded, attempts_left - 1);
  });
}

// ---------------------------------------------------------------- APP_START

void Agent::StartApp() {
  started_ = false;
  starting_ = true;
  start_sent_ = Now();
  pending_.clear();
  if (!crypto::RandomBytes(agent_nonce_).ok()) CAFS_LOG_ERROR("RNG failure");
  mbx::AppStart a;
  a.phase = mbx::AppStartPhase::kHello;
  a.app_version = config_.app_version;
  a.agent_nonce = agent_nonce_;
  a.app_id = config_.app_id;
  auto payload = mbx::EncodePayload(a);
  if (!payload.ok()) return;
  next_seq_ = 1;
  Send(MessageType::kAppStart, std::move(payload).value(),
       [this](const mbx::Header& h, const mbx::ResultMsg& r) { OnChallenge(h, r); });
}

void Agent::OnChallenge(const mbx::Header& h, const mbx::ResultMsg& r) {
  if (r.err != 0 || r.reply_type != static_cast<std::uint16_t>(MessageType::kAppChallenge)) {
    CAFS_LOG_ERROR("APP_START HELLO refused: {} (errno {})", r.detail, r.err);
    return;  // the start timer tries again
  }
  auto ch = mbx::DecodeAppChallenge(r.reply);
  if (!ch.ok()) return;
  wwpn_ = h.wwpn;
  port_id_ = h.port_id;
  mbx::ProofInput in;
  in.wwpn = wwpn_;
  in.port_id = port_id_;
  in.epoch = ch->epoch;
  in.driver_nonce = ch->driver_nonce;
  in.agent_nonce = agent_nonce_;
  in.app_version = config_.app_version;
  in.app_id = config_.app_id;
  auto proof = mbx::ComputeProof(config_.secret.view(), mbx::ProofRole::kAgent, in);
  if (!proof.ok()) return;
  mbx::AppStart a;
  a.phase = mbx::AppStartPhase::kProve;
  a.app_version = config_.app_version;
  a.agent_nonce = agent_nonce_;
  a.proof = *proof;
  a.app_id = config_.app_id;
  auto payload = mbx::EncodePayload(a);
  if (!payload.ok()) return;
  epoch_ = ch->epoch;
  next_seq_ = 1;
  pending_chal_nonce_ = ch->driver_nonce;
  Send(MessageType::kAppStart, std::move(payload).value(),
       [this](const mbx::Header& rh, const mbx::ResultMsg& rr) { OnStartReply(rh, rr); });
}

void Agent::OnStartReply(const mbx::Header&, const mbx::ResultMsg& r) {
  if (r.err != 0 || r.reply_type != static_cast<std::uint16_t>(MessageType::kAppStartReply)) {
    CAFS_LOG_ERROR("APP_START refused: {} (errno {}): is the secret right?", r.detail, r.err);
    return;
  }
  auto rep = mbx::DecodeAppStartReply(r.reply);
  if (!rep.ok()) return;
  mbx::ProofInput in;
  in.wwpn = wwpn_;
  in.port_id = port_id_;
  in.epoch = rep->epoch;
  in.driver_nonce = pending_chal_nonce_;
  in.agent_nonce = agent_nonce_;
  in.app_version = config_.app_version;
  in.capabilities = rep->capabilities;
  in.app_id = config_.app_id;
  if (!mbx::VerifyProof(config_.secret.view(), mbx::ProofRole::kDriver, in, rep->driver_proof)) {
    CAFS_LOG_ERROR("APP_START: the driver's proof does not verify: not our driver, ignoring");
    return;
  }
  epoch_ = rep->epoch;
  started_ = true;
  starting_ = false;
  ++stats_.app_starts;
  keepalive_interval_ =
      std::chrono::milliseconds(std::max<std::uint32_t>(rep->keepalive_timeout_ms / 3, 100));
  CAFS_LOG_INFO("agent started on port {} (port id {:06x}), epoch {}", Wwpn(wwpn_), port_id_,
                epoch_);
  ResetSessions();
  Send(MessageType::kGetPortInfo, mbx::EncodePayload(mbx::GetPortInfo{}),
       [](const mbx::Header&, const mbx::ResultMsg& rr) {
         auto pi = mbx::DecodePortInfo(rr.reply);
         if (rr.err == 0 && pi.ok()) {
           CAFS_LOG_INFO("port {}: link {}, EDIF {}", Wwpn(pi->wwpn),
                         pi->link_state == mbx::LinkStateValue::kUp ? "up" : "down",
                         (pi->port_flags & mbx::kPortEdifCapable) ? "capable" : "not capable");
         }
       });
  Send(MessageType::kGetTargets, mbx::EncodePayload(mbx::GetTargets{}),
       [this](const mbx::Header&, const mbx::ResultMsg& rr) { OnTargets(rr); });
}

void Agent::ResetSessions() {
  for (auto& [w, t] : targets_) {
    t.session.reset();
    t.authenticated = false;
    t.retry_at.reset();
    t.backoff = std::chrono::milliseconds(0);
    t.stale_rx.clear();
  }
}

void Agent::OnTargets(const mbx::ResultMsg& r) {
  auto list = mbx::DecodeTargetList(r.reply);
  if (r.err != 0 || !list.ok()) {
    CAFS_LOG_WARN("GET_TARGETS failed: {} (errno {})", r.detail, r.err);
    return;
  }
  for (const auto& e : list->entries) {
    Target& t = TargetFor(e.wwpn, e.port_id);
    CAFS_LOG_INFO("target {} port id {:06x} state {} auth {}{}", Wwpn(e.wwpn), e.port_id,
                  static_cast<int>(e.state), static_cast<int>(e.auth_state),
                  (e.flags & mbx::kTargetRequireSecure) ? " require_secure" : "");
    if (config_.role == TlsRole::kClient && e.state != mbx::TargetState::kOffline &&
        e.auth_state != mbx::TargetAuthState::kAuthenticated && !t.session) {
      StartAuth(t);
    }
  }
}

Agent::Target& Agent::TargetFor(std::uint64_t wwpn, std::uint32_t port_id) {
  Target& t = targets_[wwpn];
  t.wwpn = wwpn;
  if (port_id != 0) t.port_id = port_id;
  return t;
}

// ---------------------------------------------------------------- upstream dispatch

void Agent::Dispatch(const mbx::Message& m) {
  const mbx::Header& h = m.header;
  if (h.type == MessageType::kNop) return;
  const auto key = std::make_pair(h.epoch, h.seq);
  const bool dup = h.seq != 0 && !seen_.insert(key).second;
  while (seen_.size() > 4096) seen_.erase(seen_.begin());
  if ((h.flags & mbx::kFlagAckRequired) && started_ && h.epoch == epoch_) {
    mbx::EventAck ack;
    ack.acked_seq = h.seq;
    ack.event_type = h.type;
    Send(MessageType::kEventAck, mbx::EncodePayload(ack));
    ++stats_.events_acked;
  }
  if (dup) return;
  auto payload = mbx::DecodePayload(h.type, m.payload);
  if (!payload.ok()) {
    CAFS_LOG_WARN("upstream {}: {}", mbx::MessageTypeName(h.type), payload.status().ToString());
    return;
  }
  if (const auto* r = As<mbx::ResultMsg>(*payload)) {
    if (r->err != 0) ++stats_.error_results;
    auto it = pending_.find(h.req_id);
    ResultHandler handler;
    const bool ours = it != pending_.end();
    if (it != pending_.end()) {
      handler = std::move(it->second);
      pending_.erase(it);
    }
    // Only an answer to one of our own requests says anything about our session: RESULTs
    // for what another writer of the disk sent (req_id 0 or unknown) are logged, not obeyed.
    if (ours &&
        (r->mailbox_error == mbx::MailboxError::kOldEpoch ||
         r->mailbox_error == mbx::MailboxError::kNotStarted) &&
        r->req_type != MessageType::kAppStart && (started_ || !starting_)) {
      CAFS_LOG_WARN("driver says {} ({}): starting again", mbx::MailboxErrorName(r->mailbox_error),
                    r->detail);
      StartApp();
      return;
    }
    if (handler) {
      handler(h, *r);
    } else if (r->err != 0) {
      CAFS_LOG_WARN("driver error for {} (req {}): {} errno {} {}",
                    mbx::MessageTypeName(r->req_type), h.req_id,
                    mbx::MailboxErrorName(r->mailbox_error), r->err, r->detail);
    }
    return;
  }
  if (const auto* e = As<mbx::EpochReset>(*payload)) {
    if (e->new_epoch != epoch_ || !started_) {
      CAFS_LOG_INFO("EPOCH_RESET to {}: driver restarted, APP_START again", e->new_epoch);
      StartApp();
    }
    return;
  }
  if (!started_ || h.epoch != epoch_) return;  // not for this session
  if (const auto* a = As<mbx::AuthNeeded>(*payload)) {
    Target& t = TargetFor(a->target_wwpn, a->target_port_id);
    CAFS_LOG_INFO("AUTH_NEEDED for {} (reason {})", Wwpn(t.wwpn), a->reason);
    if (config_.role != TlsRole::kClient) return;  // the initiator's agent starts
    if (a->reason == static_cast<std::uint32_t>(mbx::AuthReason::kRekey) && t.session &&
        t.session->state() == AuthSession::State::kEstablished) {
      t.phase_start = Now();
      Apply(t, t.session->StartRekey());
    } else if (!t.session || t.session->state() == AuthSession::State::kFailed ||
               t.session->state() == AuthSession::State::kEstablished) {
      StartAuth(t);
    }
  } else if (const auto* els = As<mbx::ElsReceived>(*payload)) {
    Target& t = TargetFor(els->target_wwpn, els->target_port_id);
    const bool reject = (els->flags & mbx::kElsReject) != 0;
    if (reject && !DecodeAuthFrame(els->frame).ok()) {
      // Rejected by the fabric or the peer's driver (no agent there).
      if (t.session && t.session->state() != AuthSession::State::kFailed) {
        OnAuthFailed(t, "authentication frame rejected by the peer's driver");
        t.session.reset();
      }
      return;
    }
    if (config_.role == TlsRole::kServer && (els->flags & mbx::kElsNewExchange) && !reject) {
      if (t.session && t.session->rx_spi() != 0) t.stale_rx.push_back(t.session->rx_spi());
      AuthSessionConfig sc;
      sc.role = TlsRole::kServer;
      sc.local_wwpn = wwpn_;
      sc.peer_wwpn = t.wwpn;
      sc.handshake_timeout = config_.handshake_timeout;
      auto s = AuthSession::Create(tls_, sc, clock_);
      if (!s.ok()) {
        CAFS_LOG_ERROR("cannot start TLS server for {}: {}", Wwpn(t.wwpn), s.status().ToString());
        return;
      }
      t.session = std::move(s).value();
      t.authenticated = false;
      t.exchange_id = els->exchange_id;
      t.phase_start = Now();
      CAFS_LOG_INFO("authentication requested by initiator {}", Wwpn(t.wwpn));
    }
    if (!t.session) {
      CAFS_LOG_WARN("authentication frame from {} without a session: ignored", Wwpn(t.wwpn));
      return;
    }
    Apply(t, t.session->OnFrame(els->frame));
  } else if (const auto* c = As<mbx::SaUpdateComplete>(*payload)) {
    auto it = targets_.find(c->target_wwpn);
    if (it == targets_.end() || !it->second.session) return;
    if (c->op == mbx::SaOp::kDelete) {
      CAFS_LOG_INFO("SA {:08x} deleted for {} (err {})", c->spi, Wwpn(c->target_wwpn), c->err);
      return;
    }
    Apply(it->second,
          it->second.session->OnSaInstalled(
              c->direction == mbx::SaDirection::kRx ? SaDir::kRx : SaDir::kTx, c->spi, c->err));
  } else if (const auto* x = As<mbx::SaExpiring>(*payload)) {
    auto it = targets_.find(x->target_wwpn);
    // Only the SAs in use count: an old RX SA waiting to be retired may cross its time limit
    // too, and rekeying for it would only pile up more RX SAs.
    if (it != targets_.end() && it->second.session &&
        it->second.session->state() == AuthSession::State::kEstablished &&
        (x->spi == it->second.session->rx_spi() || x->spi == it->second.session->tx_spi())) {
      CAFS_LOG_INFO("SA {:08x} for {} expiring (reason {}): rekey", x->spi, Wwpn(x->target_wwpn),
                    static_cast<int>(x->reason));
      it->second.phase_start = Now();
      Apply(it->second, it->second.session->StartRekey());
    }
  } else if (const auto* te = As<mbx::TargetEvent>(*payload)) {
    Target& t = TargetFor(te->target_wwpn, te->target_port_id);
    if (h.type == MessageType::kTargetAdded) {
      CAFS_LOG_INFO("target {} added", Wwpn(t.wwpn));
      if (config_.role == TlsRole::kClient) {
        Send(MessageType::kGetTargets, mbx::EncodePayload(mbx::GetTargets{}),
             [this](const mbx::Header&, const mbx::ResultMsg& rr) { OnTargets(rr); });
      }
    } else {
      CAFS_LOG_INFO("{} for {}: session released", mbx::MessageTypeName(h.type), Wwpn(t.wwpn));
      t.session.reset();
      t.authenticated = false;
      t.retry_at.reset();
    }
  } else if (const auto* ls = As<mbx::LinkState>(*payload)) {
    CAFS_LOG_INFO("link {}", ls->state == mbx::LinkStateValue::kUp ? "up" : "down");
  }
}

// ---------------------------------------------------------------- authentication

void Agent::StartAuth(Target& t) {
  if (config_.role != TlsRole::kClient || !started_) return;
  if (t.session && t.session->rx_spi() != 0) t.stale_rx.push_back(t.session->rx_spi());
  AuthSessionConfig sc;
  sc.role = TlsRole::kClient;
  sc.local_wwpn = wwpn_;
  sc.peer_wwpn = t.wwpn;
  sc.session_epoch = epoch_;
  sc.handshake_timeout = config_.handshake_timeout;
  auto s = AuthSession::Create(tls_, sc, clock_);
  if (!s.ok()) {
    OnAuthFailed(t, s.status().message());
    return;
  }
  std::uint8_t b[4];
  do {
    if (!crypto::RandomBytes(b).ok()) break;
    t.exchange_id = LoadLe32(b);
  } while (t.exchange_id == 0);
  t.session = std::move(s).value();
  t.authenticated = false;
  t.retry_at.reset();
  t.phase_start = Now();
  CAFS_LOG_INFO("authenticating target {} (exchange {:08x})", Wwpn(t.wwpn), t.exchange_id);
  Apply(t, t.session->Start());
}

void Agent::SendSa(Target& t, mbx::SaDirection dir, mbx::SaOp op, const AuthAction& a) {
  mbx::SaUpdate u;
  u.target_wwpn = t.wwpn;
  u.target_port_id = t.port_id;
  u.direction = dir;
  u.op = op;
  u.spi = a.spi;
  if (op == mbx::SaOp::kAdd) {
    u.key = a.key.Clone();
    u.salt = a.salt;
  }
  auto payload = mbx::EncodePayload(u);
  if (!payload.ok()) return;
  const std::uint64_t wwpn = t.wwpn;
  const std::uint32_t spi = a.spi;
  Send(MessageType::kSaUpdate, std::move(payload).value(),
       [this, wwpn, spi, dir, op](const mbx::Header&, const mbx::ResultMsg& r) {
         if (r.err == 0) return;  // SA_UPDATE_COMPLETE follows
         CAFS_LOG_ERROR("SA_UPDATE {:08x} for {} refused: {} errno {}", spi, Wwpn(wwpn), r.detail,
                        r.err);
         auto it = targets_.find(wwpn);
         if (op == mbx::SaOp::kAdd && it != targets_.end() && it->second.session) {
           Apply(it->second,
                 it->second.session->OnSaInstalled(
                     dir == mbx::SaDirection::kRx ? SaDir::kRx : SaDir::kTx, spi, r.err));
         }
       });
}

void Agent::Apply(Target& t, std::vector<AuthAction> actions) {
  for (auto& a : actions) {
    switch (a.kind) {
      case AuthAction::Kind::kSendFrame: {
        mbx::ElsFrame f;
        f.target_wwpn = t.wwpn;
        f.target_port_id = t.port_id;
        f.exchange_id = t.exchange_id;
        f.flags = a.els_flags;
        f.frame = std::move(a.frame);
        auto payload = mbx::EncodePayload(f);
        if (payload.ok()) Send(MessageType::kAuthElsSend, std::move(payload).value());
        break;
      }
      case AuthAction::Kind::kInstallRx:
        SendSa(t, mbx::SaDirection::kRx, mbx::SaOp::kAdd, a);
        break;
      case AuthAction::Kind::kInstallTx:
        SendSa(t, mbx::SaDirection::kTx, mbx::SaOp::kAdd, a);
        break;
      case AuthAction::Kind::kDeleteRx:
        SendSa(t, mbx::SaDirection::kRx, mbx::SaOp::kDelete, a);
        break;
      case AuthAction::Kind::kAuthenticated: {
        t.authenticated = true;
        t.backoff = std::chrono::milliseconds(0);
        t.last_error.clear();
        t.peer = t.session ? t.session->peer_description() : "";
        ++stats_.auth_ok;
        CAFS_LOG_INFO("target {} authenticated ({}), RX SPI {:08x} TX SPI {:08x}{}", Wwpn(t.wwpn),
                      t.peer, t.session->rx_spi(), t.session->tx_spi(), PhaseTime(t));
        for (std::uint32_t spi : t.stale_rx) {
          AuthAction del;
          del.spi = spi;
          SendSa(t, mbx::SaDirection::kRx, mbx::SaOp::kDelete, del);
        }
        t.stale_rx.clear();
        mbx::AuthResult r;
        r.target_wwpn = t.wwpn;
        r.target_port_id = t.port_id;
        r.outcome = mbx::AuthOutcome::kOk;
        Send(MessageType::kAuthResult, mbx::EncodePayload(r));
        break;
      }
      case AuthAction::Kind::kRekeyed:
        ++stats_.rekeys;
        CAFS_LOG_INFO("target {} rekeyed: generation {}, RX SPI {:08x} TX SPI {:08x}{}",
                      Wwpn(t.wwpn), a.generation, t.session->rx_spi(), t.session->tx_spi(),
                      PhaseTime(t));
        break;
      case AuthAction::Kind::kFailed:
        OnAuthFailed(t, a.reason);
        break;
    }
  }
}

std::string Agent::PhaseTime(Target& t) const {
  if (!t.phase_start) return "";  // a rekey the peer started
  const std::chrono::duration<double, std::milli> d = Now() - *t.phase_start;
  t.phase_start.reset();
  return fmt::format(", in {:.3f} ms", d.count());
}

void Agent::OnAuthFailed(Target& t, const std::string& reason) {
  ++stats_.auth_failed;
  t.authenticated = false;
  t.last_error = reason;
  CAFS_LOG_ERROR("authentication with {} failed: {}", Wwpn(t.wwpn), reason);
  mbx::AuthResult r;
  r.target_wwpn = t.wwpn;
  r.target_port_id = t.port_id;
  r.outcome = mbx::AuthOutcome::kFail;
  r.reason = reason.find("timeout") != std::string::npos ? 2u : 1u;
  Send(MessageType::kAuthResult, mbx::EncodePayload(r));
  if (config_.role == TlsRole::kClient) {
    t.backoff = t.backoff.count() == 0 ? config_.retry_delay
                                       : std::min(t.backoff * 2, config_.max_retry_delay);
    t.retry_at = Now() + t.backoff;
  }
}

// ---------------------------------------------------------------- loop

void Agent::Timers() {
  const auto now = Now();
  if (!started_) {
    if (now - start_sent_ >= config_.start_timeout) StartApp();
    return;
  }
  if (now - last_sent_ >= keepalive_interval_) {
    ++stats_.keepalives;
    Send(MessageType::kKeepalive, mbx::EncodePayload(mbx::Keepalive{}));
  }
  for (auto& [w, t] : targets_) {
    if (t.session) {
      auto d = t.session->deadline();
      if (d && now >= *d) Apply(t, t.session->Tick());
    }
    if (t.retry_at && now >= *t.retry_at) {
      t.retry_at.reset();
      StartAuth(t);
    }
  }
}

Status Agent::RunOnce(std::chrono::milliseconds max_wait) {
  Begin();
  auto wait = max_wait;
  const auto now = Now();
  auto clamp = [&](std::chrono::steady_clock::time_point tp) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(tp - now);
    if (d < std::chrono::milliseconds(0)) d = std::chrono::milliseconds(0);
    wait = std::min(wait, d + std::chrono::milliseconds(1));
  };
  if (started_) {
    clamp(last_sent_ + keepalive_interval_);
  } else {
    clamp(start_sent_ + config_.start_timeout);
  }
  for (auto& [w, t] : targets_) {
    if (t.session && t.session->deadline()) clamp(*t.session->deadline());
    if (t.retry_at) clamp(*t.retry_at);
  }
  Status st = channel_.Poll(wait);
  if (!st.ok()) return st;
  Timers();
  return Status::OK();
}

Status Agent::Run() {
  while (!stop_) {
    CAFS_RETURN_IF_ERROR(RunOnce(std::chrono::milliseconds(500)));
  }
  if (started_) {
    bool done = false;
    Send(MessageType::kAppStop, mbx::EncodePayload(mbx::AppStop{}),
         [&done](const mbx::Header&, const mbx::ResultMsg&) { done = true; });
    const auto until = Now() + std::chrono::seconds(2);
    while (!done && Now() < until) {
      if (!channel_.Poll(std::chrono::milliseconds(100)).ok()) break;
    }
    started_ = false;
    CAFS_LOG_INFO("agent stopped (APP_STOP {})", done ? "acknowledged" : "not answered");
  }
  return Status::OK();
}

void Agent::Ping(std::function<void(std::uint32_t)> done) {
  if (!started_) return;
  Send(MessageType::kGetPortInfo, mbx::EncodePayload(mbx::GetPortInfo{}),
       [done = std::move(done)](const mbx::Header&, const mbx::ResultMsg& r) { done(r.err); });
}

void Agent::RequestStop() {
  stop_ = true;
  channel_.Wake();
}

std::vector<TargetStatus> Agent::targets() const {
  std::vector<TargetStatus> out;
  for (const auto& [w, t] : targets_) {
    TargetStatus s;
    s.wwpn = t.wwpn;
    s.port_id = t.port_id;
    s.authenticated = t.authenticated;
    s.peer = t.peer;
    s.last_error = t.last_error;
    if (t.session) {
      s.generation = t.session->generation();
      s.rx_spi = t.session->rx_spi();
      s.tx_spi = t.session->tx_spi();
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace cafs::edif::agent
