// edifd: the EDIF transport driver (host side) and storage target.
//   edifd target --config target.toml [--log-level L]
//   edifd host   --config host.toml   [--log-level L]
// Runs until SIGTERM / SIGINT, then stops cleanly. Exit codes: 0 ok, 1 failure, 2 usage.
// Configuration keys and behaviour: docs/edif.md.
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "config.h"
#include "util/logging.h"

namespace {

using namespace cafs;

int Fail(const Status& s) {
  std::cerr << "edifd: " << s.ToString() << "\n";
  return 1;
}

Status WritePortFile(const std::string& path, std::uint16_t port) {
  if (path.empty()) return Status::OK();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return Status::FromErrno(EIO, "write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + path);
  return Status::OK();
}

// Blocks SIGTERM/SIGINT in every thread; waits for one.
int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int RunTarget(const std::string& config_path) {
  auto file = edifd::LoadTargetConfig(config_path);
  if (!file.ok()) return Fail(file.status());
  auto secret = edif::hba::ReadSecretFile(file->agent_secret_file);
  if (!secret.ok()) return Fail(secret.status());
  auto port =
      edif::target::TargetPort::Start(file->config, std::move(*secret), SystemClock::Instance());
  if (!port.ok()) return Fail(port.status());
  Status w = WritePortFile(file->port_file, (*port)->port());
  if (!w.ok()) return Fail(w);
  std::printf("edifd target: listening on %s:%u wwpn 0x%016llx port_id 0x%06x\n",
              file->config.listen_host.c_str(), (*port)->port(),
              static_cast<unsigned long long>(file->config.port.identity.wwpn),
              file->config.port.identity.port_id);
  std::fflush(stdout);
  const int sig = WaitForSignal();
  CAFS_LOG_INFO("signal {}: stopping", sig);
  (*port)->Stop();
  return 0;
}

int RunHost(const std::string& config_path) {
  auto file = edifd::LoadHostConfig(config_path);
  if (!file.ok()) return Fail(file.status());
  std::vector<SecureBuffer> secrets;
  for (const auto& f : file->agent_secret_files) {
    auto s = edif::hba::ReadSecretFile(f);
    if (!s.ok()) return Fail(s.status());
    secrets.push_back(std::move(*s));
  }
  auto driver = edif::driver::TransportDriver::Start(file->config, std::move(secrets),
                                                     SystemClock::Instance());
  if (!driver.ok()) return Fail(driver.status());
  Status w = WritePortFile(file->lun_port_file, (*driver)->lun_tcp_port());
  if (!w.ok()) return Fail(w);
  std::printf("edifd host: ready\n");
  std::fflush(stdout);
  const int sig = WaitForSignal();
  CAFS_LOG_INFO("signal {}: stopping", sig);
  (*driver)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // DATA frames carry up to 1 MiB, and each is copied into fresh buffers (encode, seal, open).
  // Keep such buffers on the heap, reused, rather than a new mmap per buffer (256 page faults,
  // then munmap): up to 5x on 1 MiB sequential reads on a VM (docs/performance.md, "EDIF").
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{"edifd: EDIF transport driver (host) and storage target. See docs/edif.md."};
  app.require_subcommand(1);
  std::string level = "info";
  app.add_option("--log-level", level, "trace|debug|info|warn|error|off")->capture_default_str();
  std::string target_config, host_config;
  auto* target = app.add_subcommand("target", "run a target HBA port serving LUNs");
  target->add_option("--config", target_config, "TOML file ([target], [[target.lun]])")->required();
  target->add_option("--log-level", level, "trace|debug|info|warn|error|off");
  auto* host = app.add_subcommand("host", "run the transport driver (initiator HBA ports)");
  host->add_option("--config", host_config, "TOML file ([host], [[host.port]], targets)")
      ->required();
  host->add_option("--log-level", level, "trace|debug|info|warn|error|off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  logging::Level lv;
  if (!logging::ParseLevel(level, &lv)) {
    std::cerr << "edifd: bad --log-level " << level << "\n";
    return 2;
  }
  logging::Init(target->parsed() ? "edifd-target" : "edifd-host", lv);
  return target->parsed() ? RunTarget(target_config) : RunHost(host_config);
}
