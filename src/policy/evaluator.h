// Evaluator: decides whether a virtualization server may access a file of a VM set now.
//
// Evaluation order (docs/policy.md "Evaluation"):
//   1. the path within the VM set is normalized; ".." is rejected (InvalidArgument);
//   2. the first matching virtual object is found (NotFound when none matches: the descriptor
//      has no hc_default; callers deny);
//   3. the caller must be a listed <vmserv> of the VM set, else a denial. A caller known by its
//      configured server id (FUSE: this host) is matched as that id; a caller known by its
//      address (an NFS client) is matched as the ids of the registered servers that hold the
//      address (server_registry.h) — never as the address itself;
//   4. the time, in the VM set's time zone, must be inside the object's <access> schedule,
//      else a denial.
// A denial is a Decision with allowed == false and a reason for the audit record and logs.
//
// Threading: an Evaluator is immutable after Create(); Evaluate() is const and safe to call
// from any number of threads. Copies share the parsed policy.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/audit_level.h"
#include "policy/policy_descriptor.h"
#include "policy/server_registry.h"
#include "policy/time_zone.h"
#include "policy/vm_set.h"
#include "util/clock.h"
#include "util/result.h"

namespace cafs::policy {

// Who asks. With `address` set (an NFS client) the caller's server ids are the registered
// servers holding that address and `server_id` is not used; otherwise `server_id` is the id.
struct Requester {
  std::string server_id;
  std::string address = {};
};

struct Decision {
  bool allowed = false;
  // The server id(s) the caller was identified as, for audit records and logs: the
  // requester's server_id, or the registered ids at its address ("," between several);
  // empty for an address no registered server of the VM set holds.
  std::string server;
  // Allowed: "allowed by vobj 1 (*osdisk*)". Denied, e.g.:
  // "server 10.2.45.68 is not a listed virtualization server of VM set my_vmset",
  // "outside access window Mon-Fri(9am-5pm) (Sat 2026-11-21 14:03 UTC)".
  std::string reason;
  const VirtualObject* vobj = nullptr;  // the matched object; lives as long as the Evaluator
  std::size_t vobj_index = 0;
  AuditLevel audit = AuditLevel::kNone;  // the matched object's level

  // Whether this decision must produce an audit record (policy::ShouldAudit).
  bool ShouldAudit() const { return policy::ShouldAudit(audit, allowed); }
};

class Evaluator {
 public:
  // Loads the VM set's time zone. Errors: the zone cannot be loaded; FailedPrecondition when
  // the descriptor names a different GUID than vmset.policy_descriptor or a different VM set.
  // `servers`: the registered servers (with their addresses) that NFS clients are identified
  // by; empty: no address identifies anyone.
  static Result<Evaluator> Create(VmSet vmset, PolicyDescriptor descriptor,
                                  std::string_view zoneinfo_dir = TimeZone::kDefaultZoneinfoDir,
                                  ServerRegistry servers = {});

  Result<Decision> Evaluate(const Requester& who, std::string_view path_within_vmset,
                            Clock::TimePoint now) const;
  // A caller known by its server id (Requester{server_id}).
  Result<Decision> Evaluate(std::string_view server_id, std::string_view path_within_vmset,
                            Clock::TimePoint now) const;

  const VmSet& vmset() const;
  const PolicyDescriptor& descriptor() const;
  const TimeZone& time_zone() const;
  const ServerRegistry& servers() const;

 private:
  struct State;
  explicit Evaluator(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace cafs::policy
