// Rbac: separation of duties for the key & policy server. Every REST endpoint and KMIP
// operation maps to one Action on (optionally) one VM set; Authorize says whether the
// principal's role allows it (kRules in rbac.cc is the one role x action table; docs/kps.md
// shows it per endpoint). Two rules are more than a role check and live here too, so that
// REST and KMIP ask the same function:
//
// * Key bytes (AuthorizeKeyRelease): the unwrapped bytes of a key of VM set V leave kpsd
//   only to a gateway whose scope for V is approved (REST gateway fetch, KMIP Get), or to a
//   key-admin holding an export right for V (KMIP Get). No other role ever receives them.
// * Two people (AuthorizeScopeGrant): a gateway's scope for V, requested by the
//   security-admin who enrolls it, takes effect only when an approver of V approves it; an
//   export right for V is granted to a key-admin by an approver of V. The approver of a
//   tenant's VM set (one with a VM set record) is a tenant-admin in charge of it; of a VM set
//   that only holds KMIP clients' keys (no record, e.g. `kmip`), a security-admin; never the
//   admin who asked (who enrolled the gateway).
//
// | action                | security | tenant (own) | key | storage | auditor | gateway     |
// |-----------------------|----------|--------------|-----|---------|---------|-------------|
// | read VM set           | yes      | yes          | yes | yes     | yes     | -           |
// | write VM set          | yes      | yes          | -   | -       | -       | -           |
// | read policy           | yes      | yes          | yes | yes     | yes     | -           |
// | write policy          | -        | yes          | -   | -       | -       | -           |
// | read key metadata     | yes      | yes          | yes | -       | yes     | - (*)       |
// |  (also KEKs, inventory)|         |              |     |         |         |             |
// | manage keys (also KEK | -        | -            | yes | -       | -       | -           |
// |  rotate / destroy)    |          |              |     |         |         |             |
// | read/write server     | r/w      | -            | -   | r/w     | r       | -           |
// | read pools            | yes      | yes (own)    | -   | yes     | yes     | -           |
// | write pools, allow    | -        | -            | -   | yes     | -       | -           |
// |  lists                |          |              |     |         |         |             |
// | gateways              | r/enroll | -            | -   | r       | r       | -           |
// | approve scope / export| (**)     | yes (own)    | -   | -       | -       | -           |
// | admins                | r/w      | -            | -   | -       | r       | -           |
// | read audit            | yes      | yes (own)    | -   | -       | yes     | -           |
// | push audit / usage /  | -        | -            | -   | -       | -       | yes (*)     |
// |  key inventory        |          |              |     |         |         |             |
// | fetch keys (bytes)    | -        | -            | (x) | -       | -       | yes (*)     |
// | read usage            | yes      | yes (own)    | -   | yes     | yes     | -           |
// (*) only the VM sets its approved scope names (KMIP GetAttributes/Locate included).
// (**) only for VM sets without a VM set record (KMIP clients' keys).
// (x) over KMIP Get, with an export right for the key's VM set.
// Scoped admins: a key-admin or storage-admin enrolled with `vmsets` acts on those VM sets only
// (InScope): an action about another VM set is refused (403, audited), lists show its VM sets
// only. Without `vmsets` it acts on every VM set (as before scopes existed).
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kps/objects.h"
#include "util/status.h"

namespace cafs::kps {

enum class Action {
  kReadVmSet,
  kWriteVmSet,
  kReadPolicy,
  kWritePolicy,
  kReadKey,
  kManageKey,
  kReadServer,
  kWriteServer,
  kReadGateway,
  kEnrollGateway,
  kApproveScope,  // approve a gateway's scope / grant a key-admin's export right
  kReadAdmin,
  kManageAdmin,
  kReadAudit,
  kPushAudit,
  kFetchKeys,
  kReadUsage,
  kPushUsage,
  kReadPool,   // pool records (pool_registry.h); a tenant-admin sees its VM sets' pools
  kWritePool,  // create / delete pool records, assign pools to VM sets (allow lists)
};
inline constexpr Action kAllActions[] = {
    Action::kReadVmSet,   Action::kWriteVmSet,    Action::kReadPolicy,   Action::kWritePolicy,
    Action::kReadKey,     Action::kManageKey,     Action::kReadServer,   Action::kWriteServer,
    Action::kReadGateway, Action::kEnrollGateway, Action::kApproveScope, Action::kReadAdmin,
    Action::kManageAdmin, Action::kReadAudit,     Action::kPushAudit,    Action::kFetchKeys,
    Action::kReadUsage,   Action::kPushUsage,     Action::kReadPool,     Action::kWritePool};

std::string_view ActionName(Action action);

// Whether `role` may perform `action` at all (before any VM set scope): kRules.
bool RoleMayDo(Role role, Action action);

// An authenticated caller: from the client certificate, confirmed against the store.
struct Principal {
  std::string name;
  Role role = Role::kAuditor;
  // Tenant-admin: the VM sets in its charge. Gateway: its approved scope (GatewayRecord::
  // approved; empty = none). Key-admin, storage-admin: its scope (empty = every VM set).
  // Unused for the other roles.
  std::vector<std::string> vmsets;
  // Key-admin: the VM sets whose key bytes it may export over KMIP (AdminRecord::exports).
  std::vector<std::string> exports = {};
};

// OK, or PermissionDenied with a reason naming role, action and VM set. `vmset` empty =
// the action is not about one VM set (lists are filtered with InScope).
Status Authorize(const Principal& who, Action action, std::string_view vmset = {});

// Whether `who` has a VM set scope at all (tenant-admin, gateway, scoped key-/storage-admin).
bool IsScoped(const Principal& who);

// Whether `vmset` is within the principal's scope: true for unscoped roles (security-admin,
// auditor, a key- or storage-admin without `vmsets`); for a tenant-admin or a scoped key- or
// storage-admin its VM sets; for a gateway its approved VM sets (none when it has no approval).
bool InScope(const Principal& who, std::string_view vmset);

// Whether the unwrapped bytes of a key of `vmset` may be sent to `who` (header comment).
// PermissionDenied with the reason otherwise.
Status AuthorizeKeyRelease(const Principal& who, std::string_view vmset);

// Whether `who` may approve (or withdraw) a scope for `vmset` that `requested_by` asked for
// (the gateway's enrolling admin, or the key-admin receiving an export right).
// `tenant_vmset` = a VM set record named `vmset` exists. Header comment: the approver.
Status AuthorizeScopeGrant(const Principal& who, std::string_view vmset, bool tenant_vmset,
                           std::string_view requested_by);

}  // namespace cafs::kps
