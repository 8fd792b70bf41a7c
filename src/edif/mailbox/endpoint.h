// MailboxEndpoint: the driver side of one mailbox disk, free of sockets and NBD.
//
// The NBD export glue calls Write() for every WRITE and Read() for every READ of the disk;
// the driver calls Post() for every upstream event and Tick() from a timer (NextDeadline()
// says when). What the endpoint does itself:
//   - LBA 0..63: reads return zeros at once, writes fail (kReservedLba, EACCES).
//   - decodes each WRITE as one message; a torn/corrupt/hostile sector fails the WRITE with a
//     MailboxStatus (kBadCrc ...) and also queues an upstream RESULT (req_id 0) naming it;
//     a message with a valid CRC but unusable content (unknown type, bad payload, bad flags,
//     wrong direction) gets a RESULT with its req_id and the WRITE succeeds.
//   - APP_START challenge-response (app_auth.h); each successful APP_START opens a new epoch
//     (old epoch messages get RESULT kOldEpoch), clears the upstream queue and resets seqs.
//   - downstream seq: a seq seen in the last `replay_window` requests is answered again with
//     its cached RESULT (flag kFlagRetransmit) and not executed twice; older, or more than
//     `replay_window` above the highest seen (one record must not make every later seq
//     stale) -> kStaleSeq.
//   - up to kMaxChallenges APP_START challenges pending at once (by agent nonce).
//   - upstream: Post() assigns epoch/seq/ack_seq and completes the oldest parked read with as
//     many queued messages as fit; a parked read with nothing to say completes with a NOP
//     after `nop_timeout`; events posted with kFlagAckRequired are delivered again (same seq,
//     kFlagRetransmit) until EVENT_ACK, at most `max_redeliveries` times.
//   - KEEPALIVE: answered with RESULT OK; an agent silent for `keepalive_timeout` is stopped
//     (MailboxDelegate::OnAgentStopped).
// Every other request (GET_*, AUTH_ELS_SEND, SA_UPDATE, AUTH_RESULT, APP_STOP, EVENT_ACK)
// goes to MailboxDelegate::Execute and its Reply becomes the RESULT.
//
// Threading: all methods are safe from any thread (one internal mutex). Delegate methods and
// read callbacks are called with no lock held, so they may call Post(). Read callbacks run
// on the thread that completed them (Post, Tick, Read, Shutdown).
// Lifetime: `delegate` and `clock` must outlive the endpoint; call Shutdown() before
// destroying it so every parked read is answered.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "edif/mailbox/message.h"
#include "edif/mailbox/payloads.h"
#include "util/clock.h"
#include "util/secure_buffer.h"

