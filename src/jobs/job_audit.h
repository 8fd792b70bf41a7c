// JobAuditor: the one place jobs write audit records (docs/jobs.md "Audit"): job start,
// finish, failure, cancel, and the records kinds write per file (shred). The record's VM
// set and VM come from the gateway path (policy::ResolveVmSetPath with the gateway's
// position); `server` is who asked for the job (JobSpec::requested_by).
//
// Threading: safe from any thread (AuditLog is). Ownership: `log` and `clock` are not owned;
// `log` may be null (then nothing is recorded: unit tests of the manager alone).
#pragma once

#include <cstdint>
#include <string_view>

#include "audit/audit_log.h"
#include "jobs/job.h"
#include "util/clock.h"

namespace cafs::jobs {

class JobAuditor {
 public:
  JobAuditor(audit::AuditLog* log, const Clock* clock, unsigned position)
      : log_(log), clock_(clock), position_(position) {}

  // One record about `path` (a gateway path; "" for none) for job `job`.
  void Record(const JobRecord& job, std::string_view path, std::string_view op,
              audit::Result result, std::string_view reason, std::uint64_t bytes = 0) const;

 private:
  audit::AuditLog* const log_;
  const Clock* const clock_;
  const unsigned position_;
};

}  // namespace cafs::jobs
