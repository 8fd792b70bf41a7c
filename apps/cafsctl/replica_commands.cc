#include "replica_commands.h"

#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "jobs/control_socket.h"
#include "jobs/job.h"
#include "table.h"

namespace cafs::cafsctl {
namespace {

using json = nlohmann::json;
constexpr int kUnavailable = 69;

std::string S(const json& j, const char* key) { return j.value(key, std::string()); }

// The request's reply when "ok"; otherwise prints why and returns the exit code in `rc`.
std::optional<json> Call(const ReplicaCommand& c, const json& request, int& rc) {
  auto reply = jobs::ControlCall(c.socket, request);
  if (!reply.ok()) {
    std::cerr << "cafsctl: " << c.socket << ": " << reply.status().message() << "\n";
    rc = reply.status().code() == Status::Code::kUnavailable ? kUnavailable : 1;
    return std::nullopt;
  }
  if (!reply->value("ok", false)) {
    std::cerr << "cafsctl: cafsd refused: " << reply->value("error", std::string("?")) << "\n";
    rc = 1;
    return std::nullopt;
  }
  return *reply;
}

int List(const ReplicaCommand& c) {
  int rc = 0;
  auto reply = Call(c, json{{"op", "replica-list"}, {"pool", c.pool}}, rc);
  if (!reply) return rc;
  const json& replicas = (*reply)["replicas"];
  for (const auto& r : replicas) rc = r.contains("error") ? 1 : rc;
  if (c.json) {
    std::cout << replicas.dump(2) << "\n";
    return rc;
  }
  Table t({"replica", "vmset", "vm", "time", "kind", "files", "bytes", "vm path"});
  for (const auto& r : replicas) {
    if (r.contains("error")) {
      t.AddRow(
          {S(r, "replica"), S(r, "vmset"), S(r, "vm"), "", "BAD: " + S(r, "error"), "", "", ""});
    } else {
      t.AddRow({S(r, "replica"), S(r, "vmset"), S(r, "vm"), S(r, "time"),
                r.value("full", false) ? "full" : "incremental",
                std::to_string(r.value("files", std::uint64_t{0})),
                std::to_string(r.value("bytes", std::uint64_t{0})), "/" + S(r, "vm_path")});
    }
  }
  t.Print(std::cout);
  return rc;
}

int Verify(const ReplicaCommand& c) {
  int rc = 0;
  auto reply = Call(c,
                    json{{"op", "replica-verify"},
                         {"pool", c.pool},
                         {"vmset", c.vmset},
                         {"vm", c.vm},
                         {"replica", c.replica}},
                    rc);
  if (!reply) return rc;
  if (c.json) {
    std::cout << json{{"verified", true}, {"bytes", (*reply)["bytes"]}}.dump(2) << "\n";
  } else {
    std::cout << "verified: every manifest and " << (*reply)["bytes"].get<std::uint64_t>()
              << " stored bytes check\n";
  }
  return 0;
}

int Restore(const ReplicaCommand& c) {
  const json spec{{"kind", "restore"},
                  {"target", {{"type", "vm"}, {"path", c.as.empty() ? "/" : c.as}}},
                  {"params",
                   {{"pool", c.pool},
                    {"vmset", c.vmset},
                    {"vm", c.vm},
                    {"replica", c.replica},
                    {"to_pool", c.to_pool}}},
                  {"parallel", 1}};
  int rc = 0;
  auto started = Call(c, json{{"op", "start"}, {"spec", spec}}, rc);
  if (!started) return rc;
  json job = (*started)["job"];
  const std::string id = job.value("id", "");
  while (!c.no_wait) {
    auto state = jobs::ParseJobState(job.value("state", ""));
    if (state.ok() && jobs::IsFinal(*state)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto got = Call(c, json{{"op", "get"}, {"id", id}}, rc);
    if (!got) return rc;
    job = (*got)["job"];
  }
  const std::string state = job.value("state", "");
  if (c.json) {
    std::cout << job.dump(2) << "\n";
  } else if (c.no_wait) {
    std::cout << id << "\n";
  } else {
    std::cout << "restore job " << id << " " << state
              << (job.value("error", "").empty() ? "" : ": " + job.value("error", "")) << "\n";
  }
  return c.no_wait || state == "done" ? 0 : 1;
}

}  // namespace

int RunReplicaCommand(const ReplicaCommand& c) {
  if (c.verb == "list") return List(c);
  if (c.verb == "verify") return Verify(c);
  return Restore(c);
}

}  // namespace cafs::cafsctl
