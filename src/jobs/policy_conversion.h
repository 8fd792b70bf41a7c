// StartPolicyConversion: what cafsd does when its policy cache sees a VM set's policy place
// files under another key or cipher, or in another pool (core::PolicyCache::
// SetPlacementObserver, core::PlacementChangeOf; docs/jobs.md "Conversions", docs/migration.md
// "Policy-driven migration"). For each kind of change it starts one job on the VM set, online,
// in the background, persisted (a restart resumes it) and at its kind's default rate:
//   change.keys   a rekey job {"policy": true}: every file whose key or cipher differs from
//                 its vobj's is converted;
//   change.pools  a migrate job {"policy": true}: every file whose pool differs from its
//                 vobj's storepol is moved there.
// A policy job of the same kind and VM set still queued, running or paused is cancelled first
// (its plan was made under the previous policy; a rekey it left mid-file is finished by the
// new job when the target is the same, otherwise that file's task fails with
// FailedPrecondition until the old target is reached; a migration it left is rolled back).
//
// Errors are logged, never returned: the caller is the data path that refreshed the cache.
// Threading: safe from any thread (JobManager is). `manager` is not owned.
#pragma once

#include <string>

#include "cafs/policy_cache.h"
#include "jobs/job_manager.h"

namespace cafs::jobs {

// Requested-by text of the jobs it starts (audit records and `cafsd jobs list`).
inline constexpr char kPolicyConversionRequester[] = "policy change";

void StartPolicyConversion(JobManager& manager, const std::string& vmset_name,
                           core::PlacementChange change);

}  // namespace cafs::jobs
