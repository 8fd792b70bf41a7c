#include "pool/write_lease.h"

#include <cerrno>

namespace cafs::pool {

namespace {
constexpr std::string_view kLeaseHeldMarker = "is open for writing by another gateway";
}  // namespace

Status LeaseHeld(std::string_view pool, std::string_view path, std::string_view holder) {
  std::string msg = "storage pool '" + std::string(pool) + "': pool file " + std::string(path) +
                    " " + std::string(kLeaseHeldMarker);
  if (!holder.empty()) msg += " (" + std::string(holder) + ")";
  msg += ": one writer at a time (docs/pools.md \"Write leases\")";
  return Status::FromErrno(EBUSY, msg);
}

bool IsLeaseHeld(const Status& s) {
  return !s.ok() && s.errno_value() == EBUSY &&
         s.message().find(kLeaseHeldMarker) != std::string::npos;
}

Result<std::shared_ptr<WriteLease>> LeaseTable::Hold(const std::string& path,
                                                     const Acquire& acquire) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(path);
  if (it == leases_.end()) {
    CAFS_ASSIGN_OR_RETURN(std::unique_ptr<WriteLease> made, acquire());
    it = leases_.emplace(path, Entry{std::move(made), 0}).first;
  }
  ++it->second.users;
  return std::shared_ptr<WriteLease>(it->second.lease.get(),
                                     [this, path](WriteLease*) { Release(path); });
}

void LeaseTable::Release(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(path);
  if (it != leases_.end() && --it->second.users == 0) leases_.erase(it);
}

void LeaseTable::ForEach(const std::function<void(WriteLease&)>& fn) {
  std::lock_guard lock(mu_);
  for (auto& [path, entry] : leases_) fn(*entry.lease);
}

}  // namespace cafs::pool
