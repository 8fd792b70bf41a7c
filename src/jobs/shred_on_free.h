// ShredOnFree: the unlink of a file's last name under <shred-on-free>yes</shred-on-free>
// (core::UnlinkShredder; docs/jobs.md "Shred on free"), on the shred job kind:
//
//   1. Volume::Locate: the pool file, GUID and link count (a name that is not the last one, a
//      symlink, a special file or a directory: a plain Volume::Unlink, nothing is freed);
//   2. ShredJob::BeginFree, then a "freed" shred job is started: persisted before anything
//      changes (a failure refuses the unlink, EIO, nothing changed);
//   3. Volume::DetachRedirector (the name removed, its directory synced): the unlink's
//      result; ShredJob::EndFree tells the job how it went.
//
// The job then claims, overwrites, discards and removes the pool file (after the file's last
// close when it is still open), and audits it. A crash after 2 and before 3 leaves a job whose
// task finds the name still there after the restart: it ends "kept" (the unlink was never
// answered and did not happen).
//
// A mirrored file (several copies): the job's params name every copy ("copies"), and the job
// shreds each of them (one task per copy) and then removes the file's mirror log.
//
// Threading: Unlink from any thread. Ownership: the Volume, JobManager and ShredJob are not
// owned and must outlive this object (the kind is owned by the manager).
#pragma once

#include <string>

#include "cafs/unlink_shredder.h"
#include "cafs/volume.h"
#include "jobs/job_manager.h"
#include "jobs/shred_job.h"

namespace cafs::jobs {

class ShredOnFree final : public core::UnlinkShredder {
 public:
  ShredOnFree(core::Volume* volume, JobManager* manager, ShredJob* kind)
      : volume_(volume), manager_(manager), kind_(kind) {}
  Status Unlink(const std::string& rel) override;

 private:
  core::Volume* const volume_;
  JobManager* const manager_;
  ShredJob* const kind_;
};

}  // namespace cafs::jobs
