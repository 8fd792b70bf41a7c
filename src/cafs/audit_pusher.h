// AuditPusher: ships the gateway's local audit log (audit/audit_log.h) to kpsd without losing
// a record (docs/audit.md "Push to kpsd").
//
// The local JSON-lines log is the source of truth; the pusher reads it from a persisted
// cursor, sends complete records in order, in batches, to an AuditSink and advances the
// cursor only after the sink accepted the batch. The cursor file ({"offset", "seq", "hash"}
// of the last record kpsd accepted) is replaced atomically (write temp, fsync, rename, fsync
// the directory), so after a crash or restart the pusher resumes where kpsd's last
// acknowledgement left it: delivery is at-least-once, and kpsd drops the repeats (it keeps,
// per gateway, the seq and hash of the last record of the chain it accepted).
//
// If the cursor does not fit the log (the log is shorter, or the record after the cursor does
// not continue the chain: the log was replaced), the pusher starts again from the log's first
// record; kpsd sees a new chain (seq 1, prev = genesis) and keeps both.
//
// Errors: PushPending() returns the sink's error (records stay pending and are sent again);
// Corruption when a complete line of the log does not parse (the pusher stops there: run
// `cafsctl audit verify --file`). The background thread (Start) retries with exponential
// backoff between min_backoff and max_backoff and logs one warning per outage and one info
// line when kpsd takes records again.
//
// Threading: PushPending is not reentrant (Start's thread or a test calls it); Notify and
// Stop may be called from any thread. Notify is cheap and safe to call from an AuditLog
// listener.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_record.h"
#include "env/env.h"
#include "util/result.h"

namespace cafs::core {

// Where records go. Push either takes the whole batch (OK) or none of it (an error; the
// batch is sent again later). Repeats of records already taken must be harmless.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual Status Push(const std::vector<audit::AuditRecord>& records) = 0;
  virtual std::string Describe() const = 0;
};

// The persisted position: the last record the sink accepted.
struct PushCursor {
  std::uint64_t offset = 0;  // byte offset in the log just after that record's newline
  std::uint64_t seq = 0;     // its seq (0 = nothing pushed yet)
  std::string hash;          // its hash ("" = nothing pushed yet)
};

struct AuditPusherOptions {
  std::string log_path;     // the AuditLog's file
  std::string cursor_path;  // where the cursor lives (created on first success)
  std::size_t max_batch_records = 256;
  std::size_t max_batch_bytes = 512 * 1024;  // kpsd takes bodies up to 1 MiB
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  std::chrono::milliseconds poll{std::chrono::seconds(5)};  // re-read even without Notify
  env::Env* env = nullptr;                                  // nullptr = env::Env::Default()
};

class AuditPusher {
 public:
  // Loads the cursor (a missing file = start of the log; an unreadable one is Corruption).
  static Result<std::unique_ptr<AuditPusher>> Create(AuditSink* sink, AuditPusherOptions options);
  ~AuditPusher();  // Stop()
  AuditPusher(const AuditPusher&) = delete;
  AuditPusher& operator=(const AuditPusher&) = delete;

  // Sends every complete record after the cursor, batch by batch, persisting the cursor
  // after each accepted batch. Returns the number of records the sink accepted, or the first
  // error (what was accepted before it stays accepted).
  Result<std::uint64_t> PushPending();

  // Runs PushPending in a background thread on Notify, every `poll`, and with backoff after
  // a failure.
  void Start();
  void Notify();
  // Stops the thread after one last attempt to push what is pending (no retry).
  void Stop();

  PushCursor cursor() const;
  // Records pushed since Create (for tests and the shutdown log line).
  std::uint64_t pushed() const;

  static Result<PushCursor> LoadCursor(env::Env* fs, const std::string& path);
  static Status SaveCursor(env::Env* fs, const std::string& path, const PushCursor& cursor);

 private:
  AuditPusher(AuditSink* sink, AuditPusherOptions options, PushCursor cursor);
  void Loop();
  // Complete records after `from` (at most one batch); `end` = offset after the last one.
  Result<std::vector<audit::AuditRecord>> ReadBatch(const PushCursor& from, std::uint64_t* end);

  AuditSink* const sink_;
  const AuditPusherOptions options_;
  env::Env* const env_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  PushCursor cursor_;         // guarded by mu_
  std::uint64_t pushed_ = 0;  // guarded by mu_
  bool notified_ = false;     // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  std::thread thread_;
};

}  // namespace cafs::core
