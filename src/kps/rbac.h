// Rbac: separation of duties for the key & policy server. Every API request maps to one
// Action on (optionally) one VM set; Authorize says whether the principal's role allows it.
//
// | action            | security | tenant (own VM sets) | key | storage | auditor | gateway |
// |-------------------|----------|----------------------|-----|---------|---------|---------|
// | read VM set       | yes      | yes                  | yes | yes     | yes     | -       |
// | write VM set      | yes      | yes                  | -   | -       | -       | -       |
// | read policy       | yes      | yes                  | yes | yes     | yes     | -       |
// | write policy      | -        | yes                  | -   | -       | -       | -       |
// | read key metadata | yes      | yes                  | yes | -       | yes     | -       |
// | manage keys       | -        | -                    | yes | -       | -       | -       |
// | read/write server | r/w      | -                    | -   | r/w     | r       | -       |
// | gateways          | r/enroll | -                    | -   | r       | r       | -       |
// | admins            | r/w      | -                    | -   | -       | r       | -       |
// | read audit        | yes      | -                    | -   | -       | yes     | -       |
// | push audit        | -        | -                    | -   | -       | -       | yes     |
// | fetch keys        | -        | -                    | -   | -       | -       | yes (*) |
// | read usage        | yes      | yes (own VM sets)    | -   | yes     | yes     | -       |
// | push usage        | -        | -                    | -   | -       | -       | yes     |
// (*) a gateway enrolled with a VM set list may fetch only those VM sets.
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
  kReadAdmin,
  kManageAdmin,
  kReadAudit,
  kPushAudit,
  kFetchKeys,
  kReadUsage,
  kPushUsage,
};

std::string_view ActionName(Action action);

// An authenticated caller: from the client certificate, confirmed against the store.
struct Principal {
  std::string name;
  Role role = Role::kAuditor;
  std::vector<std::string> vmsets;  // tenant-admin / gateway scope (gateway: empty = all)
};

// OK, or PermissionDenied with a reason naming role, action and VM set. `vmset` empty =
// the action is not about one VM set (lists are filtered with InScope).
Status Authorize(const Principal& who, Action action, std::string_view vmset = {});

// Whether `vmset` is within the principal's scope (always true for unscoped roles).
bool InScope(const Principal& who, std::string_view vmset);

}  // namespace cafs::kps
