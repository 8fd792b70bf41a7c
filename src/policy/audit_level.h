// AuditLevel: how much audit data a virtual object generates (the seed's <audit> element).
#pragma once

#include <string_view>

#include "util/result.h"

namespace cafs::policy {

enum class AuditLevel : unsigned char {
  kNone,        // "none": no records for this virtual object
  kDenials,     // "denials": one record per denied access
  kAllRecords,  // "all_records": every access, allowed or denied
};

// The seed's exact spellings: "none", "denials", "all_records".
std::string_view AuditLevelName(AuditLevel level);
// Exact, case-sensitive match of the spellings above. InvalidArgument otherwise, naming the
// offending text and the accepted values.
Result<AuditLevel> ParseAuditLevel(std::string_view text);

// Whether an access with this outcome must produce an audit record at `level`.
inline bool ShouldAudit(AuditLevel level, bool allowed) {
  return level == AuditLevel::kAllRecords || (level == AuditLevel::kDenials && !allowed);
}

}  // namespace cafs::policy
