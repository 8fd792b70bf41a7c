#include "jobs/rekey_request_follower.h"

#include <map>
#include <vector>

#include "cafs/kps_reporter.h"
#include "jobs/rekey_job.h"
#include "kps/client/kps_client.h"
#include "util/logging.h"

namespace cafs::jobs {

namespace {

using nlohmann::json;

constexpr std::string_view kRequestedByPrefix = "kpsd rekey request ";

// One request as kpsd lists it (docs/kps-api.md "Rekey requests").
struct Request {
  std::string id, vmset, key, reason;
  std::uint32_t from_version = 0, to_version = 0;
  bool urgent() const { return reason == "compromised"; }
};

Result<std::vector<Request>> ParseRequests(const json& body) {
  if (!body.is_array()) return Status::InvalidArgument("kpsd's rekey requests are not a list");
  std::vector<Request> out;
  for (const auto& j : body) {
    try {
      Request r;
      r.id = j.at("id").get<std::string>();
      r.vmset = j.at("vmset").get<std::string>();
      r.key = j.at("key").get<std::string>();
      r.reason = j.at("reason").get<std::string>();
      r.from_version = j.at("from_version").get<std::uint32_t>();
      r.to_version = j.at("to_version").get<std::uint32_t>();
      if (r.vmset.empty() || r.vmset.find('/') != std::string::npos || r.vmset == "." ||
          r.vmset == "..") {
        return Status::InvalidArgument("kpsd named a VM set that is not a directory name: '" +
                                       r.vmset + "'");
      }
      out.push_back(std::move(r));
    } catch (const json::exception& e) {
      return Status::InvalidArgument(std::string("kpsd's rekey request is malformed: ") + e.what());
    }
  }
  return out;
}

JobSpec SpecFor(const Request& r, std::optional<std::uint64_t> rate_limit_bps) {
  JobSpec spec;
  spec.kind = std::string(RekeyJob::kName);
  spec.target.type = "key-version";
  spec.target.path = "/" + r.vmset;
  spec.target.key = r.key;
  spec.target.version = r.from_version;
  spec.params = json{{"to_version", r.to_version}, {"to_key", r.key}};
  spec.rate_limit_bps = rate_limit_bps;
  spec.requested_by = RequestedBy(r.id);
  return spec;
}

json Waiting(const std::string& why) { return json{{"state", "waiting"}, {"error", why}}; }

}  // namespace

std::string RequestedBy(const std::string& request_id) {
  return std::string(kRequestedByPrefix) + request_id;
}

json RekeyProgressJson(const JobStatus& status) {
  const JobRecord& r = status.record;
  std::uint64_t files_done = 0;
  for (const auto& t : r.tasks) {
    files_done += t.state == TaskState::kDone || t.state == TaskState::kSkipped;
  }
  json out = {{"job", r.id},
              {"state", JobStateName(r.state)},
              {"done_bytes", r.DoneBytes()},
              {"total_bytes", r.TotalBytes()},
              {"rate_bps", status.rate_bps},
              {"eta_s", status.eta_s ? json(*status.eta_s) : json(nullptr)},
              {"files", r.tasks.size()},
              {"files_done", files_done}};
  // kpsd keeps at most 4096 bytes of it.
  if (!r.error.empty()) out["error"] = r.error.substr(0, 4000);
  return out;
}

RekeyRequestFollower::RekeyRequestFollower(JobManager* jobs,
                                           std::unique_ptr<kps::client::KpsClient> client,
                                           RekeyRequestFollowerOptions options)
    : jobs_(jobs), client_(std::move(client)), options_(std::move(options)) {}

Result<std::unique_ptr<RekeyRequestFollower>> RekeyRequestFollower::Create(
    JobManager* jobs, RekeyRequestFollowerOptions options) {
  CAFS_ASSIGN_OR_RETURN(auto client,
                        kps::client::KpsClient::Connect(options.url, options.bundle_path));
  return std::unique_ptr<RekeyRequestFollower>(
      new RekeyRequestFollower(jobs, std::move(client), std::move(options)));
}

RekeyRequestFollower::~RekeyRequestFollower() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RekeyRequestFollower::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    do {
      lock.unlock();
      if (Status s = Poll(); !s.ok()) {
        CAFS_LOG_WARN("rekey requests: poll of kpsd failed (next in {}s): {}",
                      options_.interval.count(), s.ToString());
      }
      lock.lock();
    } while (!cv_.wait_for(lock, options_.interval, [this] { return stopping_; }));
  });
}

