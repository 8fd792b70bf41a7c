#include "jobs/job_manager.h"

#include <algorithm>
#include <thread>

#include "jobs/token_bucket.h"
#include "util/logging.h"
#include "util/utf8.h"
#include "util/uuid.h"

namespace cafs::jobs {
namespace {

using Steady = std::chrono::steady_clock;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// In-memory progress of one task in this process (for rate and ETA).
struct TaskRun {
  Steady::time_point start{};
  std::uint64_t done_at_start = 0;
  bool active = false;
  std::string waiting_for;  // StepResult::waiting_for of the last step, while it waits
};

double RateOf(std::uint64_t done, std::uint64_t done_at_start, Steady::time_point start,
              Steady::time_point now) {
  const double secs = std::chrono::duration<double>(now - start).count();
  if (secs <= 0 || done <= done_at_start) return 0;
  return static_cast<double>(done - done_at_start) / secs;
}

std::optional<double> EtaOf(std::uint64_t done, std::uint64_t total, double rate) {
  if (done >= total) return 0.0;
  if (rate <= 0) return std::nullopt;
  return static_cast<double>(total - done) / rate;
}

// Job records are JSON text: a name that is not UTF-8 cannot be stored exactly yet, so jobs
// refuse it instead of working on a changed name (docs/jobs.md "Limits").
Status CheckText(const std::string& path) {
  if (IsValidUtf8(path)) return Status::OK();
  return Status::NotSupported("jobs cannot name paths that are not UTF-8 yet");
}

bool Unfinished(TaskState s) { return s == TaskState::kPending || s == TaskState::kRunning; }

}  // namespace

struct JobManager::Job {
  std::mutex save_mu;  // serializes Save of this job (taken before mu)
  std::mutex mu;
  JobRecord rec;                             // guarded by mu
  std::vector<TaskRun> runs;                 // guarded by mu; parallel to rec.tasks
  std::vector<bool> claimed;                 // guarded by mu; a worker has the task
  Steady::time_point run_start;              // guarded by mu
  std::uint64_t done_at_start = 0;           // guarded by mu
  Status store_error;                        // guarded by mu: a Save failed; the job stops
  JobState saved_state = JobState::kQueued;  // guarded by mu: the state on disk (for Wait)
  std::condition_variable wake;  // with mu: pause, cancel, shutdown end a rate-limit wait
  std::thread runner;            // joined by Resume/Cancel/Shutdown (under mu_ of the manager)
  std::unique_ptr<TokenBucket> bucket;
};

nlohmann::json ToJson(const JobStatus& status) {
  nlohmann::json j = ToJson(status.record);
  j["done_bytes"] = status.record.DoneBytes();
  j["total_bytes"] = status.record.TotalBytes();
  j["rate_bps"] = status.rate_bps;
  j["eta_s"] = status.eta_s ? nlohmann::json(*status.eta_s) : nlohmann::json(nullptr);
  for (std::size_t i = 0; i < status.tasks.size() && i < j["tasks"].size(); ++i) {
    j["tasks"][i]["rate_bps"] = status.tasks[i].rate_bps;
    j["tasks"][i]["eta_s"] =
        status.tasks[i].eta_s ? nlohmann::json(*status.tasks[i].eta_s) : nlohmann::json(nullptr);
    if (!status.tasks[i].waiting_for.empty())
      j["tasks"][i]["waiting"] = status.tasks[i].waiting_for;
  }
  return j;
}

JobManager::JobManager(env::Env* env, std::string store_dir, JobAuditor auditor,
                       JobManagerOptions options)
    : env_(env), store_(env, std::move(store_dir)), auditor_(auditor), options_(options) {}

JobManager::~JobManager() { Shutdown(); }

Result<std::unique_ptr<JobManager>> JobManager::Open(env::Env* env, std::string store_dir,
                                                     JobAuditor auditor,
                                                     JobManagerOptions options) {
  std::unique_ptr<JobManager> m(new JobManager(env, std::move(store_dir), auditor, options));
  CAFS_ASSIGN_OR_RETURN(auto loaded, m->store_.Load());
  for (const auto& p : loaded.problems) CAFS_LOG_WARN("jobs: unreadable job record {}", p);
  for (auto& rec : loaded.jobs) {
    auto job = std::make_shared<Job>();
    job->rec = std::move(rec);
    job->saved_state = job->rec.state;
    job->runs.resize(job->rec.tasks.size());
    job->claimed.assign(job->rec.tasks.size(), false);
    m->jobs_[job->rec.id] = std::move(job);
  }
  return m;
}

void JobManager::RegisterKind(std::unique_ptr<JobKind> kind, std::uint64_t default_rate_bps) {
  std::lock_guard lock(mu_);
  const std::string name(kind->name());
  kinds_[name] = std::move(kind);
  default_rates_[name] = default_rate_bps;
}

JobKind* JobManager::KindOf(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : it->second.get();
}

void JobManager::ResumeAll() {
  if (auto pruned = PruneFinished(std::chrono::system_clock::now()); !pruned.ok()) {
    CAFS_LOG_WARN("jobs: records of finished jobs not pruned: {}", pruned.status().ToString());
  }
  std::lock_guard lock(mu_);
  for (auto& [id, job] : jobs_) {
    std::lock_guard jl(job->mu);
    const JobState s = job->rec.state;
    if (s == JobState::kQueued || s == JobState::kRunning || s == JobState::kCancelling) {
      if (!kinds_.count(job->rec.spec.kind)) {
        CAFS_LOG_WARN("jobs: job {} has kind '{}' which this cafsd does not know; left as is", id,
                      job->rec.spec.kind);
        continue;
      }
      CAFS_LOG_INFO("jobs: resuming {} job {} ({})", job->rec.spec.kind, id, JobStateName(s));
      Launch(job);
    }
  }
}

Result<std::shared_ptr<JobManager::Job>> JobManager::Find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound("no job " + id);
  return it->second;
}

