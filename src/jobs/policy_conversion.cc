#include "jobs/policy_conversion.h"

#include "jobs/migrate_job.h"
#include "jobs/rekey_job.h"
#include "util/logging.h"

namespace cafs::jobs {
namespace {

// Cancels the unfinished policy jobs of `kind` on `path`, then starts a new one.
void Restart(JobManager& manager, std::string_view kind, const std::string& vmset_name) {
  const std::string path = "/" + vmset_name;
  for (const JobStatus& st : manager.List()) {
    const JobRecord& r = st.record;
    if (r.spec.kind != kind || IsFinal(r.state) || r.spec.target.path != path ||
        !r.spec.params.contains("policy")) {
      continue;
    }
    if (auto c = manager.Cancel(r.id); !c.ok()) {
      CAFS_LOG_WARN("jobs: cancelling policy {} job {} of {}: {}", kind, r.id, path,
                    c.status().ToString());
    }
  }
  JobSpec spec;
  spec.kind = std::string(kind);
  spec.target.type = "vmset";
  spec.target.path = path;
  spec.params = nlohmann::json{{"policy", true}};
  spec.requested_by = kPolicyConversionRequester;
  auto started = manager.Start(std::move(spec));
  if (!started.ok()) {
    CAFS_LOG_ERROR("jobs: the policy of VM set {} changed; its {} job could not start: {}",
                   vmset_name, kind, started.status().ToString());
    return;
  }
  CAFS_LOG_INFO("jobs: the policy of VM set {} changed: {} job {} started", vmset_name, kind,
                started->record.id);
}

}  // namespace

void StartPolicyConversion(JobManager& manager, const std::string& vmset_name,
                           core::PlacementChange change) {
  if (change.keys) Restart(manager, RekeyJob::kName, vmset_name);
  if (change.pools) Restart(manager, MigrateJob::kName, vmset_name);
}

}  // namespace cafs::jobs
