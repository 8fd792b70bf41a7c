#include "kps/vmset_identity.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "policy/policy_descriptor.h"
#include "util/json_text.h"
#include "util/logging.h"
#include "util/uuid.h"

namespace cafs::kps {

namespace {

using nlohmann::json;

// Replaces `from` by `to` in `names`; whether anything changed.
bool Rename(std::vector<std::string>& names, std::string_view from, std::string_view to) {
  bool changed = false;
  for (auto& n : names) {
    if (n == from) {
      n = std::string(to);
      changed = true;
    }
  }
  return changed;
}

// A stored document as a JSON object (Corruption otherwise).
Result<json> DocOf(ObjectKind kind, const StoredObject& o) {
  const std::string what = std::string(ObjectKindName(kind)) + " '" + o.id + "'";
  auto j = ParseJson(o.body, what);
  if (!j.ok() || !j->is_object()) return Status::Corruption(what + " is not a JSON object");
  return j;
}

// The name a pre-GUID key or KEK document names, or `fallback`.
std::string NameIn(const json& doc, const std::string& fallback) {
  auto it = doc.find("vmset");
  return it != doc.end() && it->is_string() && !it->get<std::string>().empty()
             ? it->get<std::string>()
             : fallback;
}

// Binds every pre-GUID document of `kind` (one with `vmset`, no `vmset_id`) to the GUID of
// the VM set it names (a KEK without `vmset`: its id), minting one for a name without; the
// document is stored under `store_id(guid, doc, old id)` (moved when that differs). Returns
// how many were bound.
Result<std::size_t> BindToGuids(
    StoreTxn& txn, ObjectKind kind, std::int64_t now,
    const std::function<std::string(const std::string&, json&, const std::string&)>& store_id) {
  std::size_t bound = 0;
  CAFS_ASSIGN_OR_RETURN(auto all, txn.List(kind));
  for (const auto& o : all) {
    CAFS_ASSIGN_OR_RETURN(json doc, DocOf(kind, o));
    if (!doc.value("vmset_id", std::string()).empty()) continue;
    const std::string name = NameIn(doc, kind == ObjectKind::kKek ? o.id : std::string());
    if (name.empty()) {
      return Status::Corruption(std::string(ObjectKindName(kind)) + " '" + o.id +
                                "' names no VM set");
    }
    CAFS_ASSIGN_OR_RETURN(std::string guid, VmSetGuidOf(txn, name, /*mint=*/true, now));
    doc["vmset_id"] = guid;
    doc.erase("vmset");
    const std::string id = store_id(guid, doc, o.id);
    if (id == o.id) {
      CAFS_RETURN_IF_ERROR(txn.Put(kind, id, doc.dump(), o.version).status());
    } else {
      CAFS_RETURN_IF_ERROR(txn.Put(kind, id, doc.dump(), 0).status());
      CAFS_RETURN_IF_ERROR(txn.Delete(kind, o.id, o.version));
    }
    ++bound;
  }
  return bound;
}

}  // namespace

Result<std::string> VmSetGuidOf(StoreTxn& txn, std::string_view name, bool mint, std::int64_t now) {
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<VmSetGuidRecord>(txn));
  for (const auto& g : all) {
    if (!g.deleted && g.name == name) return g.guid;
  }
  if (!mint || name.empty()) return NotFoundError(ObjectKind::kVmSet, name);
  VmSetGuidRecord g;
  do {
    g.guid = Uuid::Random().ToString();
  } while (txn.Get(ObjectKind::kVmSetGuid, g.guid).ok());  // never reused, not even by chance
  g.name = std::string(name);
  g.created = now;
  CAFS_RETURN_IF_ERROR(PutRecord(txn, g));
  return g.guid;
}

Result<std::string> VmSetNameOf(StoreTxn& txn, std::string_view guid) {
  auto g = GetRecord<VmSetGuidRecord>(txn, guid);
  if (!g.ok()) {
    if (!g.status().IsNotFound()) return g.status();
    return "(unknown VM set " + std::string(guid) + ")";
  }
  if (g->deleted) return "(deleted VM set " + g->guid + ")";
  return g->name;
}

