// cafsd's configuration: a TOML file (docs/gateway.md "cafsd configuration").
//
//   [gateway]  server_id (required), backing_store (required), mountpoint (see below),
//              position = 1, allow_other = true when root
//   [local_keys] dir          |  [kps] url (https://HOST:PORT), cert (gateway PEM bundle),
//                                    push_audit = true, usage_interval_s = 60,
//                                    inventory_interval_s = 300, rekey_poll_interval_s = 60
//                                    (exactly one of the two)
//   [[pool]]   name, kind = "posix", guid (optional, [kps] only: the GUID of kpsd's record of
//              the pool, docs/gateway.md "Pool identity") and the kind's keys (one or more;
//              docs/pools.md):
//              posix: path; rados: rados_pool, namespace, conf, user, keyring, op_timeout_s;
//              s3: endpoint, bucket, access_key, secret_key_file, region, prefix, ...
//   [[server]] id, addresses  ([local_keys] only; required with [nfs]): the server registry
//              that maps NFS client addresses to <vmserv> ids (docs/nfs.md "Server identity")
//   [audit]    log (required), aggregate_interval_s = 10, sync_every_record = true,
//              push_cursor = "<log>.kps-cursor"
//   [cache]    ttl_s = 30, grace_s = 600
//   [log]      level = "info"
//   [jobs]     shred_rate = "64M", rekey_rate = "32M", migrate_rate = "32M",
//              resync_rate = "32M": the rate limit
//              of a job started without --rate (bytes/s with K/M/G, or an integer; 0 =
//              unlimited; docs/jobs.md "Rate limits"); keep_finished_days = 30,
//              keep_finished_per_kind = 1000: the records of done/cancelled jobs kept
//              (0 = no limit; docs/jobs.md "Retention")
//   [nfs]      enabled = true, listen = "0.0.0.0", port = 2049, mount_port = 20048,
//              portmap_port = 0 (111 to answer GETPORT ourselves), register_rpcbind = false,
//              compute_threads = 0 (one per core), worker_threads = 8, idle_timeout_s = 300
//   [[nfs.export]] path (required), clients (required, addresses/CIDRs/host names/"*"),
//              access = "rw" | "ro", squash = "root_squash" | "no_root_squash" | "all_squash",
//              anon_uid = 65534, anon_gid = 65534      (one or more when [nfs] is enabled)
// [gateway] mountpoint is optional when NFS is enabled (no mount point: NFS only).
// Errors name the file, the key and the line: "cafsd.toml line 7: [cache] ttl_s must be a
// positive integer". Unknown tables and keys are errors too (a typo must not be ignored).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/nfs/exports.h"
#include "jobs/default_rates.h"
#include "jobs/job_manager.h"
#include "policy/server_registry.h"
#include "pool/pool_registry.h"
#include "util/result.h"

namespace cafs::cafsd {

// One [[pool]]: checked against its kind in the pool registry (pool_kinds.h) when parsed.
using PoolConfig = pool::PoolSettings;

struct NfsConfig {
  bool enabled = false;  // true when [nfs] is present unless enabled = false
  std::string listen = "0.0.0.0";
  std::uint16_t port = 2049;
  std::uint16_t mount_port = 20048;
  std::uint16_t portmap_port = 0;  // 0: no portmapper of our own
  bool register_rpcbind = false;
  unsigned compute_threads = 0;  // calls that use the CPU; 0: one per core
  unsigned worker_threads = 8;   // calls that wait for storage (stable writes, COMMIT, ...)
  std::int64_t idle_timeout_s = 300;
  std::vector<frontend::nfs::ExportConfig> exports;
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
  std::int64_t inventory_interval_s = 300;  // [kps]: key inventory (docs/gateway.md)
  std::int64_t rekey_poll_interval_s = 60;  // [kps]: kpsd's rekey requests (0 = not followed)
  std::string push_cursor;                  // [audit]; default audit_log + ".kps-cursor"
  std::vector<PoolConfig> pools;
  // [[server]]: the registered virtualization servers and their NFS client addresses
  // (with [local_keys]; with [kps] the registry is kpsd's).
  std::vector<policy::RegisteredServer> servers;
  std::string audit_log;
  std::int64_t aggregate_interval_s = 10;
  bool sync_every_record = true;
  std::int64_t cache_ttl_s = 30;
  std::int64_t cache_grace_s = 600;
  std::string log_level = "info";
  NfsConfig nfs;
  // [jobs]: default rate limits (bytes/s, 0 = unlimited) of jobs started without a rate.
  std::uint64_t shred_rate_bps = jobs::kDefaultShredRateBps;
  std::uint64_t rekey_rate_bps = jobs::kDefaultRekeyRateBps;
  std::uint64_t migrate_rate_bps = jobs::kDefaultMigrateRateBps;
  std::uint64_t resync_rate_bps = jobs::kDefaultResyncRateBps;
  // [jobs]: which records of finished jobs are kept (docs/jobs.md "Retention").
  std::int64_t keep_finished_days = jobs::JobRetention::kDefaultDays;
  std::int64_t keep_finished_per_kind = jobs::JobRetention::kDefaultPerKind;
};

Result<Config> LoadConfig(const std::string& path);
// "50M", "1.5G", "4096", "64k" -> bytes (binary units); false when malformed. The one parser
// of byte rates: [jobs] keys and the --rate option of cafsd's job commands.
bool ParseByteRate(const std::string& text, std::uint64_t* out);

Result<Config> ParseConfig(std::string_view text, const std::string& source_name);

}  // namespace cafs::cafsd