Result<json> RekeyRequestFollower::Call(const std::string& method, const std::string& path,
                                        const json& body) {
  auto reply = client_->Call(method, path, body);
  if (!reply.ok()) return reply.status();
  CAFS_RETURN_IF_ERROR(core::StatusOfReply(*reply, options_.url, method + " " + path));
  return reply->body;
}

Status RekeyRequestFollower::Report(const std::string& id, const json& body) {
  auto last = last_reports_.find(id);
  if (last != last_reports_.end() && last->second == body) return Status::OK();  // unchanged
  Status s = Call("POST", "/v1/gateway/rekey-requests/" + id + "/progress", body).status();
  if (s.ok()) {
    last_reports_[id] = body;
  } else {
    last_reports_.erase(id);
  }
  return s;
}

namespace {

std::uint32_t TargetOf(const JobStatus& s) {
  const json& p = s.record.spec.params;
  return p.is_object() && p.contains("to_version") && p["to_version"].is_number_unsigned()
             ? p["to_version"].get<std::uint32_t>()
             : 0;
}

}  // namespace

Status RekeyRequestFollower::Poll() {
  CAFS_ASSIGN_OR_RETURN(json body, Call("GET", "/v1/gateway/rekey-requests", nullptr));
  CAFS_ASSIGN_OR_RETURN(std::vector<Request> requests, ParseRequests(body));
  // The local jobs started for kpsd's requests, by request id.
  std::map<std::string, std::vector<JobStatus>> started_for;
  for (auto& s : jobs_->List()) {
    const std::string& by = s.record.spec.requested_by;
    if (by.rfind(kRequestedByPrefix, 0) == 0) {
      started_for[by.substr(kRequestedByPrefix.size())].push_back(std::move(s));
    }
  }
  // Per request, the job for its current target (the newest). kpsd retargets a request when
  // a newer rotation superseded its target: a job still running towards the old target is
  // cancelled (each file it finished is under the old target, which gets its own request).
  std::map<std::string, JobStatus> mine;
  for (const Request& r : requests) {
    for (JobStatus& s : started_for[r.id]) {
      if (TargetOf(s) != r.to_version) {
        if (!IsFinal(s.record.state)) {
          CAFS_LOG_INFO("rekey requests: request {} now targets version {}: cancelling job {}",
                        r.id, r.to_version, s.record.id);
          (void)jobs_->Cancel(s.record.id);
          paused_by_us_.erase(s.record.id);
        }
        continue;
      }
      auto it = mine.find(r.id);
      if (it == mine.end() || it->second.record.created_ms < s.record.created_ms) {
        mine[r.id] = std::move(s);
      }
    }
  }
  bool urgent_active = false;
  for (const Request& r : requests) {
    auto it = mine.find(r.id);
    urgent_active =
        urgent_active || (r.urgent() && (it == mine.end() || !IsFinal(it->second.record.state)));
  }
  Status first_error = Status::OK();
  const auto note = [&](const Status& s) {
    if (!s.ok() && first_error.ok()) first_error = s;
  };
  for (const Request& r : requests) {
    auto it = mine.find(r.id);
    if (it == mine.end()) {
      if (!r.urgent() && urgent_active) {
        note(Report(r.id, Waiting("held back while a compromised key version is rekeyed")));
        continue;
      }
      auto started = jobs_->Start(SpecFor(r, options_.rate_limit_bps));
      if (!started.ok()) {
        CAFS_LOG_WARN("rekey requests: cannot start request {} yet: {}", r.id,
                      started.status().ToString());
        note(Report(r.id, Waiting(started.status().message())));
        continue;
      }
      CAFS_LOG_INFO("rekey requests: request {} ({}) started as job {}", r.id, r.reason,
                    started->record.id);
      note(Report(r.id, RekeyProgressJson(*started)));
      continue;
    }
    JobStatus status = it->second;
    const std::string job = status.record.id;
    if (!r.urgent() && urgent_active && status.record.state == JobState::kRunning) {
      if (auto p = jobs_->Pause(job); p.ok()) {
        paused_by_us_.insert(job);
        status = *p;
      }
    } else if (!urgent_active && paused_by_us_.count(job) &&
               status.record.state == JobState::kPaused) {
      if (auto p = jobs_->Resume(job); p.ok()) {
        paused_by_us_.erase(job);
        status = *p;
      }
    }
    note(Report(r.id, RekeyProgressJson(status)));
  }
  return first_error;
}

}  // namespace cafs::jobs
