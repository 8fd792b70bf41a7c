// PolicyCache: the gateway's cache of VM sets — description, compiled policy (Evaluator) and
// DEKs — in front of a KeyProvider, so the data path never waits on the key server for a
// cached VM set (ARCHITECTURE.md §4.3).
//
// Freshness: an entry younger than `ttl` is served as is. An older entry is refreshed from the
// provider on the next Get(); a policy or key change on the provider therefore reaches the
// gateway within `ttl` (plus one fetch). If the refresh fails with a retryable error
// (Unavailable: the provider is unreachable), the stale entry keeps being served until it is
// `ttl + grace` old; after that, and for VM sets never fetched, Get() fails with Unavailable
// naming the provider. NotFound from the provider drops the entry (the VM set was deleted).
// Ages use Clock::MonotonicNow().
//
// Ownership: `provider` and `clock` are not owned and must outlive the cache. Entries are
// shared_ptr<const CachedVmSet>: a caller keeps using the one it got even if a refresh
// replaces it.
// Threading: Get/Invalidate are safe from many threads. Lookups of fresh entries take a
// shared lock only; one refresh at a time runs (fetch_mu_), others serve what they have.
// Lock order: fetch_mu_, then mu_.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "cafs/key_provider.h"
#include "policy/evaluator.h"
#include "util/clock.h"

namespace cafs::core {

struct CachedVmSet {
  VmSetBundle bundle;
  policy::Evaluator evaluator;
  std::chrono::steady_clock::time_point fetched_at;
  // Why the gateway refuses this VM set's policy although the provider served it (a pool
  // not on the VM set's allow list: CheckPolicyPools, pool_identity.h); OK when it does not.
  // A refused policy is kept for its TTL like any entry (no refetch per access) but governs
  // nothing: every access is denied and audited, no conversion starts, no job follows it.
  Status refusal;

  // The DEK for (key, version): empty buffer for the clear-text key; AuthFailed (EIO) naming
  // the key when the provider says that version was destroyed (crypto-shred); NotFound if
  // unknown (never issued to this gateway).
  Result<const SecureBuffer*> FindKey(const Uuid& key, std::uint32_t version) const;
};

// What a new policy changes for the files already there (the one rule of what a policy
// change converts; docs/jobs.md "Conversions", docs/migration.md "Policy-driven").
struct PlacementChange {
  bool keys = false;   // some file now belongs under another key or cipher
  bool pools = false;  // some file now belongs in another storage pool
  bool any() const { return keys || pools; }
  bool operator==(const PlacementChange&) const = default;
};
// keys: a vobj's glob, symkey or cipher differs; pools: a vobj's glob or storepol differs;
// both when the vobj lists differ in length (any file may match another vobj now).
PlacementChange PlacementChangeOf(const policy::PolicyDescriptor& before,
                                  const policy::PolicyDescriptor& after);

struct PolicyCacheOptions {
  std::chrono::milliseconds ttl{std::chrono::seconds(30)};
  std::chrono::milliseconds grace{std::chrono::minutes(10)};
  std::string zoneinfo_dir{policy::TimeZone::kDefaultZoneinfoDir};
};

class PolicyCache {
 public:
  PolicyCache(KeyProvider* provider, const Clock* clock, PolicyCacheOptions options)
      : provider_(provider), clock_(clock), options_(std::move(options)) {}

  Result<std::shared_ptr<const CachedVmSet>> Get(const std::string& vmset_name);
  // Forces the next Get of this VM set to refetch.
  void Invalidate(const std::string& vmset_name);
  // Every cached entry (for usage and capacity reports).
  std::map<std::string, std::shared_ptr<const CachedVmSet>> Snapshot() const;

  // Called when a refresh replaces a cached VM set whose policy now places some files under
  // another key or cipher, or in another pool (PlacementChangeOf(...).any()), and is not
  // refused (CachedVmSet::refusal), with what changed: cafsd starts policy conversion and
  // migration jobs (jobs/policy_conversion.h). Runs on the thread whose Get refreshed, after
  // the new entry is installed and every lock of the cache is released (it may call Get). Set
  // it before the cache is shared (not guarded).
  using PlacementObserver =
      std::function<void(const std::string& vmset_name, PlacementChange change)>;
  void SetPlacementObserver(PlacementObserver observer) { observer_ = std::move(observer); }

 private:
  Result<std::shared_ptr<const CachedVmSet>> Fetch(const std::string& vmset_name);

  KeyProvider* const provider_;
  const Clock* const clock_;
  const PolicyCacheOptions options_;
  PlacementObserver observer_;  // set before use, then only read
  std::mutex fetch_mu_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const CachedVmSet>> entries_;  // guarded by mu_
  std::map<std::string, bool> stale_;                                  // guarded by mu_
};

}  // namespace cafs::core
