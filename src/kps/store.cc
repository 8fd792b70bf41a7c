#include "kps/store.h"

#include "kps/postgres_store.h"
#include "kps/sqlite_store.h"

namespace cafs::kps {

namespace {
constexpr std::string_view kConflictPrefix = "version conflict";
}

std::string_view ObjectKindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kVmSet:
      return "vmset";
    case ObjectKind::kPolicy:
      return "policy";
    case ObjectKind::kKey:
      return "key";
    case ObjectKind::kKek:
      return "kek";
    case ObjectKind::kServer:
      return "server";
    case ObjectKind::kGateway:
      return "gateway";
    case ObjectKind::kAdmin:
      return "admin";
    case ObjectKind::kAuditCursor:
      return "audit_cursor";
    case ObjectKind::kUsage:
      return "usage";
    case ObjectKind::kInventory:
      return "inventory";
    case ObjectKind::kVmSetGuid:
      return "vmset_guid";
    case ObjectKind::kRekeyRequest:
      return "rekey_request";
    case ObjectKind::kPool:
      return "pool";
  }
  return "unknown";
}

Status NotFoundError(ObjectKind kind, std::string_view id) {
  return Status::NotFound(std::string(ObjectKindName(kind)) + " '" + std::string(id) +
                          "' not found");
}

Status ConflictError(std::string_view what) {
  return Status::FailedPrecondition(std::string(kConflictPrefix) + ": " + std::string(what) +
                                    " was changed by someone else; read it again and retry");
}

bool IsConflict(const Status& s) {
  return s.code() == Status::Code::kFailedPrecondition &&
         s.message().compare(0, kConflictPrefix.size(), kConflictPrefix) == 0;
}

Status RunTransactionBody(const std::function<Status(StoreTxn&)>& fn, StoreTxn& txn) {
  try {
    return fn(txn);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("exception in a store transaction: ") + e.what());
  } catch (...) {
    return Status::Internal("exception in a store transaction");
  }
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view spec, const std::string& data_dir) {
  if (spec.empty() || spec == "sqlite") return OpenSqliteStore(data_dir + "/kps.db");
  if (spec.substr(0, 7) == "sqlite:") return OpenSqliteStore(std::string(spec.substr(7)));
  if (spec.substr(0, 13) == "postgresql://" || spec.substr(0, 11) == "postgres://") {
    return OpenPostgresStore(std::string(spec));
  }
  return Status::InvalidArgument("unknown store '" + std::string(spec) +
                                 "': use sqlite, sqlite:PATH or postgresql://...");
}

}  // namespace cafs::kps
