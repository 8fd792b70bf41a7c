#include "edif/mailbox/endpoint.h"

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <iterator>
#include <utility>

#include "crypto/rng.h"
#include "edif/mailbox/app_auth.h"

namespace cafs::edif::mailbox {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Decode errors after which the header (req_id, seq) cannot be trusted.
bool HeaderUntrusted(MailboxError e) {
  return e == MailboxError::kBadMagic || e == MailboxError::kBadCrc ||
         e == MailboxError::kTruncated || e == MailboxError::kPayloadTooLong ||
         e == MailboxError::kMisaligned || e == MailboxError::kNone;
}

std::uint32_t Millis(milliseconds d) {
  return static_cast<std::uint32_t>(std::min<milliseconds::rep>(d.count(), UINT32_MAX));
}

void RunCompletions(std::vector<std::pair<MailboxEndpoint::ReadCallback, Bytes>>& done) {
  for (auto& [cb, data] : done) cb(std::move(data));
  done.clear();
}

}  // namespace

Reply Reply::WithPayload(MessageType reply_type, Bytes reply) {
  Reply r;
  r.reply_type = static_cast<std::uint16_t>(reply_type);
  r.reply = std::move(reply);
  return r;
}

Reply Reply::FromStatus(const Status& status) {
  Reply r;
  if (status.ok()) return r;
  r.err = static_cast<std::uint32_t>(status.errno_value() != 0 ? status.errno_value() : EIO);
  r.mailbox_error = ErrorOf(status);
  if (r.mailbox_error == MailboxError::kNone) r.mailbox_error = MailboxError::kExecFailed;
  r.detail = status.message().substr(0, kMaxDetailLen);
  return r;
}

MailboxEndpoint::MailboxEndpoint(EndpointConfig config, SecureBuffer secret,
                                 MailboxDelegate& delegate, const Clock& clock)
    : config_(std::move(config)),
      secret_(std::move(secret)),
      delegate_(delegate),
      clock_(clock),
      epoch_(config_.initial_epoch) {
  std::lock_guard lock(mu_);
  last_downstream_ = clock_.MonotonicNow();
  if (config_.announce_epoch) {
    Header h;
    h.type = MessageType::kEpochReset;
    (void)EnqueueLocked(h, EncodePayload(EpochReset{epoch_, 0}));
  }
}

MailboxEndpoint::~MailboxEndpoint() = default;

Status MailboxEndpoint::Write(std::uint64_t offset, ByteView data) {
  {
    std::lock_guard lock(mu_);
    ++stats_.writes;
    Status bad;
    if (offset % kSectorSize != 0 || data.empty() || data.size() % kSectorSize != 0) {
      bad = MailboxStatus(MailboxError::kMisaligned, "write is not whole sectors");
    } else if (offset < kReservedBytes) {
      bad = MailboxStatus(MailboxError::kReservedLba, "write to reserved LBA 0..63");
    }
    if (!bad.ok()) {
      ++stats_.rejected_writes;
      return bad;
    }
  }
  Result<Message> decoded = DecodeDownstream(data);
  if (decoded.ok()) {
    Process(std::move(decoded).value());
    return Status::OK();
  }
  const Status status = decoded.status();
  const MailboxError e = ErrorOf(status);
  const bool untrusted = HeaderUntrusted(e);
  std::vector<Completion> done;
  {
    std::lock_guard lock(mu_);
    Header h;
    h.type = static_cast<MessageType>(0);
    if (!untrusted) {  // the CRC held: the header is what the agent wrote
      h.type = static_cast<MessageType>(LoadLe16(data.data() + kOffType));
      h.seq = LoadLe64(data.data() + kOffSeq);
      h.req_id = LoadLe64(data.data() + kOffReqId);
    } else {
      ++stats_.rejected_writes;
    }
    PostResultLocked(h, Reply::FromStatus(status), /*cache=*/false);
    CompleteReadsLocked(done);
  }
  RunCompletions(done);
  return untrusted ? status : Status::OK();
}

