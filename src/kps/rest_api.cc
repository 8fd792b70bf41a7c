#include "kps/rest_api.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "audit/audit_record.h"
#include "kps/audit_scope.h"
#include "kps/key_inventory.h"
#include "kps/peer_auth.h"
#include "kps/policy_validation.h"
#include "kps/pool_registry.h"
#include "kps/rekey_triggers.h"
#include "kps/vmset_identity.h"
#include "policy/server_registry.h"
#include "util/ip_address.h"
#include "util/json_text.h"
#include "util/logging.h"
#include "util/utf8.h"
#include "util/uuid.h"

namespace cafs::kps {

namespace {

using nlohmann::json;

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string Base64(const SecureBuffer& key) {
  std::string out(4 * ((key.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), key.data(),
                          static_cast<int>(key.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Runs `fn(txn)` in a transaction and returns its json result.
Result<json> InTxn(Store& store, const std::function<Result<json>(StoreTxn&)>& fn) {
  json out;
  Status s = store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(out, fn(txn));
    return Status::OK();
  });
  if (!s.ok()) return s;
  return out;
}

template <typename R>
json ListJson(const std::vector<R>& rs) {
  json a = json::array();
  for (const auto& r : rs) a.push_back(ToJson(r));
  return a;
}

Status NoSuchRoute(const ApiRequest& req) {
  return Status::NotFound("no endpoint " + req.method + " " + req.path + " (see docs/kps-api.md)");
}

// Reads a per-gateway JSON object (audit cursor, usage snapshot); `*version` 0 when absent.
Result<json> GetDoc(StoreTxn& txn, ObjectKind kind, const std::string& id, std::uint64_t* version) {
  *version = 0;
  auto got = txn.Get(kind, id);
  if (!got.ok()) {
    if (got.status().IsNotFound()) return json();
    return got.status();
  }
  auto j = ParseJson(got->body, std::string(ObjectKindName(kind)) + " '" + id + "'");
  if (!j.ok() || !j->is_object()) {
    return Status::Corruption(std::string(ObjectKindName(kind)) + " '" + id +
                              "' is not a JSON object");
  }
  *version = got->version;
  return j;
}

// Takes a gateway's hash-chained records (docs/audit.md "Push to kpsd"). Each must recompute
// its own hash. kpsd keeps per gateway the first hash, last seq and last hash of the chain it
// accepted: a record at or below the last seq of that chain is a repeat and dropped (the
// pusher delivers at least once, in order); seq 1 with the genesis prev and another hash
// starts a new chain; a record that does not continue the chain is kept with a "gap" note.
Result<json> TakeGatewayRecords(Store& store, const std::string& gateway, const json& list) {
  if (!list.is_array()) {
    return Status::InvalidArgument("'gateway_records' must be a list of audit records");
  }
  std::vector<audit::AuditRecord> recs;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "gateway_records[" + std::to_string(i) + "]";
    auto r = audit::AuditRecord::FromLine(list[i].dump());
    if (!r.ok()) return Status::InvalidArgument(where + ": " + r.status().message());
    if (r->ComputeHash() != r->hash) {
      return Status::InvalidArgument(where + " (seq " + std::to_string(r->seq) +
                                     "): hash does not match its contents");
    }
    recs.push_back(std::move(r).value());
  }
  std::uint64_t accepted = 0, repeats = 0, gaps = 0;
  Status s = store.InTransaction([&](StoreTxn& txn) -> Status {
    accepted = repeats = gaps = 0;
    std::uint64_t version = 0;
    CAFS_ASSIGN_OR_RETURN(json cur, GetDoc(txn, ObjectKind::kAuditCursor, gateway, &version));
    std::string first = cur.is_object() ? cur.value("first_hash", "") : "";
    std::uint64_t last_seq = cur.is_object() ? cur.value("last_seq", std::uint64_t{0}) : 0;
    std::string last_hash = cur.is_object() ? cur.value("last_hash", "") : "";
    for (const auto& r : recs) {
      const bool new_chain = r.seq == 1 && r.prev_hash == audit::GenesisHash() && r.hash != first;
      if (new_chain) {
        first = r.hash;
        last_seq = 0;
        last_hash.clear();
      } else if (r.seq <= last_seq) {
        ++repeats;
        continue;
      }
      std::string note;
      if (!new_chain && (r.seq != last_seq + 1 || (last_seq > 0 && r.prev_hash != last_hash))) {
        note = "gap: kpsd has seq " + std::to_string(last_seq) + " of this chain, got seq " +
               std::to_string(r.seq);
        ++gaps;
      }
      // kpsd's own fields are text: names that are not UTF-8 show in their display form
      // there; `access` keeps the exact bytes (docs/audit.md "Names that are not UTF-8").
      const audit::AuditRecord shown = r.ForDisplay();
      AuditRecord k;
      k.time = r.time_ms / 1000;
      k.actor = gateway;
      k.role = "gateway";
      k.action = "gateway " + shown.op;
      k.object = shown.vmset;
      for (const std::string* part : {&shown.vm, &shown.file}) {
        if (!part->empty()) k.object += "/" + *part;
      }
      k.result = std::string(audit::ResultName(r.result));
      k.reason =
          shown.reason.empty() || note.empty() ? shown.reason + note : shown.reason + "; " + note;
      k.access = r.ToCanonicalJson();
      k.access["hash"] = r.hash;
      CAFS_RETURN_IF_ERROR(AppendAuditRecord(txn, k).status());
      last_seq = r.seq;
      last_hash = r.hash;
      ++accepted;
    }
    if (accepted == 0) return Status::OK();
    json next = {{"first_hash", first}, {"last_seq", last_seq}, {"last_hash", last_hash}};
    return txn.Put(ObjectKind::kAuditCursor, gateway, next.dump(), version).status();
  });
  CAFS_RETURN_IF_ERROR(s);
  return json{{"accepted", accepted}, {"repeats", repeats}, {"gaps", gaps}};
}

// Checks a usage snapshot's shape (docs/kps-api.md "Usage").
Status CheckUsage(const json& body) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"time_ms", "vmsets", "pools"}));
  if (!body.contains("vmsets") || !body["vmsets"].is_array() || !body.contains("pools") ||
      !body["pools"].is_array()) {
    return Status::InvalidArgument("a usage snapshot needs 'vmsets' and 'pools' lists");
  }
  for (const auto& v : body["vmsets"]) {
    CAFS_RETURN_IF_ERROR(CheckKnownFields(v, {"vmset", "pool", "bytes"}));
    if (!v.contains("vmset") || !v["vmset"].is_string() || !v.contains("pool") ||
        !v["pool"].is_string() || !v.contains("bytes") || !v["bytes"].is_number_unsigned()) {
      return Status::InvalidArgument("'vmsets' entries are {vmset, pool, bytes}");
    }
  }
  for (const auto& p : body["pools"]) {
    CAFS_RETURN_IF_ERROR(CheckKnownFields(p, {"pool", "total_bytes", "free_bytes", "used_percent",
                                              "threshold_percent", "available", "error"}));
    if (!p.contains("pool") || !p["pool"].is_string()) {
      return Status::InvalidArgument("'pools' entries need a 'pool' name");
    }
  }
  return Status::OK();
}

std::int64_t UnixNow(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

// What an endpoint's handler gets: kpsd's services, the authenticated caller, the request,
// its decoded body and the path segments matched by the pattern's {placeholders}. The
// handler sets `object` (the audit record's object; the first placeholder by default) and
// `status` (200 unless set). The route's role check has passed when the handler runs.
struct Call {
  Keyring& keyring;
  Store& store;
  const CertificateAuthority& ca;
  const Clock& clock;
  const Principal& who;
  const ApiRequest& req;
  const json& body;
  Action action;                  // the route's action (rbac.h)
  std::vector<std::string> args;  // {placeholder} segments, in pattern order
  std::string object;
  int status = 200;
  // Set by AuthorizeFound: the true reason of a refusal answered as "not found".
  std::string hidden_refusal;

  const std::string& arg(std::size_t i) const { return args.at(i); }
  std::int64_t Now() const { return UnixNow(clock); }
  // The route's action checked again with the VM set the request turned out to be about:
  // the scope check of tenant-admins and gateways (rbac.h InScope).
  Status AuthorizeFor(std::string_view vmset) const { return Authorize(who, action, vmset); }
  // The scope check for object `id` of `kind`, found by id, that belongs to `vmset`: out of
  // scope is answered to a tenant-admin or gateway exactly as if the object did not exist
  // (NotFoundError; no existence oracle for tenants), while the audit record keeps the
  // refusal. A scoped key- or storage-admin (the provider's staff) gets the 403.
  Status AuthorizeFound(std::string_view vmset, ObjectKind kind, std::string_view id) {
    Status s = AuthorizeFor(vmset);
    if (s.ok() || (who.role != Role::kTenantAdmin && who.role != Role::kGateway)) return s;
    hidden_refusal = s.message();
    return NotFoundError(kind, id);
  }
};

using Handler = Result<json> (*)(Call&);

// ---- VM sets ----------------------------------------------------------------------------

Result<json> ListVmSets(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<VmSetRecord>(txn));
    json a = json::array();
    for (const auto& v : all) {
      if (InScope(c.who, v.name)) a.push_back(ToJson(v));
    }
    return a;
  });
}

Result<json> GetVmSet(Call& c) {
  const std::string& name = c.arg(0);
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(name));
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto v, GetRecord<VmSetRecord>(txn, name));
    return ToJson(v);
  });
}

// ---- updates are merges ---------------------------------------------------------------
//
// PUT lays the body's fields over the stored document (docs/kps-api.md "Updates"): a field
// the body does not name keeps its stored value. The body must carry the `version` it read;
// the write is conditional on it (a stale one is a 409 conflict, nothing is lost).

