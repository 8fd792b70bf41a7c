#include "jobs_cli.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "jobs/control_socket.h"

namespace cafs::cafsd {
namespace {

using json = nlohmann::json;

std::string Bytes(double n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", n, kUnits[u]);
  return buf;
}

std::string Duration(const json& eta) {
  if (!eta.is_number()) return "--:--";
  const auto s = static_cast<long long>(std::llround(eta.get<double>()));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
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
  const double done = static_cast<double>(U64(job, "done_bytes"));
  const double total = static_cast<double>(U64(job, "total_bytes"));
  const double frac = total > 0 ? std::min(1.0, done / total) : (Str(job, "state") == "done");
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
                    std::string(static_cast<std::size_t>(kWidth - filled), '.') + "]";
  int files_done = 0, files = 0;
  for (const auto& t : job.value("tasks", json::array())) {
    ++files;
    files_done += Str(t, "state") == "done" ? 1 : 0;
  }
  const double rate = job.value("rate_bps", 0.0);
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%s %3.0f%%  %s / %s  %s/s  ETA %s  %d/%d files  %s", bar.c_str(),
                frac * 100, Bytes(done).c_str(), Bytes(total).c_str(), Bytes(rate).c_str(),
                Duration(job.value("eta_s", json())).c_str(), files_done, files,
                Str(job, "state").c_str());
  return buf;
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

// Polls the job until it ends (or is paused), drawing the progress bar on a terminal.
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
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 250 : 500));
  }
  if (tty) std::fprintf(stderr, "\n");
  if (o.json) {
    std::printf("%s\n", job.dump(2).c_str());
  } else {
    PrintJobDetail(job);
  }
  return ExitOf(job);
}

}  // namespace

bool ParseByteRate(const std::string& text, std::uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || v < 0 || !std::isfinite(v)) return false;
  std::string unit(end);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() > 1 && (unit.back() == 'i')) unit.pop_back();
  double mult = 1;
  if (unit == "k" || unit == "K") {
    mult = 1024.0;
  } else if (unit == "m" || unit == "M") {
    mult = 1024.0 * 1024;
  } else if (unit == "g" || unit == "G") {
    mult = 1024.0 * 1024 * 1024;
  } else if (!unit.empty()) {
    return false;
  }
  const double bytes = v * mult;
  if (bytes > 1e18) return false;
  *out = static_cast<std::uint64_t>(bytes);
  return true;
}

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

// Starts the job `spec` and, unless --no-wait, watches it to its end.
int StartJob(const JobsCliOptions& o, const json& spec) {
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
  return StartJob(o, json{{"kind", "shred"},
                          {"target", {{"type", s.type}, {"path", s.path}}},
                          {"params", json::object()},
                          {"rate_limit_bps", s.rate_limit_bps},
                          {"parallel", s.parallel}});
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
  return StartJob(o, json{{"kind", "rekey"},
                          {"target", target},
                          {"params", params},
                          {"rate_limit_bps", r.rate_limit_bps},
                          {"parallel", r.parallel}});
}

int RunMigrate(const JobsCliOptions& o, const MigrateCliOptions& m) {
  json target{{"type", m.type}, {"path", m.path}};
  if (m.type == "pool") target["pool"] = m.drain_pool;
  return StartJob(o, json{{"kind", "migrate"},
                          {"target", target},
                          {"params", {{"to_pool", m.to_pool}}},
                          {"rate_limit_bps", m.rate_limit_bps},
                          {"parallel", m.parallel}});
}

int RunReplica(const JobsCliOptions& o, const ReplicaCliOptions& r) {
  return StartJob(o, json{{"kind", "replica"},
                          {"target", {{"type", "vm"}, {"path", r.path}}},
                          {"params", {{"pool", r.pool}, {"keep", r.keep}}},
                          {"rate_limit_bps", r.rate_limit_bps},
                          {"parallel", 1}});
}

int RunRestore(const JobsCliOptions& o, const ReplicaCliOptions& r) {
  return StartJob(o, json{{"kind", "restore"},
                          {"target", {{"type", "vm"}, {"path", r.path}}},
                          {"params",
                           {{"pool", r.pool},
                            {"vmset", r.vmset},
                            {"vm", r.vm},
                            {"replica", r.replica},
                            {"to_pool", r.to_pool}}},
                          {"rate_limit_bps", r.rate_limit_bps},
                          {"parallel", 1}});
}

}  // namespace cafs::cafsd
