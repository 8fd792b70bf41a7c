#include "kps/peer_auth.h"

#include "kps/catalog.h"
#include "util/logging.h"

namespace cafs::kps {

Result<Principal> AuthenticatePeer(Store& store, const PeerIdentity& peer) {
  auto role = ParseRole(peer.role);
  if (!role.ok()) return Status::PermissionDenied(role.status().message());
  Principal p;
  p.name = peer.name;
  p.role = *role;
  Status s = store.InTransaction([&](StoreTxn& txn) -> Status {
    if (p.role == Role::kGateway) {
      auto g = GetRecord<GatewayRecord>(txn, peer.name);
      if (!g.ok() && !g.status().IsNotFound()) return g.status();
      if (!g.ok() || g->revoked || g->cert_serial != peer.serial) {
        return Status::PermissionDenied("gateway certificate '" + peer.name +
                                        "' is not enrolled or was revoked");
      }
      p.vmsets = g->approved;  // the effective scope (rbac.h)
      return Status::OK();
    }
    auto a = GetRecord<AdminRecord>(txn, peer.name);
    if (!a.ok() && !a.status().IsNotFound()) return a.status();
    if (!a.ok() || a->revoked || a->cert_serial != peer.serial || a->role != p.role) {
      return Status::PermissionDenied("admin certificate '" + peer.name +
                                      "' is not enrolled or was revoked");
    }
    p.vmsets = a->vmsets;
    p.exports = a->exports;
    return Status::OK();
  });
  CAFS_RETURN_IF_ERROR(s);
  return p;
}

Status StoreAuditRecord(Store& store, AuditRecord record) {
  Status s =
      store.InTransaction([&](StoreTxn& txn) { return AppendAuditRecord(txn, record).status(); });
  if (!s.ok()) {
    CAFS_LOG_ERROR("audit record lost: {} (actor '{}', action '{}')", s.ToString(),
                   AuditText(record.actor), AuditText(record.action));
  }
  return s;
}

void AppendAuditRecordOrLog(Store& store, AuditRecord record) {
  (void)StoreAuditRecord(store, std::move(record));
}

}  // namespace cafs::kps
