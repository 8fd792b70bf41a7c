#include "kps/peer_auth.h"

#include "kps/catalog.h"
#include "util/logging.h"

namespace cafs::kps {

Result<Principal> AuthenticatePeer(Store& store, const PeerIdentity& peer) {
  CAFS_ASSIGN_OR_RETURN(Role role, ParseRole(peer.role));
  Principal p;
  p.name = peer.name;
  p.role = role;
  Status s = store.InTransaction([&](StoreTxn& txn) -> Status {
    if (role == Role::kGateway) {
      auto g = GetRecord<GatewayRecord>(txn, peer.name);
      if (!g.ok() || g->revoked || g->cert_serial != peer.serial) {
        return Status::PermissionDenied("gateway certificate '" + peer.name +
                                        "' is not enrolled or was revoked");
      }
      p.vmsets = g->vmsets;
      return Status::OK();
    }
    auto a = GetRecord<AdminRecord>(txn, peer.name);
    if (!a.ok() || a->revoked || a->cert_serial != peer.serial || a->role != role) {
      return Status::PermissionDenied("admin certificate '" + peer.name +
                                      "' is not enrolled or was revoked");
    }
    p.vmsets = a->vmsets;
    return Status::OK();
  });
  if (!s.ok()) return s.IsPermissionDenied() ? s : Status::PermissionDenied(s.message());
  return p;
}

void AppendAuditRecordOrLog(Store& store, AuditRecord record) {
  Status s =
      store.InTransaction([&](StoreTxn& txn) { return AppendAuditRecord(txn, record).status(); });
  if (!s.ok()) CAFS_LOG_ERROR("audit record lost: {}", s.ToString());
}

}  // namespace cafs::kps
