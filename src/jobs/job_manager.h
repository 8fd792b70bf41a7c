// JobManager: runs the gateway's long operations as jobs (docs/jobs.md; ARCHITECTURE §4.5).
//
// A job is persisted (JobStore) before Start returns and before anything is changed; its
// kind's Plan is persisted before its first step; every step is made durable by the kind and
// then recorded. A crash or restart at any instant loses at most the record of the step in
// flight, which is redone from the previous cursor (JobKind's contract). At start-up Open
// loads every record and ResumeAll restarts jobs that were queued, running or cancelling;
// paused jobs stay paused.
//
// Each running job has one runner thread and up to `parallel` worker threads, each working
// on one task (file) at a time in bounded steps (`step_bytes`, smaller under a low rate
// limit). A job's workers share one TokenBucket (its `rate_limit_bps`). Pause stops the
// workers at their next step boundary; Cancel finishes tasks past their point of no return
// (JobKind::PointOfNoReturn) and skips the others; Resume restarts a paused job and retries
// the failed tasks of a failed one. Start, finish, failure and cancel are audited
// (JobAuditor).
//
// Errors: NotFound (unknown id), InvalidArgument/NotSupported (a spec the kind refuses, an
// unknown kind), FailedPrecondition (pause of a finished job, ...), the store's errors.
//
// Threading: every public method is safe from any thread. Lock order: a job's save_mu, then
// mu_ (the job map and kinds), then a job's mu. Save takes mu_ only to notify, after
// releasing the job's mu; no lock is held while joining a runner or while a kind's Plan or
// Step runs.
// Ownership: `env`, the auditor's log and the clock are not owned and must outlive the
// manager; the kinds are owned. The destructor calls Shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jobs/job.h"
#include "jobs/job_audit.h"
#include "jobs/job_kind.h"
#include "jobs/job_store.h"

namespace cafs::jobs {

// Which records of finished jobs PruneFinished removes (docs/jobs.md "Retention"; cafsd's
// [jobs] keep_finished_days / keep_finished_per_kind). Only `done` and `cancelled` records
// are ever removed: a `failed` job may be resumed (a failed shred may hold a claimed,
// half-overwritten pool file only its job finishes), and queued, running, cancelling and
// paused jobs are not finished.
struct JobRetention {
  static constexpr std::int64_t kDefaultDays = 30;
  static constexpr unsigned kDefaultPerKind = 1000;
  // A done/cancelled record that finished longer ago than this is removed; 0: no age limit.
  std::chrono::milliseconds max_age = std::chrono::hours(24 * kDefaultDays);
  // At most this many done/cancelled records per kind are kept (the newest by finished_ms);
  // 0: no count limit.
  unsigned keep_per_kind = kDefaultPerKind;
};

struct JobManagerOptions {
  std::uint64_t step_bytes = 4 << 20;  // most bytes one step may do
  unsigned default_parallel = 2;       // files at once when the spec says 0
  unsigned max_parallel = 16;
  JobRetention retention{};
};

// Progress of one task as shown to administrators (not persisted).
struct TaskProgress {
  double rate_bps = 0;          // since the task was (re)started in this process
  std::optional<double> eta_s;  // remaining / rate; none while the rate is unknown
  std::string waiting_for;      // non-empty while its last step waits (StepResult::waiting)
};

// A job as shown to administrators: the record plus rates and ETAs.
struct JobStatus {
  JobRecord record;
  double rate_bps = 0;  // since the job was (re)started in this process
  std::optional<double> eta_s;
  std::vector<TaskProgress> tasks;  // parallel to record.tasks
};
// ToJson(record) plus "done_bytes", "total_bytes", "rate_bps", "eta_s" (null when unknown),
// and per task "rate_bps"/"eta_s" (and "waiting" while a task waits): the control channel's
// job object (docs/jobs.md).
nlohmann::json ToJson(const JobStatus& status);

class JobManager {
 public:
  // Loads the records in `store` (unreadable ones are logged and left alone). Call
  // RegisterKind for every kind, then ResumeAll.
  static Result<std::unique_ptr<JobManager>> Open(env::Env* env, std::string store_dir,
                                                  JobAuditor auditor, JobManagerOptions options);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // `default_rate_bps`: the rate limit (bytes/s, 0 = unlimited) of a job of this kind whose
  // spec names none; cafsd passes its [jobs] config (docs/jobs.md "Rate limits").
  void RegisterKind(std::unique_ptr<JobKind> kind, std::uint64_t default_rate_bps = 0);
  // Starts runners for the loaded jobs that were queued, running or cancelling, after
  // PruneFinished(now).
  void ResumeAll();

  // Validates, persists (state queued) and starts a job.
  Result<JobStatus> Start(JobSpec spec);
  std::vector<JobStatus> List() const;
  Result<JobStatus> Get(const std::string& id) const;
  Result<JobStatus> Pause(const std::string& id);
  Result<JobStatus> Resume(const std::string& id);
  Result<JobStatus> Cancel(const std::string& id);
  // Removes the record of a finished (done, failed, cancelled) job.
  Status Forget(const std::string& id);
  // Removes the records of done and cancelled jobs beyond the retention (options.retention):
  // finished before now - max_age, or older than the keep_per_kind newest of their kind.
  // Each removal goes through the JobStore (env::Env), then one directory sync: a crash
  // leaves each record there or gone, and one left is removed by the next call. cafsd calls
  // it at start (ResumeAll) and on its periodic tick. Returns how many records it removed,
  // or the first store error (the records not removed yet stay, in memory and on disk).
  Result<std::size_t> PruneFinished(std::chrono::system_clock::time_point now);
  // Blocks until the job's record on disk says final or paused (and its end is audited), or
  // `timeout` passed; returns its status.
  Result<JobStatus> Wait(const std::string& id, std::chrono::milliseconds timeout) const;

  // Stops every runner at its next step boundary, leaving records as they are (running
  // jobs resume at the next Open + ResumeAll). Idempotent.
  void Shutdown();

  const JobStore& store() const { return store_; }

 private:
  struct Job;
  JobManager(env::Env* env, std::string store_dir, JobAuditor auditor, JobManagerOptions options);

  Result<std::shared_ptr<Job>> Find(const std::string& id) const;
  JobKind* KindOf(const std::string& name) const;
  JobStatus StatusOf(Job& job) const;
  void Launch(const std::shared_ptr<Job>& job);  // job.mu held by the caller
  Status Relaunch(const std::shared_ptr<Job>& job);
  void Run(const std::shared_ptr<Job>& job);
  void Work(Job& job, JobKind& kind, const JobRecord& header);
  void Finish(Job& job, JobKind& kind);
  // Whether a worker stepping `task` must stop now (shutdown, pause, a save failed, or a
  // cancel of a task before its point of no return). Caller holds job.mu.
  bool StopsTask(const Job& job, const JobKind& kind, const TaskRecord& task) const;
  // Persists the job's current record; a failure stops the job (it resumes at restart).
  // `before_notify` runs with the saved record once it is durable, before Wait returns.
  Status Save(Job& job, const std::function<void(const JobRecord&)>& before_notify = nullptr);

  env::Env* const env_;
  JobStore store_;
  const JobAuditor auditor_;
  const JobManagerOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;       // guarded by mu_
  std::map<std::string, std::unique_ptr<JobKind>> kinds_;  // guarded by mu_
  std::map<std::string, std::uint64_t> default_rates_;     // guarded by mu_ (per kind)
  std::atomic<bool> shutdown_{false};
  mutable std::condition_variable changed_;  // with mu_: any job's record changed
};

}  // namespace cafs::jobs
