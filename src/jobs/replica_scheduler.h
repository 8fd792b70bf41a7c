// ReplicaScheduler: starts the DR replica jobs the policies ask for (issue 15 item 4;
// docs/replicas.md "Schedule"): for every VM set at the top of the Volume whose policy
// descriptor has <replica interval=... keep=... pool=...> elements (policy/replica_schedule.h),
// every VM directory the first matching element covers gets a job of kind "replica" (pool,
// keep) once `interval` passed since its last scheduled replica began. A VM with no scheduled
// replica yet is due at once.
//
// Neither lost nor doubled across restarts. What "the last scheduled replica began" means is
// persisted twice, and the later of the two counts:
//  - the job itself: a scheduled job carries params.scheduled_ms (the instant it was due), and
//    JobManager persists its record before Start returns;
//  - the schedule state `<dir>/.cafs-replica-schedule` (JSON, replaced atomically after each
//    start: {"format": "cafs-replica-schedule 1", "vms": {"<VM set GUID>/<VM name>":
//    {"last_ms": N, "job": id, "error": text}}}), which also keeps the time of a start the
//    job manager refused (an unknown DR pool: retried at the next interval, not every tick) and
//    outlives `cafsd jobs forget`.
// A crash after the job was persisted and before the state was written is found again by the
// job's scheduled_ms; a crash before the job was persisted leaves the VM due, and the next
// tick (after the restart) starts it. While any replica job of the VM is not final (queued,
// running, paused, cancelling: also one resumed after a restart) no new one starts. A VM due
// while cafsd was down gets one replica at the first tick, not one per missed interval.
// Finished scheduled jobs of a VM older than its newest are forgotten, so the job records do
// not grow with every interval.
//
// VMs are keyed by VM set GUID (a renamed VM set keeps its schedule state; a VM set without a
// GUID cannot be replicated and is skipped with a warning) and VM name.
//
// Threading: Tick from one thread at a time (the Start thread, or a test); Start/Stop and the
// destructor from the owner. Ownership: jobs, volume, cache, clock and env are not owned and
// must outlive the scheduler.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cafs/policy_cache.h"
#include "cafs/volume.h"
#include "env/env.h"
#include "jobs/job_manager.h"
#include "util/clock.h"

namespace cafs::jobs {

// How often cafsd looks for due replicas (the shortest <replica interval> is 10 s).
inline constexpr std::chrono::seconds kReplicaScheduleTick{5};
inline constexpr const char* kReplicaScheduleFile = ".cafs-replica-schedule";
// JobSpec::requested_by of the jobs the scheduler starts.
inline constexpr std::string_view kReplicaScheduleRequester = "replica schedule";

class ReplicaScheduler {
 public:
  // `state_dir`: the backing store (the state file lives there, hidden by the Volume).
  ReplicaScheduler(JobManager* jobs, core::Volume* volume, core::PolicyCache* cache,
                   const Clock* clock, env::Env* env, std::string state_dir);
  ~ReplicaScheduler();
  ReplicaScheduler(const ReplicaScheduler&) = delete;
  ReplicaScheduler& operator=(const ReplicaScheduler&) = delete;

  // Reads the schedule state (missing: none yet; unreadable: logged, none; jobs still count).
  void Load();
  // One pass over the VM sets; the ids of the jobs it started. Errors of single VM sets or VMs
  // are logged and skipped; an error is returned only when the Volume root cannot be read.
  Result<std::vector<std::string>> Tick();
  // Calls Tick every `period` on a thread until Stop.
  void Start(std::chrono::milliseconds period);
  void Stop();

 private:
  struct Entry {
    std::int64_t last_ms = 0;
    std::string job;
    std::string error;
  };
  // Starts the VM's replica if it is due; the job id or "" when none was started.
  std::string TickVm(const std::string& vmset_name, const Uuid& vmset_id,
                     const std::string& vm_name, const policy::ReplicaSchedule& schedule,
                     const std::vector<JobStatus>& jobs, std::int64_t now_ms);
  Status Save();

  JobManager* const jobs_;
  core::Volume* const volume_;
  core::PolicyCache* const cache_;
  const Clock* const clock_;
  env::Env* const env_;
  const std::string dir_;
  std::map<std::string, Entry> state_;  // by "<VM set GUID>/<VM name>"; Tick's thread only

  std::mutex mu_;
  std::condition_variable cv_;  // with mu_: stopping_
  bool stopping_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace cafs::jobs
