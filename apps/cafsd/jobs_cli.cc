#include "jobs_cli.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/control_socket.h"
#include "util/progress_text.h"

namespace cafs::cafsd {
namespace {

using json = nlohmann::json;

std::string Bytes(double n) { return ByteText(n); }

std::string Duration(const json& eta) {
  return DurationText(eta.is_number() ? std::optional<double>(eta.get<double>()) : std::nullopt);
}

std::uint64_t U64(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}
std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsFinal(const std::string& state) {
  return state == "done" || state == "failed" || state == "cancelled";
}

// One line: "[#####.....]  45%  12.3 MiB / 27.0 MiB  4.1 MiB/s  ETA 0:04  2/5 files  running"
std::string ProgressLine(const json& job) {
  ProgressFigures p;
  p.done = static_cast<double>(U64(job, "done_bytes"));
  p.total = static_cast<double>(U64(job, "total_bytes"));
  p.rate_bps = job.value("rate_bps", 0.0);
  if (job.contains("eta_s") && job["eta_s"].is_number()) p.eta_s = job["eta_s"].get<double>();
  for (const auto& t : job.value("tasks", json::array())) {
    ++p.files;
    p.files_done += Str(t, "state") == "done" ? 1U : 0U;
  }
  p.state = Str(job, "state");
  return cafs::ProgressLine(p);
}

void PrintJob(const json& job) {
  std::printf("%s  %s  %s %s  %s  %s / %s\n", Str(job, "id").c_str(), Str(job, "kind").c_str(),
              Str(job["target"], "type").c_str(), Str(job["target"], "path").c_str(),
              Str(job, "state").c_str(), Bytes(static_cast<double>(U64(job, "done_bytes"))).c_str(),
              Bytes(static_cast<double>(U64(job, "total_bytes"))).c_str());
}

void PrintJobDetail(const json& job) {
  PrintJob(job);
  std::printf("  requested by %s, rate limit %s, %u files at once\n",
              Str(job, "requested_by").c_str(),
              U64(job, "rate_limit_bps")
                  ? (Bytes(static_cast<double>(U64(job, "rate_limit_bps"))) + "/s").c_str()
                  : "none",
              static_cast<unsigned>(U64(job, "parallel")));
  if (!Str(job, "error").empty()) std::printf("  error: %s\n", Str(job, "error").c_str());
  for (const auto& t : job.value("tasks", json::array())) {
    std::printf("  %-8s %s / %s  ETA %s  %s%s%s\n", Str(t, "state").c_str(),
                Bytes(static_cast<double>(U64(t, "done"))).c_str(),
                Bytes(static_cast<double>(U64(t, "total"))).c_str(),
                Duration(t.value("eta_s", json())).c_str(), Str(t, "path").c_str(),
                Str(t, "error").empty() ? "" : ": ", Str(t, "error").c_str());
  }
}

// Sends a request; prints errors; returns the reply or nullopt with *rc set.
std::optional<json> Call(const JobsCliOptions& o, const json& request, int* rc) {
  auto reply = jobs::ControlCall(o.socket_path, request);
  if (!reply.ok()) {
    std::fprintf(stderr, "cafsd: %s\n", reply.status().ToString().c_str());
    *rc = reply.status().code() == Status::Code::kUnavailable ? kExitUnavailable : 1;
    return std::nullopt;
  }
  if (!reply->value("ok", false)) {
    if (o.json) std::printf("%s\n", reply->dump(2).c_str());
    std::fprintf(stderr, "cafsd: %s\n", Str(*reply, "error").c_str());
    *rc = 1;
    return std::nullopt;
  }
  return std::move(*reply);
}

int ExitOf(const json& job) {
  const std::string state = Str(job, "state");
  return state == "failed" || state == "cancelled" ? 1 : 0;
}

// Polls the job until it ends (or is paused), drawing the progress bar on a terminal (every
// 250 ms; 100 ms otherwise, so a script waiting on a job command is not held up).
int Watch(const JobsCliOptions& o, const std::string& id) {
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  json job;
  for (;;) {
    int rc = 0;
    auto reply = Call(o, json{{"op", "get"}, {"id", id}}, &rc);
    if (!reply) return rc;
    job = (*reply)["job"];
    if (tty) std::fprintf(stderr, "\r%s\033[K", ProgressLine(job).c_str());
    const std::string state = Str(job, "state");
    if (IsFinal(state) || state == "paused") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 250 : 100));
  }
  if (tty) std::fprintf(stderr, "\n");
  if (o.json) {
    std::printf("%s\n", job.dump(2).c_str());
  } else {
    PrintJobDetail(job);
  }
  return ExitOf(job);
}