JobStatus JobManager::StatusOf(Job& job) const {
  std::lock_guard lock(job.mu);
  JobStatus st;
  st.record = job.rec;
  const auto now = Steady::now();
  const std::uint64_t done = job.rec.DoneBytes();
  if (job.rec.state == JobState::kRunning || job.rec.state == JobState::kCancelling) {
    st.rate_bps = RateOf(done, job.done_at_start, job.run_start, now);
  }
  st.eta_s = EtaOf(done, job.rec.TotalBytes(), st.rate_bps);
  if (!job.rec.planned) st.eta_s.reset();
  for (std::size_t i = 0; i < job.rec.tasks.size(); ++i) {
    const TaskRecord& t = job.rec.tasks[i];
    TaskProgress p;
    if (i < job.runs.size() && job.runs[i].active) {
      p.rate_bps = RateOf(t.done, job.runs[i].done_at_start, job.runs[i].start, now);
      p.waiting_for = job.runs[i].waiting_for;
    }
    p.eta_s = Unfinished(t.state) ? EtaOf(t.done, t.total, p.rate_bps) : std::optional(0.0);
    st.tasks.push_back(p);
  }
  return st;
}

Status JobManager::Save(Job& job, const std::function<void(const JobRecord&)>& before_notify) {
  std::lock_guard save(job.save_mu);
  JobRecord copy;
  {
    std::lock_guard lock(job.mu);
    job.rec.updated_ms = NowMs();
    copy = job.rec;
  }
  Status s = store_.Save(copy);
  if (!s.ok()) {
    std::lock_guard lock(job.mu);
    if (job.store_error.ok()) job.store_error = s;
    job.wake.notify_all();
  }
  if (s.ok() && before_notify) before_notify(copy);
  if (s.ok()) {
    std::lock_guard lock(job.mu);
    job.saved_state = copy.state;
  }
  {
    std::lock_guard lock(mu_);
    changed_.notify_all();
  }
  return s;
}

Result<JobStatus> JobManager::Start(JobSpec spec) {
  JobKind* kind = KindOf(spec.kind);
  if (kind == nullptr) return Status::InvalidArgument("unknown job kind '" + spec.kind + "'");
  CAFS_RETURN_IF_ERROR(kind->Validate(spec));
  CAFS_RETURN_IF_ERROR(CheckText(spec.target.path));
  if (!spec.rate_limit_bps) {
    std::lock_guard lock(mu_);
    auto rate = default_rates_.find(spec.kind);
    spec.rate_limit_bps = rate == default_rates_.end() ? 0 : rate->second;
  }
  if (spec.parallel == 0) spec.parallel = options_.default_parallel;
  spec.parallel = std::clamp(spec.parallel, 1u, options_.max_parallel);
  auto job = std::make_shared<Job>();
  job->rec.id = Uuid::Random().ToString();
  job->rec.spec = std::move(spec);
  job->rec.state = JobState::kQueued;
  job->rec.created_ms = NowMs();
  CAFS_RETURN_IF_ERROR(Save(*job));  // durable before anything happens
  {
    std::lock_guard lock(mu_);
    if (shutdown_) return Status::Unavailable("cafsd is stopping");
    jobs_[job->rec.id] = job;
    std::lock_guard jl(job->mu);
    Launch(job);
  }
  return StatusOf(*job);
}