void MailboxEndpoint::Process(Message message) {
  std::vector<Completion> done;
  const Header h = message.header;
  Result<Payload> payload = DecodePayload(h.type, message.payload);
  if (!message.payload.empty()) {
    explicit_bzero(message.payload.data(), message.payload.size());  // may hold SA keys
  }

  bool started_now = false;
  bool was_started = false;
  bool stopped_now = false;
  AppStart started_app;
  std::unique_lock lock(mu_);
  last_downstream_ = clock_.MonotonicNow();
  const auto cached = [&]() -> const CachedResult* {
    auto it = result_cache_.find(h.seq);
    return it == result_cache_.end() ? nullptr : &it->second;
  };

  if (h.type == MessageType::kAppStart) {
    if (started_ && h.epoch == epoch_ && cached() != nullptr) {
      ++stats_.duplicates;
      PostResultLocked(cached()->request, cached()->reply, false, kFlagRetransmit);
    } else if (!payload.ok()) {
      PostResultLocked(h, Reply::FromStatus(payload.status()), false);
    } else {
      const AppStart& app = std::get<AppStart>(*payload);
      was_started = started_;
      const Reply reply = HandleAppStartLocked(h, app, started_now);
      PostResultLocked(h, reply, /*cache=*/started_now);
      if (started_now) started_app = app;
    }
  } else if (!started_) {
    PostResultLocked(h,
                     Reply::FromStatus(MailboxStatus(MailboxError::kNotStarted,
                                                     "no agent started: send APP_START")),
                     false);
  } else if (h.epoch != epoch_) {
    ++stats_.old_epoch;
    PostResultLocked(
        h, Reply::FromStatus(MailboxStatus(MailboxError::kOldEpoch, "message from an old epoch")),
        false);
  } else if (const CachedResult* c = cached(); c != nullptr) {
    ++stats_.duplicates;
    PostResultLocked(c->request, c->reply, false, kFlagRetransmit);
  } else if (in_progress_.count(h.seq) != 0) {
    ++stats_.duplicates;  // the first copy is executing; its RESULT answers both
  } else if (h.seq == 0 || (highest_seq_ >= config_.replay_window &&
                            h.seq <= highest_seq_ - config_.replay_window)) {
    PostResultLocked(h,
                     Reply::FromStatus(MailboxStatus(MailboxError::kStaleSeq,
                                                     "seq older than the replay window")),
                     false);
  } else if (h.seq > highest_seq_ && h.seq - highest_seq_ > config_.replay_window) {
    PostResultLocked(h,
                     Reply::FromStatus(MailboxStatus(MailboxError::kStaleSeq,
                                                     "seq more than the replay window ahead")),
                     false);
  } else {
    highest_seq_ = std::max(highest_seq_, h.seq);
    while (!result_cache_.empty() && highest_seq_ >= config_.replay_window &&
           result_cache_.begin()->first <= highest_seq_ - config_.replay_window) {
      result_cache_.erase(result_cache_.begin());
    }
    if (!payload.ok()) {
      PostResultLocked(h, Reply::FromStatus(payload.status()), true);
    } else if (h.type == MessageType::kKeepalive) {
      PostResultLocked(h, Reply::Ok(), true);
    } else {
      if (const auto* ack = std::get_if<EventAck>(&*payload)) unacked_.erase(ack->acked_seq);
      in_progress_.insert(h.seq);
      const std::uint64_t epoch = epoch_;
      lock.unlock();
      const Reply reply = delegate_.Execute(Request{h, std::move(payload).value()});
      lock.lock();
      in_progress_.erase(h.seq);
      if (epoch_ == epoch) {  // else the session was reset meanwhile: the answer is moot
        PostResultLocked(h, reply, true);
        for (const FollowUp& f : reply.follow_ups) {
          Header fh;
          fh.type = f.type;
          fh.flags = f.flags;
          (void)EnqueueLocked(fh, f.payload);  // kQueueFull is counted by EnqueueLocked
        }
        if (h.type == MessageType::kAppStop && reply.err == 0 && started_) {
          started_ = false;
          unacked_.clear();
          stopped_now = true;
        }
      }
    }
  }
  CompleteReadsLocked(done);
  const std::uint64_t epoch = epoch_;
  lock.unlock();
  RunCompletions(done);
  if (started_now) {
    if (was_started) delegate_.OnAgentStopped(AgentStopReason::kRestarted);
    delegate_.OnAgentStarted(epoch, started_app);
  }
  if (stopped_now) delegate_.OnAgentStopped(AgentStopReason::kAppStop);
}