// `jobs wait ID --until S1,S2 --timeout T`: see jobs_cli.h.
constexpr const char* kWaitStates[] = {"queued",    "running", "paused", "cancelling",
                                       "cancelled", "done",    "failed", "progress"};

bool Reached(const json& job, const std::vector<std::string>& until) {
  const std::string state = Str(job, "state");
  for (const auto& u : until) {
    if (u == state || (u == "progress" && U64(job, "done_bytes") > 0)) return true;
  }
  return false;
}

int Wait(const JobsCliOptions& o, const std::string& id) {
  std::vector<std::string> until;
  for (std::size_t pos = 0; pos <= o.until.size();) {
    const std::size_t comma = std::min(o.until.find(',', pos), o.until.size());
    until.push_back(o.until.substr(pos, comma - pos));
    pos = comma + 1;
  }
  for (const auto& u : until) {
    if (std::find(std::begin(kWaitStates), std::end(kWaitStates), u) == std::end(kWaitStates)) {
      std::fprintf(stderr,
                   "cafsd jobs wait: --until '%s': not a job state (queued, running, paused, "
                   "cancelling, cancelled, done, failed) or progress\n",
                   u.c_str());
      return 2;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(o.timeout_s));
  json job;
  int rc = kExitTimedOut;
  for (;;) {
    int call_rc = 0;
    auto reply = Call(o, json{{"op", "get"}, {"id", id}}, &call_rc);
    if (!reply) return call_rc;
    job = (*reply)["job"];
    if (Reached(job, until)) {
      rc = 0;
      break;
    }
    if (IsFinal(Str(job, "state"))) {
      std::fprintf(stderr, "cafsd jobs wait: job %s ended %s\n", id.c_str(),
                   Str(job, "state").c_str());
      rc = 1;
      break;
    }
    if (o.timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "cafsd jobs wait: job %s still %s after %g s\n", id.c_str(),
                   Str(job, "state").c_str(), o.timeout_s);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (o.json) std::printf("%s\n", job.dump(2).c_str());
  return rc;
}

}  // namespace

int RunJobsCommand(const JobsCliOptions& o, const std::string& verb, const std::string& id) {
  int rc = 0;
  if (verb == "list") {
    auto reply = Call(o, json{{"op", "list"}}, &rc);
    if (!reply) return rc;
    if (o.json) {
      std::printf("%s\n", (*reply)["jobs"].dump(2).c_str());
    } else {
      for (const auto& job : (*reply)["jobs"]) PrintJob(job);
    }
    return 0;
  }
  if (id.empty()) {
    std::fprintf(stderr, "cafsd jobs %s: a job id is needed\n", verb.c_str());
    return 2;
  }
  if (verb == "watch") return Watch(o, id);
  if (verb == "wait") return Wait(o, id);
  const std::string op = verb == "show" ? "get" : verb;
  auto reply = Call(o, json{{"op", op}, {"id", id}}, &rc);
  if (!reply) return rc;
  if (o.wait && reply->contains("job")) return Watch(o, id);
  if (o.json) {
    std::printf("%s\n", reply->dump(2).c_str());
  } else if (reply->contains("job")) {
    PrintJobDetail((*reply)["job"]);
  }
  return 0;
}

namespace {

// Starts the job `spec` (with `limits`) and, unless --no-wait, watches it to its end.
int StartJob(const JobsCliOptions& o, json spec, const JobLimits& limits) {
  if (limits.rate_limit_bps) spec["rate_limit_bps"] = *limits.rate_limit_bps;
  spec["parallel"] = limits.parallel;
  int rc = 0;
  auto reply = Call(o, json{{"op", "start"}, {"spec", spec}}, &rc);
  if (!reply) return rc;
  const std::string id = Str((*reply)["job"], "id");
  if (!o.wait) {
    if (o.json) {
      std::printf("%s\n", (*reply)["job"].dump(2).c_str());
    } else {
      std::printf("%s\n", id.c_str());
    }
    return 0;
  }
  if (!o.json) {
    std::fprintf(stderr, "cafsd: %s job %s started\n", Str(spec, "kind").c_str(), id.c_str());
  }
  return Watch(o, id);
}

}  // namespace

int RunShred(const JobsCliOptions& o, const ShredCliOptions& s) {
  return StartJob(o,
                  json{{"kind", "shred"},
                       {"target", {{"type", s.type}, {"path", s.path}}},
                       {"params", json::object()}},
                  s.limits);
}

int RunRekey(const JobsCliOptions& o, const RekeyCliOptions& r) {
  json target{{"type", r.type}, {"path", r.path}};
  if (!r.from_key.empty()) {
    target["type"] = "key-version";
    target["key"] = r.from_key;
    target["version"] = r.from_version;
  }
  json params{{"to_version", r.to_version}};
  if (!r.to_key.empty()) params["to_key"] = r.to_key;
  if (!r.to_cipher.empty()) params["to_cipher"] = r.to_cipher;
  return StartJob(o, json{{"kind", "rekey"}, {"target", target}, {"params", params}}, r.limits);
}

int RunMigrate(const JobsCliOptions& o, const MigrateCliOptions& m) {
  json target{{"type", m.type}, {"path", m.path}};
  if (m.type == "pool") target["pool"] = m.drain_pool;
  return StartJob(
      o, json{{"kind", "migrate"}, {"target", target}, {"params", {{"to_pool", m.to_pool}}}},
      m.limits);
}

int RunResync(const JobsCliOptions& o, const ResyncCliOptions& r) {
  return StartJob(o,
                  json{{"kind", "resync"},
                       {"target", {{"type", r.type}, {"path", r.path}}},
                       {"params", json::object()}},
                  r.limits);
}

std::map<std::string, ResyncTaskView> ActiveResyncTasks(const JobsCliOptions& o) {
  std::map<std::string, ResyncTaskView> out;
  auto reply = jobs::ControlCall(o.socket_path, json{{"op", "list"}});
  if (!reply.ok() || !reply->value("ok", false)) return out;
  for (const auto& job : reply->value("jobs", json::array())) {
    if (Str(job, "kind") != "resync" || IsFinal(Str(job, "state"))) continue;
    for (const auto& t : job.value("tasks", json::array())) {
      out[Str(t, "path")] = {Str(job, "id"), Str(t, "state"), U64(t, "done"), U64(t, "total")};
    }
  }
  return out;
}

// A replica or restore is one VM's files at one point in time: one task at a time.
static JobLimits OneAtATime(JobLimits limits) {
  limits.parallel = 1;
  return limits;
}

int RunReplica(const JobsCliOptions& o, const ReplicaCliOptions& r) {
  return StartJob(o,
                  json{{"kind", "replica"},
                       {"target", {{"type", "vm"}, {"path", r.path}}},
                       {"params", {{"pool", r.pool}, {"keep", r.keep}}}},
                  OneAtATime(r.limits));
}

int RunRestore(const JobsCliOptions& o, const ReplicaCliOptions& r) {
  return StartJob(o,
                  json{{"kind", "restore"},
                       {"target", {{"type", "vm"}, {"path", r.path}}},
                       {"params",
                        {{"pool", r.pool},
                         {"vmset", r.vmset},
                         {"vm", r.vm},
                         {"replica", r.replica},
                         {"to_pool", r.to_pool}}}},
                  OneAtATime(r.limits));
}

}  // namespace cafs::cafsd
