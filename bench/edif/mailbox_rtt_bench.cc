// Mailbox message round trip (issue 6, bench/): an Agent (src/edif/agent) on an NbdBlockChannel
// to a real `edifd host` mailbox disk does APP_START, then times `--count` request/response
// pairs: GET_PORT_INFO written to the mailbox (one NBD WRITE) until its RESULT arrives on one
// of the READs kept posted (Agent::Ping), one at a time. Prints p50/p99/mean/max in ms.
//
// Use a host port without targets (bench/run-edif-bench.sh adds one): the bench agent opens a
// new epoch on that port, so it must not be the port of a running agent.
//
// Usage: edif_mailbox_rtt_bench --mailbox URI --secret-file F [--count N] [--warmup N]
// Exit codes: 0 measured, 1 failure (message on stderr), 2 usage error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edif/agent/agent.h"
#include "edif/agent/nbd_block_channel.h"
#include "util/logging.h"

namespace {

using namespace cafs;
using namespace cafs::edif::agent;
using Ms = std::chrono::duration<double, std::milli>;

int Fail(const std::string& what) {
  std::fprintf(stderr, "edif_mailbox_rtt_bench: %s\n", what.c_str());
  return 1;
}

// Runs the agent until `done()` or `limit` passes; false on timeout or a dead channel.
template <typename Done>
bool RunUntil(Agent& agent, Done done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    if (!agent.RunOnce(std::chrono::milliseconds(100)).ok()) return false;
  }
  return true;
}

double Percentile(const std::vector<double>& sorted, double p) {
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"EDIF mailbox round trip: APP_START, then N GET_PORT_INFO -> RESULT pairs"};
  std::string uri, secret_file;
  unsigned count = 1000, warmup = 50;
  app.add_option("--mailbox", uri, "mailbox disk NBD URI (a host port without targets)")
      ->required();
  app.add_option("--secret-file", secret_file, "the port's APP_START secret")->required();
  app.add_option("--count", count, "timed round trips")->check(CLI::Range(1u, 1000000u));
  app.add_option("--warmup", warmup, "untimed round trips first");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  logging::Init("edif-rtt-bench", logging::Level::kWarn);

  std::ifstream in(secret_file, std::ios::binary);
  if (!in) return Fail("cannot read " + secret_file);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!s.empty() && s.back() == '\n') s.pop_back();
  AgentConfig config;
  config.secret = SecureBuffer(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  std::fill(s.begin(), s.end(), '\0');
  // No target on this port: the credentials are never used, but the agent needs some.
  config.credentials.psk_secret = SecureBuffer(32);
  config.app_id = "edif-mailbox-rtt-bench";

  auto channel = NbdBlockChannel::Connect(uri);
  if (!channel.ok()) return Fail("mailbox " + uri + ": " + channel.status().ToString());
  auto agent = Agent::Create(std::move(config), **channel, SystemClock::Instance());
  if (!agent.ok()) return Fail(agent.status().ToString());
  Agent& a = **agent;
  if (!RunUntil(
          a, [&] { return a.started(); }, std::chrono::seconds(10))) {
    return Fail("APP_START did not complete within 10 s");
  }

  std::vector<double> rtt;
  rtt.reserve(count);
  for (unsigned i = 0; i < warmup + count; ++i) {
    bool done = false;
    std::uint32_t err = 0;
    const auto t0 = std::chrono::steady_clock::now();
    a.Ping([&](std::uint32_t e) {
      err = e;
      done = true;
    });
    if (!RunUntil(
            a, [&] { return done; }, std::chrono::seconds(5))) {
      return Fail("no RESULT for GET_PORT_INFO within 5 s");
    }
    const Ms d = std::chrono::steady_clock::now() - t0;
    if (err != 0) return Fail("GET_PORT_INFO failed: errno " + std::to_string(err));
    if (i >= warmup) rtt.push_back(d.count());
  }
  a.RequestStop();
  (void)a.Run();  // APP_STOP, bounded

  std::sort(rtt.begin(), rtt.end());
  double sum = 0;
  for (double v : rtt) sum += v;
  std::printf(
      "mailbox round trip (GET_PORT_INFO -> RESULT, %u pairs): p50 %.3f ms p99 %.3f ms "
      "mean %.3f ms max %.3f ms\n",
      count, Percentile(rtt, 0.50), Percentile(rtt, 0.99), sum / static_cast<double>(rtt.size()),
      rtt.back());
  return 0;
}