void JobManager::Launch(const std::shared_ptr<Job>& job) {
  if (job->runner.joinable()) job->runner.join();  // a runner that already ended
  job->store_error = Status::OK();
  job->runner = std::thread([this, job] { Run(job); });
}

void JobManager::Run(const std::shared_ptr<Job>& job) {
  JobKind* kind = KindOf(job->rec.spec.kind);  // registered: checked by Start/ResumeAll
  JobRecord header;
  bool planned = false;
  {
    std::lock_guard lock(job->mu);
    header = job->rec;
    header.tasks.clear();
    planned = job->rec.planned;
  }
  auditor_.Record(header, header.spec.target.path, "job-start", audit::Result::kOk,
                  planned ? "resumed" : "started");
  if (!planned) {
    auto tasks = kind->Plan(header);
    if (tasks.ok()) {
      for (const auto& t : *tasks) {
        if (Status s = CheckText(t.path); !s.ok()) {
          tasks = s.WithContext(t.path);  // (shown with the bytes replaced)
          break;
        }
      }
    }
    {
      std::lock_guard lock(job->mu);
      if (tasks.ok()) {
        job->rec.tasks = std::move(*tasks);
        job->rec.planned = true;
        job->runs.assign(job->rec.tasks.size(), TaskRun{});
        job->claimed.assign(job->rec.tasks.size(), false);
      } else {
        job->rec.state = JobState::kFailed;
        job->rec.error = "plan: " + tasks.status().ToString();
        job->rec.finished_ms = NowMs();
      }
    }
    if (!tasks.ok()) {
      (void)Save(*job);
      auditor_.Record(header, header.spec.target.path, "job-fail", audit::Result::kError,
                      "plan: " + tasks.status().ToString());
      return;
    }
  }
  unsigned workers = 1;
  {
    std::lock_guard lock(job->mu);
    if (job->rec.state == JobState::kQueued) job->rec.state = JobState::kRunning;
    job->run_start = Steady::now();
    job->done_at_start = job->rec.DoneBytes();
    job->claimed.assign(job->rec.tasks.size(), false);
    const std::uint64_t rate = job->rec.spec.rate_limit_bps.value_or(0);
    job->bucket = std::make_unique<TokenBucket>(
        rate, rate == 0 ? 0 : std::max<std::uint64_t>(rate / 4, 4096), job->run_start);
    workers = std::max(1u, std::min<unsigned>(job->rec.spec.parallel,
                                              static_cast<unsigned>(job->rec.tasks.size())));
  }
  if (!Save(*job).ok()) return;  // stays as it was on disk; resumes at restart
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < workers; ++i) {
    threads.emplace_back([this, job, kind, &header] { Work(*job, *kind, header); });
  }
  for (auto& t : threads) t.join();
  Finish(*job, *kind);
}

