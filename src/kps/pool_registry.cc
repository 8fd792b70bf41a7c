#include "kps/pool_registry.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "kps/policy_validation.h"
#include "kps/vmset_identity.h"
#include "policy/pool_name.h"
#include "pool/pool_name.h"
#include "util/logging.h"
#include "util/uuid.h"

namespace cafs::kps {

namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// The pools every stored policy names, with the policies: (pool -> [(policy, vmset_id)]).
struct Naming {
  std::string policy_id;
  std::string vmset_id;
};
Result<std::map<std::string, std::vector<Naming>>> PoolsNamedByPolicies(StoreTxn& txn) {
  CAFS_ASSIGN_OR_RETURN(auto policies, ListRecords<PolicyRecord>(txn));
  std::map<std::string, std::vector<Naming>> out;
  for (const auto& p : policies) {
    auto summary = ValidatePolicyXml(p.xml);
    if (!summary.ok()) {
      return Status::Corruption("stored policy " + p.id +
                                " does not parse: " + summary.status().message());
    }
    for (const auto& pool : summary->pools) out[pool].push_back({p.id, p.vmset_id});
  }
  return out;
}

// FailedPrecondition naming the first stored policy that names `pool` (of VM set `vmset_id`
// when not empty).
Status CheckNamedByNone(StoreTxn& txn, std::string_view pool, std::string_view vmset_id,
                        std::string_view doing) {
  CAFS_ASSIGN_OR_RETURN(auto named, PoolsNamedByPolicies(txn));
  auto it = named.find(std::string(pool));
  if (it == named.end()) return Status::OK();
  for (const Naming& n : it->second) {
    if (!vmset_id.empty() && n.vmset_id != vmset_id) continue;
    CAFS_ASSIGN_OR_RETURN(std::string vmset, VmSetNameOf(txn, n.vmset_id));
    return Status::FailedPrecondition("policy " + n.policy_id + " of VM set '" + vmset +
                                      "' names pool '" + std::string(pool) +
                                      "': change it before " + std::string(doing));
  }
  return Status::OK();
}

}  // namespace

json ToJson(const PoolRecord& r) {
  return {{"name", r.name},           {"guid", r.guid},       {"vmsets", r.vmsets},
          {"vmset_ids", r.vmset_ids}, {"created", r.created}, {"version", r.version}};
}

Result<PoolRecord> PoolFromJson(const json& j) {
  try {
    PoolRecord r;
    r.name = j.at("name").get<std::string>();
    r.guid = j.at("guid").get<std::string>();
    r.vmset_ids = j.value("vmset_ids", std::vector<std::string>());
    r.vmsets = j.value("vmsets", std::vector<std::string>());
    r.created = j.value("created", std::int64_t{0});
    r.version = j.value("version", std::uint64_t{0});
    return r;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("pool: ") + e.what());
  }
}

Status ResolveRecord(StoreTxn& txn, PoolRecord& r) {
  r.vmsets.clear();
  for (const auto& id : r.vmset_ids) {
    CAFS_ASSIGN_OR_RETURN(std::string name, VmSetNameOf(txn, id));
    r.vmsets.push_back(std::move(name));
  }
  return Status::OK();
}

Result<PoolRecord> CreatePool(StoreTxn& txn, std::string_view name, std::string_view guid,
                              std::int64_t now) {
  if (!policy::IsStoragePoolName(name)) {
    return Status::InvalidArgument(
        "pool name '" + std::string(name) + "' is not one a policy can name (<storepol>: 1.." +
        std::to_string(pool::kMaxPoolNameBytes) + " letters, digits, '_', '-' and '.')");
  }
  PoolRecord r;
  r.name = std::string(name);
  r.created = now;
  if (!guid.empty()) {
    CAFS_ASSIGN_OR_RETURN(Uuid g, Uuid::Parse(guid));
    r.guid = g.ToString();
  } else {
    r.guid = Uuid::Random().ToString();
  }
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<PoolRecord>(txn));
  for (const auto& p : all) {
    if (p.name == r.name) return Status::AlreadyExists("pool '" + r.name + "' exists");
    if (p.guid == r.guid) {
      return Status::AlreadyExists("pool GUID " + r.guid + " is pool '" + p.name + "''s");
    }
  }
  CAFS_RETURN_IF_ERROR(PutRecord(txn, r));
  return r;
}

