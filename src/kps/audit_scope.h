// Which audit records a scoped reader may read (docs/kps-api.md "Audit"): a tenant-admin reads
// the records about its own VM sets and nothing else, as it reads its own usage.
//
// A record is about VM set V when
//   - a gateway pushed it (AuditRecord::access) and its `vmset` is V; or
//   - kpsd wrote it and its `object` is V, starts with "V/" (approvals "V/gateway", the
//     unchained gateway records "V/vm/file"), or is the id of one of V's keys or policies.
// Records about a VM set under an earlier name (before a rename) name that name and are not
// shown under the new one. A scoped reader sees a subset of the chain and cannot verify it;
// the security-admin and auditors read (and verify) all of it.
//
// Threading: as the StoreTxn passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kps/catalog.h"
#include "kps/rbac.h"

namespace cafs::kps {

// Whether `r` is about VM set `vmset` (header comment); `ids`: the ids of that VM set's keys
// and policies (may be empty: then only the name rules apply).
bool AuditRecordAbout(const AuditRecord& r, std::string_view vmset,
                      const std::set<std::string>& ids = {});

// The records with seq > `after`, ascending, at most `limit`, that `who` may read: all of them
// for an unscoped reader (rbac.h IsScoped), those about a VM set in its scope otherwise (the
// scan goes on past records it may not read until `limit` are found or the trail ends).
// `about` non-empty: only the records about that VM set (the rule above, with its keys'
// and policies' ids) — the one filter behind `GET /v1/audit?vmset=` and `cafsctl audit list
// --vmset`. The caller has authorized `who` for `about` (a scoped reader asking about a VM set
// outside its scope is refused before, not answered with an empty list).
Result<std::vector<AuditRecord>> ListReadableAudit(StoreTxn& txn, const Principal& who,
                                                   std::uint64_t after, std::size_t limit,
                                                   std::string_view about = {});

}  // namespace cafs::kps
