#include "kps/rbac.h"

#include <algorithm>
#include <initializer_list>

namespace cafs::kps {

namespace {

using R = Role;

// The one role x action table (header comment; docs/kps.md "Roles").
struct Rule {
  Action action;
  std::initializer_list<Role> roles;
};
const Rule kRules[] = {
    {Action::kReadVmSet,
     {R::kSecurityAdmin, R::kTenantAdmin, R::kKeyAdmin, R::kStorageAdmin, R::kAuditor}},
    {Action::kWriteVmSet, {R::kSecurityAdmin, R::kTenantAdmin}},
    {Action::kReadPolicy,
     {R::kSecurityAdmin, R::kTenantAdmin, R::kKeyAdmin, R::kStorageAdmin, R::kAuditor}},
    {Action::kWritePolicy, {R::kTenantAdmin}},
    {Action::kReadKey, {R::kSecurityAdmin, R::kTenantAdmin, R::kKeyAdmin, R::kAuditor}},
    {Action::kManageKey, {R::kKeyAdmin}},
    {Action::kReadServer, {R::kSecurityAdmin, R::kStorageAdmin, R::kAuditor}},
    {Action::kWriteServer, {R::kSecurityAdmin, R::kStorageAdmin}},
    {Action::kReadGateway, {R::kSecurityAdmin, R::kStorageAdmin, R::kAuditor}},
    {Action::kEnrollGateway, {R::kSecurityAdmin}},
    {Action::kApproveScope, {R::kSecurityAdmin, R::kTenantAdmin}},
    {Action::kReadAdmin, {R::kSecurityAdmin, R::kAuditor}},
    {Action::kManageAdmin, {R::kSecurityAdmin}},
    {Action::kReadAudit, {R::kSecurityAdmin, R::kTenantAdmin, R::kAuditor}},
    {Action::kPushAudit, {R::kGateway}},
    {Action::kFetchKeys, {R::kGateway}},
    {Action::kReadUsage, {R::kSecurityAdmin, R::kTenantAdmin, R::kStorageAdmin, R::kAuditor}},
    {Action::kPushUsage, {R::kGateway}},
    {Action::kReadPool, {R::kSecurityAdmin, R::kTenantAdmin, R::kStorageAdmin, R::kAuditor}},
    {Action::kWritePool, {R::kStorageAdmin}},
};

bool Contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

std::string Who(const Principal& who) {
  return std::string(RoleName(who.role)) + " '" + who.name + "'";
}

}  // namespace

bool RoleMayDo(Role role, Action action) {
  for (const Rule& r : kRules) {
    if (r.action == action) {
      return std::find(r.roles.begin(), r.roles.end(), role) != r.roles.end();
    }
  }
  return false;
}

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
    case Action::kApproveScope:
      return "approve key scopes";
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
    case Action::kReadPool:
      return "read pools";
    case Action::kWritePool:
      return "write pools";
  }
  return "unknown";
}

bool IsScoped(const Principal& who) {
  switch (who.role) {
    case Role::kTenantAdmin:
    case Role::kGateway:
      return true;
    case Role::kKeyAdmin:
    case Role::kStorageAdmin:
      return !who.vmsets.empty();
    default:
      return false;
  }
}

bool InScope(const Principal& who, std::string_view vmset) {
  return !IsScoped(who) || Contains(who.vmsets, vmset);
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
    if (who.role == Role::kGateway) {
      return Status::PermissionDenied(Who(who) + " is not in charge of VM set '" +
                                      std::string(vmset) + "' (no approved scope for it)");
    }
    return Status::PermissionDenied(Who(who) + " is not in charge of VM set '" +
                                    std::string(vmset) + "'");
  }
  return Status::OK();
}

Status AuthorizeKeyRelease(const Principal& who, std::string_view vmset) {
  if (who.role == Role::kGateway && !vmset.empty()) {
    return Authorize(who, Action::kFetchKeys, vmset);
  }
  if (who.role == Role::kKeyAdmin && !vmset.empty() && Contains(who.exports, vmset) &&
      InScope(who, vmset)) {
    return Status::OK();
  }
  return Status::PermissionDenied(
      Who(who) + " may not receive key bytes of VM set '" + std::string(vmset) +
      "' (only a gateway approved for it, or a key-admin with an export right for it)");
}

Status AuthorizeScopeGrant(const Principal& who, std::string_view vmset, bool tenant_vmset,
                           std::string_view requested_by) {
  CAFS_RETURN_IF_ERROR(Authorize(who, Action::kApproveScope));
  if (vmset.empty()) return Status::InvalidArgument("name the 'vmset' to approve");
  if (who.name == requested_by) {
    return Status::PermissionDenied(Who(who) + " asked for this scope and may not approve it " +
                                    "(two people)");
  }
  if (tenant_vmset) {
    if (who.role == Role::kTenantAdmin && !InScope(who, vmset)) {
      return Status::PermissionDenied(Who(who) + " is not in charge of VM set '" +
                                      std::string(vmset) + "'");
    }
    if (who.role != Role::kTenantAdmin) {
      return Status::PermissionDenied("VM set '" + std::string(vmset) +
                                      "' belongs to a tenant: only a tenant-admin in charge of "
                                      "it approves, not " +
                                      Who(who));
    }
    return Status::OK();
  }
  if (who.role != Role::kSecurityAdmin && !InScope(who, vmset)) {
    return Status::PermissionDenied(Who(who) + " is not in charge of VM set '" +
                                    std::string(vmset) + "'");
  }
  return Status::OK();
}

}  // namespace cafs::kps