namespace cafs::edif::mailbox {

struct EndpointConfig {
  std::uint64_t wwpn = 0;           // of the HBA port this disk represents
  std::uint32_t port_id = 0;        // 24 bits
  std::uint64_t initial_epoch = 1;  // the driver picks it (e.g. boot counter); nonzero
  std::chrono::milliseconds nop_timeout{10'000};
  std::chrono::milliseconds keepalive_timeout{60'000};
  std::chrono::milliseconds ack_timeout{30'000};
  unsigned max_redeliveries = 3;
  std::size_t replay_window = 64;
  std::size_t max_queued = 4096;   // upstream messages waiting for reads
  std::size_t max_parked = 64;     // parked reads
  std::uint64_t capabilities = 0;  // advertised in APP_START_REPLY
  bool announce_epoch = true;      // queue EPOCH_RESET at construction (driver (re)start)
};

// A validated, authenticated, in-epoch, first-seen downstream request.
struct Request {
  Header header;
  Payload payload;
};

// An upstream event a delegate wants queued right after the RESULT of the request it executes
// (e.g. SA_UPDATE_COMPLETE after the RESULT of SA_UPDATE). Not repeated for retransmits.
struct FollowUp {
  MessageType type = MessageType::kNop;
  Bytes payload;
  std::uint16_t flags = 0;
};

// What executing a request produced; becomes the RESULT payload.
struct Reply {
  std::uint32_t err = 0;
  MailboxError mailbox_error = MailboxError::kNone;
  std::string detail;
  std::uint16_t reply_type = 0;
  Bytes reply;
  std::vector<FollowUp> follow_ups;  // queued after the RESULT, in order

  static Reply Ok() { return {}; }
  static Reply WithPayload(MessageType reply_type, Bytes reply);
  // err = status.errno_value(), mailbox_error = ErrorOf(status) or kExecFailed.
  static Reply FromStatus(const Status& status);
};

enum class AgentStopReason { kAppStop, kKeepaliveTimeout, kRestarted, kEpochReset, kShutdown };

class MailboxDelegate {
 public:
  virtual ~MailboxDelegate() = default;
  // Executes a request. Not called for APP_START and KEEPALIVE.
  virtual Reply Execute(const Request& request) = 0;
  virtual void OnAgentStarted(std::uint64_t /*epoch*/, const AppStart& /*app*/) {}
  virtual void OnAgentStopped(AgentStopReason /*reason*/) {}
};

struct EndpointStats {
  std::uint64_t writes = 0;
  std::uint64_t rejected_writes = 0;  // WRITE failed (reserved LBA, misaligned, torn/corrupt)
  std::uint64_t error_results = 0;    // RESULTs with a non-zero err
  std::uint64_t duplicates = 0;       // repeated seqs answered from the cache
  std::uint64_t old_epoch = 0;
  std::uint64_t auth_failures = 0;
  std::uint64_t posted = 0;
  std::uint64_t delivered = 0;  // messages handed to reads
  std::uint64_t nops = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t unacked_dropped = 0;
  std::uint64_t queue_overflows = 0;
  std::uint64_t abandoned_reads = 0;  // parked reads dropped because their reader left
};

class MailboxEndpoint {
 public:
  // Called exactly once with `length` bytes: packed upstream messages (or zeros).
  using ReadCallback = std::function<void(Bytes data)>;
  // Whether the reader of a parked read still wants it (its NBD connection is open). Called
  // with the endpoint's lock held: must be cheap and must not call back into the endpoint.
  // A parked read no longer wanted is completed with a NOP and never given a message, and it
  // does not count against max_parked. Empty: always wanted.
  using StillWanted = std::function<bool()>;

  // `secret` (>= 16 bytes) is the provisioned APP_START secret.
  MailboxEndpoint(EndpointConfig config, SecureBuffer secret, MailboxDelegate& delegate,
                  const Clock& clock);
  ~MailboxEndpoint();
  MailboxEndpoint(const MailboxEndpoint&) = delete;
  MailboxEndpoint& operator=(const MailboxEndpoint&) = delete;

  // A WRITE of `data` at byte `offset`. OK when the message was taken (its RESULT, success or
  // not, goes upstream). Errors: kMisaligned, kReservedLba, or the decode error of a message
  // whose header cannot be trusted (kBadMagic, kBadCrc, kTruncated, kPayloadTooLong).
  // The caller wipes `data` afterwards if it may hold keys (SA_UPDATE).
  Status Write(std::uint64_t offset, ByteView data);

  // A READ of `length` bytes at `offset`. In the reserved region: `done(zeros)` at once.
  // Otherwise parked (see ParkRead). Errors (then `done` is never called): kMisaligned.
  Status Read(std::uint64_t offset, std::size_t length, ReadCallback done, StillWanted wanted = {});

  // Parks a read of `length` bytes (whole sectors, >= 1 sector). Completed in FIFO order
  // by Post()/Tick(). Errors: kMisaligned; Unavailable after Shutdown() or when max_parked
  // reads (still wanted) are already parked.
  Status ParkRead(std::size_t length, ReadCallback done, StillWanted wanted = {});

  // Queues an upstream message (not RESULT: those are made by the endpoint). Flags may
  // include kFlagAckRequired. Errors: kPayloadTooLong; kQueueFull (oldest kept, new dropped).
  Status Post(MessageType type, ByteView payload, std::uint16_t flags = 0);
  template <typename T>
  Status PostEvent(MessageType type, const T& payload, std::uint16_t flags = 0) {
    return Post(type, EncodePayload(payload), flags);
  }

  // Fires due timers: NOPs for expired parked reads, redeliveries, keepalive timeout.
  void Tick();
  // The earliest time Tick() has something to do (nullopt: nothing pending).
  std::optional<std::chrono::steady_clock::time_point> NextDeadline() const;

  // The driver restarted its session state: new epoch, agent considered stopped, queue
  // cleared, EPOCH_RESET{new_epoch, reason} queued.
  void ResetEpoch(std::uint64_t new_epoch, std::uint32_t reason);

  // Completes every parked read with a NOP and refuses new ones.
  void Shutdown();

  std::uint64_t epoch() const;
  bool agent_started() const;
  std::size_t parked_reads() const;
  std::size_t queued_messages() const;
  std::size_t unacked_events() const;
  EndpointStats stats() const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Parked {
    std::size_t length;
    ReadCallback done;
    TimePoint deadline;
    StillWanted wanted;
  };
  struct Outgoing {
    std::uint64_t seq;
    Bytes encoded;
  };
  struct Unacked {
    Header header;
    Bytes payload;
    std::optional<TimePoint> deadline;  // set when delivered
    unsigned redeliveries = 0;
  };
  struct CachedResult {
    Header request;
    Reply reply;
  };
  struct Challenge {
    Nonce driver_nonce;
    Nonce agent_nonce;
    std::uint64_t epoch;
  };
  using Completion = std::pair<ReadCallback, Bytes>;

  // All *Locked helpers need mu_ held.
  // Assigns epoch, seq (unless keep_seq), ack_seq, wwpn and port id, then queues.
  Status EnqueueLocked(Header header, ByteView payload, bool keep_seq = false);
  void PostResultLocked(const Header& request, const Reply& reply, bool cache,
                        std::uint16_t flags = 0);
  Bytes MakeNopLocked(std::size_t length, std::uint16_t flags);
  void CompleteReadsLocked(std::vector<Completion>& out);
  // Completes (with a NOP) every parked read whose reader is gone.
  void DropUnwantedLocked(std::vector<Completion>& out);
  void ResetSessionLocked(std::uint64_t new_epoch);
  Reply HandleAppStartLocked(const Header& h, const AppStart& app, bool& started_now);
  void Process(Message message);

  const EndpointConfig config_;
  const SecureBuffer secret_;
  MailboxDelegate& delegate_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::uint64_t epoch_;
  bool started_ = false;
  bool shutdown_ = false;
  // Pending APP_START challenges, oldest first, at most kMaxChallenges: a HELLO from another
  // writer of the disk does not void the one an agent is answering.
  static constexpr std::size_t kMaxChallenges = 16;
  std::deque<Challenge> challenges_;
  TimePoint last_downstream_{};
  // Downstream seq tracking for the current epoch.
  std::uint64_t highest_seq_ = 0;
  std::map<std::uint64_t, CachedResult> result_cache_;  // by request seq
  std::set<std::uint64_t> in_progress_;
  // Upstream.
  std::uint64_t next_up_seq_ = 1;
  std::deque<Outgoing> queue_;
  std::deque<Parked> parked_;
  std::map<std::uint64_t, Unacked> unacked_;
  EndpointStats stats_;
};

}  // namespace cafs::edif::mailbox