Reply MailboxEndpoint::HandleAppStartLocked(const Header& h, const AppStart& app,
                                            bool& started_now) {
  started_now = false;
  auto pending = std::find_if(challenges_.begin(), challenges_.end(),
                              [&](const Challenge& c) { return c.agent_nonce == app.agent_nonce; });
  if (app.phase == AppStartPhase::kHello) {
    if (pending == challenges_.end()) {
      Challenge c{};
      c.agent_nonce = app.agent_nonce;
      c.epoch = epoch_ + 1;
      const Status s = crypto::RandomBytes(c.driver_nonce);
      if (!s.ok()) return Reply::FromStatus(s);
      if (challenges_.size() >= kMaxChallenges) challenges_.pop_front();
      challenges_.push_back(c);
      pending = std::prev(challenges_.end());
    }
    return Reply::WithPayload(MessageType::kAppChallenge,
                              EncodePayload(AppChallenge{pending->driver_nonce, pending->epoch}));
  }
  if (pending == challenges_.end()) {
    return Reply::FromStatus(
        MailboxStatus(MailboxError::kNoChallenge, "APP_START PROVE without a matching HELLO"));
  }
  const Challenge c = *pending;
  challenges_.erase(pending);  // single use
  if (h.epoch != c.epoch) {
    return Reply::FromStatus(
        MailboxStatus(MailboxError::kOldEpoch, "APP_START PROVE must carry the challenge epoch"));
  }
  ProofInput in;
  in.wwpn = config_.wwpn;
  in.port_id = config_.port_id;
  in.epoch = c.epoch;
  in.driver_nonce = c.driver_nonce;
  in.agent_nonce = c.agent_nonce;
  in.app_version = app.app_version;
  in.capabilities = app.capabilities;
  in.app_id = app.app_id;
  if (!VerifyProof(secret_.view(), ProofRole::kAgent, in, app.proof)) {
    ++stats_.auth_failures;
    return Reply::FromStatus(
        MailboxStatus(MailboxError::kAuthFailed, "APP_START proof does not verify"));
  }
  Result<Proof> driver_proof = ComputeProof(secret_.view(), ProofRole::kDriver, in);
  if (!driver_proof.ok()) return Reply::FromStatus(driver_proof.status());
  challenges_.clear();  // they all name the epoch this APP_START opens
  ResetSessionLocked(c.epoch);
  started_ = true;
  highest_seq_ = h.seq;
  started_now = true;
  AppStartReply reply;
  reply.epoch = epoch_;
  reply.nop_timeout_ms = Millis(config_.nop_timeout);
  reply.keepalive_timeout_ms = Millis(config_.keepalive_timeout);
  reply.max_message = static_cast<std::uint32_t>(kMaxMessageSize);
  reply.capabilities = config_.capabilities;
  reply.driver_proof = *driver_proof;
  return Reply::WithPayload(MessageType::kAppStartReply, EncodePayload(reply));
}

void MailboxEndpoint::ResetSessionLocked(std::uint64_t new_epoch) {
  epoch_ = new_epoch;
  started_ = false;
  highest_seq_ = 0;
  result_cache_.clear();
  queue_.clear();
  unacked_.clear();
  next_up_seq_ = 1;
}

Status MailboxEndpoint::EnqueueLocked(Header header, ByteView payload, bool keep_seq) {
  if (queue_.size() >= config_.max_queued) {
    ++stats_.queue_overflows;
    return MailboxStatus(MailboxError::kQueueFull, "upstream queue full");
  }
  header.epoch = epoch_;
  if (!keep_seq) header.seq = next_up_seq_++;
  header.ack_seq = highest_seq_;
  header.wwpn = config_.wwpn;
  header.port_id = config_.port_id;
  CAFS_ASSIGN_OR_RETURN(Bytes encoded, EncodeMessage(header, payload));
  queue_.push_back(Outgoing{header.seq, std::move(encoded)});
  if ((header.flags & kFlagAckRequired) != 0 && !keep_seq) {
    unacked_[header.seq] = Unacked{header, Bytes(payload.begin(), payload.end()), std::nullopt, 0};
  }
  ++stats_.posted;
  return Status::OK();
}