Result<VmSetRecord> RenameVmSet(StoreTxn& txn, std::string_view from, std::string_view to,
                                std::uint64_t read_version, std::int64_t now) {
  (void)now;
  CAFS_ASSIGN_OR_RETURN(VmSetRecord v, GetRecord<VmSetRecord>(txn, from));
  if (read_version != 0 && read_version != v.version) {
    return ConflictError("vmset '" + std::string(from) + "'");
  }
  if (from == to) return v;
  auto taken = VmSetGuidOf(txn, to);
  if (taken.ok() || txn.Get(ObjectKind::kVmSet, to).ok()) {
    return Status::AlreadyExists("VM set name '" + std::string(to) + "' is in use");
  }
  if (!taken.status().IsNotFound()) return taken.status();
  CAFS_ASSIGN_OR_RETURN(VmSetGuidRecord g, GetRecord<VmSetGuidRecord>(txn, v.guid));
  CAFS_RETURN_IF_ERROR(DeleteRecord(txn, v));
  v.name = std::string(to);
  v.version = 0;
  CAFS_RETURN_IF_ERROR(PutRecord(txn, v));
  g.name = v.name;
  CAFS_RETURN_IF_ERROR(PutRecord(txn, g));
  // Scopes name VM sets by name: they follow the rename.
  CAFS_ASSIGN_OR_RETURN(auto admins, ListRecords<AdminRecord>(txn));
  for (auto& a : admins) {
    const bool in_scope = Rename(a.vmsets, from, to);  // both lists renamed, whatever the first
    const bool in_exports = Rename(a.exports, from, to);
    if (in_scope || in_exports) CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
  }
  CAFS_ASSIGN_OR_RETURN(auto gateways, ListRecords<GatewayRecord>(txn));
  for (auto& gw : gateways) {
    const bool requested = Rename(gw.vmsets, from, to);
    const bool approved = Rename(gw.approved, from, to);
    if (requested || approved) CAFS_RETURN_IF_ERROR(PutRecord(txn, gw));
  }
  // A policy whose <policy-descriptor vmset="..."> names the VM set must keep naming it (the
  // gateway refuses a descriptor naming another VM set): its XML is rewritten, in canonical
  // form, with the new name. Policies that do not name it are left as uploaded.
  CAFS_ASSIGN_OR_RETURN(auto policies, ListRecords<PolicyRecord>(txn));
  for (auto& p : policies) {
    if (p.vmset_id != v.guid) continue;
    auto pd = policy::PolicyDescriptor::Parse(p.xml);
    if (!pd.ok() || pd->vmset_name != from) continue;
    pd->vmset_name = v.name;
    p.xml = pd->ToXml();
    CAFS_RETURN_IF_ERROR(PutRecord(txn, p));
  }
  return v;
}

Status TombstoneVmSet(StoreTxn& txn, std::string_view guid, std::int64_t now) {
  CAFS_ASSIGN_OR_RETURN(VmSetGuidRecord g, GetRecord<VmSetGuidRecord>(txn, guid));
  g.deleted = true;
  g.deleted_time = now;
  return PutRecord(txn, g);
}

Result<VmSetUpgrade> UpgradeVmSetIdentity(StoreTxn& txn, std::int64_t now) {
  VmSetUpgrade up;
  // 1. VM set records.
  CAFS_ASSIGN_OR_RETURN(auto vmsets, txn.List(ObjectKind::kVmSet));
  for (const auto& o : vmsets) {
    CAFS_ASSIGN_OR_RETURN(json doc, DocOf(ObjectKind::kVmSet, o));
    if (!doc.value("guid", std::string()).empty()) continue;
    CAFS_ASSIGN_OR_RETURN(std::string guid, VmSetGuidOf(txn, o.id, /*mint=*/true, now));
    doc["guid"] = guid;
    CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kVmSet, o.id, doc.dump(), o.version).status());
    ++up.vmsets;
  }
  // 2. KEKs move from id = name to id = GUID; 3. keys are bound to the GUID; 4. policies are
  // bound to it and move to their per-VM-set id.
  CAFS_ASSIGN_OR_RETURN(up.keks,
                        BindToGuids(txn, ObjectKind::kKek, now,
                                    [](const std::string& guid, json& doc, const std::string&) {
                                      doc["id"] = guid;
                                      return guid;
                                    }));
  CAFS_ASSIGN_OR_RETURN(
      up.keys, BindToGuids(txn, ObjectKind::kKey, now,
                           [](const std::string&, json&, const std::string& id) { return id; }));
  CAFS_ASSIGN_OR_RETURN(up.policies,
                        BindToGuids(txn, ObjectKind::kPolicy, now,
                                    [](const std::string& guid, json& doc, const std::string& id) {
                                      return PolicyStoreId(guid, doc.value("id", id));
                                    }));
  if (!up.changed()) return up;
  CAFS_RETURN_IF_ERROR(AppendUpgradeRecord(
      txn, now, "upgrade vmset-guids",
      "gave " + std::to_string(up.vmsets) + " VM set(s) a GUID; bound " + std::to_string(up.keks) +
          " KEK(s), " + std::to_string(up.keys) + " key(s) and " + std::to_string(up.policies) +
          " policy(ies) to their VM set's GUID"));
  return up;
}

Status UpgradeStoreVmSetIdentity(Store& store, const Clock& clock) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  VmSetUpgrade up;
  CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(up, UpgradeVmSetIdentity(txn, now));
    return Status::OK();
  }));
  if (up.changed()) {
    CAFS_LOG_INFO(
        "store upgraded to VM set GUIDs: {} VM set(s), {} KEK(s), {} key(s), {} policy(ies)",
        up.vmsets, up.keks, up.keys, up.policies);
  }
  return Status::OK();
}

}  // namespace cafs::kps
