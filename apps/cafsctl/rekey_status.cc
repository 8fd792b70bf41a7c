#include "rekey_status.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kps/client/kps_client.h"
#include "util/progress_text.h"

namespace cafs::cafsctl {

namespace {

using nlohmann::json;

constexpr int kExitFailed = 1;
constexpr int kExitNotDone = 3;

std::string Text(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

double Number(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

// "<key> v1 -> v2 (compromised)  running"
std::string RequestLine(const json& r) {
  return Text(r, "key") + " version " + std::to_string(r.value("from_version", 0)) + " -> " +
         std::to_string(r.value("to_version", 0)) + " (" + Text(r, "reason") + ")  " +
         Text(r, "state");
}

ProgressFigures FiguresOf(const json& g) {
  ProgressFigures p;
  p.done = Number(g, "done_bytes");
  p.total = Number(g, "total_bytes");
  p.rate_bps = Number(g, "rate_bps");
  if (g.contains("eta_s") && g["eta_s"].is_number()) p.eta_s = g["eta_s"].get<double>();
  p.files = static_cast<std::uint64_t>(Number(g, "files"));
  p.files_done = static_cast<std::uint64_t>(Number(g, "files_done"));
  p.state = Text(g, "state");
  return p;
}

// Every line of the status: per request, its line and one progress line per gateway.
std::vector<std::string> Lines(const json& requests) {
  std::vector<std::string> out;
  if (requests.empty()) {
    out.push_back("no rekey requests");
    return out;
  }
  for (const auto& r : requests) {
    out.push_back(RequestLine(r));
    for (const auto& g : r.value("gateways", json::array())) {
      std::string line = "  " + Text(g, "gateway") + "  " + ProgressLine(FiguresOf(g));
      if (!Text(g, "job").empty()) line += "  job " + Text(g, "job");
      if (!Text(g, "error").empty()) line += "  (" + Text(g, "error") + ")";
      out.push_back(std::move(line));
    }
  }
  return out;
}

int ExitOf(const json& requests) {
  bool pending = false;
  for (const auto& r : requests) {
    const std::string state = Text(r, "state");
    if (state == "failed") return kExitFailed;
    pending = pending || state != "done";
  }
  return pending ? kExitNotDone : 0;
}

}  // namespace

int RekeyStatus(kps::client::KpsClient& client, const RekeyStatusOptions& o) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  std::size_t drawn = 0;  // lines drawn on the terminal by the previous poll
  for (;;) {
    auto reply = client.Call("GET", "/v1/rekey-requests?vmset=" + kps::client::UrlEncode(o.vmset));
    if (!reply.ok()) {
      std::cerr << "cafsctl: " << reply.status().message() << "\n";
      return kExitFailed;
    }
    if (!reply->ok()) {
      std::cerr << "cafsctl: kpsd answered HTTP " << reply->status << ": " << reply->Reason()
                << "\n";
      return kExitFailed;
    }
    const json& requests = reply->body.is_array() ? reply->body : json::array();
    const int rc = ExitOf(requests);
    const bool last = !o.watch || rc != kExitNotDone || std::chrono::steady_clock::now() > deadline;
    if (o.json) {
      if (last) std::cout << requests.dump(2) << "\n";
    } else {
      const auto lines = Lines(requests);
      if (tty && drawn > 0) std::cout << "\033[" << drawn << "F";  // back to the first line
      for (const auto& l : lines) std::cout << l << (tty ? "\033[K\n" : "\n");
      if (tty) std::cout << "\033[J";
      std::cout.flush();
      drawn = tty ? lines.size() : 0;
    }
    if (last) return rc;
    std::this_thread::sleep_for(std::chrono::seconds(o.interval_s));
  }
}

}  // namespace cafs::cafsctl
