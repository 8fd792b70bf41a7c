// The policy that governs a gateway path now, as the policy-driven job kinds (rekey and
// migrate with {"policy": true}, docs/jobs.md "Conversions") see it: the VM set from the
// gateway's policy cache and the vobj whose glob matches the file's path within its VM set.
// One rule for both kinds.
// Threading: free functions, safe from any thread (PolicyCache is). Nothing is owned.
#pragma once

#include <memory>
#include <string>

#include "cafs/policy_cache.h"
#include "policy/policy_descriptor.h"
#include "util/result.h"

namespace cafs::jobs {

// The cached VM set of gateway path `path` ("/my_vmset/vm1/a.img"); `position` is the
// gateway's VM set position (GatewayOptions::position). Errors name the VM set.
Result<std::shared_ptr<const core::CachedVmSet>> VmSetOfPath(core::PolicyCache& cache,
                                                             unsigned position,
                                                             const std::string& path);

// The vobj of `vs` that governs gateway path `path`; nullptr when no vobj matches it.
Result<const policy::VirtualObject*> VobjOfPath(const core::CachedVmSet& vs, unsigned position,
                                                const std::string& path);

}  // namespace cafs::jobs