// The `version` a PUT body must carry.
Result<std::uint64_t> UpdateVersion(const json& body) {
  if (!body.contains("version") || !body["version"].is_number_unsigned() ||
      body["version"].get<std::uint64_t>() == 0) {
    return Status::InvalidArgument("PUT needs the 'version' you read");
  }
  return body["version"].get<std::uint64_t>();
}

// The stored record `id` to update, once the body's version matches it.
template <typename R>
Result<R> ReadForUpdate(Call& c, const std::string& id) {
  R old;
  CAFS_RETURN_IF_ERROR(c.store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(old, GetRecord<R>(txn, id));
    return Status::OK();
  }));
  return old;
}

// `stored` with every field of `body` laid over it.
json Merged(json stored, const json& body) {
  for (const auto& [k, v] : body.items()) stored[k] = v;
  return stored;
}

Status CheckReadVersion(std::uint64_t stored, std::uint64_t read, ObjectKind kind,
                        const std::string& id) {
  if (stored == read) return Status::OK();
  return ConflictError(std::string(ObjectKindName(kind)) + " '" + id + "'");
}

// A VM set may name only a policy of its own (no cross-tenant reference): the policy must
// exist and govern this VM set. A caller who may read every policy (not a tenant-admin) may
// also name one not uploaded yet (the seed's <vmset> XML names its <pd> before the tenant
// uploads it); the gateway fetch is 404 until then. A tenant-admin gets the same 403 for a
// policy that does not exist and for one of another VM set.
Status CheckPolicyReference(const Call& c, StoreTxn& txn, const VmSetRecord& v) {
  if (v.policy_id.empty()) return Status::OK();
  // Policy ids are per VM set: only this VM set's policies can be found at all.
  auto p = GetRecord<PolicyRecord>(txn, PolicyStoreId(v.guid, v.policy_id));
  if (p.ok()) return Status::OK();
  if (!p.ok() && !p.status().IsNotFound()) return p.status();
  if (!p.ok() && c.who.role != Role::kTenantAdmin) return Status::OK();
  return Status::PermissionDenied("policy " + v.policy_id + " is not a policy of VM set '" +
                                  v.name + "'");
}

// A policy may name only keys of its own VM set (and the clear-text key): every other GUID -
// a key of another VM set or none at all - gets the same 403.
Status CheckKeyReferences(StoreTxn& txn, const PolicyRecord& p, const PolicySummary& summary) {
  const std::string clear = Uuid::ClearTextKey().ToString();
  for (const auto& kid : summary.key_ids) {
    if (kid == clear) continue;
    auto k = GetRecord<KeyRecord>(txn, kid);
    if (!k.ok() && !k.status().IsNotFound()) return k.status();
    if (!k.ok() || k->vmset_id != p.vmset_id) {
      return Status::PermissionDenied("policy names key " + kid +
                                      ", which is not a key of VM set '" + p.vmset +
                                      "' (create the key first)");
    }
  }
  return Status::OK();
}

// POST /v1/vmsets (`name` empty: from the body) and PUT /v1/vmsets/{name}. With `xml` the
// seed's <vmset> document gives every field (a full replacement); otherwise PUT merges.
Result<json> WriteVmSet(Call& c, const std::string& name) {
  const json& body = c.body;
  const bool create = name.empty();
  CAFS_RETURN_IF_ERROR(CheckKnownFields(
      body, {"name", "guid", "mount_point", "position", "servers", "policy_id", "time_zone",
             "audit_destinations", "capacity_threshold", "version", "xml"}));
  std::uint64_t read_version = 0;
  if (!create) {
    CAFS_RETURN_IF_ERROR(c.AuthorizeFor(name));
    CAFS_ASSIGN_OR_RETURN(read_version, UpdateVersion(body));
  }
  json j = body;
  if (body.contains("xml")) {
    // The seed's <vmset> XML, parsed with the policy model; it gives every field.
    CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"name", "guid", "version", "xml"}));
    if (!body["xml"].is_string()) return Status::InvalidArgument("'xml' must be a string");
    CAFS_ASSIGN_OR_RETURN(VmSetRecord from_xml, ParseVmSetXml(body["xml"].get<std::string>()));
    const std::string given = !name.empty() ? name : body.value("name", from_xml.name);
    if (given != from_xml.name) {
      return Status::InvalidArgument("the XML names VM set '" + from_xml.name + "', not '" + given +
                                     "'");
    }
    j = ToJson(from_xml);
    if (body.contains("guid")) j["guid"] = body["guid"];
  }
  std::string stored_guid;
  if (!create) {
    CAFS_ASSIGN_OR_RETURN(VmSetRecord old, ReadForUpdate<VmSetRecord>(c, name));
    CAFS_RETURN_IF_ERROR(CheckReadVersion(old.version, read_version, ObjectKind::kVmSet, name));
    if (!body.contains("xml")) j = Merged(ToJson(old), body);
    stored_guid = old.guid;
  }
  if (!create) j["name"] = name;
  CAFS_ASSIGN_OR_RETURN(VmSetRecord v, VmSetFromJson(j));
  c.object = v.name;
  if (v.name.empty()) return Status::InvalidArgument("a VM set needs a name");
  // The GUID is kpsd's (vmset_identity.h): minted at creation, never changed. A body (or
  // <vmset-id>) may repeat the one it read, nothing else.
  if (!v.guid.empty() && v.guid != stored_guid) {
    return Status::InvalidArgument(create ? "kpsd mints a VM set's GUID: leave 'guid' out"
                                          : "a VM set's GUID never changes (it is " + stored_guid +
                                                ")");
  }
  v.guid = stored_guid;
  v.version = read_version;
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(v.name));
  // Both forms store only what the XML could say (one model: policy::VmSet).
  CAFS_RETURN_IF_ERROR(ValidateVmSetRecord(v));
  c.status = create ? 201 : 200;
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    if (create) {
      if (txn.Get(ObjectKind::kVmSet, v.name).ok()) {
        return Status::AlreadyExists("vmset '" + v.name + "' exists");
      }
      if (VmSetGuidOf(txn, v.name).ok()) {
        return Status::AlreadyExists("the name '" + v.name +
                                     "' holds KMIP clients' keys: choose another name");
      }
      CAFS_ASSIGN_OR_RETURN(v.guid, VmSetGuidOf(txn, v.name, /*mint=*/true, c.Now()));
    }
    CAFS_RETURN_IF_ERROR(CheckPolicyReference(c, txn, v));
    CAFS_RETURN_IF_ERROR(PutRecord(txn, v));
    return ToJson(v);
  });
}

Result<json> CreateVmSet(Call& c) { return WriteVmSet(c, ""); }
Result<json> UpdateVmSet(Call& c) { return WriteVmSet(c, c.arg(0)); }

// Whether a scope other than those that follow VM set `from` already names `to`: a rename
// must not hand the VM set to a principal who was given the new name in advance.
Status CheckNameUnclaimed(StoreTxn& txn, const std::string& from, const std::string& to) {
  auto names = [&](const std::vector<std::string>& l, const std::string& n) {
    return std::find(l.begin(), l.end(), n) != l.end();
  };
  CAFS_ASSIGN_OR_RETURN(auto admins, ListRecords<AdminRecord>(txn));
  for (const auto& a : admins) {
    if ((names(a.vmsets, to) || names(a.exports, to)) && !names(a.vmsets, from)) {
      return Status::FailedPrecondition("admin '" + a.name + "' has VM set name '" + to +
                                        "' in its scope: change that scope first");
    }
  }
  CAFS_ASSIGN_OR_RETURN(auto gateways, ListRecords<GatewayRecord>(txn));
  for (const auto& g : gateways) {
    if ((names(g.vmsets, to) || names(g.approved, to)) && !names(g.vmsets, from)) {
      return Status::FailedPrecondition("gateway '" + g.name + "' has VM set name '" + to +
                                        "' in its scope: change that scope first");
    }
  }
  return Status::OK();
}

// POST /v1/vmsets/{name}/rename {name, version?}: the VM set keeps its GUID, keys, KEK and
// policies; scopes naming it follow (vmset_identity.h RenameVmSet). A tenant-admin renames
// only to a name already in its own scope.
Result<json> RenameVmSetCall(Call& c) {
  const std::string& from = c.arg(0);
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(from));
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"name", "version"}));
  if (!c.body.contains("name") || !c.body["name"].is_string()) {
    return Status::InvalidArgument("give the new 'name' (and optionally the 'version' you read)");
  }
  const std::string to = c.body["name"].get<std::string>();
  std::uint64_t read_version = 0;
  if (c.body.contains("version")) {
    CAFS_ASSIGN_OR_RETURN(read_version, UpdateVersion(c.body));
  }
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(to));
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(VmSetRecord old, GetRecord<VmSetRecord>(txn, from));
    VmSetRecord renamed = old;
    renamed.name = to;
    CAFS_RETURN_IF_ERROR(ValidateVmSetRecord(renamed));
    CAFS_RETURN_IF_ERROR(CheckNameUnclaimed(txn, from, to));
    CAFS_ASSIGN_OR_RETURN(VmSetRecord v, RenameVmSet(txn, from, to, read_version, c.Now()));
    c.object = from + " -> " + to + " (" + v.guid + ")";
    return ToJson(v);
  });
}