void JobManager::Work(Job& job, JobKind& kind, const JobRecord& header) {
  const std::uint64_t rate = header.spec.rate_limit_bps.value_or(0);
  const std::uint64_t budget = rate == 0
                                   ? options_.step_bytes
                                   : std::clamp<std::uint64_t>(rate / 4, 4096, options_.step_bytes);
  for (;;) {
    // Pick a task: one left running by a crash or pause first, then pending ones.
    std::size_t index = SIZE_MAX;
    TaskRecord task;
    std::vector<TaskRecord> skipped;
    {
      std::unique_lock lock(job.mu);
      if (shutdown_ || !job.store_error.ok() || job.rec.state == JobState::kPaused) return;
      const bool cancelling = job.rec.state == JobState::kCancelling;
      for (int pass = 0; pass < 2 && index == SIZE_MAX; ++pass) {
        const TaskState want = pass == 0 ? TaskState::kRunning : TaskState::kPending;
        for (std::size_t i = 0; i < job.rec.tasks.size(); ++i) {
          TaskRecord& t = job.rec.tasks[i];
          if (job.claimed[i] || t.state != want) continue;
          if (cancelling && !kind.PointOfNoReturn(t)) {
            t.state = TaskState::kSkipped;
            skipped.push_back(t);
            continue;
          }
          index = i;
          break;
        }
      }
      if (index != SIZE_MAX) {
        job.claimed[index] = true;
        job.rec.tasks[index].state = TaskState::kRunning;
        job.runs[index] = TaskRun{Steady::now(), job.rec.tasks[index].done, true, {}};
        task = job.rec.tasks[index];
      }
    }
    if (!skipped.empty()) {
      if (!Save(job).ok()) return;
      for (const auto& t : skipped) kind.TaskEnded(header, t);
    }
    if (index == SIZE_MAX) return;
    // Step the task until it ends or the job stops.
    for (;;) {
      auto step = kind.Step(header, task, budget);
      bool ended = false;
      if (step.ok() && step->waiting()) {
        // Nothing changed: no save; wait (interruptibly) and step again.
        std::unique_lock lock(job.mu);
        job.runs[index].waiting_for = step->waiting_for;
        auto stopped = [&] { return StopsTask(job, kind, task); };
        job.wake.wait_for(lock, step->retry_after, stopped);
        job.runs[index].waiting_for.clear();
        if (stopped()) {
          job.claimed[index] = false;
          job.runs[index].active = false;
          break;
        }
        continue;
      }
      {
        std::lock_guard lock(job.mu);
        if (!step.ok()) {
          task.state = TaskState::kFailed;
          task.error = step.status().ToString();
          ended = true;
        } else if (step->done) {
          task.state = TaskState::kDone;
          task.done = task.total;
          ended = true;
        }
        job.rec.tasks[index] = task;
        if (ended) job.runs[index].active = false;
      }
      if (!Save(job).ok()) return;
      if (ended) {
        kind.TaskEnded(header, task);
        break;
      }
      std::unique_lock lock(job.mu);
      const auto wait = job.bucket->Charge(step->bytes, Steady::now());
      auto stopped = [&] { return StopsTask(job, kind, task); };
      if (wait.count() > 0) job.wake.wait_for(lock, wait, stopped);
      if (stopped()) {
        job.claimed[index] = false;
        job.runs[index].active = false;
        // A cancelled task that had not passed its point of no return is skipped by the
        // next pick; a paused or interrupted one stays running (resumed later).
        break;
      }
    }
  }
}

bool JobManager::StopsTask(const Job& job, const JobKind& kind, const TaskRecord& task) const {
  if (shutdown_ || !job.store_error.ok() || job.rec.state == JobState::kPaused) return true;
  return job.rec.state == JobState::kCancelling && !kind.PointOfNoReturn(task);
}

void JobManager::Finish(Job& job, JobKind& kind) {
  (void)kind;
  JobRecord header;
  std::string op;
  audit::Result result = audit::Result::kOk;
  {
    std::lock_guard lock(job.mu);
    if (shutdown_ || !job.store_error.ok()) {
      if (!job.store_error.ok()) {
        CAFS_LOG_ERROR("jobs: job {} stopped: its record cannot be saved: {}", job.rec.id,
                       job.store_error.ToString());
      }
      return;  // the record on disk says where to resume
    }
    if (job.rec.state == JobState::kPaused) return;
    const bool unfinished = std::any_of(job.rec.tasks.begin(), job.rec.tasks.end(),
                                        [](const TaskRecord& t) { return Unfinished(t.state); });
    if (job.rec.state == JobState::kCancelling) {
      if (unfinished) return;  // a worker left tasks (cannot happen) : keep cancelling
      job.rec.state = JobState::kCancelled;
      op = "job-cancel";
    } else {
      auto failed = std::find_if(job.rec.tasks.begin(), job.rec.tasks.end(),
                                 [](const auto& t) { return t.state == TaskState::kFailed; });
      if (failed != job.rec.tasks.end()) {
        job.rec.state = JobState::kFailed;
        job.rec.error = failed->path + ": " + failed->error;
        op = "job-fail";
        result = audit::Result::kError;
      } else if (!unfinished) {
        job.rec.state = JobState::kDone;
        op = "job-done";
      } else {
        return;
      }
    }
    job.rec.finished_ms = NowMs();
    header = job.rec;
  }
  // Audited once the record is durable, before waiters hear of the end.
  if (!Save(job, [&](const JobRecord& saved) {
         auditor_.Record(
             saved, saved.spec.target.path, op, result,
             result == audit::Result::kOk ? std::string(JobStateName(saved.state)) : saved.error,
             saved.DoneBytes());
       }).ok()) {
    return;
  }
  CAFS_LOG_INFO("jobs: {} job {} {}{}", header.spec.kind, header.id, JobStateName(header.state),
                header.error.empty() ? "" : ": " + header.error);
}

