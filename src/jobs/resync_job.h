// ResyncJob: the job kind "resync" (issue 15, mirrored storage; docs/jobs.md "Resync",
// docs/redirectors.md "Mirrored files"): the stale copies of mirrored files are brought back
// in sync from a copy in sync, only the chunks their mirror log names, while the files stay
// in use (open or closed), in bounded steps (core::Volume::ResyncStep).
//
// Targets (JobSpec::target): "file" (a mirrored file), "vm", "vmset", "dir" (every mirrored
// file below `path`; "/" for the whole gateway). Params: {} (anything else is refused).
// Plan: one task per mirrored file that has a copy not in sync; `total` = the bytes its mirror
// log says the stale copies miss.
// Cursor (persisted with the task): {"guid": file GUID, "phase": "planned"|"copy"|"done"}.
// The authority is the mirror log: every step syncs the copy and then saves the log without
// the chunks it copied (MirrorSet::ResyncStep), so a resumed task (kill -9, restart, pause)
// goes on from the last step; a file replaced since the plan fails its task (NotFound).
// A pool still unreachable fails the task (EIO naming it); `resume` retries.
// Cancel stops at a step boundary (nothing half done: PointOfNoReturn is false; the copy
// stays stale, its log exact). One audit record "resync" per file.
//
// ResyncTrigger: what the gateway's tick calls (cafsd): starts a resync job of "/" when a
// mirror log names a stale copy and something changed since the last job it started: a pool
// that was unavailable at the previous tick answers again, or (while every pool answers) a
// file went stale that the last job was not started for (also at the first tick after a
// start). So a pool that stays down or keeps failing starts one job per return, not one per
// tick. Never while a resync job
// is queued, running or paused (at most one at a time).
//
// Threading: Step may run for different tasks at once (JobKind's contract); the live sets
// have their own mutex. ResyncTrigger::Tick from one thread at a time.
// Ownership: `volume` and `manager` are not owned and must outlive the kind / the trigger.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "cafs/mirrored_file.h"
#include "cafs/volume.h"
#include "jobs/job_audit.h"
#include "jobs/job_kind.h"
#include "jobs/job_manager.h"
#include "jobs/live_tasks.h"

namespace cafs::jobs {

class ResyncJob final : public JobKind {
 public:
  static constexpr std::string_view kName = "resync";

  ResyncJob(core::Volume* volume, JobAuditor auditor) : volume_(volume), auditor_(auditor) {}
  ~ResyncJob() override { live_.Clear(); }

  std::string_view name() const override { return kName; }
  Status Validate(const JobSpec& spec) const override;
  Result<std::vector<TaskRecord>> Plan(const JobRecord& job) override;
  Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) override;
  bool PointOfNoReturn(const TaskRecord&) const override { return false; }
  void TaskEnded(const JobRecord& job, const TaskRecord& task) override;

 private:
  core::Volume* const volume_;
  const JobAuditor auditor_;
  LiveTasks<core::MirrorSet> live_;
};

class ResyncTrigger {
 public:
  ResyncTrigger(core::Volume* volume, JobManager* manager) : volume_(volume), manager_(manager) {}
  // The id of the job it started, or nullopt (nothing to do, one is active, nothing changed).
  std::optional<std::string> Tick();

 private:
  core::Volume* const volume_;
  JobManager* const manager_;
  std::set<std::string> down_;         // pools unavailable at the previous tick
  std::set<std::string> started_for_;  // GUIDs of the stale files the last job was for
};

}  // namespace cafs::jobs
