// RekeyJob: the job kind "rekey" (issue 14, deep rekey; docs/jobs.md "Deep rekey"): every
// file of the target is re-encrypted from its key version to a target version while it stays
// in use, by a format::Rekeyer driven one bounded step at a time.
//
// Targets (JobSpec::target):
//   "file"         one file (path)
//   "vm", "vmset"  every regular file below the VM / VM set directory (path)
//   "key-version"  every file below `path` (a VM set, a VM or a directory) whose header names
//                  key `target.key` version `target.version` ("every file under K v")
// Params: {"policy": true} alone -- a policy-driven conversion (docs/jobs.md "Conversions"):
// each file whose key GUID or cipher differs from its vobj's symkey / cipher is converted to
// that key (its current version) and cipher; files already there, matching no vobj, or whose
// vobj is clear text (an encrypted file is never decrypted) are left out; targets
// file/vm/vmset. Otherwise: {"to_version": N} (required), {"to_key": GUID} (optional;
// default: each file's own key GUID, i.e. the rotation of that key), {"to_cipher": NAME}
// (optional: a conversion, docs/format.md 8.8 -- every file, clear-text ones included, ends
// under NAME; "none" is refused: a job never decrypts data at rest; a clear-text file needs
// to_key). The target key must be one of the VM set's keys
// and its version known to this gateway (not destroyed): otherwise Validate fails with
// InvalidArgument naming the VM set, the key, the version and, when the key server said it,
// the version's state ("destroyed", "pre-active"); a file already under the target
// is left out of the plan (a job whose every file is already there fails Plan with
// InvalidArgument "already under ..."); a clear-text file is left out unless to_cipher is
// given.
//
// The live file: Step opens the file through core::Volume::OpenExisting, which hands out THE
// shared OpenFile the front-ends (FUSE, NFS) use for that redirector inode, and starts a
// Rekeyer on its EncryptedFile. Foreground reads and writes and the rekeyer therefore order
// through that file's range locks (format/rekeyer.h "Concurrency"): no write is lost or
// applied under the wrong key. The OpenFile and its Rekeyer are kept across steps of the
// task and released when the task ends (TaskEnded), on a step error, and when the kind is
// destroyed (JobManager::Shutdown; they are not released while a job is paused).
//
// Durability and resume: the Rekeyer syncs each hotzone and keeps its state (watermark,
// journal) in the pool file header; the task cursor holds the file's target and mirrors the
// watermark for display ({"guid": file GUID, "to_key": GUID, "to_version": N, "to_cipher":
// name (conversions only), "watermark": bytes}). After a restart
// Volume's open path passes the header's rekey target DEK (a writable open rolls the
// interrupted hotzone forward) and Start continues from the watermark, so a redone step is
// harmless. A file that already names the target key when its step starts (finished before
// the crash) is done at once.
//
// Errors of a step: the Rekeyer's (FailedPrecondition for a file mid-rekey to ANOTHER target:
// finish or undo that job first; ENOSPC/EIO of the pool), NotFound when the file was removed
// or replaced (another file GUID) since the plan, the key server's (EAGAIN).
//
// Threading: Step may run for different tasks at once (JobKind's contract); the table of
// live rekeys has its own mutex, never held while a Rekeyer steps.
// Ownership: `volume` and `cache` are not owned and must outlive the kind.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cafs/policy_cache.h"
#include "cafs/volume.h"
#include "format/rekeyer.h"
#include "jobs/job_audit.h"
#include "jobs/job_kind.h"
#include "jobs/live_tasks.h"

namespace cafs::jobs {

class RekeyJob final : public JobKind {
 public:
  static constexpr std::string_view kName = "rekey";

  // `position`: the gateway's VM set position (GatewayOptions::position).
  RekeyJob(core::Volume* volume, core::PolicyCache* cache, unsigned position, JobAuditor auditor)
      : volume_(volume), cache_(cache), position_(position), auditor_(auditor) {}
  ~RekeyJob() override;

  std::string_view name() const override { return kName; }
  Status Validate(const JobSpec& spec) const override;
  Result<std::vector<TaskRecord>> Plan(const JobRecord& job) override;
  Result<StepResult> Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) override;
  // A rekey can stop anywhere: every sector stays decryptable (format.md 8).
  bool PointOfNoReturn(const TaskRecord&) const override { return false; }
  void TaskEnded(const JobRecord& job, const TaskRecord& task) override;

 private:
  // One file being rekeyed: the shared open file and the Rekeyer on it (declared in this
  // order so the Rekeyer goes first).
  struct Live {
    std::shared_ptr<core::OpenFile> file;
    std::unique_ptr<format::Rekeyer> rekeyer;
    // The file was mid-rekey to another target (a rekey cancelled or failed before, a restore
    // of a replica cut during one): `rekeyer` finishes that one first, then the task's starts
    // on the same open file with `options`.
    bool finishing_previous = false;
    format::RekeyOptions options;
  };
  struct Target;
  struct FileTarget;

  static TaskRecord TaskFor(const std::string& rel, const format::Header& hdr,
                            const FileTarget& to);
  // A policy conversion's target for file `rel` (Volume path) with header `hdr`: its vobj's
  // symkey at the current version and cipher; none when the file is where its vobj wants it,
  // matches no vobj, or its vobj is clear text (an encrypted file is never decrypted).
  Result<std::optional<FileTarget>> PolicyTargetOf(const core::CachedVmSet& vs,
                                                   const std::string& rel,
                                                   const format::Header& hdr);

  Result<std::shared_ptr<const core::CachedVmSet>> VmSetOf(const std::string& path) const;
  Result<std::shared_ptr<Live>> Acquire(const JobRecord& job, const TaskRecord& task,
                                        const FileTarget& target, std::uint64_t budget,
                                        bool* already_done);
  // Starts the task's own rekey on `live` (after a previous target was finished).
  Status StartTarget(const TaskRecord& task, const FileTarget& target, Live& live);

  core::Volume* const volume_;
  core::PolicyCache* const cache_;
  const unsigned position_;
  const JobAuditor auditor_;

  LiveTasks<Live> live_;
};

}  // namespace cafs::jobs
