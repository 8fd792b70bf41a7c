// Agent: the EDIF security agent's mailbox state machine. It talks to the transport driver of
// one HBA port ONLY through a BlockChannel on that port's mailbox disk
// (docs/mailbox-protocol.md) and to the peer agents through AUTH_ELS frames the drivers relay
// (AuthSession, docs/edif-agent.md).
//
// What it does:
//  - keeps `posted_reads` READs of `read_size` bytes posted at LBA 64 (reposting each as it
//    completes) and decodes every completion into upstream messages, de-duplicated by
//    (epoch, seq);
//  - APP_START HELLO/PROVE with the provisioned secret; checks the driver's proof before it
//    trusts anything; then GET_PORT_INFO and GET_TARGETS;
//  - initiator role: authenticates every reachable target (at start, on AUTH_NEEDED, on
//    TARGET_ADDED) as TLS client; target role: answers NEW_EXCHANGE frames as TLS server;
//  - installs RX then TX SAs (SA_UPDATE, waits for SA_UPDATE_COMPLETE), then AUTH_RESULT OK;
//    a failure (bad certificate, timeout, peer abort, SA error) sends AUTH_RESULT FAIL and is
//    logged; the initiator retries with backoff;
//  - EVENT_ACK for every ACK_REQUIRED event; KEEPALIVE every keepalive_timeout / 3; rekey on
//    SA_EXPIRING (make-before-break); on EPOCH_RESET, old_epoch or not_started: APP_START
//    again (all sessions re-authenticated).
//
// Threading: one thread calls RunOnce()/Run(); RequestStop() may be called from any thread
// (and from a signal handler through the channel's Wake()).
// Lifetime: `channel` and `clock` must outlive the agent.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "edif/agent/auth_session.h"
#include "edif/agent/block_channel.h"
#include "edif/agent/tls_session.h"
#include "edif/mailbox/message.h"
#include "edif/mailbox/payloads.h"
#include "util/clock.h"
#include "util/secure_buffer.h"

