#include "cafs/policy_cache.h"

#include "cafs/pool_identity.h"
#include "util/logging.h"

namespace cafs::core {

Result<const SecureBuffer*> CachedVmSet::FindKey(const Uuid& key, std::uint32_t version) const {
  static const SecureBuffer kEmpty;
  if (key == Uuid::ClearTextKey()) return &kEmpty;
  auto it = bundle.keys.find(KeyId{key, version});
  if (it == bundle.keys.end() && bundle.Destroyed(KeyId{key, version})) {
    // Crypto-shredded: a clear error naming the key, never an attempt with another key.
    return Status::AuthFailed("key " + key.ToString() + " version " + std::to_string(version) +
                              " of VM set " + bundle.vmset.name +
                              " was destroyed (crypto-shred): this file's data is unreadable");
  }
  if (it == bundle.keys.end()) {
    return Status::NotFound("key " + key.ToString() + " version " + std::to_string(version) +
                            " is not available for VM set " + bundle.vmset.name +
                            " (destroyed or never issued)");
  }
  return &it->second;
}

PlacementChange PlacementChangeOf(const policy::PolicyDescriptor& before,
                                  const policy::PolicyDescriptor& after) {
  if (before.objects.size() != after.objects.size()) return {.keys = true, .pools = true};
  PlacementChange c;
  for (std::size_t i = 0; i < before.objects.size(); ++i) {
    const auto& a = before.objects[i];
    const auto& b = after.objects[i];
    const bool glob = !(a.vglob == b.vglob);
    c.keys = c.keys || glob || a.symkey != b.symkey || a.cipher != b.cipher;
    c.pools = c.pools || glob || a.storage_pool != b.storage_pool;
  }
  return c;
}

Result<std::shared_ptr<const CachedVmSet>> PolicyCache::Fetch(const std::string& vmset_name) {
  CAFS_ASSIGN_OR_RETURN(VmSetBundle bundle, provider_->FetchVmSet(vmset_name));
  CAFS_ASSIGN_OR_RETURN(policy::ServerRegistry servers,
                        policy::ServerRegistry::Create(bundle.servers));
  CAFS_ASSIGN_OR_RETURN(policy::Evaluator evaluator,
                        policy::Evaluator::Create(bundle.vmset, bundle.descriptor,
                                                  options_.zoneinfo_dir, std::move(servers)));
  // The gateway's own check of the policy's pools (pool_identity.h): logged once per fetch,
  // denied and audited on every access (Gateway::CheckAt).
  Status refusal = CheckPolicyPools(bundle);
  if (!refusal.ok())
    CAFS_LOG_WARN("refusing the policy of VM set {}: {}", vmset_name, refusal.message());
  auto entry = std::make_shared<CachedVmSet>(CachedVmSet{
      std::move(bundle), std::move(evaluator), clock_->MonotonicNow(), std::move(refusal)});
  return std::shared_ptr<const CachedVmSet>(std::move(entry));
}

Result<std::shared_ptr<const CachedVmSet>> PolicyCache::Get(const std::string& vmset_name) {
  std::shared_ptr<const CachedVmSet> cached;
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(vmset_name);
    if (it != entries_.end()) cached = it->second;
    auto st = stale_.find(vmset_name);
    if (cached && (st == stale_.end() || !st->second) &&
        clock_->MonotonicNow() - cached->fetched_at < options_.ttl) {
      return cached;
    }
  }
  std::unique_lock fetch_lock(fetch_mu_, std::try_to_lock);
  if (!fetch_lock.owns_lock()) {
    // Another thread is refreshing: serve a usable stale entry rather than wait.
    if (cached && clock_->MonotonicNow() - cached->fetched_at < options_.ttl + options_.grace) {
      return cached;
    }
    fetch_lock.lock();
  }
  auto fresh = Fetch(vmset_name);
  std::unique_lock lock(mu_);
  if (fresh.ok()) {
    auto before = entries_.find(vmset_name);
    const PlacementChange change =
        before != entries_.end() && (*fresh)->refusal.ok()
            ? PlacementChangeOf(before->second->bundle.descriptor, (*fresh)->bundle.descriptor)
            : PlacementChange{};
    entries_[vmset_name] = *fresh;
    stale_.erase(vmset_name);
    lock.unlock();
    fetch_lock.unlock();
    if (change.any() && observer_) observer_(vmset_name, change);
    return *fresh;
  }
  const Status& s = fresh.status();
  if (s.IsNotFound()) {
    entries_.erase(vmset_name);
    stale_.erase(vmset_name);
    return s;
  }
  auto it = entries_.find(vmset_name);
  if (it != entries_.end() && s.retryable() &&
      clock_->MonotonicNow() - it->second->fetched_at < options_.ttl + options_.grace) {
    CAFS_LOG_WARN("key server {} unreachable, serving cached VM set {}: {}", provider_->Describe(),
                  vmset_name, s.ToString());
    return it->second;
  }
  if (s.retryable()) {
    return Status::Unavailable("VM set " + vmset_name + " is not cached (or its grace period " +
                               "ended) and the key server " + provider_->Describe() +
                               " cannot be reached: " + s.message());
  }
  return s.WithContext("fetching VM set " + vmset_name + " from " + provider_->Describe());
}

void PolicyCache::Invalidate(const std::string& vmset_name) {
  std::unique_lock lock(mu_);
  stale_[vmset_name] = true;
}

std::map<std::string, std::shared_ptr<const CachedVmSet>> PolicyCache::Snapshot() const {
  std::shared_lock lock(mu_);
  return entries_;
}

}  // namespace cafs::core
