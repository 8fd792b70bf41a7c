#include "jobs/policy_vobj.h"

#include "policy/vmset_path.h"

namespace cafs::jobs {

Result<std::shared_ptr<const core::CachedVmSet>> VmSetOfPath(core::PolicyCache& cache,
                                                             unsigned position,
                                                             const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(policy::VmSetPath where, policy::ResolveVmSetPath("/", position, path));
  auto vs = cache.Get(where.vmset_name);
  if (!vs.ok()) return vs.status().WithContext("VM set " + where.vmset_name);
  // A policy the gateway refuses (policy_cache.h) is not followed by jobs either.
  if (!(*vs)->refusal.ok()) return (*vs)->refusal;
  return vs;
}

Result<const policy::VirtualObject*> VobjOfPath(const core::CachedVmSet& vs, unsigned position,
                                                const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(policy::VmSetPath where, policy::ResolveVmSetPath("/", position, path));
  auto matched = vs.bundle.descriptor.Match(where.path_within_vmset);
  if (!matched.ok() && matched.status().IsNotFound()) {
    return static_cast<const policy::VirtualObject*>(nullptr);
  }
  return matched;
}

}  // namespace cafs::jobs
