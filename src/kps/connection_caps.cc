#include "kps/connection_caps.h"

#include "util/logging.h"

namespace cafs::kps {

bool ConnectionCaps::Admit(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = per_address_.try_emplace(address, 0).first;
  if (open_ < max_total_ && it->second < max_per_address_) {
    ++it->second;
    ++open_;
    return true;
  }
  if (it->second == 0) per_address_.erase(it);
  ++refused_;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_report_ >= std::chrono::seconds(10)) {
    CAFS_LOG_WARN(
        "{}: connection cap reached ({} open, at most {} per address and {} in all); closed {} "
        "new connection(s) since the last report, the last from {}",
        listener_, open_, max_per_address_, max_total_, refused_, address);
    refused_ = 0;
    last_report_ = now;
  }
  return false;
}

void ConnectionCaps::Release(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return;
  if (--it->second == 0) per_address_.erase(it);
  --open_;
}

}  // namespace cafs::kps
