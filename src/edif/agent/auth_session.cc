#include "edif/agent/auth_session.h"

#include "crypto/rng.h"
#include "edif/mailbox/payloads.h"

namespace cafs::edif::agent {

namespace {

std::uint32_t RandomSpi(std::uint32_t avoid) {
  for (;;) {
    std::uint8_t b[4];
    if (!crypto::RandomBytes(b).ok()) continue;
    const std::uint32_t spi = LoadLe32(b);
    if (spi != 0 && spi != avoid) return spi;
  }
}

}  // namespace

Result<std::unique_ptr<AuthSession>> AuthSession::Create(std::shared_ptr<TlsContext> ctx,
                                                         AuthSessionConfig config,
                                                         const Clock& clock) {
  if (ctx->role() != config.role) return Status::InvalidArgument("TLS context role mismatch");
  const bool client = config.role == TlsRole::kClient;
  const std::uint64_t initiator = client ? config.local_wwpn : config.peer_wwpn;
  const std::uint64_t target = client ? config.peer_wwpn : config.local_wwpn;
  CAFS_ASSIGN_OR_RETURN(auto tls, TlsSession::Create(std::move(ctx), initiator, target));
  return std::unique_ptr<AuthSession>(new AuthSession(config, clock, std::move(tls)));
}

AuthSession::AuthSession(AuthSessionConfig config, const Clock& clock,
                         std::unique_ptr<TlsSession> tls)
    : config_(config),
      clock_(clock),
      tls_(std::move(tls)),
      deadline_(clock.MonotonicNow() + config.handshake_timeout) {}

std::optional<std::chrono::steady_clock::time_point> AuthSession::deadline() const {
  if (state_ == State::kHandshake || state_ == State::kInstalling) return deadline_;
  return std::nullopt;
}

void AuthSession::FlushTls(std::vector<AuthAction>& out) {
  Bytes records = tls_->TakeOutput();
  if (records.empty()) return;
  AuthAction a;
  a.kind = AuthAction::Kind::kSendFrame;
  a.frame = EncodeAuthFrame({AuthFrameKind::kTls, config_.session_epoch, std::move(records)});
  if (initiator()) {
    a.els_flags = sent_first_ ? 0 : mailbox::kElsNewExchange;
  } else {
    a.els_flags = mailbox::kElsReply;
  }
  sent_first_ = true;
  out.push_back(std::move(a));
}

void AuthSession::Fail(std::vector<AuthAction>& out, const std::string& reason, bool tell_peer) {
  if (state_ == State::kFailed) return;
  state_ = State::kFailed;
  installing_ = false;
  keys_.reset();
  if (tell_peer) {
    FlushTls(out);  // a TLS alert, if OpenSSL produced one
    AuthAction a;
    a.kind = AuthAction::Kind::kSendFrame;
    std::string r = reason.substr(0, kMaxAbortReason);
    a.frame =
        EncodeAuthFrame({AuthFrameKind::kAbort, config_.session_epoch, Bytes(r.begin(), r.end())});
    a.els_flags = static_cast<std::uint16_t>(mailbox::kElsReject | mailbox::kElsLast |
                                             (initiator() ? 0 : mailbox::kElsReply));
    out.push_back(std::move(a));
  }
  AuthAction f;
  f.kind = AuthAction::Kind::kFailed;
  f.reason = reason;
  out.push_back(std::move(f));
}

std::vector<AuthAction> AuthSession::Start() {
  std::vector<AuthAction> out;
  if (!initiator() || sent_first_) return out;
  Status st = tls_->Feed({});
  if (!st.ok()) {
    Fail(out, st.message(), false);
    return out;
  }
  FlushTls(out);
  return out;
}

void AuthSession::BeginGeneration(std::vector<AuthAction>& out, std::uint32_t gen) {
  KeyContext kc;
  kc.initiator_wwpn = initiator() ? config_.local_wwpn : config_.peer_wwpn;
  kc.target_wwpn = initiator() ? config_.peer_wwpn : config_.local_wwpn;
  kc.session_epoch = config_.session_epoch;
  kc.generation = gen;
  auto keys = DeriveLinkKeys(*tls_, kc);
  if (!keys.ok()) {
    Fail(out, "key export failed: " + keys.status().message(), true);
    return;
  }
  gen_ = gen;
  installing_ = true;
  keys_ = std::move(keys).value();
  new_rx_spi_ = RandomSpi(rx_spi_);
  rx_done_ = false;
  tx_requested_ = false;
  peer_spi_.reset();
  if (state_ == State::kHandshake) state_ = State::kInstalling;
  const DirectionKeys& rx = initiator() ? keys_->target_to_initiator : keys_->initiator_to_target;
  AuthAction a;
  a.kind = AuthAction::Kind::kInstallRx;
  a.spi = new_rx_spi_;
  a.key = rx.key.Clone();
  a.salt = rx.salt;
  a.generation = gen;
  out.push_back(std::move(a));
}

void AuthSession::MaybeInstallTx(std::vector<AuthAction>& out) {
  if (!installing_ || !rx_done_ || !peer_spi_ || tx_requested_) return;
  tx_requested_ = true;
  pending_tx_spi_ = *peer_spi_;
  const DirectionKeys& tx = initiator() ? keys_->initiator_to_target : keys_->target_to_initiator;
  AuthAction a;
  a.kind = AuthAction::Kind::kInstallTx;
  a.spi = pending_tx_spi_;
  a.key = tx.key.Clone();
  a.salt = tx.salt;
  a.generation = gen_;
  out.push_back(std::move(a));
}

void AuthSession::HandleTunnel(std::vector<AuthAction>& out) {
  for (const Bytes& raw : tls_->TakeMessages()) {
    auto m = DecodeTunnelMessage(raw);
    if (!m.ok()) {
      Fail(out, "tunnel: " + m.status().message(), true);
      return;
    }
    if (m->generation == gen_ && installing_) {
      peer_spi_ = m->spi;
      MaybeInstallTx(out);
    } else if (m->generation == gen_ + 1 && state_ == State::kEstablished && !installing_) {
      BeginGeneration(out, m->generation);
      peer_spi_ = m->spi;
    } else if (m->generation == gen_ + 1 && installing_) {
      next_peer_spi_ = m->spi;
    } else if (m->generation > gen_ + 1 || (gen_ == 0 && state_ != State::kInstalling)) {
      Fail(out, "tunnel: SPI for unexpected generation " + std::to_string(m->generation), true);
      return;
    }  // an older generation: stale duplicate, ignored
  }
}

std::vector<AuthAction> AuthSession::OnFrame(ByteView frame) {
  std::vector<AuthAction> out;
  if (state_ == State::kFailed) return out;
  auto f = DecodeAuthFrame(frame);
  if (!f.ok()) {
    Fail(out, f.status().message(), true);
    return out;
  }
  if (!initiator() && !sent_first_ && state_ == State::kHandshake) {
    config_.session_epoch = f->session_epoch;  // adopt the initiator's epoch
  }
  if (f->session_epoch != config_.session_epoch) return out;  // a stale exchange's frame
  if (f->kind == AuthFrameKind::kAbort) {
    Fail(out, "peer aborted: " + std::string(f->data.begin(), f->data.end()), false);
    return out;
  }
  Status st = tls_->Feed(f->data);
  if (!st.ok()) {
    Fail(out, st.message(), true);
    return out;
  }
  FlushTls(out);
  if (state_ == State::kHandshake && tls_->established()) BeginGeneration(out, 1);
  if (state_ != State::kFailed) HandleTunnel(out);
  return out;
}

std::vector<AuthAction> AuthSession::OnSaInstalled(SaDir dir, std::uint32_t spi,
                                                   std::uint32_t err) {
  std::vector<AuthAction> out;
  if (!installing_) return out;
  if (dir == SaDir::kRx && spi == new_rx_spi_ && !rx_done_) {
    if (err != 0) {
      Fail(out, "RX SA install failed, errno " + std::to_string(err), true);
      return out;
    }
    rx_done_ = true;
    Status st = tls_->SendMessage(EncodeTunnelMessage({TunnelType::kSpi, gen_, new_rx_spi_}));
    if (!st.ok()) {
      Fail(out, st.message(), true);
      return out;
    }
    FlushTls(out);
    MaybeInstallTx(out);
    return out;
  }
  if (dir == SaDir::kTx && tx_requested_ && spi == pending_tx_spi_) {
    if (err != 0) {
      Fail(out, "TX SA install failed, errno " + std::to_string(err), true);
      return out;
    }
    const std::uint32_t old_rx = rx_spi_;
    rx_spi_ = new_rx_spi_;
    tx_spi_ = pending_tx_spi_;
    installing_ = false;
    keys_.reset();
    AuthAction done;
    done.generation = gen_;
    done.spi = rx_spi_;
    if (state_ == State::kInstalling) {
      state_ = State::kEstablished;
      done.kind = AuthAction::Kind::kAuthenticated;
      out.push_back(std::move(done));
    } else {
      if (old_rx != 0) {
        AuthAction del;
        del.kind = AuthAction::Kind::kDeleteRx;
        del.spi = old_rx;
        del.generation = gen_ - 1;
        out.push_back(std::move(del));
      }
      done.kind = AuthAction::Kind::kRekeyed;
      out.push_back(std::move(done));
    }
    if (next_peer_spi_) {
      const std::uint32_t next = *next_peer_spi_;
      next_peer_spi_.reset();
      BeginGeneration(out, gen_ + 1);
      peer_spi_ = next;
    }
  }
  return out;
}

std::vector<AuthAction> AuthSession::StartRekey() {
  std::vector<AuthAction> out;
  if (state_ == State::kEstablished && !installing_) BeginGeneration(out, gen_ + 1);
  return out;
}

std::vector<AuthAction> AuthSession::Tick() {
  std::vector<AuthAction> out;
  if ((state_ == State::kHandshake || state_ == State::kInstalling) &&
      clock_.MonotonicNow() >= deadline_) {
    Fail(out, "handshake timeout", true);
  }
  return out;
}

std::vector<AuthAction> AuthSession::Abort(const std::string& reason) {
  std::vector<AuthAction> out;
  Fail(out, reason, true);
  return out;
}

}  // namespace cafs::edif::agent
