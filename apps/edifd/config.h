// edifd configuration files (TOML, docs/edif.md section 2) -> driver and target configs.
// Errors name the file and the key. Threading: pure functions.
#pragma once

#include <string>
#include <vector>

#include "edif/driver/transport_driver.h"
#include "edif/target/target_port.h"

namespace cafs::edifd {

struct TargetFile {
  edif::target::TargetConfig config;
  std::string agent_secret_file;
  std::string port_file;
};
Result<TargetFile> LoadTargetConfig(const std::string& path);

struct HostFile {
  edif::driver::DriverConfig config;
  std::vector<std::string> agent_secret_files;  // per port
  std::string lun_port_file;
};
Result<HostFile> LoadHostConfig(const std::string& path);

}  // namespace cafs::edifd
