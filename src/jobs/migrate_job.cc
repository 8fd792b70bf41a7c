#include "jobs/migrate_job.h"

#include <algorithm>
#include <array>
#include <cerrno>

#include "jobs/policy_vobj.h"
#include "jobs/volume_files.h"
#include "util/logging.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 4> kTargets = {"file", "vm", "vmset", "pool"};

// The job's params: {"to_pool": name} or {"policy": true} (migrate_job.h).
struct Params {
  std::string to_pool;  // empty for a policy-driven job
  bool policy = false;

  static Result<Params> Of(const json& params) {
    if (!params.is_object()) return Status::InvalidArgument("migrate params must be an object");
    for (const auto& [k, v] : params.items()) {
      if (k != "to_pool" && k != "policy") {
        return Status::InvalidArgument("migrate: unknown parameter '" + k + "'");
      }
      (void)v;
    }
    Params p;
    if (auto policy = params.find("policy"); policy != params.end()) {
      if (!policy->is_boolean() || !policy->get<bool>() || params.size() != 1) {
        return Status::InvalidArgument(
            "migrate: \"policy\": true stands alone (each file's pool comes from its vobj)");
      }
      p.policy = true;
      return p;
    }
    auto to = params.find("to_pool");
    if (to == params.end() || !to->is_string() || to->get<std::string>().empty()) {
      return Status::InvalidArgument("migrate needs to_pool, the name of the target pool");
    }
    p.to_pool = to->get<std::string>();
    return p;
  }
};

std::string CursorString(const TaskRecord& task, const char* key) {
  auto it = task.cursor.find(key);
  return it != task.cursor.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Status MigrateJob::Validate(const JobSpec& spec) const {
  const JobTarget& t = spec.target;
  if (std::find(kTargets.begin(), kTargets.end(), t.type) == kTargets.end()) {
    return Status::NotSupported("migrate works on a file, vm, vmset or pool, not '" + t.type + "'");
  }
  if (t.path.empty() || t.path.front() != '/') {
    return Status::InvalidArgument("migrate needs a gateway path, not '" + t.path + "'");
  }
  const std::string rel = VolumePathOf(t.path);
  if (rel.empty() && t.type != "pool") {
    return Status::InvalidArgument("migrate " + t.type + " needs the path of a " + t.type);
  }
  CAFS_RETURN_IF_ERROR(volume_->SplitPath(rel).status());
  CAFS_ASSIGN_OR_RETURN(Params params, Params::Of(spec.params));
  if (params.policy) {
    if (t.type == "pool") {
      return Status::InvalidArgument("a policy-driven migration works on a file, vm or vmset");
    }
    if (cache_ == nullptr) {
      return Status::NotSupported("policy-driven migration needs the gateway's policy cache");
    }
    return VmSetOfPath(*cache_, position_, t.path).status();
  }
  const std::string& to_pool = params.to_pool;
  if (!volume_->pools().Find(to_pool).ok()) {
    return Status::InvalidArgument("pool '" + to_pool + "' is not configured on this gateway");
  }
  if (t.type == "pool") {
    if (!volume_->pools().Find(t.pool).ok()) {
      return Status::InvalidArgument("pool '" + t.pool + "' (to drain) is not configured");
    }
    if (t.pool == to_pool) {
      return Status::InvalidArgument("cannot drain pool " + t.pool + " into itself");
    }
  }
  if (t.type == "file") {
    auto loc = volume_->Locate(rel);
    if (!loc.ok() && loc.status().errno_value() == EISDIR) {
      return Status::InvalidArgument(t.path +
                                     " is a directory, not a file (--vm, --vmset, --drain)");
    }
    if (!loc.ok() && loc.status().errno_value() == ELOOP) {
      return Status::InvalidArgument(t.path + " is a symlink, not a file: migrate its target");
    }
    if (!loc.ok()) return loc.status();
    if (loc->pool == to_pool) {
      return Status::InvalidArgument(t.path + " is in pool " + to_pool + " already");
    }
  }
  return Status::OK();
}

Result<std::string> MigrateJob::PolicyPoolOf(const core::CachedVmSet& vs,
                                             const std::string& rel) const {
  CAFS_ASSIGN_OR_RETURN(const policy::VirtualObject* vobj, VobjOfPath(vs, position_, "/" + rel));
  if (vobj == nullptr) return std::string();  // no vobj: left alone
  if (vobj->replicas > 1) {
    CAFS_LOG_WARN(
        "jobs: /{} stays where it is although its vobj names pool {}: migrating "
        "mirrored files is not implemented",
        rel, vobj->storage_pool);
    return std::string();
  }
  return vobj->storage_pool;
}

Result<std::vector<TaskRecord>> MigrateJob::Plan(const JobRecord& job) {
  const JobTarget& t = job.spec.target;
  CAFS_ASSIGN_OR_RETURN(Params params, Params::Of(job.spec.params));
  std::shared_ptr<const core::CachedVmSet> vs;
  if (params.policy) {
    if (cache_ == nullptr) return Status::NotSupported("no policy cache");
    CAFS_ASSIGN_OR_RETURN(vs, VmSetOfPath(*cache_, position_, t.path));
  }
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> files, FilesOf(*volume_, t));
  std::vector<TaskRecord> tasks;
  std::size_t already = 0;
  for (const std::string& f : files) {
    CAFS_ASSIGN_OR_RETURN(core::FileLocation loc, volume_->Locate(f));
    if (t.type == "pool" && loc.pool != t.pool) continue;
    std::string to_pool = params.to_pool;
    if (vs) {
      CAFS_ASSIGN_OR_RETURN(to_pool, PolicyPoolOf(*vs, f));
      if (to_pool.empty()) continue;
    }
    if (loc.pool == to_pool) {
      ++already;
      continue;
    }
    TaskRecord task;
    task.path = "/" + f;
    if (auto pool = volume_->pools().Find(loc.pool); pool.ok()) {
      if (auto info = (*pool)->Stat(loc.pool_path); info.ok()) task.total = info->size;
    }
    task.cursor = json{{"guid", loc.guid.ToString()},
                       {"from_pool", loc.pool},
                       {"from_path", loc.pool_path},
                       {"to_pool", to_pool},
                       {"phase", "planned"}};
    tasks.push_back(std::move(task));
  }
  if (tasks.empty() && already > 0 && !params.policy) {  // a policy job: done at once
    return Status::InvalidArgument(t.path + ": every file is in pool " + params.to_pool +
                                   " already");
  }
  return tasks;
}

