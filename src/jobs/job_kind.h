// JobKind: what one kind of job does (shred today; rekey, migrate, resync, replicate and
// restore are meant to be more of these). The JobManager owns persistence, scheduling,
// parallelism, the rate limit, pause/cancel and progress; a kind only plans tasks and advances
// one task by a bounded step (docs/jobs.md "Writing a job kind").
//
// The contract that makes jobs crash-safe:
//  - Plan runs once, before any step; its tasks (with their cursors) are made durable before
//    the first Step. Plan must not change anything (it only looks).
//  - Step(task, budget) does at most about `budget` bytes of work starting from task.cursor,
//    makes that work durable itself (File::Sync, SyncDir) BEFORE it returns, and then updates
//    task.cursor/done/total. The manager persists the task after Step returns. A crash
//    between the two re-runs Step from the previous cursor, so a step must be safe to redo
//    (idempotent from any earlier persisted cursor).
//  - A task is finished when Step returns done = true (the manager marks it done).
//  - PointOfNoReturn says whether a task has started changing things that must not be left
//    half-done (a shred that removed the redirector): cancel then still finishes it.
// A resumable engine with its own watermark (the deep Rekeyer's Step() returning bytes
// done/total) fits as a small adapter: Step calls it once and copies done/total.
//
// Threading: Step is called from several worker threads at once for DIFFERENT tasks (never
// twice at once for one task); Plan from one thread. Implementations must be thread-safe for
// that.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.h"
#include "util/result.h"

namespace cafs::jobs {

struct StepResult {
  std::uint64_t bytes = 0;  // work done by this step (charged to the rate limit)
  bool done = false;        // the task is finished
  // Waiting: the task cannot advance now and the step changed nothing (a shred of a file a
  // VM has just closed, whose release is still on its way). The manager shows the task as
  // waiting (`waiting_for`, e.g. "the file is open through this gateway"), does not save the
  // record, waits `retry_after` -- pause, cancel and shutdown end that wait at once -- and
  // calls Step again. The kind decides how long it keeps waiting before it fails the task.
  std::chrono::milliseconds retry_after{0};
  std::string waiting_for;
  bool waiting() const { return retry_after.count() > 0; }
};

class JobKind {
 public:
  virtual ~JobKind() = default;

  // The kind's name in JobSpec::kind ("shred").
  virtual std::string_view name() const = 0;
  // Checks a spec before it is persisted (target type supported, params known):
  // InvalidArgument / NotSupported with the reason.
  virtual Status Validate(const JobSpec& spec) const = 0;
  // The tasks of a job (one per file), with cursor, done and total set.
  virtual Result<std::vector<TaskRecord>> Plan(const JobRecord& job) = 0;
  // Advances `task` (see the contract above).
  virtual Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) = 0;
  virtual bool PointOfNoReturn(const TaskRecord& task) const = 0;
  // Called once per task that ended (done, failed or skipped), after it was persisted: the
  // kind audits it.
  virtual void TaskEnded(const JobRecord& job, const TaskRecord& task) = 0;
};

}  // namespace cafs::jobs
