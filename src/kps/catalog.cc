#include "kps/catalog.h"

#include "crypto/mac.h"
#include "kps/vmset_identity.h"
#include "util/utf8.h"

namespace cafs::kps {

namespace {

// The hashed form: the record's JSON without seq and hash (seq is assigned by the store).
std::string HashInput(const AuditRecord& r) {
  nlohmann::json j = ToJson(r);
  j.erase("seq");
  j.erase("hash");
  return j.dump();
}

}  // namespace

std::string AuditRecordHash(const AuditRecord& r) {
  return ToHex(crypto::Sha256(AsBytes(r.prev_hash + HashInput(r))));
}

Result<KekRecord> KekFromJson(const nlohmann::json& j) {
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, KeyFromJson(j));
  KekRecord out;
  static_cast<KeyRecord&>(out) = std::move(k);
  return out;
}

nlohmann::json ToJson(const VmSetGuidRecord& r) {
  return {{"guid", r.guid},
          {"name", r.name},
          {"deleted", r.deleted},
          {"created", r.created},
          {"deleted_time", r.deleted_time},
          {"version", r.version}};
}

Result<VmSetGuidRecord> VmSetGuidFromJson(const nlohmann::json& j) {
  try {
    VmSetGuidRecord r;
    r.guid = j.at("guid").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.deleted = j.value("deleted", false);
    r.created = j.value("created", std::int64_t{0});
    r.deleted_time = j.value("deleted_time", std::int64_t{0});
    r.version = j.value("version", std::uint64_t{0});
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("vmset_guid: ") + e.what());
  }
}

std::string PolicyStoreId(std::string_view vmset_id, std::string_view policy_id) {
  return std::string(vmset_id) + "/" + std::string(policy_id);
}

nlohmann::json StoredForm(const KeyRecord& r) {
  nlohmann::json j = ToJson(r, /*with_wrapped=*/true);
  j.erase("vmset");  // resolved from vmset_id on read
  return j;
}

nlohmann::json StoredForm(const PolicyRecord& r) {
  nlohmann::json j = ToJson(r);
  j.erase("vmset");
  return j;
}

namespace {

Status ResolveVmSetName(StoreTxn& txn, const std::string& vmset_id, std::string* name) {
  if (vmset_id.empty()) return Status::OK();  // a pre-GUID document (before the upgrade)
  CAFS_ASSIGN_OR_RETURN(*name, VmSetNameOf(txn, vmset_id));
  return Status::OK();
}

}  // namespace

Status ResolveRecord(StoreTxn& txn, KeyRecord& r) {
  return ResolveVmSetName(txn, r.vmset_id, &r.vmset);
}
Status ResolveRecord(StoreTxn& txn, KekRecord& r) {
  return ResolveVmSetName(txn, r.vmset_id, &r.vmset);
}
Status ResolveRecord(StoreTxn& txn, PolicyRecord& r) {
  return ResolveVmSetName(txn, r.vmset_id, &r.vmset);
}

Status AppendUpgradeRecord(StoreTxn& txn, std::int64_t now, std::string_view action,
                           std::string reason) {
  AuditRecord r;
  r.time = now;
  r.actor = "kpsd";
  r.role = "local";
  r.action = std::string(action);
  r.object = "store";
  r.result = "ok";
  r.reason = std::move(reason);
  return AppendAuditRecord(txn, std::move(r)).status();
}

std::string AuditText(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

Result<AuditRecord> AppendAuditRecord(StoreTxn& txn, AuditRecord r) {
  for (const std::string* field : {&r.actor, &r.role, &r.action, &r.object, &r.result, &r.reason}) {
    if (!IsValidUtf8(*field)) {
      return Status::InvalidArgument("audit record field '" + AuditText(*field) + "' is not UTF-8");
    }
  }
  auto last = txn.LastAudit();
  if (last.ok()) {
    auto j = ParseJson(last->body, "the last audit record");
    if (!j.ok() || !j->is_object()) {
      return Status::Corruption("the last audit record is not a JSON object");
    }
    auto hash = j->find("hash");
    if (hash == j->end() || !hash->is_string()) {
      return Status::Corruption("the last audit record has no 'hash'");
    }
    r.prev_hash = hash->get<std::string>();
  } else if (last.status().IsNotFound()) {
    r.prev_hash.clear();
  } else {
    return last.status();
  }
  r.hash = AuditRecordHash(r);
  nlohmann::json j = ToJson(r);
  j.erase("seq");
  CAFS_ASSIGN_OR_RETURN(r.seq, txn.AppendAudit(j.dump()));
  return r;
}

Result<std::vector<AuditRecord>> ListAuditRecords(StoreTxn& txn, std::uint64_t after_seq,
                                                  std::size_t limit) {
  CAFS_ASSIGN_OR_RETURN(auto rows, txn.ListAudit(after_seq, limit));
  std::vector<AuditRecord> out;
  for (const auto& row : rows) {
    auto j = ParseJson(row.body, "audit record " + std::to_string(row.seq));
    if (!j.ok()) return Status::Corruption(j.status().message());
    CAFS_ASSIGN_OR_RETURN(AuditRecord r, AuditFromJson(*j));
    r.seq = row.seq;
    out.push_back(std::move(r));
  }
  return out;
}

Status VerifyAuditChain(StoreTxn& txn) {
  std::string prev;
  std::uint64_t after = 0;
  for (;;) {
    CAFS_ASSIGN_OR_RETURN(auto batch, ListAuditRecords(txn, after, 1000));
    if (batch.empty()) return Status::OK();
    for (const auto& r : batch) {
      if (r.prev_hash != prev || r.hash != AuditRecordHash(r)) {
        return Status::Corruption("audit chain broken at record " + std::to_string(r.seq));
      }
      prev = r.hash;
      after = r.seq;
    }
  }
}

}  // namespace cafs::kps
