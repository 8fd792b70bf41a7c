#include "audit/access_aggregator.h"

#include <vector>

namespace cafs::audit {

void AccessAggregator::Record(const std::string& server, const std::string& vmset,
                              const std::string& vm, const std::string& file, const std::string& op,
                              std::uint64_t bytes, std::int64_t now_ms, const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  Key key{server, client, vmset, vm, file, op};
  auto [it, inserted] = open_.try_emplace(key);
  AuditRecord& r = it->second;
  if (inserted) {
    r.server = server;
    r.client = client;
    r.vmset = vmset;
    r.vm = vm;
    r.file = file;
    r.op = op;
    r.result = Result::kOk;
    r.time_ms = now_ms;
    r.count = 0;
  }
  r.end_ms = now_ms;
  r.bytes += bytes;
  r.count += 1;
}

void AccessAggregator::Flush(std::int64_t now_ms, bool force) {
  std::vector<AuditRecord> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = open_.begin(); it != open_.end();) {
      if (force || it->second.time_ms + interval_.count() <= now_ms) {
        due.push_back(std::move(it->second));
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : due) sink_(std::move(r));
}

std::size_t AccessAggregator::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_.size();
}

}  // namespace cafs::audit