// Deleting a VM set leaves nothing bound to its GUID (issue 20 class 12) and tombstones the
// GUID, so a VM set created later with the same name gets a new GUID and inherits nothing. It is
// refused (409) while any of its keys has a version that is not destroyed: shredding keys is the
// key-admin's duty (POST /v1/keys/{id}/destroy), not the tenant's. Then, in one transaction, the VM
// set, its KEK (the crypto-shred of every DEK ever wrapped by it), its destroyed key records and
// its policies are removed, and the store is compacted so the bytes are gone from its files.
Result<json> DeleteVmSet(Call& c) {
  const std::string& name = c.arg(0);
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(name));
  std::size_t keys = 0, policies = 0;
  bool kek = false;
  CAFS_RETURN_IF_ERROR(c.store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(auto v, GetRecord<VmSetRecord>(txn, name));
    CAFS_ASSIGN_OR_RETURN(auto all_keys, ListRecords<KeyRecord>(txn));
    for (const auto& k : all_keys) {
      if (k.vmset_id != v.guid) continue;
      for (const auto& kv : k.versions) {
        if (kv.state != KeyState::kDestroyed) {
          return Status::FailedPrecondition("VM set '" + name + "' still has key " + k.id +
                                            ": a key-admin destroys its keys first");
        }
      }
    }
    for (const auto& k : all_keys) {
      if (k.vmset_id != v.guid) continue;
      CAFS_RETURN_IF_ERROR(DeleteRecord(txn, k));
      ++keys;
    }
    CAFS_ASSIGN_OR_RETURN(auto all_policies, ListRecords<PolicyRecord>(txn));
    for (const auto& p : all_policies) {
      if (p.vmset_id != v.guid) continue;
      CAFS_RETURN_IF_ERROR(DeleteRecord(txn, p));
      ++policies;
    }
    auto k = GetRecord<KekRecord>(txn, v.guid);
    if (k.ok()) {
      CAFS_RETURN_IF_ERROR(DeleteRecord(txn, *k));
      kek = true;
    } else if (!k.status().IsNotFound()) {
      return k.status();
    }
    CAFS_RETURN_IF_ERROR(ForgetPoolGrants(txn, v.guid));
    // The GUID stays as a tombstone: a later VM set of this name gets a new one.
    CAFS_RETURN_IF_ERROR(TombstoneVmSet(txn, v.guid, c.Now()));
    return DeleteRecord(txn, v);
  }));
  CAFS_RETURN_IF_ERROR(c.store.Compact());
  return json{{"deleted", name},
              {"kek_destroyed", kek},
              {"keys_removed", keys},
              {"policies_removed", policies}};
}

// ---- policy descriptors -----------------------------------------------------------------

Result<json> ListPolicies(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<PolicyRecord>(txn));
    json a = json::array();
    for (const auto& p : all) {
      if (InScope(c.who, p.vmset)) a.push_back(ToJson(p));
    }
    return a;
  });
}

// The policy `id` the caller means. Policy ids are unique per VM set only (docs/kps.md
// "Policy ids are per VM set"): among the policies with that id, the ones in the caller's
// scope (and of VM set `?vmset=` when given). None is NotFound, whether others exist or not
// (then the audit keeps the refusal); several (a caller who sees every VM set) is
// InvalidArgument asking for `?vmset=`.
Result<PolicyRecord> FindPolicy(Call& c, StoreTxn& txn, const std::string& id) {
  auto filter = c.req.query.find("vmset");
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<PolicyRecord>(txn));
  std::vector<PolicyRecord> found;
  std::string out_of_scope;
  for (auto& p : all) {
    if (p.id != id) continue;
    if (filter != c.req.query.end() && filter->second != p.vmset) continue;
    if (!InScope(c.who, p.vmset)) {
      out_of_scope = p.vmset;
      continue;
    }
    found.push_back(std::move(p));
  }
  if (found.empty()) {
    Status s = out_of_scope.empty() ? Status::OK()
                                    : c.AuthorizeFound(out_of_scope, ObjectKind::kPolicy, id);
    return s.ok() ? NotFoundError(ObjectKind::kPolicy, id) : s;
  }
  if (found.size() > 1) {
    return Status::InvalidArgument("policy id " + id + " exists in " +
                                   std::to_string(found.size()) +
                                   " VM sets: add ?vmset=NAME to say which");
  }
  return std::move(found.front());
}

Result<json> GetPolicy(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto p, FindPolicy(c, txn, c.arg(0)));
    return ToJson(p);
  });
}

// 409 while its VM set names policy `p`.
Status CheckGovernsNone(StoreTxn& txn, const PolicyRecord& p) {
  CAFS_ASSIGN_OR_RETURN(auto vmsets, ListRecords<VmSetRecord>(txn));
  for (const auto& v : vmsets) {
    if (v.guid == p.vmset_id && v.policy_id == p.id) {
      return Status::FailedPrecondition("policy " + p.id + " governs VM set '" + v.name +
                                        "': give that VM set another policy first");
    }
  }
  return Status::OK();
}

// POST /v1/policies (`id` empty: from the body or the XML) and PUT /v1/policies/{id} (a
// merge: `name`, `vmset` and `xml` keep their stored values when absent; a policy stays in
// its VM set). Ids are per VM set: creating an id another VM set uses is no conflict.
Result<json> WritePolicy(Call& c, const std::string& id) {
  const bool create = id.empty();
  CAFS_RETURN_IF_ERROR(
      CheckKnownFields(c.body, {"id", "name", "vmset", "vmset_id", "xml", "version"}));
  json j = c.body;
  std::uint64_t read_version = 0;
  std::string old_vmset;
  if (!create) {
    CAFS_ASSIGN_OR_RETURN(read_version, UpdateVersion(c.body));
    PolicyRecord old;
    CAFS_RETURN_IF_ERROR(c.store.InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(old, FindPolicy(c, txn, id));
      return Status::OK();
    }));
    CAFS_RETURN_IF_ERROR(CheckReadVersion(old.version, read_version, ObjectKind::kPolicy, id));
    old_vmset = old.vmset;
    json stored = ToJson(old);
    // A new XML may name the VM set itself (<policy-descriptor vmset=...>).
    if (c.body.contains("xml") && !c.body.contains("vmset")) stored.erase("vmset");
    j = Merged(std::move(stored), c.body);
    j["id"] = id;
  }
  if (!j.contains("vmset")) j["vmset"] = "";  // may come from <policy-descriptor vmset=>
  CAFS_ASSIGN_OR_RETURN(PolicyRecord p, PolicyFromJson(j));
  // Authorize before looking at the XML when the body names the VM set, so a caller
  // outside it is refused (403, audited) whatever the XML holds.
  if (!p.vmset.empty()) CAFS_RETURN_IF_ERROR(c.AuthorizeFor(p.vmset));
  CAFS_ASSIGN_OR_RETURN(PolicySummary summary, ValidatePolicyXml(p.xml));
  if (p.vmset.empty()) {
    if (summary.vmset.empty()) {
      return Status::InvalidArgument(
          "a policy needs the 'vmset' it governs (field 'vmset' or <policy-descriptor "
          "vmset=...>)");
    }
    p.vmset = summary.vmset;
    CAFS_RETURN_IF_ERROR(c.AuthorizeFor(p.vmset));
  } else if (!summary.vmset.empty() && summary.vmset != p.vmset) {
    return Status::InvalidArgument("the XML's vmset='" + summary.vmset + "' differs from 'vmset' " +
                                   p.vmset);
  }
  if (p.id.empty()) p.id = summary.guid.value_or(Uuid::Random().ToString());
  CAFS_ASSIGN_OR_RETURN(Uuid guid, Uuid::Parse(p.id));
  p.id = guid.ToString();
  c.object = p.id;
  if (summary.guid && *summary.guid != p.id) {
    return Status::InvalidArgument("the XML's guid=" + *summary.guid + " differs from id " + p.id);
  }
  if (!create && old_vmset != p.vmset) {
    return Status::InvalidArgument("policy " + p.id + " belongs to VM set '" + old_vmset +
                                   "': a policy stays in its VM set (create it in '" + p.vmset +
                                   "' instead)");
  }
  p.version = read_version;
  c.status = create ? 201 : 200;
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    // `vmset_id` may repeat what a GET showed (GET, edit, PUT), nothing else.
    const std::string given = p.vmset_id;
    CAFS_ASSIGN_OR_RETURN(p.vmset_id, VmSetGuidOf(txn, p.vmset));
    if (!given.empty() && given != p.vmset_id) {
      return Status::InvalidArgument("'vmset_id' " + given + " is not VM set '" + p.vmset +
                                     "''s GUID");
    }
    CAFS_RETURN_IF_ERROR(CheckKeyReferences(txn, p, summary));
    CAFS_RETURN_IF_ERROR(CheckPoolsAllowed(txn, p.vmset, p.vmset_id, summary.pools));
    CAFS_RETURN_IF_ERROR(PutRecord(txn, p));
    return ToJson(p);
  });
}

Result<json> CreatePolicy(Call& c) { return WritePolicy(c, ""); }
Result<json> UpdatePolicy(Call& c) { return WritePolicy(c, c.arg(0)); }

Result<json> DeletePolicy(Call& c) {
  const std::string& id = c.arg(0);
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto p, FindPolicy(c, txn, id));
    CAFS_RETURN_IF_ERROR(CheckGovernsNone(txn, p));
    CAFS_RETURN_IF_ERROR(DeleteRecord(txn, p));
    return json{{"deleted", id}};
  });
}

// ---- keys -------------------------------------------------------------------------------

Result<json> ListKeys(Call& c) {
  auto filter = c.req.query.find("vmset");
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<KeyRecord>(txn));
    json a = json::array();
    for (const auto& k : all) {
      if (!InScope(c.who, k.vmset)) continue;
      if (filter != c.req.query.end() && filter->second != k.vmset) continue;
      a.push_back(ToJson(k, false));
    }
    return a;
  });
}

