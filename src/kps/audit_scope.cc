#include "kps/audit_scope.h"

namespace cafs::kps {

namespace {

// The ids of the keys and policies of the VM sets in `who`'s scope.
Result<std::set<std::string>> ScopedIds(StoreTxn& txn, const Principal& who) {
  std::set<std::string> ids;
  CAFS_ASSIGN_OR_RETURN(auto keys, ListRecords<KeyRecord>(txn));
  for (const auto& k : keys) {
    if (InScope(who, k.vmset)) ids.insert(k.id);
  }
  CAFS_ASSIGN_OR_RETURN(auto policies, ListRecords<PolicyRecord>(txn));
  for (const auto& p : policies) {
    if (InScope(who, p.vmset)) ids.insert(p.id);
  }
  return ids;
}

}  // namespace

bool AuditRecordAbout(const AuditRecord& r, std::string_view vmset,
                      const std::set<std::string>& ids) {
  if (vmset.empty()) return false;
  if (r.access.is_object()) {
    auto v = r.access.find("vmset");
    return v != r.access.end() && v->is_string() && v->get<std::string>() == vmset;
  }
  const std::string_view object = r.object;
  if (object == vmset) return true;
  if (object.size() > vmset.size() && object.substr(0, vmset.size()) == vmset &&
      object[vmset.size()] == '/') {
    return true;
  }
  return ids.count(r.object) > 0;
}

Result<std::vector<AuditRecord>> ListReadableAudit(StoreTxn& txn, const Principal& who,
                                                   std::uint64_t after, std::size_t limit) {
  if (!IsScoped(who)) return ListAuditRecords(txn, after, limit);
  CAFS_ASSIGN_OR_RETURN(std::set<std::string> ids, ScopedIds(txn, who));
  std::vector<AuditRecord> out;
  while (out.size() < limit) {
    CAFS_ASSIGN_OR_RETURN(auto chunk, ListAuditRecords(txn, after, limit));
    if (chunk.empty()) break;
    for (auto& r : chunk) {
      after = r.seq;
      bool readable = false;
      for (const auto& v : who.vmsets) readable = readable || AuditRecordAbout(r, v, ids);
      if (readable && out.size() < limit) out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace cafs::kps