std::vector<JobStatus> JobManager::List() const {
  std::vector<std::shared_ptr<Job>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, job] : jobs_) all.push_back(job);
  }
  std::vector<JobStatus> out;
  for (auto& job : all) out.push_back(StatusOf(*job));
  std::sort(out.begin(), out.end(), [](const JobStatus& a, const JobStatus& b) {
    return a.record.created_ms != b.record.created_ms ? a.record.created_ms < b.record.created_ms
                                                      : a.record.id < b.record.id;
  });
  return out;
}

Result<JobStatus> JobManager::Get(const std::string& id) const {
  CAFS_ASSIGN_OR_RETURN(auto job, Find(id));
  return StatusOf(*job);
}

Result<JobStatus> JobManager::Pause(const std::string& id) {
  CAFS_ASSIGN_OR_RETURN(auto job, Find(id));
  JobRecord header;
  {
    std::lock_guard lock(job->mu);
    const JobState s = job->rec.state;
    if (s != JobState::kPaused) {
      if (s != JobState::kQueued && s != JobState::kRunning) {
        return Status::FailedPrecondition("job " + id + " is " + std::string(JobStateName(s)) +
                                          ": only a queued or running job can be paused");
      }
      job->rec.state = JobState::kPaused;
      job->wake.notify_all();
    }
    header = job->rec;
  }
  CAFS_RETURN_IF_ERROR(Save(*job));
  auditor_.Record(header, header.spec.target.path, "job-pause", audit::Result::kOk, "");
  return StatusOf(*job);
}

// Waits for the job's previous runner to end (a paused or cancelled runner stops at its next
// step boundary) and starts a new one, unless the manager is shutting down. No manager lock
// is held while joining: the old runner's Save takes mu_.
Status JobManager::Relaunch(const std::shared_ptr<Job>& job) {
  std::thread old;
  {
    std::lock_guard lock(job->mu);
    old = std::move(job->runner);
  }
  if (old.joinable()) old.join();
  std::lock_guard lock(job->mu);
  if (shutdown_) return Status::Unavailable("cafsd is stopping");
  if (job->runner.joinable()) return Status::OK();  // another Resume/Cancel won the race
  // The old runner may have finished the job meanwhile (resumed before it saw the pause).
  if (IsFinal(job->rec.state) && job->rec.state != JobState::kFailed) return Status::OK();
  Launch(job);
  return Status::OK();
}

Result<JobStatus> JobManager::Resume(const std::string& id) {
  CAFS_ASSIGN_OR_RETURN(auto job, Find(id));
  if (KindOf(job->rec.spec.kind) == nullptr) {
    return Status::NotSupported("job " + id + " has unknown kind '" + job->rec.spec.kind + "'");
  }
  {
    std::lock_guard lock(job->mu);
    const JobState s = job->rec.state;
    if (s != JobState::kPaused && s != JobState::kFailed) {
      return Status::FailedPrecondition("job " + id + " is " + std::string(JobStateName(s)) +
                                        ": only a paused or failed job can be resumed");
    }
    for (auto& t : job->rec.tasks) {
      if (t.state == TaskState::kFailed) {
        t.state = TaskState::kPending;
        t.error.clear();
      }
    }
    job->rec.error.clear();
    job->rec.finished_ms = 0;
    job->rec.state = job->rec.planned ? JobState::kRunning : JobState::kQueued;
  }
  CAFS_RETURN_IF_ERROR(Save(*job));
  CAFS_RETURN_IF_ERROR(Relaunch(job));
  return StatusOf(*job);
}

