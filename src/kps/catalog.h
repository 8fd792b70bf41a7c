// Typed access to the Store: records of objects.h in and out of their JSON documents, and
// the hash-chained audit trail. Use inside Store::InTransaction.
//
//   CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
//     CAFS_ASSIGN_OR_RETURN(VmSetRecord v, GetRecord<VmSetRecord>(txn, "my_vmset"));
//     v.mount_point = "/nfs";
//     return PutRecord(txn, v);  // Conflict if someone changed it since it was read
//   }));
//
// Threading: as the StoreTxn passed in.
#pragma once

#include <string_view>
#include <vector>

#include "kps/objects.h"
#include "kps/store.h"
#include "util/json_text.h"

namespace cafs::kps {

// A VM set's key-encryption key: a KeyRecord stored under kind kKek with id = VM set GUID.
struct KekRecord : KeyRecord {};

// A VM set GUID ever minted (kind kVmSetGuid, id = the GUID): the live VM set's name, or a
// tombstone once the VM set was deleted (vmset_identity.h). Never removed.
struct VmSetGuidRecord {
  std::string guid;
  std::string name;  // the current name; for a tombstone the name it had when deleted
  bool deleted = false;
  std::int64_t created = 0;
  std::int64_t deleted_time = 0;
  std::uint64_t version = 0;
};
nlohmann::json ToJson(const VmSetGuidRecord& r);
Result<VmSetGuidRecord> VmSetGuidFromJson(const nlohmann::json& j);

// The store id of a policy: its id is unique within its VM set only.
std::string PolicyStoreId(std::string_view vmset_id, std::string_view policy_id);

// The stored forms of keys and policies keep the VM set's GUID, not its name.
nlohmann::json StoredForm(const KeyRecord& r);
nlohmann::json StoredForm(const PolicyRecord& r);

template <typename R>
struct RecordTraits;

#define CAFS_KPS_RECORD_TRAITS(Type, Kind, IdExpr, ToJsonExpr, FromJsonFn)            \
  template <>                                                                         \
  struct RecordTraits<Type> {                                                         \
    static constexpr ObjectKind kKind = Kind;                                         \
    static std::string Id(const Type& r) { return IdExpr; }                           \
    static nlohmann::json ToStored(const Type& r) { return ToJsonExpr; }              \
    static Result<Type> FromStored(const nlohmann::json& j) { return FromJsonFn(j); } \
  }

CAFS_KPS_RECORD_TRAITS(VmSetRecord, ObjectKind::kVmSet, r.name, ToJson(r), VmSetFromJson);
CAFS_KPS_RECORD_TRAITS(PolicyRecord, ObjectKind::kPolicy, PolicyStoreId(r.vmset_id, r.id),
                       StoredForm(r), PolicyFromJson);
CAFS_KPS_RECORD_TRAITS(KeyRecord, ObjectKind::kKey, r.id, StoredForm(r), KeyFromJson);
CAFS_KPS_RECORD_TRAITS(ServerRecord, ObjectKind::kServer, r.id, ToJson(r), ServerFromJson);
CAFS_KPS_RECORD_TRAITS(GatewayRecord, ObjectKind::kGateway, r.name, ToJson(r), GatewayFromJson);
CAFS_KPS_RECORD_TRAITS(AdminRecord, ObjectKind::kAdmin, r.name, ToJson(r), AdminFromJson);
Result<KekRecord> KekFromJson(const nlohmann::json& j);
CAFS_KPS_RECORD_TRAITS(KekRecord, ObjectKind::kKek, r.id, StoredForm(r), KekFromJson);
CAFS_KPS_RECORD_TRAITS(VmSetGuidRecord, ObjectKind::kVmSetGuid, r.guid, ToJson(r),
                       VmSetGuidFromJson);
#undef CAFS_KPS_RECORD_TRAITS

// Decodes a stored document; Corruption if it does not parse or is nested deeper than
// kMaxJsonDepth (the store was tampered with).
template <typename R>
Result<R> DecodeRecord(const StoredObject& o) {
  const std::string what = std::string(ObjectKindName(RecordTraits<R>::kKind)) + " '" + o.id + "'";
  auto j = ParseJson(o.body, what + ": stored document");
  if (!j.ok()) return Status::Corruption(j.status().message());
  auto r = RecordTraits<R>::FromStored(*j);
  if (!r.ok()) return Status::Corruption(r.status().message());
  r->version = o.version;
  return r;
}

// Fills what a record shows but the store does not keep: the current name of the VM set a
// key, KEK or policy is bound to (vmset_identity.h VmSetNameOf). Other records: nothing.
template <typename R>
Status ResolveRecord(StoreTxn&, R&) {
  return Status::OK();
}
Status ResolveRecord(StoreTxn& txn, KeyRecord& r);
Status ResolveRecord(StoreTxn& txn, KekRecord& r);
Status ResolveRecord(StoreTxn& txn, PolicyRecord& r);

template <typename R>
Result<R> GetRecord(StoreTxn& txn, std::string_view id) {
  CAFS_ASSIGN_OR_RETURN(StoredObject o, txn.Get(RecordTraits<R>::kKind, id));
  CAFS_ASSIGN_OR_RETURN(R r, DecodeRecord<R>(o));
  CAFS_RETURN_IF_ERROR(ResolveRecord(txn, r));
  return r;
}

template <typename R>
Result<std::vector<R>> ListRecords(StoreTxn& txn) {
  CAFS_ASSIGN_OR_RETURN(std::vector<StoredObject> all, txn.List(RecordTraits<R>::kKind));
  std::vector<R> out;
  out.reserve(all.size());
  for (const auto& o : all) {
    CAFS_ASSIGN_OR_RETURN(R r, DecodeRecord<R>(o));
    CAFS_RETURN_IF_ERROR(ResolveRecord(txn, r));
    out.push_back(std::move(r));
  }
  return out;
}

// Creates (r.version == 0) or updates (r.version = the version read) and sets r.version to
// the stored version. Conflict / AlreadyExists / NotFound as StoreTxn::Put.
template <typename R>
Status PutRecord(StoreTxn& txn, R& r) {
  nlohmann::json j = RecordTraits<R>::ToStored(r);
  j.erase("version");
  CAFS_ASSIGN_OR_RETURN(
      r.version, txn.Put(RecordTraits<R>::kKind, RecordTraits<R>::Id(r), j.dump(), r.version));
  return Status::OK();
}

template <typename R>
Status DeleteRecord(StoreTxn& txn, const R& r) {
  return txn.Delete(RecordTraits<R>::kKind, RecordTraits<R>::Id(r), r.version);
}

// Appends `r` to the audit trail: sets prev_hash from the last record, computes hash
// (docs/kps.md), stores it and returns it with seq filled in. InvalidArgument (nothing
// stored) when a text field is not valid UTF-8: callers pass such text through AuditText.
Result<AuditRecord> AppendAuditRecord(StoreTxn& txn, AuditRecord r);
// Appends kpsd's own record of a store upgrade it made at start: actor "kpsd", role "local",
// object "store", result "ok", with `action` ("upgrade ...") and `reason` (what changed).
Status AppendUpgradeRecord(StoreTxn& txn, std::int64_t now, std::string_view action,
                           std::string reason);
Result<std::vector<AuditRecord>> ListAuditRecords(StoreTxn& txn, std::uint64_t after_seq,
                                                  std::size_t limit);
// `text` as an audit record field can hold it: unchanged when it is valid UTF-8; otherwise
// ASCII, every byte outside printable ASCII and every '%' percent-encoded ("%FF"), the form
// a request path had on the wire before it was decoded.
std::string AuditText(std::string_view text);
// The chain hash of `r` (docs/kps.md): hex SHA-256(prev_hash || JSON of r without seq and
// hash). A client that read the records through the API can check the chain with it.
std::string AuditRecordHash(const AuditRecord& r);
// Checks every hash and link of the chain; Corruption naming the first bad seq.
Status VerifyAuditChain(StoreTxn& txn);

}  // namespace cafs::kps
