// ShredJob: the job kind "shred" (issue 14, overwrite shred; docs/jobs.md "Shred"): every
// file of the target (a file, a VM directory, a VM set, any directory) loses its name and
// then its data, file by file:
//
//   detach     the redirector is removed (Volume::DetachRedirector; the directory synced):
//              the file is gone from the namespace; nobody can open it again
//   claim      the pool file is renamed to `<dir>/.cafs-shred-<file GUID>` in its pool (the
//              directory synced), so a new file created under the old name can never be
//              taken for it
//   overwrite  one pass of random data over every non-zero range, in steps of at most the
//              job's step budget, each synced before the cursor moves (a range that reads as
//              zeros — a hole — holds nothing to hide and is not written, so a sparse disk
//              does not fill the pool)
//   discard    File::PunchHole over the whole file where the pool's file system supports it
//              (ext4, xfs: the blocks are given back and discarded by the device), synced
//   remove     the pool file is unlinked (directory synced); one audit record "shred"
//
// The cursor (a JSON object persisted with the task) holds the phase and where the file is:
//   {"phase": "detach"|"claim"|"overwrite"|"discard"|"remove",
//    "pool": name, "pool_path": path, "guid": file GUID, "offset": bytes overwritten}
// Plan reads every redirector first (nothing changes before the plan is durable). Each phase
// is idempotent, so a crash anywhere redoes at most one step: a half-shredded file is always
// finished on resume and never readable again (its redirector is gone before its first byte
// is overwritten). Cancel finishes every file past `detach` (PointOfNoReturn).
//
// A file that is open through this gateway (a running VM) is not shredded: its task waits
// (StepResult::waiting, retried every kInUseRetry; pause and cancel act at once) for up to
// `in_use_grace` (kInUseGrace in cafsd; tests that check the refusal pass a shorter one) -- a
// release that is on its way after the VM's close() -- and then fails with EBUSY "in use" (resume
// the job once the VM closed it).
//
// Params: none (an empty object); targets: "file" (a file), "vm", "vmset", "dir" (a
// directory; every file below it, symlinks are left alone).
//
// Target "freed" (shred on free, jobs/shred_on_free.h; docs/jobs.md "Shred on free"): the
// pool file of a file whose last name an unlink removes, params {"pool", "pool_path", "guid"}
// (what Volume::Locate said before the job was persisted), plus "copies" ([{"pool",
// "pool_path"}, ...], the other copies) for a mirrored file: one task per copy, each with
// the cursor flag "mirrored", whose remove phase also removes the file's mirror log
// (Volume::RemoveMirrorLog); a copy whose pool does not answer fails its task (resume). The unlink
// itself detaches the redirector, after the job is durable; the task's detach phase only learns how
// that went (BeginFree/EndFree, in memory): detached -> claim; failed -> the task ends "kept"
// (nothing freed, nothing shredded); still running -> waits. After a restart (nothing in memory)
// the name decides: still naming the GUID -> the unlink never happened (kept); gone -> claim. The
// file may still be open through this gateway (unlinked while open, as POSIX allows): the
// claim waits, with no time limit, until Volume::IsOpen(guid) is false (its last close).
//
// Threading: Step may run for different tasks at once (JobKind's contract).
// Ownership: `volume` (and its pools) are not owned and must outlive the kind.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "cafs/volume.h"
#include "jobs/job_audit.h"
#include "jobs/job_kind.h"
#include "jobs/live_tasks.h"

namespace cafs::jobs {

class ShredJob final : public JobKind {
 public:
  static constexpr std::string_view kName = "shred";
  static constexpr std::string_view kClaimPrefix = core::kShredClaimPrefix;
  static constexpr std::chrono::seconds kInUseGrace{5};
  static constexpr std::chrono::milliseconds kInUseRetry{100};

  ShredJob(core::Volume* volume, JobAuditor auditor,
           std::chrono::milliseconds in_use_grace = kInUseGrace)
      : volume_(volume), auditor_(auditor), in_use_grace_(in_use_grace) {}

  std::string_view name() const override { return kName; }
  Status Validate(const JobSpec& spec) const override;
  Result<std::vector<TaskRecord>> Plan(const JobRecord& job) override;
  Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) override;
  bool PointOfNoReturn(const TaskRecord& task) const override;
  void TaskEnded(const JobRecord& job, const TaskRecord& task) override;

  // The unlink of a "freed" task's file (above): BeginFree before its job is started, EndFree
  // once the redirector is detached (`detached`) or the unlink failed. Any thread.
  void BeginFree(const Uuid& guid);
  void EndFree(const Uuid& guid, bool detached);

 private:
  enum class FreeState { kUnknown, kDetaching, kDetached, kFailed };
  FreeState TakeFreeState(const Uuid& guid);
  Result<StepResult> StepFreedDetach(const std::string& rel, const Uuid& guid, bool* kept);

  Status PlanTree(const std::string& rel, std::vector<TaskRecord>& out, int depth);
  Result<TaskRecord> PlanFile(const std::string& rel);

  core::Volume* const volume_;
  const JobAuditor auditor_;
  const std::chrono::milliseconds in_use_grace_;
  // When each task waiting for an in-use file first found it open (dropped when it is not).
  LiveTasks<std::chrono::steady_clock::time_point> busy_since_;
  std::mutex free_mu_;                      // a leaf lock
  std::map<std::string, FreeState> frees_;  // by file GUID; guarded by free_mu_
};

}  // namespace cafs::jobs