Result<JobStatus> JobManager::Cancel(const std::string& id) {
  CAFS_ASSIGN_OR_RETURN(auto job, Find(id));
  bool relaunch = false;
  {
    std::lock_guard lock(job->mu);
    const JobState s = job->rec.state;
    if (IsFinal(s) && s != JobState::kFailed) {
      return Status::FailedPrecondition("job " + id + " is already " +
                                        std::string(JobStateName(s)));
    }
    if (s != JobState::kCancelling) {
      relaunch = s == JobState::kPaused || s == JobState::kFailed;
      job->rec.state = JobState::kCancelling;
      for (auto& t : job->rec.tasks) {
        if (t.state == TaskState::kFailed) t.state = TaskState::kPending;
      }
      job->wake.notify_all();
    }
  }
  CAFS_RETURN_IF_ERROR(Save(*job));
  if (relaunch) CAFS_RETURN_IF_ERROR(Relaunch(job));
  return StatusOf(*job);
}

Status JobManager::Forget(const std::string& id) {
  CAFS_ASSIGN_OR_RETURN(auto job, Find(id));
  std::thread old;
  {
    std::lock_guard lock(job->mu);
    if (!IsFinal(job->rec.state)) {
      return Status::FailedPrecondition("job " + id + " is " +
                                        std::string(JobStateName(job->rec.state)) +
                                        ": only a finished job can be forgotten");
    }
    old = std::move(job->runner);
  }
  if (old.joinable()) old.join();
  CAFS_RETURN_IF_ERROR(store_.Remove(id));
  std::lock_guard ml(mu_);
  jobs_.erase(id);
  return Status::OK();
}

Result<std::size_t> JobManager::PruneFinished(std::chrono::system_clock::time_point now) {
  const JobRetention& keep = options_.retention;
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  // The candidates: done/cancelled on disk (saved_state: a runner's last Save is over).
  struct Finished {
    std::int64_t finished_ms;
    std::string id;
  };
  std::map<std::string, std::vector<Finished>> by_kind;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, job] : jobs_) {
      std::lock_guard jl(job->mu);
      const JobState s = job->saved_state;
      if ((s == JobState::kDone || s == JobState::kCancelled) && job->rec.state == s) {
        by_kind[job->rec.spec.kind].push_back({job->rec.finished_ms, id});
      }
    }
  }
  std::vector<std::string> expired;
  for (auto& [kind, finished] : by_kind) {
    std::sort(finished.begin(), finished.end(), [](const Finished& a, const Finished& b) {
      return a.finished_ms != b.finished_ms ? a.finished_ms > b.finished_ms : a.id > b.id;
    });
    for (std::size_t i = 0; i < finished.size(); ++i) {
      const bool too_old =
          keep.max_age.count() > 0 && now_ms - finished[i].finished_ms > keep.max_age.count();
      const bool too_many = keep.keep_per_kind > 0 && i >= keep.keep_per_kind;
      if (too_old || too_many) expired.push_back(finished[i].id);
    }
  }
  if (expired.empty()) return std::size_t{0};
  // Their runners have ended (or are ending: the final Save is over); none starts again (a
  // done or cancelled job is never resumed). Joined here, as Forget does.
  for (const auto& id : expired) {
    auto job = Find(id);
    if (!job.ok()) continue;  // forgotten meanwhile
    std::thread old;
    {
      std::lock_guard lock((*job)->mu);
      old = std::move((*job)->runner);
    }
    if (old.joinable()) old.join();
  }
  CAFS_RETURN_IF_ERROR(store_.RemoveAll(expired));
  {
    std::lock_guard lock(mu_);
    for (const auto& id : expired) jobs_.erase(id);
  }
  CAFS_LOG_INFO("jobs: {} records of finished jobs pruned (retention)", expired.size());
  return expired.size();
}

Result<JobStatus> JobManager::Wait(const std::string& id, std::chrono::milliseconds timeout) const {
  CAFS_ASSIGN_OR_RETURN(auto job, Find(id));
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] {
    std::lock_guard jl(job->mu);
    return IsFinal(job->saved_state) || job->saved_state == JobState::kPaused;
  });
  lock.unlock();
  return StatusOf(*job);
}

void JobManager::Shutdown() {
  std::vector<std::thread> runners;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    for (auto& [id, job] : jobs_) {
      std::lock_guard jl(job->mu);  // after shutdown_: a Relaunch either ran before or sees it
      job->wake.notify_all();
      if (job->runner.joinable()) runners.push_back(std::move(job->runner));
    }
  }
  for (auto& t : runners) t.join();
}

}  // namespace cafs::jobs
