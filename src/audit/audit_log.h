// AuditLog: an append-only, hash-chained audit trail in a JSON-lines file.
//
// Append() assigns seq, prev_hash and hash, writes one line with O_APPEND and (by default)
// fdatasyncs before returning, so an acknowledged record survives a crash. Opening an
// existing log resumes its chain from the last complete line; a torn last line (a crash in
// the middle of a write: no trailing newline) is cut off and reported in torn_bytes_dropped().
//
// Listeners (e.g. the pusher to kpsd) get every appended record after it is durable.
//
// Threading: Append and AddListener are safe from any thread (one internal mutex; listeners
// run under it and must not call back into the log).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audit/audit_record.h"
#include "util/clock.h"

namespace cafs::audit {

struct AuditLogOptions {
  bool sync_every_record = true;  // fdatasync after each append
};

class AuditLog {
 public:
  using Listener = std::function<void(const AuditRecord&)>;

  // Opens or creates `path` (mode 0600). Corruption if an existing file's last complete line
  // does not parse (run `cafsctl audit verify` to locate damage).
  static cafs::Result<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                      AuditLogOptions options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends `record` (its seq/prev_hash/hash are overwritten). Returns the stored record.
  cafs::Result<AuditRecord> Append(AuditRecord record);

  void AddListener(Listener listener);

  std::uint64_t last_seq() const;
  std::uint64_t torn_bytes_dropped() const { return torn_bytes_dropped_; }
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd, AuditLogOptions options);

  const std::string path_;
  const int fd_;
  const AuditLogOptions options_;
  std::uint64_t torn_bytes_dropped_ = 0;

  mutable std::mutex mu_;
  std::uint64_t last_seq_ = 0;       // guarded by mu_
  std::string last_hash_;            // guarded by mu_
  std::vector<Listener> listeners_;  // guarded by mu_
};

// What VerifyAuditLog found.
struct VerifyReport {
  std::uint64_t records = 0;  // complete, valid records before the first problem
  bool ok = true;
  std::uint64_t bad_line = 0;  // 1-based line of the first problem (0 when ok)
  std::string problem;         // what is wrong there
};

// Reads the whole chain and checks every line parses, seq increases by one, prev_hash equals
// the previous hash and hash recomputes. IoError if the file cannot be read.
cafs::Result<VerifyReport> VerifyAuditLog(const std::string& path);

// Reads all records (for queries). Stops with Corruption at the first malformed line.
cafs::Result<std::vector<AuditRecord>> ReadAuditLog(const std::string& path);

}  // namespace cafs::audit
