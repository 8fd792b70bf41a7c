#include "jobs/replica_scheduler.h"

#include <algorithm>

#include "jobs/replica_job.h"
#include "util/json_text.h"
#include "util/logging.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

constexpr std::string_view kStateFormat = "cafs-replica-schedule 1";
constexpr std::uint64_t kMaxStateBytes = 16u << 20;

std::int64_t Ms(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The instant a scheduled replica job was due (params.scheduled_ms); 0 for other jobs.
std::int64_t ScheduledMs(const JobRecord& r) {
  if (r.spec.kind != ReplicaJob::kName || r.spec.requested_by != kReplicaScheduleRequester) {
    return 0;
  }
  auto it = r.spec.params.find("scheduled_ms");
  return it != r.spec.params.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

bool IsReplicaOf(const JobRecord& r, const std::string& path) {
  return r.spec.kind == ReplicaJob::kName && r.spec.target.path == path;
}

}  // namespace

ReplicaScheduler::ReplicaScheduler(JobManager* jobs, core::Volume* volume, core::PolicyCache* cache,
                                   const Clock* clock, env::Env* env, std::string state_dir)
    : jobs_(jobs),
      volume_(volume),
      cache_(cache),
      clock_(clock),
      env_(env),
      dir_(std::move(state_dir)) {}

ReplicaScheduler::~ReplicaScheduler() { Stop(); }

void ReplicaScheduler::Load() {
  state_.clear();
  const std::string path = dir_ + "/" + kReplicaScheduleFile;
  auto read = [&]() -> Status {
    CAFS_ASSIGN_OR_RETURN(auto file, env_->OpenFile(path, env::OpenOptions::ReadOnly()));
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
    if (size > kMaxStateBytes) return Status::Corruption("larger than 16 MiB");
    std::string text(size, '\0');
    CAFS_RETURN_IF_ERROR(env::ReadExactly(
        *file, 0, MutableByteView(reinterpret_cast<std::uint8_t*>(text.data()), text.size())));
    CAFS_ASSIGN_OR_RETURN(json j, ParseJson(text, "replica schedule state"));
    if (!j.is_object() || j.value("format", "") != kStateFormat || !j.contains("vms") ||
        !j["vms"].is_object()) {
      return Status::Corruption("not a " + std::string(kStateFormat) + " file");
    }
    for (const auto& [key, v] : j["vms"].items()) {
      if (!v.is_object() || !v.contains("last_ms") || !v["last_ms"].is_number_integer()) {
        return Status::Corruption("entry '" + key + "' has no last_ms");
      }
      state_[key] =
          Entry{v["last_ms"].get<std::int64_t>(), v.value("job", ""), v.value("error", "")};
    }
    return Status::OK();
  };
  Status s = read();
  if (s.IsNotFound()) return;
  if (!s.ok()) {
    // The jobs' own records still say when each scheduled replica began (no double start).
    CAFS_LOG_ERROR("replica schedule: {} is unreadable ({}); starting from the job records", path,
                   s.ToString());
    state_.clear();
  }
}

Status ReplicaScheduler::Save() {
  json vms = json::object();
  for (const auto& [key, e] : state_) {
    json v{{"last_ms", e.last_ms}, {"job", e.job}};
    if (!e.error.empty()) v["error"] = e.error;
    vms[key] = std::move(v);
  }
  const std::string text = json{{"format", kStateFormat}, {"vms", std::move(vms)}}.dump() + "\n";
  return env::ReplaceFileAtomically(*env_, dir_, dir_ + "/" + kReplicaScheduleFile, AsBytes(text));
}

Result<std::vector<std::string>> ReplicaScheduler::Tick() {
  const std::int64_t now_ms = Ms(clock_->Now());
  const std::vector<JobStatus> jobs = jobs_->List();
  CAFS_ASSIGN_OR_RETURN(auto vmsets, volume_->ReadDir(""));
  std::vector<std::string> started;
  for (const auto& vs : vmsets) {
    if (vs.type != core::FileType::kDirectory) continue;
    auto cached = cache_->Get(vs.name);
    if (!cached.ok()) continue;  // not a VM set this gateway knows now: nothing scheduled
    const auto& bundle = (*cached)->bundle;
    if (bundle.descriptor.replica_schedules.empty()) continue;
    if (bundle.vmset.id.IsNil()) {
      CAFS_LOG_WARN(
          "replica schedule: VM set {} has no GUID (<vmset-id>): its replicas could "
          "not be found again, none is made",
          vs.name);
      continue;
    }
    auto vms = volume_->ReadDir(vs.name);
    if (!vms.ok()) {
      CAFS_LOG_WARN("replica schedule: {}: {}", vs.name, vms.status().ToString());
      continue;
    }
    for (const auto& vm : *vms) {
      if (vm.type != core::FileType::kDirectory) continue;
      const policy::ReplicaSchedule* schedule = bundle.descriptor.ReplicaScheduleFor(vm.name);
      if (schedule == nullptr) continue;
      std::string id = TickVm(vs.name, bundle.vmset.id, vm.name, *schedule, jobs, now_ms);
      if (!id.empty()) started.push_back(std::move(id));
    }
  }
  return started;
}

std::string ReplicaScheduler::TickVm(const std::string& vmset_name, const Uuid& vmset_id,
                                     const std::string& vm_name,
                                     const policy::ReplicaSchedule& schedule,
                                     const std::vector<JobStatus>& jobs, std::int64_t now_ms) {
  const std::string key = vmset_id.ToString() + "/" + vm_name;
  const std::string path = "/" + vmset_name + "/" + vm_name;
  Entry& entry = state_[key];
  std::int64_t last = entry.last_ms;
  const JobRecord* newest = nullptr;
  for (const JobStatus& j : jobs) {
    if (!IsReplicaOf(j.record, path)) continue;
    if (!IsFinal(j.record.state)) return "";  // one replica of a VM at a time
    const std::int64_t at = ScheduledMs(j.record);
    if (at > 0 && (newest == nullptr || at > ScheduledMs(*newest))) newest = &j.record;
    last = std::max(last, at);
  }
  // Earlier finished scheduled jobs of this VM: their replicas are listed by `replica list`.
  for (const JobStatus& j : jobs) {
    if (&j.record != newest && IsReplicaOf(j.record, path) && ScheduledMs(j.record) > 0) {
      (void)jobs_->Forget(j.record.id);
    }
  }
  const std::int64_t interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(schedule.interval).count();
  if (last > 0 && now_ms < last + interval_ms) {
    if (entry.last_ms < last) {  // the job outlived a state write lost to a crash
      entry.last_ms = last;
      entry.job = newest != nullptr ? newest->id : entry.job;
      if (Status s = Save(); !s.ok()) {
        CAFS_LOG_WARN("replica schedule: saving the state: {}", s.ToString());
      }
    }
    return "";
  }
  JobSpec spec;
  spec.kind = std::string(ReplicaJob::kName);
  spec.target.type = "vm";
  spec.target.path = path;
  spec.params = json{{"pool", schedule.pool}, {"keep", schedule.keep}, {"scheduled_ms", now_ms}};
  spec.requested_by = std::string(kReplicaScheduleRequester);
  auto started = jobs_->Start(std::move(spec));
  entry.last_ms = now_ms;
  if (started.ok()) {
    entry.job = started->record.id;
    entry.error.clear();
    CAFS_LOG_INFO("replica schedule: {} due (every {}), job {} to pool {}", path,
                  policy::ReplicaIntervalText(schedule.interval), entry.job, schedule.pool);
  } else {
    // Retried at the next interval, not at every tick (an unknown DR pool stays unknown).
    entry.job.clear();
    entry.error = started.status().ToString();
    CAFS_LOG_ERROR("replica schedule: {} to pool {}: {} (next try in {})", path, schedule.pool,
                   entry.error, policy::ReplicaIntervalText(schedule.interval));
  }
  if (Status s = Save(); !s.ok()) {
    CAFS_LOG_WARN("replica schedule: saving the state: {}", s.ToString());
  }
  return started.ok() ? started->record.id : "";
}

void ReplicaScheduler::Start(std::chrono::milliseconds period) {
  thread_ = std::thread([this, period] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, period, [&] { return stopping_; })) {
      lock.unlock();
      if (auto r = Tick(); !r.ok()) {
        CAFS_LOG_WARN("replica schedule: {}", r.status().ToString());
      }
      lock.lock();
    }
  });
}

void ReplicaScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cafs::jobs
