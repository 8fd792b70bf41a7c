// Storage pools in kpsd: every pool a policy may name (<storepol>) is a record with a GUID and
// a name, and an allow list of the VM sets that may use it (issue 16 defect 4, docs/kps.md
// "Storage pools").
//
// - Identity: a pool record is created by a storage-admin (POST /v1/pools) with a GUID kpsd
//   mints (or one given once, e.g. to re-create a pool whose files carry it) and never changes.
//   Records are kind-agnostic: a POSIX directory, a Ceph/RADOS pool or any later back-end maps
//   to the same record; how a gateway reaches the pool stays in the gateway's configuration
//   ([[pool]] of cafsd, which maps its pools to these records by name or `guid =`).
// - Allow list: the VM sets (kept by GUID, so a rename keeps the grant and a reused name
//   inherits nothing) a storage-admin assigned to the pool. A policy naming a pool whose allow
//   list does not hold its VM set is refused at upload (CheckPoolsAllowed); a grant is not
//   withdrawn, nor a pool deleted, while a stored policy names it (409).
// - Store upgrade (UpgradePoolRecords): a store written before pool records gets one record per
//   pool its stored policies name, each allowing those policies' VM sets, so every policy that
//   was accepted stays valid.
//
// Threading: as the StoreTxn passed in (run inside Store::InTransaction).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kps/catalog.h"
#include "util/clock.h"

namespace cafs::kps {

struct PoolRecord {
  std::string name;  // the store id; what cafsd's [[pool]] name= and policies' <storepol> say
  std::string guid;  // minted at creation (or given then), never changed
  // Allow list: the GUIDs of the VM sets that may use the pool (what the store keeps) and
  // their current names (resolved on read; "(deleted VM set ...)" once one is deleted).
  std::vector<std::string> vmset_ids;
  std::vector<std::string> vmsets;
  std::int64_t created = 0;  // unix seconds
  std::uint64_t version = 0;
};
// API form: {name, guid, vmsets, vmset_ids, created, version}; the stored form has no `vmsets`.
nlohmann::json ToJson(const PoolRecord& r);
Result<PoolRecord> PoolFromJson(const nlohmann::json& j);

template <>
struct RecordTraits<PoolRecord> {
  static constexpr ObjectKind kKind = ObjectKind::kPool;
  static std::string Id(const PoolRecord& r) { return r.name; }
  static nlohmann::json ToStored(const PoolRecord& r) {
    nlohmann::json j = ToJson(r);
    j.erase("vmsets");
    return j;
  }
  static Result<PoolRecord> FromStored(const nlohmann::json& j) { return PoolFromJson(j); }
};
// Fills `vmsets` from `vmset_ids`.
Status ResolveRecord(StoreTxn& txn, PoolRecord& r);

// Creates pool record `name` at `now`; `guid` empty = kpsd mints one. InvalidArgument for a
// name a policy could not name (policy::IsStoragePoolName) or a GUID that does not parse;
// AlreadyExists when the name or the GUID is taken.
Result<PoolRecord> CreatePool(StoreTxn& txn, std::string_view name, std::string_view guid,
                              std::int64_t now);

// Puts VM set `vmset` (a VM set record: NotFound otherwise) on pool `pool`'s allow list, or
// takes it off (`allowed` false; FailedPrecondition while a policy of that VM set names the
// pool). Idempotent. Returns the record as stored.
Result<PoolRecord> SetPoolAllowed(StoreTxn& txn, std::string_view pool, std::string_view vmset,
                                  bool allowed);

// Takes VM set GUID `vmset_id` off every allow list (the VM set is being deleted).
Status ForgetPoolGrants(StoreTxn& txn, std::string_view vmset_id);

// Deletes pool record `pool`: FailedPrecondition while a stored policy names it.
Status DeletePool(StoreTxn& txn, std::string_view pool);

// The upload rule: every name of `pools` is a pool record whose allow list holds VM set
// `vmset_id` (named `vmset` in the message). PermissionDenied otherwise, naming the pool and
// the VM set, the same for a pool without record (no existence oracle for tenants).
Status CheckPoolsAllowed(StoreTxn& txn, std::string_view vmset, std::string_view vmset_id,
                         const std::vector<std::string>& pools);

// The pools VM set `vmset_id` may use, as the gateway fetch shows them: [{name, guid}] by name.
Result<nlohmann::json> AllowedPoolsJson(StoreTxn& txn, std::string_view vmset_id);
// Every pool record's identity, [{name, guid}] by name, without allow lists: what a gateway
// compares its configured [[pool]] tables with at start (GET /v1/gateway/pools).
Result<nlohmann::json> PoolIdentitiesJson(StoreTxn& txn);

// Creates the records a store written before pool records needs (header comment). Idempotent;
// returns how many records it created or changed. When something changed, an audit record
// (actor "kpsd", action "upgrade pools") names the pools.
Result<std::size_t> UpgradePoolRecords(StoreTxn& txn, std::int64_t now);
// The same in its own transaction (kpsd serve, before it listens); logs what it changed.
Status UpgradeStorePools(Store& store, const Clock& clock);

}  // namespace cafs::kps