namespace cafs::edif::agent {

struct AgentConfig {
  TlsRole role = TlsRole::kClient;  // kClient: initiator side; kServer: target side
  TlsCredentials credentials;
  SecureBuffer secret;  // APP_START secret (>= 16 bytes), provisioned to the driver too
  std::string app_id = "cafs-edif-agent";
  std::uint32_t app_version = 1;
  std::size_t posted_reads = 4;
  std::size_t read_size = 64 * 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds retry_delay{1'000};       // first re-authentication delay
  std::chrono::milliseconds max_retry_delay{15'000};  // backoff cap
  std::chrono::milliseconds start_timeout{2'000};     // APP_START with no answer: start over

  // A copy (the secrets are copied on purpose).
  AgentConfig Clone() const;
};

struct AgentStats {
  std::uint64_t app_starts = 0;  // successful APP_STARTs (epochs opened)
  std::uint64_t auth_ok = 0;
  std::uint64_t auth_failed = 0;
  std::uint64_t rekeys = 0;
  std::uint64_t events_acked = 0;
  std::uint64_t keepalives = 0;
  std::uint64_t error_results = 0;
};

struct TargetStatus {
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;
  bool authenticated = false;
  std::uint32_t generation = 0;
  std::uint32_t rx_spi = 0;
  std::uint32_t tx_spi = 0;
  std::string peer;        // peer identity (certificate subject or PSK identity)
  std::string last_error;  // why the last authentication failed
};

class Agent {
 public:
  // Errors: InvalidArgument (credentials, secret shorter than 16 bytes).
  static Result<std::unique_ptr<Agent>> Create(AgentConfig config, BlockChannel& channel,
                                               const Clock& clock);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Posts the reads and the first APP_START (called by Run/RunOnce if not yet).
  void Begin();
  // Waits up to `max_wait` for mailbox completions, handles them, fires timers. Returns the
  // channel's error when the mailbox disk is gone.
  Status RunOnce(std::chrono::milliseconds max_wait);
  // Runs until RequestStop() or a channel error; on stop sends APP_STOP (bounded wait).
  Status Run();
  void RequestStop();

  // Sends GET_PORT_INFO and calls `done` with its RESULT's errno when the answer arrives: one
  // mailbox round trip (bench/edif times it). Before started() nothing is sent and `done` is
  // not called.
  void Ping(std::function<void(std::uint32_t err)> done);

  bool started() const { return started_; }
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t port_wwpn() const { return wwpn_; }
  AgentStats stats() const { return stats_; }
  std::vector<TargetStatus> targets() const;

 private:
  using ResultHandler = std::function<void(const mailbox::Header&, const mailbox::ResultMsg&)>;
  struct Target {
    std::uint64_t wwpn = 0;
    std::uint32_t port_id = 0;
    std::uint32_t exchange_id = 0;
    std::unique_ptr<AuthSession> session;
    bool authenticated = false;
    std::vector<std::uint32_t> stale_rx;  // RX SPIs of a replaced session, deleted after auth
    std::optional<std::chrono::steady_clock::time_point> retry_at;
    std::chrono::milliseconds backoff{0};
    std::string peer;
    std::string last_error;
    // When this side began the authentication or rekey in progress (logged with its end).
    std::optional<std::chrono::steady_clock::time_point> phase_start;
  };

  Agent(AgentConfig config, BlockChannel& channel, const Clock& clock,
        std::shared_ptr<TlsContext> tls);
  std::chrono::steady_clock::time_point Now() const { return clock_.MonotonicNow(); }

  void PostRead();
  void OnRead(Status status, Bytes data);
  void Dispatch(const mailbox::Message& m);
  void Send(mailbox::MessageType type, Bytes payload, ResultHandler on_result = nullptr);
  void WriteWithRetry(std::shared_ptr<Bytes> encoded, int attempts_left);

  void StartApp();
  void OnChallenge(const mailbox::Header& h, const mailbox::ResultMsg& r);
  void OnStartReply(const mailbox::Header& h, const mailbox::ResultMsg& r);
  void OnTargets(const mailbox::ResultMsg& r);
  void ResetSessions();

  void StartAuth(Target& t);
  void Apply(Target& t, std::vector<AuthAction> actions);
  void SendSa(Target& t, mailbox::SaDirection dir, mailbox::SaOp op, const AuthAction& a);
  void OnAuthFailed(Target& t, const std::string& reason);
  // ", in X ms" since t.phase_start (then cleared), or "" when this side did not start it.
  std::string PhaseTime(Target& t) const;
  Target& TargetFor(std::uint64_t wwpn, std::uint32_t port_id);
  void Timers();

  AgentConfig config_;
  BlockChannel& channel_;
  const Clock& clock_;
  std::shared_ptr<TlsContext> tls_;
  std::atomic<bool> stop_{false};
  // Channel callbacks hold a weak_ptr to this token: they do nothing once the agent is gone.
  std::shared_ptr<Agent*> self_;
  bool begun_ = false;

  // Mailbox session.
  std::uint64_t wwpn_ = 0;
  std::uint32_t port_id_ = 0;
  std::uint64_t epoch_ = 0;
  bool started_ = false;
  bool starting_ = false;
  std::chrono::steady_clock::time_point start_sent_{};
  mailbox::Nonce agent_nonce_{};
  mailbox::Nonce pending_chal_nonce_{};  // driver nonce of the challenge being answered
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_req_id_ = 1;
  // Requests sent and not yet answered, by req_id (oldest dropped beyond kMaxPendingRequests);
  // the handler may be empty.
  static constexpr std::size_t kMaxPendingRequests = 4096;
  std::map<std::uint64_t, ResultHandler> pending_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen_;  // (epoch, seq) upstream
  std::chrono::milliseconds keepalive_interval_{20'000};
  std::chrono::steady_clock::time_point last_sent_{};

  std::map<std::uint64_t, Target> targets_;  // by remote WWPN
  AgentStats stats_;
};

}  // namespace cafs::edif::agent
