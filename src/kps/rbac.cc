#include "kps/rbac.h"

#include <algorithm>

namespace cafs::kps {

namespace {

bool RoleMayDo(Role role, Action a) {
  switch (role) {
    case Role::kSecurityAdmin:
      return a == Action::kReadVmSet || a == Action::kWriteVmSet || a == Action::kReadPolicy ||
             a == Action::kReadKey || a == Action::kReadServer || a == Action::kWriteServer ||
             a == Action::kReadGateway || a == Action::kEnrollGateway || a == Action::kReadAdmin ||
             a == Action::kManageAdmin || a == Action::kReadAudit || a == Action::kReadUsage;
    case Role::kTenantAdmin:
      return a == Action::kReadVmSet || a == Action::kWriteVmSet || a == Action::kReadPolicy ||
             a == Action::kWritePolicy || a == Action::kReadKey || a == Action::kReadUsage;
    case Role::kKeyAdmin:
      return a == Action::kReadVmSet || a == Action::kReadPolicy || a == Action::kReadKey ||
             a == Action::kManageKey;
    case Role::kStorageAdmin:
      return a == Action::kReadVmSet || a == Action::kReadPolicy || a == Action::kReadServer ||
             a == Action::kWriteServer || a == Action::kReadGateway || a == Action::kReadUsage;
    case Role::kAuditor:
      return a == Action::kReadVmSet || a == Action::kReadPolicy || a == Action::kReadKey ||
             a == Action::kReadServer || a == Action::kReadGateway || a == Action::kReadAdmin ||
             a == Action::kReadAudit || a == Action::kReadUsage;
    case Role::kGateway:
      return a == Action::kFetchKeys || a == Action::kPushAudit || a == Action::kPushUsage;
  }
  return false;
}

}  // namespace

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kReadVmSet:
      return "read VM set";
    case Action::kWriteVmSet:
      return "write VM set";
    case Action::kReadPolicy:
      return "read policy";
    case Action::kWritePolicy:
      return "write policy";
    case Action::kReadKey:
      return "read key";
    case Action::kManageKey:
      return "manage keys";
    case Action::kReadServer:
      return "read virtualization servers";
    case Action::kWriteServer:
      return "write virtualization servers";
    case Action::kReadGateway:
      return "read gateways";
    case Action::kEnrollGateway:
      return "enroll gateways";
    case Action::kReadAdmin:
      return "read admins";
    case Action::kManageAdmin:
      return "manage admins";
    case Action::kReadAudit:
      return "read audit";
    case Action::kPushAudit:
      return "push audit";
    case Action::kFetchKeys:
      return "fetch keys";
    case Action::kReadUsage:
      return "read usage";
    case Action::kPushUsage:
      return "push usage";
  }
  return "unknown";
}

bool InScope(const Principal& who, std::string_view vmset) {
  const bool scoped =
      who.role == Role::kTenantAdmin || (who.role == Role::kGateway && !who.vmsets.empty());
  if (!scoped) return true;
  return std::find(who.vmsets.begin(), who.vmsets.end(), vmset) != who.vmsets.end();
}

Status Authorize(const Principal& who, Action action, std::string_view vmset) {
  if (!RoleMayDo(who.role, action)) {
    std::string needs;
    for (Role r : {Role::kSecurityAdmin, Role::kTenantAdmin, Role::kKeyAdmin, Role::kStorageAdmin,
                   Role::kAuditor, Role::kGateway}) {
      if (!RoleMayDo(r, action)) continue;
      needs += needs.empty() ? "" : " or ";
      needs += RoleName(r);
    }
    return Status::PermissionDenied("role " + std::string(RoleName(who.role)) + " may not " +
                                    std::string(ActionName(action)) + " (needs " + needs + ")");
  }
  if (!vmset.empty() && !InScope(who, vmset)) {
    return Status::PermissionDenied(std::string(RoleName(who.role)) + " '" + who.name +
                                    "' is not in charge of VM set '" + std::string(vmset) + "'");
  }
  return Status::OK();
}

}  // namespace cafs::kps
