// RekeyRequestFollower: the gateway's side of kpsd's rekey requests (issue 14 item 3;
// docs/jobs.md "Rekey requests from kpsd", kps/rekey_triggers.h for kpsd's side).
//
// Every `interval` it asks kpsd, over the gateway's mutual-TLS channel (its enrolment bundle),
// for the requests of the VM sets it is approved for (GET /v1/gateway/rekey-requests: urgent
// ones first) and, for each:
//   - starts an ordinary local rekey job (JobManager::Start; kind "rekey", target
//     "key-version" below the VM set's directory "/<vmset>", params {to_version, to_key}) whose
//     `requested_by` is "kpsd rekey request <id>" (RequestedBy): that is how a job is found
//     again, also after a restart of cafsd; the job's record in the backing store stays the
//     authoritative state;
//   - while a compromised-key request's job is not final, holds back scheduled ones: it does
//     not start them and pauses the running ones it started, resuming them when no urgent job
//     is left (it resumes only jobs it paused itself in this process: a job an administrator
//     paused stays paused);
//   - reports each job's progress (POST /v1/gateway/rekey-requests/{id}/progress: job, state,
//     done_bytes, total_bytes, rate_bps, eta_s, files, files_done, error). A job that cannot be
//     started (the gateway has not learnt the target version yet: its policy cache refreshes
//     within its TTL) is reported "waiting" with the reason and retried at the next poll; a
//     failed job is reported failed and left for an administrator (`cafsd jobs resume`).
//     A report equal to the last one sent for the request is not sent again.
//   - follows a retarget (kpsd moved the request to a newer version, kps/rekey_triggers.h):
//     a job of the request towards another version that is not final is cancelled and a job
//     for the new target started.
// kpsd stops listing a request to this gateway once it reported it done.
//
// Not kept across a restart of cafsd: which jobs the follower paused (paused_by_us_). A
// scheduled job it paused for an urgent one and that is still paused when cafsd restarts stays
// paused until an administrator resumes it (`cafsd jobs resume`; its request shows it
// "paused" in `cafsctl rekey requests`), as a job an administrator paused does: the job record
// does not say who paused it.
//
// Errors: Poll returns Unavailable when kpsd cannot be reached or answers 5xx (the thread logs
// it and tries again at the next interval), PermissionDenied for 401/403.
//
// Threading: the follower's own thread calls Poll; Poll may also be called directly (tests)
// but not concurrently with that thread. `jobs` is not owned and must outlive the follower.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "jobs/job_manager.h"

namespace cafs::kps::client {
class KpsClient;
}

namespace cafs::jobs {

struct RekeyRequestFollowerOptions {
  std::string url, bundle_path;       // [kps] url, cert
  std::chrono::seconds interval{60};  // [kps] rekey_poll_interval_s
  // Of the jobs it starts: none = the rekey kind's default ([jobs] rekey_rate); 0: unlimited.
  std::optional<std::uint64_t> rate_limit_bps;
};

// The `requested_by` of the job started for kpsd request `id`.
std::string RequestedBy(const std::string& request_id);

// The progress report of a job (the body of POST .../progress).
nlohmann::json RekeyProgressJson(const JobStatus& status);

class RekeyRequestFollower {
 public:
  // Connects (no request is sent yet); Start() runs the thread.
  static Result<std::unique_ptr<RekeyRequestFollower>> Create(JobManager* jobs,
                                                              RekeyRequestFollowerOptions options);
  ~RekeyRequestFollower();
  RekeyRequestFollower(const RekeyRequestFollower&) = delete;
  RekeyRequestFollower& operator=(const RekeyRequestFollower&) = delete;

  // Polls at once, then every interval, until destroyed.
  void Start();
  // One round: fetch, start/pause/resume, report (header).
  Status Poll();

 private:
  RekeyRequestFollower(JobManager* jobs, std::unique_ptr<kps::client::KpsClient> client,
                       RekeyRequestFollowerOptions options);
  Status Report(const std::string& id, const nlohmann::json& body);
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body);

  JobManager* const jobs_;
  std::unique_ptr<kps::client::KpsClient> client_;  // the follower's thread (or Poll's caller)
  const RekeyRequestFollowerOptions options_;
  std::set<std::string> paused_by_us_;  // job ids; Poll's thread only
  // The last report sent per request id (Poll's thread only): an unchanged one is not sent
  // again, so an idle gateway does not write to kpsd's store every interval.
  std::map<std::string, nlohmann::json> last_reports_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace cafs::jobs
