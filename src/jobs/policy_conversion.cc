#include "jobs/policy_conversion.h"

#include "jobs/rekey_job.h"
#include "util/logging.h"

namespace cafs::jobs {

void StartPolicyConversion(JobManager& manager, const std::string& vmset_name) {
  const std::string path = "/" + vmset_name;
  for (const JobStatus& st : manager.List()) {
    const JobRecord& r = st.record;
    if (r.spec.kind != RekeyJob::kName || IsFinal(r.state) || r.spec.target.path != path ||
        !r.spec.params.contains("policy")) {
      continue;
    }
    if (auto c = manager.Cancel(r.id); !c.ok()) {
      CAFS_LOG_WARN("jobs: cancelling policy conversion {} of {}: {}", r.id, path,
                    c.status().ToString());
    }
  }
  JobSpec spec;
  spec.kind = std::string(RekeyJob::kName);
  spec.target.type = "vmset";
  spec.target.path = path;
  spec.params = nlohmann::json{{"policy", true}};
  spec.requested_by = kPolicyConversionRequester;
  auto started = manager.Start(std::move(spec));
  if (!started.ok()) {
    CAFS_LOG_ERROR("jobs: the policy of VM set {} changed; its conversion job could not start: {}",
                   vmset_name, started.status().ToString());
    return;
  }
  CAFS_LOG_INFO("jobs: the policy of VM set {} changed: conversion job {} started", vmset_name,
                started->record.id);
}

}  // namespace cafs::jobs