void MailboxEndpoint::PostResultLocked(const Header& request, const Reply& reply, bool cache,
                                       std::uint16_t flags) {
  ResultMsg r;
  r.req_type = request.type;
  r.mailbox_error = reply.mailbox_error;
  r.err = reply.err;
  r.detail = reply.detail.substr(0, kMaxDetailLen);
  r.reply_type = reply.reply_type;
  r.reply = reply.reply;
  Result<Bytes> payload = EncodePayload(r);
  if (!payload.ok()) {  // an over-long reply from the delegate: say so instead
    r = ResultMsg{};
    r.req_type = request.type;
    r.mailbox_error = MailboxError::kPayloadTooLong;
    r.err = EMSGSIZE;
    r.detail = "reply too long for one message";
    payload = EncodePayload(r);
  }
  if (r.err != 0) ++stats_.error_results;
  Header h;
  h.type = MessageType::kResult;
  h.flags = flags;
  h.req_id = request.req_id;
  (void)EnqueueLocked(h, *payload);
  if (cache) result_cache_[request.seq] = CachedResult{request, reply};
}

Bytes MailboxEndpoint::MakeNopLocked(std::size_t length, std::uint16_t flags) {
  Header h;
  h.type = MessageType::kNop;
  h.flags = flags;
  h.epoch = epoch_;
  h.seq = next_up_seq_++;
  h.ack_seq = highest_seq_;
  h.wwpn = config_.wwpn;
  h.port_id = config_.port_id;
  Bytes out;
  Result<Bytes> nop = EncodeMessage(h, {});
  PackUpstream({*nop}, length, out);
  ++stats_.nops;
  return out;
}

void MailboxEndpoint::DropUnwantedLocked(std::vector<Completion>& out) {
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (it->wanted && !it->wanted()) {
      ++stats_.abandoned_reads;
      out.emplace_back(std::move(it->done), MakeNopLocked(it->length, 0));
      it = parked_.erase(it);
    } else {
      ++it;
    }
  }
}

void MailboxEndpoint::CompleteReadsLocked(std::vector<Completion>& out) {
  const TimePoint now = clock_.MonotonicNow();
  if (!queue_.empty()) DropUnwantedLocked(out);  // a message must not go to a reader that left
  while (!parked_.empty() && !queue_.empty()) {
    Parked p = std::move(parked_.front());
    parked_.pop_front();
    std::vector<Bytes> batch;
    std::size_t used = 0;
    while (!queue_.empty() && used + queue_.front().encoded.size() <= p.length) {
      used += PackedSize(queue_.front().encoded.size());
      if (auto it = unacked_.find(queue_.front().seq); it != unacked_.end()) {
        it->second.deadline = now + config_.ack_timeout;
      }
      batch.push_back(std::move(queue_.front().encoded));
      queue_.pop_front();
    }
    Bytes data;
    if (batch.empty()) {
      data = MakeNopLocked(p.length, kFlagReadTooSmall);
    } else {
      PackUpstream(batch, p.length, data);
      stats_.delivered += batch.size();
    }
    out.emplace_back(std::move(p.done), std::move(data));
  }
}

Status MailboxEndpoint::Read(std::uint64_t offset, std::size_t length, ReadCallback done,
                             StillWanted wanted) {
  if (offset % kSectorSize != 0 || length == 0 || length % kSectorSize != 0) {
    return MailboxStatus(MailboxError::kMisaligned, "read is not whole sectors");
  }
  if (offset < kReservedBytes) {
    done(Bytes(length, 0));
    return Status::OK();
  }
  return ParkRead(length, std::move(done), std::move(wanted));
}

Status MailboxEndpoint::ParkRead(std::size_t length, ReadCallback done, StillWanted wanted) {
  if (length == 0 || length % kSectorSize != 0) {
    return MailboxStatus(MailboxError::kMisaligned, "read is not whole sectors");
  }
  std::vector<Completion> completions;
  {
    std::unique_lock lock(mu_);
    if (shutdown_) return Status::Unavailable("mailbox endpoint shut down");
    if (parked_.size() >= config_.max_parked) DropUnwantedLocked(completions);
    if (parked_.size() >= config_.max_parked) {
      lock.unlock();
      RunCompletions(completions);
      return Status::Unavailable("too many parked mailbox reads");
    }
    parked_.push_back(Parked{length, std::move(done), clock_.MonotonicNow() + config_.nop_timeout,
                             std::move(wanted)});
    CompleteReadsLocked(completions);
  }
  RunCompletions(completions);
  return Status::OK();
}

