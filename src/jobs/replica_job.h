// ReplicaJob and RestoreJob: the job kinds "replica" and "restore" (issue 15 items 4 and 5;
// docs/replicas.md): DR replicas of VMs in a DR pool and their restore, driven in bounded
// steps by the JobManager (docs/jobs.md) over core::ReplicaRun / core::RestoreRun.
//
// "replica": target {"type": "vm", "path": "/my_vmset/vm1"}; params {"pool": DR pool (a
//   configured pool), "keep": K (1..1000, default 3), "scheduled_ms": when the policy's
//   schedule made it due (only in jobs the ReplicaScheduler starts, replica_scheduler.h)}. One task
//   per VM. The first step cuts the point in time (the write pause), every step copies up to its
//   budget, the last seals (manifest published, change logs committed, the oldest replicas beyond K
//   merged away). Cursor: {"phase": "planned"|"copy"|"sealed", "replica": id, "parent": id or "",
//   "bytes_copied": n, "pause_us": n}. A failed step (the DR pool vanished, ENOSPC, EIO)
//   abandons the replica: the changes go back to the change logs and the partial replica is
//   removed (by the next run if the pool is gone); the task fails cleanly and `jobs resume`
//   (or the next interval) starts a new cut. After kill -9 a resumed task starts a new cut
//   (the copy-before-write state lived in memory; the change logs are conservative).
// "restore": target {"type": "vm", "path": where the VM is restored (a VM directory in the
//   VM set of the replica, new or without those files)}; params {"pool": DR pool, "vmset":
//   VM set GUID, "vm": VM name at the replica, "replica": id ("" = the newest), "to_pool":
//   pool for the files ("" = each file's pool at the replica)}. The target's VM set must be
//   the replica's (by GUID: a renamed VM set still matches); its keys come from that VM set
//   by the key GUIDs of the headers. One task; tampered data fails it, nothing is placed for a
//   file whose chunks do not check.
//
// Threading: JobKind's contract; the live runs are in LiveTasks. Ownership: volume, cache not
// owned; they outlive the kinds.
#pragma once

#include <memory>
#include <string>

#include "cafs/policy_cache.h"
#include "cafs/replicator.h"
#include "jobs/job_audit.h"
#include "jobs/job_kind.h"
#include "jobs/live_tasks.h"

namespace cafs::jobs {

// What both kinds share: the Volume, the gateway's VM sets and the replica secret.
struct ReplicaContext {
  core::Volume* volume = nullptr;
  core::PolicyCache* cache = nullptr;
  unsigned position = 1;    // GatewayOptions::position
  ByteView replica_secret;  // 32 bytes (core::LoadOrCreateReplicaSecret); must outlive the kinds
  JobAuditor auditor{nullptr, nullptr, 1};
};

// The store of the DR pool `pool` (InvalidArgument when it is not configured).
Result<std::unique_ptr<core::ReplicaStore>> OpenReplicaStore(core::Volume& volume,
                                                             const std::string& pool,
                                                             ByteView replica_secret);

class ReplicaJob final : public JobKind {
 public:
  static constexpr std::string_view kName = "replica";
  explicit ReplicaJob(ReplicaContext ctx) : ctx_(ctx) {}
  ~ReplicaJob() override { live_.Clear(); }

  std::string_view name() const override { return kName; }
  Status Validate(const JobSpec& spec) const override;
  Result<std::vector<TaskRecord>> Plan(const JobRecord& job) override;
  Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) override;
  bool PointOfNoReturn(const TaskRecord&) const override { return false; }
  void TaskEnded(const JobRecord& job, const TaskRecord& task) override;

 private:
  struct Live {
    std::unique_ptr<core::ReplicaStore> store;
    std::unique_ptr<core::ReplicaRun> run;  // declared after the store it uses
    ~Live() { run.reset(); }
  };
  const ReplicaContext ctx_;
  LiveTasks<Live> live_;
};

class RestoreJob final : public JobKind {
 public:
  static constexpr std::string_view kName = "restore";
  explicit RestoreJob(ReplicaContext ctx) : ctx_(ctx) {}
  ~RestoreJob() override { live_.Clear(); }

  std::string_view name() const override { return kName; }
  Status Validate(const JobSpec& spec) const override;
  Result<std::vector<TaskRecord>> Plan(const JobRecord& job) override;
  Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) override;
  bool PointOfNoReturn(const TaskRecord&) const override { return false; }
  void TaskEnded(const JobRecord& job, const TaskRecord& task) override;

 private:
  struct Live {
    std::unique_ptr<core::ReplicaStore> store;
    std::shared_ptr<const core::CachedVmSet> vmset;  // its keys, for the run
    std::unique_ptr<core::RestoreRun> run;
    ~Live() { run.reset(); }
  };
  const ReplicaContext ctx_;
  LiveTasks<Live> live_;
};

// The name of the VM set whose GUID is `id` among the VM sets at the top of the Volume
// (position 1), through the policy cache: how a restore finds its VM set after a rename.
Result<std::string> FindVmSetByGuid(core::Volume& volume, core::PolicyCache& cache, const Uuid& id);

}  // namespace cafs::jobs