Result<json> GetKey(Call& c) {
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, c.keyring.GetKey(c.arg(0)));
  CAFS_RETURN_IF_ERROR(c.AuthorizeFound(k.vmset, ObjectKind::kKey, c.arg(0)));
  return ToJson(k, false);
}

Result<json> CreateKey(Call& c) {
  const json& body = c.body;
  CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"vmset", "cipher", "id", "state"}));
  std::string vmset = body.value("vmset", "");
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(vmset));
  if (vmset.empty()) return Status::InvalidArgument("a key needs a 'vmset'");
  std::string state = body.value("state", "active");
  if (state != "active" && state != "pre-active") {
    return Status::InvalidArgument("a new key is 'active' or 'pre-active'");
  }
  // A key belongs to an existing VM set: none is created ahead under a name a later VM set
  // (of another tenant) would inherit.
  CAFS_RETURN_IF_ERROR(InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
                         CAFS_RETURN_IF_ERROR(GetRecord<VmSetRecord>(txn, vmset).status());
                         return json();
                       }).status());
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, c.keyring.CreateKey(vmset, body.value("cipher", "aes-256-xts"),
                                                         state == "active", body.value("id", "")));
  c.object = k.id;
  c.status = 201;
  return ToJson(k, false);
}

// The key named by the path, once the caller may manage keys of its VM set.
Result<KeyRecord> ManagedKey(Call& c) {
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, c.keyring.GetKey(c.arg(0)));
  CAFS_RETURN_IF_ERROR(c.AuthorizeFound(k.vmset, ObjectKind::kKey, c.arg(0)));
  return k;
}

Result<json> RotateKey(Call& c) {
  CAFS_RETURN_IF_ERROR(ManagedKey(c).status());
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {}));
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, c.keyring.RotateKey(c.arg(0)));
  return ToJson(k, false);
}

Result<json> SetKeyState(Call& c) {
  const json& body = c.body;
  CAFS_RETURN_IF_ERROR(ManagedKey(c).status());
  CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"version", "state"}));
  if (!body.contains("version") || !body["version"].is_number_unsigned() ||
      !body.contains("state") || !body["state"].is_string()) {
    return Status::InvalidArgument("give 'version' (number) and 'state' (string)");
  }
  CAFS_ASSIGN_OR_RETURN(KeyState to, ParseKeyState(body["state"].get<std::string>()));
  const auto version = body["version"].get<std::uint32_t>();
  if (to != KeyState::kCompromised) {
    CAFS_ASSIGN_OR_RETURN(KeyRecord k, c.keyring.SetState(c.arg(0), version, to));
    return ToJson(k, false);
  }
  // Urgent deep rekey of every file under it (rekey_triggers.h); kpsd's periodic evaluation
  // repairs what a failure here leaves.
  CAFS_ASSIGN_OR_RETURN(CompromiseResult r,
                        MarkCompromised(c.keyring, c.store, c.clock, c.arg(0), version));
  json out = ToJson(r.key, false);
  if (!r.rekey_error.empty()) {
    out["rekey_error"] = r.rekey_error;
  } else {
    out["rekey_requests"] = r.requests;
  }
  return out;
}

// The optional "force" of a destroy body (key_inventory.h: refuse while files may depend).
Result<DestroyMode> DestroyModeOf(const json& body) {
  if (!body.contains("force")) return DestroyMode::kRefuseIfUsed;
  if (!body["force"].is_boolean()) return Status::InvalidArgument("'force' must be true or false");
  return body["force"].get<bool>() ? DestroyMode::kForce : DestroyMode::kRefuseIfUsed;
}

// A destroy's answer: the record, plus "warning" naming what a forced destroy made unreadable.
json WithWarning(json out, const std::string& warning) {
  if (!warning.empty()) out["warning"] = "forced: now unreadable: " + warning;
  return out;
}

Result<json> DestroyKey(Call& c) {
  const json& body = c.body;
  CAFS_RETURN_IF_ERROR(ManagedKey(c).status());
  CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"version", "force"}));
  std::optional<std::uint32_t> v;
  if (body.contains("version")) {
    if (!body["version"].is_number_unsigned()) {
      return Status::InvalidArgument("'version' must be a number");
    }
    v = body["version"].get<std::uint32_t>();
  }
  CAFS_ASSIGN_OR_RETURN(DestroyMode mode, DestroyModeOf(body));
  std::string warning;
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, c.keyring.DestroyKey(c.arg(0), v, mode, &warning));
  return WithWarning(ToJson(k, false), warning);
}

// ---- VM set KEKs (shallow rekey, crypto-shred of a whole VM set) --------------------------

// The KEK of the VM set named by the path, once the caller's scope covers that VM set.
Result<KekRecord> ScopedKek(Call& c) {
  CAFS_RETURN_IF_ERROR(c.AuthorizeFound(c.arg(0), ObjectKind::kKek, c.arg(0)));
  return c.keyring.GetKek(c.arg(0));
}

Result<json> GetKek(Call& c) {
  CAFS_ASSIGN_OR_RETURN(KekRecord k, ScopedKek(c));
  return ToJson(k, false);
}

Result<json> RotateKek(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {}));
  CAFS_RETURN_IF_ERROR(ScopedKek(c).status());
  CAFS_ASSIGN_OR_RETURN(KekRotation r, c.keyring.RotateKek(c.arg(0)));
  json out = ToJson(r.kek, false);
  out["rewrapped"] = r.rewrapped;
  return out;
}

Result<json> DestroyKek(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"force"}));
  CAFS_ASSIGN_OR_RETURN(DestroyMode mode, DestroyModeOf(c.body));
  CAFS_RETURN_IF_ERROR(ScopedKek(c).status());
  CAFS_ASSIGN_OR_RETURN(KekDestruction d, c.keyring.DestroyKek(c.arg(0), mode));
  json out = ToJson(d.kek, false);
  out["keys_destroyed"] = d.keys;
  return WithWarning(std::move(out), d.warning);
}

// ---- virtualization servers -------------------------------------------------------------

// A server record belongs to the VM sets whose <vmserv> list its id (as the gateway compares:
// policy::SameServerId): its addresses decide which NFS clients those VM sets admit. So a
// scoped storage-admin (rbac.h) sees the servers a VM set of its scope lists, and writes
// (creates, edits, deletes) a server only when VM sets of its scope list it and no VM set
// outside its scope does: otherwise an admin scoped to one tenant could repoint another
// tenant's server to any address. Unscoped callers act on every server. docs/kps.md "Roles".
Result<std::vector<std::string>> VmSetsListing(StoreTxn& txn, std::string_view id) {
  CAFS_ASSIGN_OR_RETURN(auto vmsets, ListRecords<VmSetRecord>(txn));
  std::vector<std::string> out;
  for (const VmSetRecord& v : vmsets) {
    if (std::any_of(v.servers.begin(), v.servers.end(),
                    [&](const std::string& s) { return policy::SameServerId(s, id); })) {
      out.push_back(v.name);
    }
  }
  return out;
}

// OK when `c.who` may see (`write` false) or write server `id` (rule above); PermissionDenied
// (403, audited) naming the server otherwise.
Status AuthorizeServer(const Call& c, StoreTxn& txn, std::string_view id, bool write) {
  if (!IsScoped(c.who)) return Status::OK();
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> listing, VmSetsListing(txn, id));
  const bool mine = std::any_of(listing.begin(), listing.end(),
                                [&](const std::string& v) { return InScope(c.who, v); });
  if (!mine) {
    return Status::PermissionDenied(
        std::string(RoleName(c.who.role)) + " '" + c.who.name + "' may act only on the servers " +
        "the VM sets in its charge list, and none lists server '" + std::string(id) +
        "' (a tenant-admin lists it in <vmserv> first)");
  }
  if (!write) return Status::OK();
  for (const std::string& v : listing) CAFS_RETURN_IF_ERROR(c.AuthorizeFor(v));
  return Status::OK();
}

Result<json> ListServers(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<ServerRecord>(txn));
    std::vector<ServerRecord> shown;
    for (auto& s : all) {
      if (AuthorizeServer(c, txn, s.id, /*write=*/false).ok()) shown.push_back(std::move(s));
    }
    return ListJson(shown);
  });
}

Result<json> GetServer(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto s, GetRecord<ServerRecord>(txn, c.arg(0)));
    CAFS_RETURN_IF_ERROR(AuthorizeServer(c, txn, s.id, /*write=*/false));
    return ToJson(s);
  });
}

// POST /v1/servers (`id` empty: from the body) and PUT /v1/servers/{id} (a merge).
Result<json> WriteServer(Call& c, const std::string& id) {
  const bool create = id.empty();
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"id", "name", "addresses", "version"}));
  json j = c.body;
  std::uint64_t read_version = 0;
  if (!create) {
    CAFS_ASSIGN_OR_RETURN(read_version, UpdateVersion(c.body));
    CAFS_ASSIGN_OR_RETURN(ServerRecord old, ReadForUpdate<ServerRecord>(c, id));
    CAFS_RETURN_IF_ERROR(CheckReadVersion(old.version, read_version, ObjectKind::kServer, id));
    j = Merged(ToJson(old), c.body);
    j["id"] = id;
  }
  CAFS_ASSIGN_OR_RETURN(ServerRecord s, ServerFromJson(j));
  // The gateway maps NFS client addresses to this id (docs/policy.md "Server identity"):
  // numeric IP addresses only, the one parser the gateway uses.
  CAFS_RETURN_IF_ERROR(policy::ValidateRegisteredServer({s.id, s.addresses}));
  c.object = s.id;
  s.version = read_version;
  c.status = create ? 201 : 200;
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_RETURN_IF_ERROR(AuthorizeServer(c, txn, s.id, /*write=*/true));
    CAFS_RETURN_IF_ERROR(PutRecord(txn, s));
    return ToJson(s);
  });
}

