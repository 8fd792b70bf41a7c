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
  std::lock_guard lock(state_->mu);
  auto it = state_->leases.find(path);
  if (it == state_->leases.end()) {
    CAFS_ASSIGN_OR_RETURN(std::unique_ptr<WriteLease> made, acquire());
    it = state_->leases.emplace(path, Entry{std::move(made), 0}).first;
  }
  ++it->second.users;
  return std::shared_ptr<WriteLease>(
      it->second.lease.get(), [state = state_, path](WriteLease*) { Release(*state, path); });
}

void LeaseTable::Release(State& state, const std::string& path) {
  std::lock_guard lock(state.mu);
  auto it = state.leases.find(path);
  if (it != state.leases.end() && --it->second.users == 0) state.leases.erase(it);
}

void LeaseTable::ForEach(const std::function<void(WriteLease&)>& fn) {
  std::lock_guard lock(state_->mu);
  for (auto& [path, entry] : state_->leases) fn(*entry.lease);
}

}  // namespace cafs::pool
