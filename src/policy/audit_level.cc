#include "policy/audit_level.h"

#include <string>

namespace cafs::policy {

std::string_view AuditLevelName(AuditLevel level) {
  switch (level) {
    case AuditLevel::kNone:
      return "none";
    case AuditLevel::kDenials:
      return "denials";
    case AuditLevel::kAllRecords:
      return "all_records";
  }
  return "?";
}

Result<AuditLevel> ParseAuditLevel(std::string_view text) {
  for (AuditLevel l : {AuditLevel::kNone, AuditLevel::kDenials, AuditLevel::kAllRecords}) {
    if (text == AuditLevelName(l)) return l;
  }
  return Status::InvalidArgument("<audit> must be none, denials or all_records, got '" +
                                 std::string(text) + "'");
}

}  // namespace cafs::policy