Result<json> CreateServer(Call& c) { return WriteServer(c, ""); }
Result<json> UpdateServer(Call& c) { return WriteServer(c, c.arg(0)); }

Result<json> DeleteServer(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto s, GetRecord<ServerRecord>(txn, c.arg(0)));
    CAFS_RETURN_IF_ERROR(AuthorizeServer(c, txn, s.id, /*write=*/true));
    CAFS_RETURN_IF_ERROR(DeleteRecord(txn, s));
    return json{{"deleted", c.arg(0)}};
  });
}

// A {vmset, withdraw?} body (gateway approval, export right, pool allow list): the VM set and
// whether it is taken back. Sets the audit object to "<vmset>/<path name>", so a tenant's
// audit read and `cafsctl audit list --vmset` find the change.
struct ScopeChange {
  std::string vmset;
  bool withdraw = false;
};
Result<ScopeChange> ScopeChangeOf(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"vmset", "withdraw"}));
  if (!c.body.contains("vmset") || !c.body["vmset"].is_string() ||
      (c.body.contains("withdraw") && !c.body["withdraw"].is_boolean())) {
    return Status::InvalidArgument("give 'vmset' (a name) and optionally 'withdraw' (boolean)");
  }
  ScopeChange out{c.body["vmset"].get<std::string>(), c.body.value("withdraw", false)};
  c.object = out.vmset + "/" + c.arg(0);
  return out;
}

// ---- storage pools: records with a GUID, allow lists (pool_registry.h) --------------------

// Narrows pool `p` to what `c.who` may see: a scoped reader (tenant-admin, scoped storage-admin)
// sees only its VM sets on the allow list, and a tenant-admin only pools allowed to one of its
// VM sets (false: not shown at all).
bool ShowPool(const Call& c, PoolRecord& p) {
  if (!IsScoped(c.who)) return true;
  std::vector<std::string> names, ids;
  for (std::size_t i = 0; i < p.vmsets.size() && i < p.vmset_ids.size(); ++i) {
    if (!InScope(c.who, p.vmsets[i])) continue;
    names.push_back(p.vmsets[i]);
    ids.push_back(p.vmset_ids[i]);
  }
  p.vmsets = std::move(names);
  p.vmset_ids = std::move(ids);
  return c.who.role != Role::kTenantAdmin || !p.vmsets.empty();
}

Result<json> ListPools(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<PoolRecord>(txn));
    json a = json::array();
    for (auto& p : all) {
      if (ShowPool(c, p)) a.push_back(ToJson(p));
    }
    return a;
  });
}

Result<json> GetPool(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(PoolRecord p, GetRecord<PoolRecord>(txn, c.arg(0)));
    if (!ShowPool(c, p)) {
      c.hidden_refusal = std::string(RoleName(c.who.role)) + " '" + c.who.name +
                         "' has no VM set allowed on pool '" + p.name + "'";
      return NotFoundError(ObjectKind::kPool, c.arg(0));
    }
    return ToJson(p);
  });
}

// POST /v1/pools {name, guid?}: a new pool record with an empty allow list.
Result<json> CreatePoolCall(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"name", "guid"}));
  if (!c.body.contains("name") || !c.body["name"].is_string() ||
      (c.body.contains("guid") && !c.body["guid"].is_string())) {
    return Status::InvalidArgument("give the pool's 'name' (and optionally its 'guid')");
  }
  const std::string name = c.body["name"].get<std::string>();
  c.object = name;
  c.status = 201;
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(PoolRecord p, CreatePool(txn, name, c.body.value("guid", ""), c.Now()));
    return ToJson(p);
  });
}

// POST /v1/pools/{name}/allow {vmset, withdraw?}: assigns the pool to a VM set (or takes it
// back). A scoped storage-admin assigns to the VM sets of its scope only.
Result<json> AllowPool(Call& c) {
  CAFS_ASSIGN_OR_RETURN(const ScopeChange change, ScopeChangeOf(c));
  CAFS_RETURN_IF_ERROR(c.AuthorizeFor(change.vmset));
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(PoolRecord p,
                          SetPoolAllowed(txn, c.arg(0), change.vmset, !change.withdraw));
    ShowPool(c, p);
    return ToJson(p);
  });
}

// DELETE /v1/pools/{name}: 409 while a policy names it; a scoped storage-admin deletes only a
// pool whose allow list is within its scope.
Result<json> DeletePoolCall(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(PoolRecord p, GetRecord<PoolRecord>(txn, c.arg(0)));
    for (const auto& v : p.vmsets) CAFS_RETURN_IF_ERROR(c.AuthorizeFor(v));
    CAFS_RETURN_IF_ERROR(DeletePool(txn, c.arg(0)));
    return json{{"deleted", c.arg(0)}, {"guid", p.guid}};
  });
}

// ---- gateways and admins (enrollment issues a certificate bundle) ------------------------

template <typename R>
Result<json> ListPrincipals(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<R>(txn));
    return ListJson(all);
  });
}

template <typename R>
Result<json> GetPrincipal(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto r, GetRecord<R>(txn, c.arg(0)));
    return ToJson(r);
  });
}

// The `name` and `vmsets` of an enrollment body.
Status EnrollmentFields(Call& c, std::string* name, std::vector<std::string>* vmsets) {
  const json& body = c.body;
  if (!body.contains("name") || !body["name"].is_string()) {
    return Status::InvalidArgument("give a 'name'");
  }
  *name = body["name"].get<std::string>();
  c.object = *name;
  if (body.contains("vmsets")) {
    if (!body["vmsets"].is_array()) return Status::InvalidArgument("'vmsets' is a list");
    for (const auto& v : body["vmsets"]) {
      if (!v.is_string()) return Status::InvalidArgument("'vmsets' holds names");
      vmsets->push_back(v.get<std::string>());
    }
  }
  return Status::OK();
}

// Stores `record` (with the new certificate's serial and fingerprint) and answers 201
// {<kind>: record, bundle}.
template <typename R>
Result<json> StoreEnrollment(Call& c, R record, const IssuedCert& cert, const char* kind) {
  CAFS_RETURN_IF_ERROR(
      c.store.InTransaction([&](StoreTxn& txn) { return PutRecord(txn, record); }));
  c.status = 201;
  return json{{kind, ToJson(record)}, {"bundle", cert.Bundle(c.ca.ca_pem())}};
}

Result<json> EnrollGateway(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"name", "vmsets"}));
  std::string name;
  std::vector<std::string> vmsets;
  CAFS_RETURN_IF_ERROR(EnrollmentFields(c, &name, &vmsets));
  // The requested scope; each VM set takes effect once its approver approves (ApproveGateway).
  if (vmsets.empty()) return Status::InvalidArgument("give the 'vmsets' the gateway is for");
  CAFS_ASSIGN_OR_RETURN(IssuedCert cert, c.ca.IssueClient(name, Role::kGateway));
  GatewayRecord g{name, cert.serial, cert.fingerprint, vmsets, c.Now(), false, 0};
  g.enrolled_by = c.who.name;
  return StoreEnrollment(c, std::move(g), cert, "gateway");
}

Result<json> EnrollAdmin(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"name", "role", "vmsets"}));
  std::string name;
  std::vector<std::string> vmsets;
  CAFS_RETURN_IF_ERROR(EnrollmentFields(c, &name, &vmsets));
  CAFS_ASSIGN_OR_RETURN(Role role, ParseRole(c.body.value("role", "")));
  if (role == Role::kGateway) return Status::InvalidArgument("enroll gateways at /v1/gateways");
  if (role == Role::kTenantAdmin && vmsets.empty()) {
    return Status::InvalidArgument("a tenant-admin needs 'vmsets' to be in charge of");
  }
  // A scope is what rbac.h applies: tenant-admins, and key- or storage-admins scoped to some
  // VM sets (none = every VM set). Another role given one would have it ignored: refused.
  if (!vmsets.empty() && role != Role::kTenantAdmin && role != Role::kKeyAdmin &&
      role != Role::kStorageAdmin) {
    return Status::InvalidArgument("a " + std::string(RoleName(role)) +
                                   " has no VM set scope: leave 'vmsets' out (only tenant-admin, "
                                   "key-admin and storage-admin are scoped)");
  }
  CAFS_ASSIGN_OR_RETURN(IssuedCert cert, c.ca.IssueClient(name, role));
  AdminRecord a{name, role, vmsets, cert.serial, cert.fingerprint, false, 0};
  return StoreEnrollment(c, std::move(a), cert, "admin");
}

Result<json> RevokeGateway(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto g, GetRecord<GatewayRecord>(txn, c.arg(0)));
    g.revoked = true;
    CAFS_RETURN_IF_ERROR(PutRecord(txn, g));
    return ToJson(g);
  });
}

Result<json> RevokeAdmin(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto a, GetRecord<AdminRecord>(txn, c.arg(0)));
    if (a.name == c.who.name) return Status::InvalidArgument("you cannot revoke yourself");
    a.revoked = true;
    CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
    return ToJson(a);
  });
}

// ---- two people: a gateway's scope, a key-admin's export right (rbac.h) ---------------

