// MigrateJob: the job kind "migrate" (issue 15, online migration between pools;
// docs/migration.md, docs/jobs.md "Migration"): every file of the target moves to the pool
// `params.to_pool` while it stays in use, one core::FileMigration per file driven in bounded
// steps (copy, dirty passes, switch, removal of the old copy).
//
// Targets (JobSpec::target):
//   "file"         one file (path); InvalidArgument when it is in the target pool already
//   "vm", "vmset"  every regular file below the VM / VM set directory `path` not in the
//                  target pool yet (a job whose every file is there already is refused)
//   "pool"         drain: every file below `path` ("/" for all) whose data is in pool
//                  `target.pool` (!= to_pool)
// Params: {"to_pool": name} (a configured pool). Unknown pools, the same pool, a directory or
// a symlink given as a file are refused at start (exit 1, nothing changes).
// Or {"policy": true} alone -- a policy-driven migration (targets file/vm/vmset; docs/
// migration.md "Policy-driven migration"; started by jobs/policy_conversion.h when a vobj's
// storepol changed): each file goes to the pool its vobj's <storepol> names now; files already
// there, matching no vobj, or whose vobj is mirrored (<replicas> > 1: migrating mirrored
// files is not implemented) are left out; a job with nothing to do is done at once. Each
// task's target pool is planned into its cursor (a restart moves it where it was planned). A
// storepol naming a pool this gateway does not have fails that file's task with the reason.
// Needs the policy cache (constructor); without it such a job is refused (NotSupported).
//
// Cursor (persisted with the task; the authority is the redirector):
//   {"guid": file GUID, "from_pool": p, "from_path": pool path, "to_pool": q,
//    "to_path": pool path (once a step started the copy), "phase": "planned"|"copy"|"dirty"|
//    "done", "pass": n}
// Resume after kill -9 / restart: a task whose cursor has a `to_path` and no live migration
// in this process calls FileMigration::Recover: committed -> roll forward (line 3, old copy
// removed) and the task is done; not committed -> the copy is removed and the file copied
// again from the start (the dirty map lived in memory only).
//
// Cancel stops at a step boundary: before the switch the source is authoritative and the copy
// is removed; the switch and the removal of the old copy happen inside one Step, so
// PointOfNoReturn is false. Pause keeps the live migration (its dirty map keeps tracking).
// One audit record "migrate" per file (moved / failed / left where it was).
//
// Threading: Step may run for different tasks at once (JobKind's contract); the table of
// live migrations has its own mutex, never held while one steps.
// Ownership: `volume` is not owned and must outlive the kind.
#pragma once

#include <memory>
#include <string>

#include "cafs/migrator.h"
#include "cafs/policy_cache.h"
#include "jobs/job_audit.h"
#include "jobs/job_kind.h"
#include "jobs/live_tasks.h"

namespace cafs::jobs {

class MigrateJob final : public JobKind {
 public:
  static constexpr std::string_view kName = "migrate";

  // `cache` (may be null: no policy-driven jobs) and `position` (the gateway's VM set
  // position, GatewayOptions::position) serve {"policy": true}.
  MigrateJob(core::Volume* volume, JobAuditor auditor, core::MigrationOptions options = {},
             core::PolicyCache* cache = nullptr, unsigned position = 1)
      : volume_(volume), auditor_(auditor), options_(options), cache_(cache), position_(position) {}
  ~MigrateJob() override { live_.Clear(); }

  std::string_view name() const override { return kName; }
  Status Validate(const JobSpec& spec) const override;
  Result<std::vector<TaskRecord>> Plan(const JobRecord& job) override;
  Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) override;
  bool PointOfNoReturn(const TaskRecord&) const override { return false; }
  void TaskEnded(const JobRecord& job, const TaskRecord& task) override;

 private:
  // The live migration of a task, started (or recovered) when needed; null with *done set
  // when recovery found the move finished before a restart.
  Result<std::shared_ptr<core::FileMigration>> Acquire(const JobRecord& job, TaskRecord& task,
                                                       bool* done);

  // The pool the policy wants the file `rel` in now; empty: leave the file alone.
  Result<std::string> PolicyPoolOf(const core::CachedVmSet& vs, const std::string& rel) const;

  core::Volume* const volume_;
  const JobAuditor auditor_;
  const core::MigrationOptions options_;
  core::PolicyCache* const cache_;
  const unsigned position_;
  LiveTasks<core::FileMigration> live_;
};

}  // namespace cafs::jobs
