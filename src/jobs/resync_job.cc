#include "jobs/resync_job.h"

#include <algorithm>
#include <array>
#include <cerrno>

#include "jobs/volume_files.h"
#include "util/logging.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 4> kTargets = {"file", "vm", "vmset", "dir"};

// What the stale copies of `rel` miss (bytes), or nullopt when every copy is in sync.
Result<std::optional<std::uint64_t>> Missing(core::Volume& volume, const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(std::vector<core::ReplicaStatus> copies, volume.Replicas(rel));
  std::optional<std::uint64_t> missing;
  for (const core::ReplicaStatus& c : copies) {
    if (c.health == core::ReplicaHealth::kInSync) continue;
    missing = missing.value_or(0) + c.dirty_bytes;
  }
  return missing;
}

}  // namespace

Status ResyncJob::Validate(const JobSpec& spec) const {
  const JobTarget& t = spec.target;
  if (std::find(kTargets.begin(), kTargets.end(), t.type) == kTargets.end()) {
    return Status::NotSupported("resync works on a file, vm, vmset or dir, not '" + t.type + "'");
  }
  if (t.path.empty() || t.path.front() != '/') {
    return Status::InvalidArgument("resync needs a gateway path, not '" + t.path + "'");
  }
  if (!spec.params.is_object() || !spec.params.empty()) {
    return Status::InvalidArgument("resync takes no parameters");
  }
  const std::string rel = VolumePathOf(t.path);
  CAFS_RETURN_IF_ERROR(volume_->SplitPath(rel).status());
  if (t.type == "file") {
    CAFS_ASSIGN_OR_RETURN(core::FileLocation loc, volume_->Locate(rel));
    if (loc.replicas.empty()) {
      return Status::InvalidArgument(t.path +
                                     " has one copy (policy <replicas> 1): nothing to resync");
    }
  }
  return Status::OK();
}

Result<std::vector<TaskRecord>> ResyncJob::Plan(const JobRecord& job) {
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> files, FilesOf(*volume_, job.spec.target));
  std::vector<TaskRecord> tasks;
  for (const std::string& f : files) {
    auto loc = volume_->Locate(f);
    if (!loc.ok()) {
      if (loc.status().IsNotFound()) continue;  // removed since it was listed
      return loc.status();
    }
    if (loc->replicas.empty()) continue;
    CAFS_ASSIGN_OR_RETURN(std::optional<std::uint64_t> missing, Missing(*volume_, f));
    if (!missing) continue;
    TaskRecord task;
    task.path = "/" + f;
    task.total = *missing;
    task.cursor = json{{"guid", loc->guid.ToString()}, {"phase", "planned"}};
    tasks.push_back(std::move(task));
  }
  return tasks;
}

Result<StepResult> ResyncJob::Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) {
  const std::string rel = VolumePathOf(task.path);
  auto guid_it = task.cursor.find("guid");
  auto guid =
      Uuid::Parse(guid_it != task.cursor.end() && guid_it->is_string() ? guid_it->get<std::string>()
                                                                       : std::string());
  if (!guid.ok()) return Status::Corruption("resync cursor of " + task.path + " is malformed");
  std::shared_ptr<core::MirrorSet> set = live_.Find(job, task);
  if (!set) {
    CAFS_ASSIGN_OR_RETURN(set, volume_->MirrorSetOf(rel));
    live_.Put(job, task, set);
  }
  // The name may have been removed or reused since the plan: only the planned file is
  // resynced (its mirror log would otherwise outlive it).
  auto loc = volume_->Locate(rel);
  if (!loc.ok() || loc->guid != *guid || set->guid() != *guid) {
    live_.Drop(job, task);
    return Status::NotFound(task.path + " was removed or replaced since the job was planned");
  }
  std::uint64_t copied = 0;
  auto done = volume_->ResyncStep(*set, rel, budget, &copied);
  if (!done.ok()) {
    live_.Drop(job, task);  // the next attempt reopens the copies and reads the log
    return done.status();
  }
  StepResult result;
  result.bytes = copied;
  result.done = *done;
  task.done += copied;
  task.total = std::max(task.total, task.done);
  task.cursor["phase"] = *done ? "done" : "copy";
  if (*done) {
    task.done = task.total;
    live_.Drop(job, task);
  }
  return result;
}

void ResyncJob::TaskEnded(const JobRecord& job, const TaskRecord& task) {
  live_.Drop(job, task);
  switch (task.state) {
    case TaskState::kDone:
      auditor_.Record(job, task.path, "resync", audit::Result::kOk, "every copy is in sync again",
                      task.done);
      break;
    case TaskState::kFailed:
      auditor_.Record(job, task.path, "resync", audit::Result::kError,
                      task.error + " (the copy stays stale; its mirror log says what it misses)",
                      task.done);
      break;
    default:
      auditor_.Record(job, task.path, "resync", audit::Result::kOk,
                      "stopped: the job was cancelled; the copy stays stale", task.done);
      break;
  }
}

std::optional<std::string> ResyncTrigger::Tick() {
  std::set<std::string> down;
  for (const std::string& name : volume_->pools().names()) {
    auto p = volume_->pools().Find(name);
    if (p.ok() && !(*p)->CheckAvailable().ok()) down.insert(name);
  }
  bool returned = false;
  for (const std::string& name : down_) returned = returned || !down.count(name);
  down_ = std::move(down);
  auto logs = volume_->MirrorLogs();
  if (!logs.ok()) {
    CAFS_LOG_WARN("resync trigger: {}", logs.status().ToString());
    return std::nullopt;
  }
  std::set<std::string> stale;
  for (const core::MirrorLogRecord& r : *logs) {
    if (std::any_of(r.copies.begin(), r.copies.end(), [](const auto& c) { return c.stale; })) {
      stale.insert(r.guid.ToString());
    }
  }
  if (stale.empty()) {
    started_for_.clear();
    return std::nullopt;
  }
  const bool new_stale = std::any_of(stale.begin(), stale.end(),
                                     [&](const std::string& g) { return !started_for_.count(g); });
  // A file that went stale while its pool is down waits for the pool's return (`returned`).
  if (!returned && !(new_stale && down_.empty())) return std::nullopt;
  for (const JobStatus& j : manager_->List()) {
    if (j.record.spec.kind == ResyncJob::kName && !IsFinal(j.record.state)) return std::nullopt;
  }
  JobSpec spec;
  spec.kind = std::string(ResyncJob::kName);
  spec.target.type = "dir";
  spec.target.path = "/";
  spec.requested_by = "gateway (a stale mirror copy's pool answers)";
  auto started = manager_->Start(std::move(spec));
  if (!started.ok()) {
    CAFS_LOG_WARN("resync trigger: {}", started.status().ToString());
    return std::nullopt;
  }
  started_for_ = std::move(stale);
  CAFS_LOG_INFO("resync job {} started: {} mirrored file(s) with a stale copy", started->record.id,
                started_for_.size());
  return started->record.id;
}

}  // namespace cafs::jobs