// Applies a {vmset, withdraw?} body to `list` (a gateway's approved VM sets, a key-admin's
// exports) once rbac's AuthorizeScopeGrant agrees: `requested_by` is who asked (the
// gateway's enroller, the key-admin). The scope check runs before the record is read.
template <typename R>
Result<json> GrantScope(Call& c, std::vector<std::string> R::*list,
                        const std::function<Status(const R&)>& check,
                        const std::function<std::string(const R&)>& requested_by) {
  CAFS_ASSIGN_OR_RETURN(const ScopeChange change, ScopeChangeOf(c));
  const std::string& vmset = change.vmset;
  const bool withdraw = change.withdraw;
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    auto v = GetRecord<VmSetRecord>(txn, vmset);
    if (!v.ok() && !v.status().IsNotFound()) return v.status();
    const bool tenant = v.ok();
    CAFS_RETURN_IF_ERROR(AuthorizeScopeGrant(c.who, vmset, tenant, /*requested_by=*/{}));
    CAFS_ASSIGN_OR_RETURN(R r, GetRecord<R>(txn, c.arg(0)));
    CAFS_RETURN_IF_ERROR(AuthorizeScopeGrant(c.who, vmset, tenant, requested_by(r)));
    CAFS_RETURN_IF_ERROR(check(r));
    std::vector<std::string>& l = r.*list;
    const auto at = std::find(l.begin(), l.end(), vmset);
    if (withdraw && at != l.end()) l.erase(at);
    if (!withdraw && at == l.end()) l.push_back(vmset);
    CAFS_RETURN_IF_ERROR(PutRecord(txn, r));
    return ToJson(r);
  });
}

Result<json> ApproveGateway(Call& c) {
  return GrantScope<GatewayRecord>(
      c, &GatewayRecord::approved,
      [&](const GatewayRecord& g) -> Status {
        const std::string vmset = c.body["vmset"].get<std::string>();
        if (std::find(g.vmsets.begin(), g.vmsets.end(), vmset) == g.vmsets.end()) {
          return Status::InvalidArgument("gateway '" + g.name + "' was not enrolled for VM set '" +
                                         vmset + "'");
        }
        return Status::OK();
      },
      [](const GatewayRecord& g) { return g.enrolled_by; });
}

Result<json> GrantExport(Call& c) {
  return GrantScope<AdminRecord>(
      c, &AdminRecord::exports,
      [&](const AdminRecord& a) -> Status {
        if (a.role != Role::kKeyAdmin) {
          return Status::InvalidArgument("only a key-admin holds export rights; '" + a.name +
                                         "' is " + std::string(RoleName(a.role)));
        }
        const std::string vmset = c.body["vmset"].get<std::string>();
        if (!a.vmsets.empty() &&
            std::find(a.vmsets.begin(), a.vmsets.end(), vmset) == a.vmsets.end()) {
          return Status::InvalidArgument("key-admin '" + a.name +
                                         "' is scoped to other VM sets "
                                         "than '" +
                                         vmset + "'");
        }
        return Status::OK();
      },
      [](const AdminRecord& a) { return a.name; });
}

// ---- audit ------------------------------------------------------------------------------

Result<json> ListAudit(Call& c) {
  std::uint64_t after = 0;
  std::size_t limit = 1000;
  try {
    if (c.req.query.count("after")) after = std::stoull(c.req.query.at("after"));
    if (c.req.query.count("limit"))
      limit = std::min<std::size_t>(std::stoul(c.req.query.at("limit")), 10000);
  } catch (const std::exception&) {
    return Status::InvalidArgument("'after' and 'limit' are numbers");
  }
  // `vmset`: the records about that VM set (audit_scope.h, the one rule; a scoped reader only
  // for a VM set of its scope: 403 otherwise). A tenant-admin reads the records about its VM
  // sets only.
  const auto q = c.req.query.find("vmset");
  const std::string about = q == c.req.query.end() ? std::string() : q->second;
  if (q != c.req.query.end()) {
    if (about.empty()) return Status::InvalidArgument("'vmset' names a VM set");
    c.object = about;
    CAFS_RETURN_IF_ERROR(c.AuthorizeFor(about));
  }
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto rs, ListReadableAudit(txn, c.who, after, limit, about));
    return ListJson(rs);
  });
}

// The older, unchained push: {records: [{time?, vmset?, vm?, file?, operation?, ...}]}.
// Every record is decoded before the transaction, so a field of the wrong type is a 400.
Result<json> TakeUnchainedRecords(Call& c, const json& list) {
  if (!list.is_array()) return Status::InvalidArgument("give 'records': a list of audit records");
  std::vector<AuditRecord> records;
  for (const auto& jr : list) {
    CAFS_RETURN_IF_ERROR(CheckKnownFields(
        jr, {"time", "vmset", "vm", "file", "operation", "result", "bytes", "server"}));
    AuditRecord r;
    r.time = jr.value("time", c.Now());
    r.actor = c.who.name;
    r.role = "gateway";
    r.action = "gateway: " + jr.value("operation", std::string());
    r.object = jr.value("vmset", std::string()) + "/" + jr.value("vm", std::string()) + "/" +
               jr.value("file", std::string());
    r.result = jr.value("result", std::string());
    r.reason = "server " + jr.value("server", std::string()) + ", bytes " +
               std::to_string(jr.value("bytes", std::uint64_t{0}));
    records.push_back(std::move(r));
  }
  CAFS_RETURN_IF_ERROR(c.store.InTransaction([&](StoreTxn& txn) -> Status {
    for (const auto& r : records) CAFS_RETURN_IF_ERROR(AppendAuditRecord(txn, r).status());
    return Status::OK();
  }));
  return json{{"accepted", records.size()}};
}

// A gateway pushes only for the VM sets it is enrolled for (issue 20 class 5): every entry of
// `list` that names a `vmset` must be in its scope, else the whole push is refused (403,
// audited) and nothing of it is kept.
Status CheckPushScope(const Call& c, const json& list) {
  if (!list.is_array()) return Status::OK();  // the shape check that follows refuses it
  for (const auto& entry : list) {
    if (!entry.is_object()) continue;
    auto vmset = entry.find("vmset");
    if (vmset == entry.end() || !vmset->is_string()) continue;
    CAFS_RETURN_IF_ERROR(c.AuthorizeFor(vmset->get<std::string>()));
  }
  return Status::OK();
}

Result<json> PushAudit(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(c.body, {"records", "gateway_records"}));
  for (const char* list : {"records", "gateway_records"}) {
    if (c.body.contains(list)) CAFS_RETURN_IF_ERROR(CheckPushScope(c, c.body[list]));
  }
  if (c.body.contains("gateway_records")) {
    if (c.body.contains("records")) {
      return Status::InvalidArgument("give 'records' or 'gateway_records', not both");
    }
    c.status = 201;
    return TakeGatewayRecords(c.store, c.who.name, c.body["gateway_records"]);
  }
  if (!c.body.contains("records")) {
    return Status::InvalidArgument("give 'records': a list of audit records");
  }
  c.status = 201;
  return TakeUnchainedRecords(c, c.body["records"]);
}

// ---- usage and capacity: gateways push snapshots, admins read them ----------------------

// A gateway's report (usage snapshot, key inventory), already checked: stored as its last
// one of `kind` (id = the gateway's name) with `gateway` and `received` added.
Result<json> StoreGatewayReport(Call& c, ObjectKind kind) {
  c.object = c.who.name;
  json doc = c.body;
  doc["gateway"] = c.who.name;
  doc["received"] = c.Now();
  c.status = 201;
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    std::uint64_t version = 0;
    CAFS_RETURN_IF_ERROR(GetDoc(txn, kind, c.who.name, &version).status());
    CAFS_RETURN_IF_ERROR(txn.Put(kind, c.who.name, doc.dump(), version).status());
    return doc;
  });
}

// Every gateway's last report of `kind`, its `vmsets` filtered to the caller's scope and to
// `?vmset=`; `hide_pools`: a tenant-admin is not shown `pools` (the provider's infrastructure).
Result<json> ListGatewayReports(Call& c, ObjectKind kind, bool hide_pools) {
  auto filter = c.req.query.find("vmset");
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto all, txn.List(kind));
    json out = json::array();
    for (const auto& row : all) {
      auto parsed = ParseJson(row.body, std::string(ObjectKindName(kind)) + " report");
      if (!parsed.ok() || !parsed->is_object()) continue;
      json doc = std::move(parsed).value();
      json vmsets = json::array();
      for (const auto& v : doc.value("vmsets", json::array())) {
        const std::string name = v.value("vmset", "");
        if (!InScope(c.who, name)) continue;
        if (filter != c.req.query.end() && filter->second != name) continue;
        vmsets.push_back(v);
      }
      doc["vmsets"] = vmsets;
      if (hide_pools && c.who.role == Role::kTenantAdmin) doc["pools"] = json::array();
      out.push_back(doc);
    }
    return out;
  });
}

Result<json> PushUsage(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckUsage(c.body));
  CAFS_RETURN_IF_ERROR(CheckPushScope(c, c.body["vmsets"]));
  return StoreGatewayReport(c, ObjectKind::kUsage);
}

Result<json> ListUsage(Call& c) { return ListGatewayReports(c, ObjectKind::kUsage, true); }

// ---- key inventory: gateways push which key versions their files use ----------------------

Result<json> PushInventory(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckInventory(c.body));
  CAFS_RETURN_IF_ERROR(CheckPushScope(c, c.body["vmsets"]));
  return StoreGatewayReport(c, ObjectKind::kInventory);
}

Result<json> ListInventory(Call& c) { return ListGatewayReports(c, ObjectKind::kInventory, false); }

// ---- rekey requests (rekey_triggers.h): gateways fetch and report, admins read ------------

// Every request whose key still exists, with its key's VM set name, in RekeyRequestBefore
// order; `keep(vmset, request)` filters.
template <typename Keep>
Result<std::vector<std::pair<RekeyRequest, std::string>>> RekeyRequestsIn(StoreTxn& txn,
                                                                          Keep keep) {
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<RekeyRequest>(txn));
  std::sort(all.begin(), all.end(), RekeyRequestBefore);
  std::vector<std::pair<RekeyRequest, std::string>> out;
  for (auto& r : all) {
    auto k = GetRecord<KeyRecord>(txn, r.key);
    if (!k.ok()) {
      if (k.status().IsNotFound()) continue;  // its VM set was deleted
      return k.status();
    }
    if (keep(k->vmset, r)) out.emplace_back(std::move(r), k->vmset);
  }
  return out;
}

