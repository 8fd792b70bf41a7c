#include "jobs/job_audit.h"

#include "policy/vmset_path.h"
#include "util/logging.h"

namespace cafs::jobs {

void JobAuditor::Record(const JobRecord& job, std::string_view path, std::string_view op,
                        audit::Result result, std::string_view reason, std::uint64_t bytes) const {
  if (log_ == nullptr) return;
  audit::AuditRecord r;
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
          .count();
  r.time_ms = r.end_ms = now;
  r.server = job.spec.requested_by.empty() ? "cafsd" : job.spec.requested_by;
  r.op = std::string(op);
  r.result = result;
  r.reason = "job " + job.id + " (" + job.spec.kind + ")";
  if (!reason.empty()) r.reason += ": " + std::string(reason);
  r.bytes = bytes;
  if (!path.empty()) {
    auto where = policy::ResolveVmSetPath("/", position_, path);
    if (where.ok()) {
      r.vmset = where->vmset_name;
      r.vm = where->vm_name;
      const std::string& within = where->path_within_vmset;
      r.file = within.size() > r.vm.size() ? within.substr(r.vm.size() + 1) : "";
    } else {
      r.file = std::string(path);
    }
  }
  auto appended = log_->Append(std::move(r));
  if (!appended.ok()) {
    CAFS_LOG_ERROR("audit of job {} ({}) failed: {}", job.id, op, appended.status().ToString());
  }
}

}  // namespace cafs::jobs
