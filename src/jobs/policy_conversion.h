// StartPolicyConversion: what cafsd does when its policy cache sees a VM set's policy place
// files under another key or cipher (core::PolicyCache::SetPlacementObserver; docs/jobs.md
// "Conversions"): it starts a rekey job {"policy": true} on the VM set, which converts every
// file whose key or cipher differs from its vobj's, online, in the background, persisted
// (a restart resumes it) and at the rekey default rate. A policy conversion of that VM set
// still queued, running or paused is cancelled first (its plan was made under the previous
// policy; a file it left mid-rekey is finished by the new job when the target is the same,
// otherwise that file's task fails with FailedPrecondition until the old target is reached).
//
// Errors are logged, never returned: the caller is the data path that refreshed the cache.
// Threading: safe from any thread (JobManager is). `manager` is not owned.
#pragma once

#include <string>

#include "jobs/job_manager.h"

namespace cafs::jobs {

// Requested-by text of the jobs it starts (audit records and `cafsd jobs list`).
inline constexpr char kPolicyConversionRequester[] = "policy change";

void StartPolicyConversion(JobManager& manager, const std::string& vmset_name);

}  // namespace cafs::jobs