// GET /v1/rekey-requests[?vmset=]: the requests of the VM sets in the caller's scope.
Result<json> ListRekeyRequests(Call& c) {
  auto filter = c.req.query.find("vmset");
  if (filter != c.req.query.end()) CAFS_RETURN_IF_ERROR(c.AuthorizeFor(filter->second));
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto gateways, ListRecords<GatewayRecord>(txn));
    CAFS_ASSIGN_OR_RETURN(
        auto list, RekeyRequestsIn(txn, [&](const std::string& vmset, const RekeyRequest&) {
          return InScope(c.who, vmset) && (filter == c.req.query.end() || filter->second == vmset);
        }));
    json a = json::array();
    for (const auto& [r, vmset] : list) a.push_back(RekeyRequestView(r, vmset, gateways));
    return a;
  });
}

// GET /v1/gateway/rekey-requests: what the calling gateway has still to do, in order.
Result<json> FetchRekeyRequests(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(
        auto list, RekeyRequestsIn(txn, [&](const std::string& vmset, const RekeyRequest& r) {
          const json& mine =
              r.gateways.contains(c.who.name) ? r.gateways[c.who.name] : json::object();
          return c.AuthorizeFor(vmset).ok() && mine.value("state", "") != "done";
        }));
    json a = json::array();
    for (const auto& [r, vmset] : list) {
      a.push_back({{"id", r.Id()},
                   {"vmset", vmset},
                   {"key", r.key},
                   {"from_version", r.from_version},
                   {"to_version", r.to_version},
                   {"reason", RekeyReasonName(r.reason)}});
    }
    return a;
  });
}

// POST /v1/gateway/rekey-requests/{id}/progress: the calling gateway's job on that request.
Result<json> ReportRekeyProgress(Call& c) {
  CAFS_RETURN_IF_ERROR(CheckRekeyProgress(c.body));
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(RekeyRequest r, GetRecord<RekeyRequest>(txn, c.arg(0)));
    CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, r.key));
    CAFS_RETURN_IF_ERROR(c.AuthorizeFound(k.vmset, ObjectKind::kRekeyRequest, c.arg(0)));
    CAFS_RETURN_IF_ERROR(RecordRekeyProgress(txn, c.arg(0), c.who.name, c.body, c.Now()).status());
    return json{{"id", c.arg(0)}, {"accepted", true}};
  });
}

// ---- gateway fetch: VM set + descriptor + unwrapped keys --------------------------------

// `registered_servers` of the fetch: the server records the VM set's `servers` (<vmserv>)
// name, with their addresses — how the gateway maps an NFS client's address to server ids
// (docs/kps-api.md "Gateway fetch"). Only the listed servers: the gateway's scope. An
// address stored before addresses were checked that is not a numeric IP address could never
// match a client's address and is left out.
Result<json> RegisteredServersJson(StoreTxn& txn, const VmSetRecord& v) {
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<ServerRecord>(txn));
  std::vector<policy::RegisteredServer> registry;
  for (const ServerRecord& s : all) {
    policy::RegisteredServer r{s.id, {}};
    for (const std::string& a : s.addresses) {
      if (IpAddress::Parse(a).ok()) r.addresses.push_back(a);
    }
    registry.push_back(std::move(r));
  }
  json out = json::array();
  for (const auto& s : policy::ServersListedBy(v.servers, registry)) {
    out.push_back({{"id", s.id}, {"addresses", s.addresses}});
  }
  return out;
}

// GET /v1/gateway/pools: every pool record's {name, guid} (no allow lists), for the gateway's
// start-up comparison with its [[pool]] tables (docs/gateway.md "Pool identity"). Pool names
// and GUIDs are the storage provider's, not a tenant's: any gateway may read them.
Result<json> FetchPoolIdentities(Call& c) {
  return InTxn(c.store, [&](StoreTxn& txn) { return PoolIdentitiesJson(txn); });
}

Result<json> FetchVmSet(Call& c) {
  const std::string& name = c.arg(0);
  // Key bytes: the one rule REST and KMIP Get share (rbac.h).
  CAFS_RETURN_IF_ERROR(AuthorizeKeyRelease(c.who, name));
  return InTxn(c.store, [&](StoreTxn& txn) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto v, GetRecord<VmSetRecord>(txn, name));
    json out = {{"vmset", ToJson(v)}};
    CAFS_ASSIGN_OR_RETURN(out["registered_servers"], RegisteredServersJson(txn, v));
    CAFS_ASSIGN_OR_RETURN(out["pools"], AllowedPoolsJson(txn, v.guid));
    if (v.policy_id.empty()) return out;
    // Policy ids are per VM set: the VM set's own policy of that id.
    CAFS_ASSIGN_OR_RETURN(auto p, GetRecord<PolicyRecord>(txn, PolicyStoreId(v.guid, v.policy_id)));
    out["policy"] = ToJson(p);
    CAFS_ASSIGN_OR_RETURN(PolicySummary summary, ValidatePolicyXml(p.xml));
    json keys = json::array();
    json unusable = json::array();
    const std::string clear = Uuid::ClearTextKey().ToString();
    for (const auto& kid : summary.key_ids) {
      if (kid == clear) continue;
      CAFS_ASSIGN_OR_RETURN(auto k, GetRecord<KeyRecord>(txn, kid));
      if (k.vmset_id != v.guid) {
        return Status::PermissionDenied("policy names key " + kid + " of another VM set");
      }
      for (const auto& kv : k.versions) {
        if (!CanDecrypt(kv.state)) {
          // No bytes: the gateway learns the version exists (its inventory says it knew the
          // newest) and that a file under a destroyed one is shredded, not damaged.
          unusable.push_back(
              {{"id", k.id}, {"version", kv.number}, {"state", KeyStateName(kv.state)}});
          continue;
        }
        CAFS_ASSIGN_OR_RETURN(SecureBuffer dek, c.keyring.UnwrapKeyIn(txn, k, kv.number));
        keys.push_back({{"id", k.id},
                        {"version", kv.number},
                        {"cipher", k.cipher},
                        {"state", KeyStateName(kv.state)},
                        {"key", Base64(dek)}});
      }
    }
    out["keys"] = keys;
    out["unusable"] = unusable;
    return out;
  });
}

// ---- the route table --------------------------------------------------------------------

// One endpoint: method, path pattern ({x} = one segment, handed to the handler in
// Call::args), the action whose role check runs before the handler (the handler checks the
// VM set scope once it knows the VM set), and the handler.
struct Route {
  std::string_view method;
  std::string_view pattern;
  Action action;
  Handler handler;
};

constexpr Route kRoutes[] = {
    {"GET", "/v1/vmsets", Action::kReadVmSet, ListVmSets},
    {"GET", "/v1/vmsets/{name}", Action::kReadVmSet, GetVmSet},
    {"POST", "/v1/vmsets", Action::kWriteVmSet, CreateVmSet},
    {"PUT", "/v1/vmsets/{name}", Action::kWriteVmSet, UpdateVmSet},
    {"DELETE", "/v1/vmsets/{name}", Action::kWriteVmSet, DeleteVmSet},
    {"POST", "/v1/vmsets/{name}/rename", Action::kWriteVmSet, RenameVmSetCall},

    {"GET", "/v1/policies", Action::kReadPolicy, ListPolicies},
    {"GET", "/v1/policies/{id}", Action::kReadPolicy, GetPolicy},
    {"POST", "/v1/policies", Action::kWritePolicy, CreatePolicy},
    {"PUT", "/v1/policies/{id}", Action::kWritePolicy, UpdatePolicy},
    {"DELETE", "/v1/policies/{id}", Action::kWritePolicy, DeletePolicy},

    {"GET", "/v1/keys", Action::kReadKey, ListKeys},
    {"GET", "/v1/keys/{id}", Action::kReadKey, GetKey},
    {"POST", "/v1/keys", Action::kManageKey, CreateKey},
    {"POST", "/v1/keys/{id}/rotate", Action::kManageKey, RotateKey},
    {"POST", "/v1/keys/{id}/state", Action::kManageKey, SetKeyState},
    {"POST", "/v1/keys/{id}/destroy", Action::kManageKey, DestroyKey},

    {"GET", "/v1/keks/{vmset}", Action::kReadKey, GetKek},
    {"POST", "/v1/keks/{vmset}/rotate", Action::kManageKey, RotateKek},
    {"POST", "/v1/keks/{vmset}/destroy", Action::kManageKey, DestroyKek},

    {"GET", "/v1/servers", Action::kReadServer, ListServers},
    {"GET", "/v1/servers/{id}", Action::kReadServer, GetServer},
    {"POST", "/v1/servers", Action::kWriteServer, CreateServer},
    {"PUT", "/v1/servers/{id}", Action::kWriteServer, UpdateServer},
    {"DELETE", "/v1/servers/{id}", Action::kWriteServer, DeleteServer},

    {"GET", "/v1/pools", Action::kReadPool, ListPools},
    {"GET", "/v1/pools/{name}", Action::kReadPool, GetPool},
    {"POST", "/v1/pools", Action::kWritePool, CreatePoolCall},
    {"DELETE", "/v1/pools/{name}", Action::kWritePool, DeletePoolCall},
    {"POST", "/v1/pools/{name}/allow", Action::kWritePool, AllowPool},

    {"GET", "/v1/gateways", Action::kReadGateway, ListPrincipals<GatewayRecord>},
    {"GET", "/v1/gateways/{name}", Action::kReadGateway, GetPrincipal<GatewayRecord>},
    {"POST", "/v1/gateways", Action::kEnrollGateway, EnrollGateway},
    {"POST", "/v1/gateways/{name}/revoke", Action::kEnrollGateway, RevokeGateway},
    {"POST", "/v1/gateways/{name}/approve", Action::kApproveScope, ApproveGateway},

    {"GET", "/v1/admins", Action::kReadAdmin, ListPrincipals<AdminRecord>},
    {"GET", "/v1/admins/{name}", Action::kReadAdmin, GetPrincipal<AdminRecord>},
    {"POST", "/v1/admins", Action::kManageAdmin, EnrollAdmin},
    {"POST", "/v1/admins/{name}/revoke", Action::kManageAdmin, RevokeAdmin},
    {"POST", "/v1/admins/{name}/export", Action::kApproveScope, GrantExport},

    {"GET", "/v1/audit", Action::kReadAudit, ListAudit},
    {"POST", "/v1/audit", Action::kPushAudit, PushAudit},

    {"GET", "/v1/usage", Action::kReadUsage, ListUsage},
    {"POST", "/v1/usage", Action::kPushUsage, PushUsage},

    {"GET", "/v1/inventory", Action::kReadKey, ListInventory},
    {"POST", "/v1/inventory", Action::kPushUsage, PushInventory},

    {"GET", "/v1/gateway/vmsets/{name}", Action::kFetchKeys, FetchVmSet},
    {"GET", "/v1/gateway/pools", Action::kFetchKeys, FetchPoolIdentities},

    {"GET", "/v1/rekey-requests", Action::kReadKey, ListRekeyRequests},
    {"GET", "/v1/gateway/rekey-requests", Action::kFetchKeys, FetchRekeyRequests},
    {"POST", "/v1/gateway/rekey-requests/{id}/progress", Action::kPushUsage, ReportRekeyProgress},
};

