// nbd_test_server: serves one export over NBD for tests with clients we did not write.
//
//   nbd_test_server (--unix PATH | --tcp HOST) (--file PATH | --memory BYTES)
//                   [--name NAME] [--read-only] [--block-size MIN]
//
// Prints "ready unix:PATH" or "ready tcp:HOST:PORT" (the bound ephemeral port) on stdout once
// listening, then serves until SIGTERM or SIGINT. Exit status 2 on bad arguments, 1 on errors.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "edif/nbd/file_block_device.h"
#include "edif/nbd/memory_block_device.h"
#include "edif/nbd/server.h"

namespace {

int Usage() {
  std::cerr << "usage: nbd_test_server (--unix PATH | --tcp HOST) (--file PATH | --memory BYTES)"
               " [--name NAME] [--read-only] [--block-size MIN]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cafs::edif::nbd;
  std::string unix_path, tcp_host, file, name;
  std::uint64_t memory = 0;
  bool read_only = false;
  std::uint32_t min_block = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (arg == "--unix") {
      unix_path = next();
    } else if (arg == "--tcp") {
      tcp_host = next();
    } else if (arg == "--file") {
      file = next();
    } else if (arg == "--memory") {
      memory = std::strtoull(next().c_str(), nullptr, 10);
    } else if (arg == "--name") {
      name = next();
    } else if (arg == "--read-only") {
      read_only = true;
    } else if (arg == "--block-size") {
      min_block = static_cast<std::uint32_t>(std::strtoul(next().c_str(), nullptr, 10));
    } else {
      return Usage();
    }
  }
  if (unix_path.empty() == tcp_host.empty() || file.empty() == (memory == 0)) return Usage();

  // Block the stop signals before any thread starts, then wait for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const BlockSizeConstraints sizes{min_block, 4096, kMaxPayload};
  std::shared_ptr<BlockDevice> device;
  if (!file.empty()) {
    auto opened = FileBlockDevice::Open(file, {.read_only = read_only, .block_sizes = sizes});
    if (!opened.ok()) {
      std::cerr << opened.status().ToString() << "\n";
      return 1;
    }
    device = *opened;
  } else {
    device =
        std::make_shared<MemoryBlockDevice>(memory, DeviceFeatures{.read_only = read_only}, sizes);
  }

  NbdServer server;
  if (cafs::Status s = server.AddExport(name, device, "nbd_test_server export"); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  server.SetDefaultExport(name);
  if (!unix_path.empty()) {
    if (cafs::Status s = server.ListenUnix(unix_path); !s.ok()) {
      std::cerr << s.ToString() << "\n";
      return 1;
    }
    std::cout << "ready unix:" << unix_path << std::endl;
  } else {
    auto port = server.ListenTcp(tcp_host, 0);
    if (!port.ok()) {
      std::cerr << port.status().ToString() << "\n";
      return 1;
    }
    std::cout << "ready tcp:" << tcp_host << ":" << *port << std::endl;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.Stop();
  return 0;
}
