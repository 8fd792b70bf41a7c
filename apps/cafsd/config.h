// cafsd's configuration: a TOML file (docs/gateway.md "cafsd configuration").
//
//   [gateway]  server_id (required), backing_store (required), mountpoint (required),
//              position = 1, allow_other = true when root
//   [local_keys] dir          |  [kps] url (https://HOST:PORT), cert (gateway PEM bundle),
//                                    push_audit = true, usage_interval_s = 60
//                                    (exactly one of the two)
//   [[pool]]   name, path     (one or more)
//   [audit]    log (required), aggregate_interval_s = 10, sync_every_record = true,
//              push_cursor = "<log>.kps-cursor"
//   [cache]    ttl_s = 30, grace_s = 600
//   [log]      level = "info"
// Errors name the file, the key and the line: "cafsd.toml line 7: [cache] ttl_s must be a
// positive integer". Unknown tables and keys are errors too (a typo must not be ignored).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace cafs::cafsd {

struct PoolConfig {
  std::string name;
  std::string path;
};

struct Config {
  std::string server_id;
  std::string backing_store;
  std::string mountpoint;
  unsigned position = 1;
  bool allow_other = false;
  std::string local_keys_dir;     // set when [local_keys]
  std::string kps_url, kps_cert;  // set when [kps]; cert: the gateway's PEM bundle
  bool push_audit = true;         // [kps]: push audit records and usage to kpsd
  std::int64_t usage_interval_s = 60;
  std::string push_cursor;  // [audit]; default audit_log + ".kps-cursor"
  std::vector<PoolConfig> pools;
  std::string audit_log;
  std::int64_t aggregate_interval_s = 10;
  bool sync_every_record = true;
  std::int64_t cache_ttl_s = 30;
  std::int64_t cache_grace_s = 600;
  std::string log_level = "info";
};

Result<Config> LoadConfig(const std::string& path);
Result<Config> ParseConfig(std::string_view text, const std::string& source_name);

}  // namespace cafs::cafsd
