// What kpsd's two listeners (the REST API, rest_api.h; KMIP, kmip_service.h) share about a
// client: who a verified certificate stands for, and how a request's audit record is kept.
//
// Threading: as Store (every call is one transaction of its own).
#pragma once

#include "kps/ca.h"
#include "kps/objects.h"
#include "kps/rbac.h"
#include "kps/store.h"
#include "util/result.h"

namespace cafs::kps {

// The principal behind a certificate the TLS layer verified against kpsd's CA: an enrolled,
// unrevoked gateway or admin record with that certificate's serial (and, for an admin, that
// role). PermissionDenied otherwise (also when the store cannot answer).
Result<Principal> AuthenticatePeer(Store& store, const PeerIdentity& peer);

// Appends `record` to the audit trail in its own transaction (catalog.h AppendAuditRecord).
// A failure is logged as "audit record lost" and returned: the REST API then fails the
// request with 503 rather than answer without its trace.
Status StoreAuditRecord(Store& store, AuditRecord record);
// StoreAuditRecord for a caller that logs the loss but answers anyway (KMIP).
void AppendAuditRecordOrLog(Store& store, AuditRecord record);

}  // namespace cafs::kps