Status MailboxEndpoint::Post(MessageType type, ByteView payload, std::uint16_t flags) {
  if (type == MessageType::kResult || IsDownstream(type) ||
      !IsKnownMessageType(static_cast<std::uint16_t>(type))) {
    return Status::InvalidArgument("Post takes upstream event types only");
  }
  if ((flags & ~kKnownFlags) != 0) return Status::InvalidArgument("unknown flags");
  std::vector<Completion> completions;
  Status s;
  {
    std::lock_guard lock(mu_);
    Header h;
    h.type = type;
    h.flags = flags;
    s = EnqueueLocked(h, payload);
    CompleteReadsLocked(completions);
  }
  RunCompletions(completions);
  return s;
}

void MailboxEndpoint::Tick() {
  std::vector<Completion> completions;
  bool keepalive_lost = false;
  {
    std::lock_guard lock(mu_);
    const TimePoint now = clock_.MonotonicNow();
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (it->deadline <= now) {
        completions.emplace_back(std::move(it->done), MakeNopLocked(it->length, 0));
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
    if (started_ && now - last_downstream_ >= config_.keepalive_timeout) {
      started_ = false;
      unacked_.clear();
      keepalive_lost = true;
    }
    for (auto it = unacked_.begin(); it != unacked_.end();) {
      Unacked& u = it->second;
      if (!u.deadline || *u.deadline > now) {
        ++it;
      } else if (u.redeliveries >= config_.max_redeliveries) {
        ++stats_.unacked_dropped;
        it = unacked_.erase(it);
      } else {
        ++u.redeliveries;
        ++stats_.redelivered;
        u.deadline.reset();
        Header h = u.header;
        h.flags |= kFlagRetransmit;
        (void)EnqueueLocked(h, u.payload, /*keep_seq=*/true);
        ++it;
      }
    }
    CompleteReadsLocked(completions);
  }
  RunCompletions(completions);
  if (keepalive_lost) delegate_.OnAgentStopped(AgentStopReason::kKeepaliveTimeout);
}

std::optional<std::chrono::steady_clock::time_point> MailboxEndpoint::NextDeadline() const {
  std::lock_guard lock(mu_);
  std::optional<TimePoint> best;
  auto consider = [&best](TimePoint t) {
    if (!best || t < *best) best = t;
  };
  for (const Parked& p : parked_) consider(p.deadline);
  for (const auto& [seq, u] : unacked_) {
    if (u.deadline) consider(*u.deadline);
  }
  if (started_) consider(last_downstream_ + config_.keepalive_timeout);
  return best;
}

void MailboxEndpoint::ResetEpoch(std::uint64_t new_epoch, std::uint32_t reason) {
  std::vector<Completion> completions;
  bool was_started = false;
  {
    std::lock_guard lock(mu_);
    was_started = started_;
    challenges_.clear();
    ResetSessionLocked(new_epoch);
    Header h;
    h.type = MessageType::kEpochReset;
    (void)EnqueueLocked(h, EncodePayload(EpochReset{new_epoch, reason}));
    CompleteReadsLocked(completions);
  }
  RunCompletions(completions);
  if (was_started) delegate_.OnAgentStopped(AgentStopReason::kEpochReset);
}

void MailboxEndpoint::Shutdown() {
  std::vector<Completion> completions;
  bool was_started = false;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    was_started = started_;
    started_ = false;
    while (!parked_.empty()) {
      completions.emplace_back(std::move(parked_.front().done),
                               MakeNopLocked(parked_.front().length, 0));
      parked_.pop_front();
    }
  }
  RunCompletions(completions);
  if (was_started) delegate_.OnAgentStopped(AgentStopReason::kShutdown);
}

std::uint64_t MailboxEndpoint::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}
bool MailboxEndpoint::agent_started() const {
  std::lock_guard lock(mu_);
  return started_;
}
std::size_t MailboxEndpoint::parked_reads() const {
  std::lock_guard lock(mu_);
  return parked_.size();
}
std::size_t MailboxEndpoint::queued_messages() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}
std::size_t MailboxEndpoint::unacked_events() const {
  std::lock_guard lock(mu_);
  return unacked_.size();
}
EndpointStats MailboxEndpoint::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace cafs::edif::mailbox