Result<std::shared_ptr<core::FileMigration>> MigrateJob::Acquire(const JobRecord& job,
                                                                 TaskRecord& task, bool* done) {
  *done = false;
  if (auto live = live_.Find(job, task)) return live;
  const std::string to_pool = CursorString(task, "to_pool");  // planned per file
  if (to_pool.empty()) return Status::Corruption("migrate cursor of " + task.path + " has no pool");
  const std::string rel = VolumePathOf(task.path);
  auto guid = Uuid::Parse(CursorString(task, "guid"));
  if (!guid.ok()) return Status::Corruption("migrate cursor of " + task.path + " is malformed");
  const std::string to_path = CursorString(task, "to_path");
  if (!to_path.empty()) {
    // A migration of this task ran in an earlier process (or step): go by the disk.
    CAFS_ASSIGN_OR_RETURN(
        core::MigrationOutcome outcome,
        core::FileMigration::Recover(*volume_, rel, *guid, CursorString(task, "from_pool"),
                                     CursorString(task, "from_path"), CursorString(task, "to_pool"),
                                     to_path));
    if (outcome == core::MigrationOutcome::kCommitted) {
      *done = true;
      return std::shared_ptr<core::FileMigration>();
    }
  }
  CAFS_ASSIGN_OR_RETURN(core::FileLocation loc, volume_->Locate(rel));
  if (loc.guid != *guid) {
    return Status::NotFound(task.path + " was replaced by another file since the job was planned");
  }
  if (loc.pool == to_pool) {  // moved before a crash lost the cursor's to_path: roll forward
    CAFS_RETURN_IF_ERROR(
        core::FileMigration::Recover(*volume_, rel, *guid, CursorString(task, "from_pool"),
                                     CursorString(task, "from_path"), to_pool, loc.pool_path)
            .status());
    *done = true;
    return std::shared_ptr<core::FileMigration>();
  }
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<core::FileMigration> m,
                        core::FileMigration::Start(*volume_, rel, to_pool, options_));
  std::shared_ptr<core::FileMigration> live = std::move(m);
  const core::MigrationTicket& t = live->ticket();
  task.cursor["from_pool"] = t.from_pool;
  task.cursor["from_path"] = t.from_path;
  task.cursor["to_path"] = t.to_path;
  live_.Put(job, task, live);
  return live;
}

Result<StepResult> MigrateJob::Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) {
  bool done = false;
  CAFS_ASSIGN_OR_RETURN(auto live, Acquire(job, task, &done));
  StepResult result;
  if (done) {
    task.done = task.total;
    task.cursor["phase"] = "done";
    result.done = true;
    return result;
  }
  const std::uint64_t before = live->progress().bytes_copied;
  auto p = live->Step(budget);
  if (!p.ok()) {
    live_.Drop(job, task);  // the next attempt starts again from what the disk says
    return p.status().WithContext(task.path);
  }
  result.bytes = p->bytes_copied - before;
  result.done = p->finished();
  task.total = std::max(p->bytes_total, task.total);
  task.done = p->finished() ? task.total : std::min(p->bytes_copied, task.total);
  task.cursor["phase"] = std::string(core::MigrationPhaseName(p->phase));
  task.cursor["pass"] = p->pass;
  if (!p->warning.empty()) task.cursor["warning"] = p->warning;
  if (p->finished()) live_.Drop(job, task);
  return result;
}

void MigrateJob::TaskEnded(const JobRecord& job, const TaskRecord& task) {
  live_.Drop(job, task);
  const std::string from = CursorString(task, "from_pool");
  const std::string to = CursorString(task, "to_pool");
  switch (task.state) {
    case TaskState::kDone: {
      std::string reason = "moved from pool " + from + " to pool " + to;
      if (const std::string w = CursorString(task, "warning"); !w.empty()) reason += "; " + w;
      auditor_.Record(job, task.path, "migrate", audit::Result::kOk, reason, task.total);
      break;
    }
    case TaskState::kFailed:
      auditor_.Record(job, task.path, "migrate", audit::Result::kError,
                      task.error + " (the file stays in pool " + from + ")", task.done);
      break;
    default:
      auditor_.Record(job, task.path, "migrate", audit::Result::kOk,
                      "stopped: the job was cancelled; the file stays in pool " + from, task.done);
      break;
  }
}

}  // namespace cafs::jobs
