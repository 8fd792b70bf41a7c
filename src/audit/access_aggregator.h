// AccessAggregator: folds data-path reads and writes into one audit record per
// (server, client address, VM set, VM, file, op) per interval, so auditing every access costs one
// hash-map update on the data path instead of a disk write.
//
// Record() adds an access; Flush(now) emits every aggregate whose interval has ended (and
// Flush with force=true emits all, e.g. at shutdown or file close). Emitted records go to the
// sink given at construction (normally AuditLog::Append).
//
// Threading: Record and Flush are safe from any thread; the sink is called without the
// internal lock held.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "audit/audit_record.h"

namespace cafs::audit {

class AccessAggregator {
 public:
  using Sink = std::function<void(AuditRecord)>;

  AccessAggregator(std::chrono::milliseconds interval, Sink sink)
      : interval_(interval), sink_(std::move(sink)) {}

  // Adds one access of `bytes` at `now_ms` (Unix ms). `client`: the NFS client's address
  // (AuditRecord::client), empty for a local caller.
  void Record(const std::string& server, const std::string& vmset, const std::string& vm,
              const std::string& file, const std::string& op, std::uint64_t bytes,
              std::int64_t now_ms, const std::string& client = {});

  // Emits aggregates whose interval ended at or before now_ms (all of them when force).
  void Flush(std::int64_t now_ms, bool force = false);

  std::size_t pending() const;

 private:
  using Key =
      std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;

  const std::chrono::milliseconds interval_;
  const Sink sink_;
  mutable std::mutex mu_;
  std::map<Key, AuditRecord> open_;  // guarded by mu_
};

}  // namespace cafs::audit