// Whether `segments` match `pattern`; fills `args` with the {placeholder} segments.
bool Matches(std::string_view pattern, const std::vector<std::string>& segments,
             std::vector<std::string>* args) {
  const auto want = Split(pattern);
  if (want.size() != segments.size()) return false;
  args->clear();
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i].front() == '{') {
      args->push_back(segments[i]);
    } else if (want[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

int HttpStatusFor(const Status& s) {
  if (IsConflict(s)) return 409;
  switch (s.code()) {
    case Status::Code::kOk:
      return 200;
    case Status::Code::kNotFound:
      return 404;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
      return 409;
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kPermissionDenied:
      return 403;
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout:
      return 503;
    case Status::Code::kNoSpace:
      return 507;
    default:
      return 500;
  }
}

std::int64_t RestApi::Now() const { return UnixNow(clock_); }

Status RestApi::Audit(const ApiRequest& req, const PeerIdentity& peer, std::string_view role,
                      std::string_view object, std::string_view result, std::string_view reason) {
  AuditRecord r;
  r.time = Now();
  r.actor = AuditText(peer.name);
  r.role = AuditText(role);
  r.action = AuditText(req.method + " " + req.path);
  r.object = AuditText(object);
  r.result = std::string(result);
  r.reason = AuditText(reason);
  return StoreAuditRecord(store_, std::move(r));
}

Result<Principal> RestApi::Authenticate(const PeerIdentity& peer) {
  return AuthenticatePeer(store_, peer);
}

Result<std::string> RestApi::BootstrapSecurityAdmin(const std::string& name) {
  CAFS_ASSIGN_OR_RETURN(IssuedCert cert, ca_.IssueClient(name, Role::kSecurityAdmin));
  AdminRecord a;
  a.name = name;
  a.role = Role::kSecurityAdmin;
  a.cert_serial = cert.serial;
  a.cert_fingerprint = cert.fingerprint;
  CAFS_RETURN_IF_ERROR(store_.InTransaction([&](StoreTxn& txn) { return PutRecord(txn, a); }));
  return cert.Bundle(ca_.ca_pem());
}

namespace {

// A request that was carried out but whose audit record could not be stored is not
// answered as a success.
ApiResponse AuditLost(const Status& s) {
  return {503,
          {{"error", "server error"},
           {"reason", "the audit trail cannot be written (" + AuditText(s.message()) +
                          "); the request may or may not have taken effect"}}};
}

// Path, query and body are text in this API: a byte sequence that is not UTF-8 is refused
// before anything else looks at it.
Status CheckRequestText(const ApiRequest& req) {
  if (!IsValidUtf8(req.method) || !IsValidUtf8(req.path)) {
    return Status::InvalidArgument("the request path is not UTF-8 once percent-decoded");
  }
  for (const auto& [k, v] : req.query) {
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) {
      return Status::InvalidArgument("a query parameter is not UTF-8 once percent-decoded");
    }
  }
  if (!IsValidUtf8(req.body)) return Status::InvalidArgument("the body is not UTF-8");
  return Status::OK();
}

// The body as a JSON object (empty = {}), its depth bounded before it is parsed.
Result<json> DecodeBody(const std::string& text) {
  if (text.empty()) return json::object();
  CAFS_ASSIGN_OR_RETURN(json body, ParseJson(text, "the body"));
  if (!body.is_object()) return Status::InvalidArgument("the body is not a JSON object");
  return body;
}

}  // namespace

ApiResponse RestApi::Fail(const ApiRequest& req, std::string_view role, std::string_view object,
                          const Status& s, bool audit_error, std::string_view hidden_refusal) {
  const int code = HttpStatusFor(s);
  std::string reason = AuditText(s.message());
  // What the caller can tell was audited: a hidden refusal answers exactly as the "not
  // found" it looks like, including the note below, but is audited as the refusal it is.
  const bool visibly_audited = code == 403 || audit_error;
  if (visibly_audited || !hidden_refusal.empty()) {
    Status audited =
        hidden_refusal.empty()
            ? Audit(req, req.peer, role, object, code == 403 ? "denied" : "error", s.message())
            : Audit(req, req.peer, role, object, "denied", hidden_refusal);
    // Nothing took effect, so the answer stays the refusal; it says the trace is missing.
    if (!audited.ok() && visibly_audited) {
      reason += "; its audit record could not be stored: " + AuditText(audited.message());
    }
  }
  const char* error = code == 400   ? "bad request"
                      : code == 403 ? "forbidden"
                      : code == 404 ? "not found"
                      : code == 409 ? "conflict"
                                    : "server error";
  return {code, {{"error", error}, {"reason", reason}}};
}

ApiResponse RestApi::Handle(const ApiRequest& req) {
  auto principal = Authenticate(req.peer);
  if (!principal.ok()) return Fail(req, req.peer.role, "", principal.status(), true);
  const std::string role(RoleName(principal->role));
  // Refused before routing, audited with the path in its percent-encoded form (AuditText).
  if (Status text = CheckRequestText(req); !text.ok()) return Fail(req, role, "", text, true);
  auto body = DecodeBody(req.body);
  if (!body.ok()) return Fail(req, role, "", body.status(), false);
  std::string object, hidden_refusal;
  int status = 200;
  auto result = Dispatch(*principal, req, *body, &object, &status, &hidden_refusal);
  if (!result.ok()) {
    return Fail(req, role, object, result.status(), req.method != "GET", hidden_refusal);
  }
  const bool fetch = principal->role == Role::kGateway;
  // A gateway's accepted pushes (audit records, usage) are their own trace.
  const bool push = fetch && req.method == "POST";
  if ((req.method != "GET" || fetch) && !push &&
      (!fetch || AuditGatewayRead(principal->name, req.path, *result))) {
    Status audited = Audit(req, req.peer, role, object, "ok", "");
    if (!audited.ok()) return AuditLost(audited);
  }
  return {status, std::move(result).value()};
}

bool RestApi::AuditGatewayRead(const std::string& gateway, const std::string& path,
                               const json& body) {
  if (path != "/v1/gateway/rekey-requests") return true;
  std::string answer = body.dump();
  std::lock_guard lock(polls_mu_);
  auto [it, fresh] = last_polls_.try_emplace(gateway, answer);
  if (fresh) return true;
  if (it->second == answer) return false;
  it->second = std::move(answer);
  return true;
}

std::vector<RestApi::Endpoint> RestApi::Endpoints() {
  std::vector<Endpoint> out;
  for (const Route& r : kRoutes) out.push_back({r.method, r.pattern, r.action});
  return out;
}

Result<json> RestApi::Dispatch(const Principal& who, const ApiRequest& req, const json& body,
                               std::string* object, int* status, std::string* hidden_refusal) {
  const auto segments = Split(req.path);
  std::vector<std::string> args;
  for (const auto& route : kRoutes) {
    if (route.method != req.method || !Matches(route.pattern, segments, &args)) continue;
    if (!args.empty()) *object = args.front();
    CAFS_RETURN_IF_ERROR(Authorize(who, route.action));
    Call call{keyring_,     store_,          ca_,     clock_, who, req, body,
              route.action, std::move(args), *object, 200,    {}};
    // The one place an exception from a handler becomes an error value: nlohmann's type and
    // range errors come from a body field of the wrong type (400), anything else is a bug
    // (500); either way the request is answered and audited.
    Result<json> result = Status::Internal("handler did not run");
    try {
      result = route.handler(call);
    } catch (const json::exception& e) {
      result =
          Status::InvalidArgument(std::string("a field has the wrong type or range: ") + e.what());
    } catch (const std::exception& e) {
      result = Status::Internal(std::string("internal error: ") + e.what());
    }
    *object = call.object;
    *status = call.status;
    *hidden_refusal = call.hidden_refusal;
    return result;
  }
  return NoSuchRoute(req);
}

}  // namespace cafs::kps
