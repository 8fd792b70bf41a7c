#include "kps/audit_scope.h"

#include <algorithm>

namespace cafs::kps {

namespace {

// The ids of the keys and policies of the VM sets `vmsets` are given for (their names).
template <typename Pred>
Result<std::set<std::string>> IdsOf(StoreTxn& txn, Pred vmsets) {
  std::set<std::string> ids;
  CAFS_ASSIGN_OR_RETURN(auto keys, ListRecords<KeyRecord>(txn));
  for (const auto& k : keys) {
    if (vmsets(k.vmset)) ids.insert(k.id);
  }
  CAFS_ASSIGN_OR_RETURN(auto policies, ListRecords<PolicyRecord>(txn));
  for (const auto& p : policies) {
    if (vmsets(p.vmset)) ids.insert(p.id);
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
                                                   std::uint64_t after, std::size_t limit,
                                                   std::string_view about) {
  if (!IsScoped(who) && about.empty()) return ListAuditRecords(txn, after, limit);
  // Records about `about` only, or about any VM set of the reader's scope.
  std::vector<std::string> vmsets = about.empty() ? who.vmsets : std::vector<std::string>{};
  if (!about.empty()) vmsets.emplace_back(about);
  CAFS_ASSIGN_OR_RETURN(std::set<std::string> ids, IdsOf(txn, [&](std::string_view v) {
                          return std::find(vmsets.begin(), vmsets.end(), v) != vmsets.end();
                        }));
  std::vector<AuditRecord> out;
  while (out.size() < limit) {
    CAFS_ASSIGN_OR_RETURN(auto chunk, ListAuditRecords(txn, after, limit));
    if (chunk.empty()) break;
    for (auto& r : chunk) {
      after = r.seq;
      bool readable = false;
      for (const auto& v : vmsets) readable = readable || AuditRecordAbout(r, v, ids);
      if (readable && out.size() < limit) out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace cafs::kps