Result<PoolRecord> SetPoolAllowed(StoreTxn& txn, std::string_view pool, std::string_view vmset,
                                  bool allowed) {
  CAFS_ASSIGN_OR_RETURN(VmSetRecord v, GetRecord<VmSetRecord>(txn, vmset));
  CAFS_ASSIGN_OR_RETURN(PoolRecord p, GetRecord<PoolRecord>(txn, pool));
  const bool listed = Has(p.vmset_ids, v.guid);
  if (allowed && !listed) p.vmset_ids.push_back(v.guid);
  if (!allowed && listed) {
    CAFS_RETURN_IF_ERROR(CheckNamedByNone(txn, pool, v.guid, "denying the pool to its VM set"));
    p.vmset_ids.erase(std::find(p.vmset_ids.begin(), p.vmset_ids.end(), v.guid));
  }
  if (allowed != listed) CAFS_RETURN_IF_ERROR(PutRecord(txn, p));
  CAFS_RETURN_IF_ERROR(ResolveRecord(txn, p));
  return p;
}

Status ForgetPoolGrants(StoreTxn& txn, std::string_view vmset_id) {
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<PoolRecord>(txn));
  for (auto& p : all) {
    auto at = std::find(p.vmset_ids.begin(), p.vmset_ids.end(), vmset_id);
    if (at == p.vmset_ids.end()) continue;
    p.vmset_ids.erase(at);
    CAFS_RETURN_IF_ERROR(PutRecord(txn, p));
  }
  return Status::OK();
}

Status DeletePool(StoreTxn& txn, std::string_view pool) {
  CAFS_ASSIGN_OR_RETURN(PoolRecord p, GetRecord<PoolRecord>(txn, pool));
  CAFS_RETURN_IF_ERROR(CheckNamedByNone(txn, pool, {}, "deleting the pool"));
  return DeleteRecord(txn, p);
}

Status CheckPoolsAllowed(StoreTxn& txn, std::string_view vmset, std::string_view vmset_id,
                         const std::vector<std::string>& pools) {
  for (const auto& name : pools) {
    auto p = GetRecord<PoolRecord>(txn, name);
    if (!p.ok() && !p.status().IsNotFound()) return p.status();
    if (!p.ok() || !Has(p->vmset_ids, vmset_id)) {
      return Status::PermissionDenied("policy names pool '" + name + "', which VM set '" +
                                      std::string(vmset) +
                                      "' may not use (a storage-admin allows it: cafsctl pool "
                                      "allow " +
                                      std::string(vmset) + " " + name + ")");
    }
  }
  return Status::OK();
}

namespace {

// [{name, guid}] of the pool records `keep` selects, by name.
template <typename Keep>
Result<json> PoolIdentities(StoreTxn& txn, Keep keep) {
  CAFS_ASSIGN_OR_RETURN(auto all, txn.List(ObjectKind::kPool));
  json out = json::array();
  for (const auto& o : all) {
    CAFS_ASSIGN_OR_RETURN(PoolRecord p, DecodeRecord<PoolRecord>(o));
    if (keep(p)) out.push_back({{"name", p.name}, {"guid", p.guid}});
  }
  return out;
}

}  // namespace

Result<json> AllowedPoolsJson(StoreTxn& txn, std::string_view vmset_id) {
  return PoolIdentities(txn, [&](const PoolRecord& p) { return Has(p.vmset_ids, vmset_id); });
}

Result<json> PoolIdentitiesJson(StoreTxn& txn) {
  return PoolIdentities(txn, [](const PoolRecord&) { return true; });
}

Result<std::size_t> UpgradePoolRecords(StoreTxn& txn, std::int64_t now) {
  CAFS_ASSIGN_OR_RETURN(auto named, PoolsNamedByPolicies(txn));
  std::size_t changed = 0;
  std::string names;
  for (const auto& [pool, namings] : named) {
    auto got = GetRecord<PoolRecord>(txn, pool);
    if (!got.ok() && !got.status().IsNotFound()) return got.status();
    PoolRecord p;
    if (got.ok()) {
      p = std::move(got).value();
    } else {
      CAFS_ASSIGN_OR_RETURN(p, CreatePool(txn, pool, {}, now));
    }
    bool grew = !got.ok();
    for (const Naming& n : namings) {
      if (n.vmset_id.empty() || Has(p.vmset_ids, n.vmset_id)) continue;
      p.vmset_ids.push_back(n.vmset_id);
      grew = true;
    }
    if (!grew) continue;
    CAFS_RETURN_IF_ERROR(PutRecord(txn, p));
    ++changed;
    names += (names.empty() ? "" : ", ") + pool;
  }
  if (changed == 0) return changed;
  CAFS_RETURN_IF_ERROR(AppendUpgradeRecord(
      txn, now, "upgrade pools",
      "pool records for the pools stored policies name, allowing those policies' VM sets: " +
          names));
  return changed;
}

Status UpgradeStorePools(Store& store, const Clock& clock) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  std::size_t changed = 0;
  CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(changed, UpgradePoolRecords(txn, now));
    return Status::OK();
  }));
  if (changed > 0) {
    CAFS_LOG_INFO("store upgraded to pool records: {} pool record(s) created or extended", changed);
  }
  return Status::OK();
}

}  // namespace cafs::kps
