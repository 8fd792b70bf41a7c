// AuthSession: authentication and SA negotiation with ONE peer agent, free of the mailbox.
// The Agent turns its actions into mailbox messages (AUTH_ELS_SEND, SA_UPDATE, AUTH_RESULT)
// and feeds back ELS_RECEIVED frames and SA_UPDATE_COMPLETE results. Two AuthSessions can be
// wired back to back in memory (unit tests).
//
// Protocol (docs/edif-agent.md):
//  1. TLS 1.3 handshake (initiator = client) in AuthFrames of kind TLS. Timeout: the session
//     fails if the first generation is not fully installed within handshake_timeout (10 s).
//  2. Keys of generation g from the exporter (key_schedule.h). Each side picks a random
//     nonzero RX SPI, emits kInstallRx; when told it is installed, sends TunnelMessage{SPI, g,
//     rx_spi} through the tunnel. On the peer's SPI for g (and own RX installed) emits
//     kInstallTx with the peer's SPI. When RX and TX are installed: generation 1 ->
//     kAuthenticated; later generations -> kDeleteRx(previous RX SPI) then kRekeyed.
//  3. Rekey (make-before-break): StartRekey() on either side, or the peer's SPI message for
//     g+1, moves to g+1 and repeats step 2. Both sides starting together is fine: they derive
//     the same keys for g+1 and each installs TX on the other's new RX.
//  4. Any failure (TLS alert, bad certificate, unknown PSK identity, SA install error,
//     timeout, peer ABORT) emits kFailed with a reason, and for local failures a frame to the
//     peer (TLS alert records and/or an ABORT frame); the session is then dead.
//
// Threading: not synchronized; used by the agent's thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edif/agent/auth_frame.h"
#include "edif/agent/key_schedule.h"
#include "edif/agent/tls_session.h"
#include "util/clock.h"

namespace cafs::edif::agent {

enum class SaDir : std::uint8_t { kRx = 1, kTx = 2 };

struct AuthAction {
  enum class Kind {
    kSendFrame,      // frame (an encoded AuthFrame), els_flags
    kInstallRx,      // spi, key, salt, generation
    kInstallTx,      // spi, key, salt, generation
    kDeleteRx,       // spi (the previous generation's RX SA)
    kAuthenticated,  // generation 1 installed both ways: AUTH_RESULT OK
    kRekeyed,        // generation > 1 installed both ways
    kFailed,         // reason
  };
  Kind kind = Kind::kSendFrame;
  Bytes frame;
  std::uint16_t els_flags = 0;
  std::uint32_t spi = 0;
  SecureBuffer key;
  std::array<std::uint8_t, kLinkSaltSize> salt{};
  std::uint32_t generation = 0;
  std::string reason;
};

struct AuthSessionConfig {
  TlsRole role = TlsRole::kClient;
  std::uint64_t local_wwpn = 0;
  std::uint64_t peer_wwpn = 0;
  std::uint64_t session_epoch = 0;  // client: goes into every frame; server: adopted
  std::chrono::milliseconds handshake_timeout{10'000};
};

class AuthSession {
 public:
  enum class State { kHandshake, kInstalling, kEstablished, kFailed };

  static Result<std::unique_ptr<AuthSession>> Create(std::shared_ptr<TlsContext> ctx,
                                                     AuthSessionConfig config, const Clock& clock);

  // Client: the ClientHello. Server: nothing.
  std::vector<AuthAction> Start();
  // An AuthFrame received from the peer (ELS_RECEIVED payload frame).
  std::vector<AuthAction> OnFrame(ByteView frame);
  // SA_UPDATE_COMPLETE (err 0 = installed) for an SA this session asked for.
  std::vector<AuthAction> OnSaInstalled(SaDir dir, std::uint32_t spi, std::uint32_t err);
  // Begins generation + 1 (no-op unless established and not already rekeying).
  std::vector<AuthAction> StartRekey();
  // Fires the handshake timeout.
  std::vector<AuthAction> Tick();
  // Fails the session locally (e.g. target lost); sends an ABORT to the peer.
  std::vector<AuthAction> Abort(const std::string& reason);

  State state() const { return state_; }
  bool rekeying() const { return state_ == State::kEstablished && installing_; }
  std::uint32_t generation() const { return gen_; }
  std::uint32_t rx_spi() const { return rx_spi_; }
  std::uint32_t tx_spi() const { return tx_spi_; }
  std::uint64_t session_epoch() const { return config_.session_epoch; }
  std::string peer_description() const { return tls_->peer_description(); }
  std::optional<std::chrono::steady_clock::time_point> deadline() const;

 private:
  AuthSession(AuthSessionConfig config, const Clock& clock, std::unique_ptr<TlsSession> tls);
  void Fail(std::vector<AuthAction>& out, const std::string& reason, bool tell_peer);
  void FlushTls(std::vector<AuthAction>& out);
  void BeginGeneration(std::vector<AuthAction>& out, std::uint32_t gen);
  void MaybeInstallTx(std::vector<AuthAction>& out);
  void HandleTunnel(std::vector<AuthAction>& out);
  bool initiator() const { return config_.role == TlsRole::kClient; }

  AuthSessionConfig config_;
  const Clock& clock_;
  std::unique_ptr<TlsSession> tls_;
  std::chrono::steady_clock::time_point deadline_;
  State state_ = State::kHandshake;
  bool sent_first_ = false;

  // Generation being installed (or last installed).
  std::uint32_t gen_ = 0;
  bool installing_ = false;
  std::optional<LinkKeys> keys_;
  std::uint32_t new_rx_spi_ = 0;
  bool rx_done_ = false;
  bool tx_requested_ = false;
  std::optional<std::uint32_t> peer_spi_;       // peer's RX SPI for gen_
  std::optional<std::uint32_t> next_peer_spi_;  // peer already moved to gen_ + 1
  std::uint32_t rx_spi_ = 0;                    // RX SPI of the last complete generation
  std::uint32_t tx_spi_ = 0;
  std::uint32_t pending_tx_spi_ = 0;
};

}  // namespace cafs::edif::agent
