// cafsd: the CAFS gateway daemon. Reads a TOML config (config.h), builds the gateway core
// (key provider -> policy cache, pools, Volume over the backing store, audit log, Gateway)
// and serves it through FUSE in the foreground until SIGINT/SIGTERM, then flushes the audit
// aggregates and unmounts. docs/gateway.md describes the configuration.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>

#include "cafs/backing_store_id.h"
#include "cafs/backing_store_lock.h"
#include "cafs/gateway.h"
#include "cafs/key_provider.h"
#include "cafs/kps_key_provider.h"
#include "cafs/kps_reporter.h"
#include "cafs/pool_identity.h"
#include "cafs/volume_check.h"
#include "config.h"
#include "datastore_cli.h"
#include "frontend/fuse/fuse_frontend.h"
#include "jobs/control_socket.h"
#include "jobs/job_manager.h"
#include "jobs/migrate_job.h"
#include "jobs/policy_conversion.h"
#include "jobs/rekey_job.h"
#include "jobs/rekey_request_follower.h"
#include "jobs/replica_control.h"
#include "jobs/replica_job.h"
#include "jobs/replica_scheduler.h"
#include "jobs/resync_job.h"
#include "jobs/shred_job.h"
#include "jobs/shred_on_free.h"
#include "jobs_cli.h"
#include "nfs_service.h"
#include "pool/pool_kinds.h"
#include "pool/posix_pool.h"
#include "replica_cli.h"
#include "util/ip_address.h"
#include "util/logging.h"
#include "util/utc_time.h"

namespace {

using namespace cafs;

int Fail(const Status& s) {
  std::fprintf(stderr, "cafsd: %s\n", s.ToString().c_str());
  return 1;
}

// The replica key (docs/replicas.md "Keys"): 32 bytes beside the backing store's other secrets.
std::string ReplicaKeyPath(const cafsd::Config& config) {
  return config.backing_store + "/.cafs-replica-key";
}

// The configured pools, each made by its kind (pool_kinds.h); one not reachable now is a
// warning. Their owner (the holder of their write leases, docs/pools.md "Write leases") is
// the backing store's id, minted here when the store has none yet.
Status AddPools(const cafsd::Config& config, pool::PoolMapper& pools) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<env::Dir> root,
                        env::Env::Default()->OpenDirectory(config.backing_store));
  CAFS_ASSIGN_OR_RETURN(Uuid store_id, core::LoadOrMintBackingStoreId(*root));
  for (pool::PoolSettings p : config.pools) {
    p.owner = store_id.ToString();
    CAFS_ASSIGN_OR_RETURN(std::unique_ptr<pool::Pool> pool,
                          pool::BuiltinPoolKinds().Create(p, env::Env::Default()));
    if (Status avail = pool->CheckAvailable(); !avail.ok()) {
      CAFS_LOG_WARN("pool {} ({}) is not available now: {}", p.name, pool->location(),
                    avail.ToString());
    }
    CAFS_RETURN_IF_ERROR(pools.Add(std::move(pool), p.guid));
  }
  return Status::OK();
}

// [kps]: the configured pools against every pool record kpsd holds (docs/gateway.md "Pool
// identity", core::ComparePoolRecords): a pool kpsd has no record of, or whose `guid =`
// differs from the record of its name, is a warning and an audit record (op "pool-identity",
// result alert, file = the pool). kpsd not reachable now: one warning (the gateway fetch
// carries each VM set's records and placement checks them there).
void CheckPoolRecords(const cafsd::Config& config, core::KpsKeyProvider& kps, audit::AuditLog& log,
                      const Clock& clock) {
  auto records = kps.FetchPoolRecords();
  if (!records.ok()) {
    CAFS_LOG_WARN("could not compare the configured pools with kpsd's pool records now: {}",
                  records.status().ToString());
    return;
  }
  std::vector<core::ConfiguredPool> configured;
  for (const auto& p : config.pools) configured.push_back({p.name, p.guid});
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch()).count();
  for (const core::PoolFinding& f : core::ComparePoolRecords(configured, *records)) {
    CAFS_LOG_WARN("{}", f.text);
    audit::AuditRecord r;
    r.time_ms = r.end_ms = now_ms;
    r.server = config.server_id;
    r.file = f.pool;
    r.op = "pool-identity";
    r.result = audit::Result::kAlert;
    r.reason = f.text;
    if (auto appended = log.Append(std::move(r)); !appended.ok()) {
      CAFS_LOG_ERROR("audit log append failed: {}", appended.status().ToString());
    }
  }
}

// The migration note of docs/nfs.md "Server identity": with local keys and NFS, a <vmserv>
// entry that is an IP address and that no [[server]] registers admitted that client before
// NFS clients were identified by the registry; now it admits nobody. One warning per such
// entry, naming the table to add. (The FUSE host's own server_id is not an NFS client.)
void WarnUnregisteredAddresses(const cafsd::Config& config, core::KeyProvider& provider) {
  if (config.local_keys_dir.empty() || !config.nfs.enabled) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config.local_keys_dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    auto bundle = provider.FetchVmSet(entry.path().filename().string());
    if (!bundle.ok()) continue;  // reported when the VM set is used
    for (const std::string& id : bundle->vmset.servers) {
      const bool registered = std::any_of(
          config.servers.begin(), config.servers.end(),
          [&](const policy::RegisteredServer& s) { return policy::SameServerId(s.id, id); });
      if (registered || policy::SameServerId(id, config.server_id) || !IpAddress::Parse(id).ok()) {
        continue;
      }
      CAFS_LOG_WARN(
          "VM set {} lists <vmserv> {}, an address that no [[server]] registers: NFS clients are "
          "admitted by registered server id, so no client is admitted as {}. If {} is an NFS "
          "client's address, add to the configuration: [[server]] id = \"{}\" addresses = "
          "[\"{}\"] (docs/nfs.md \"Server identity\")",
          bundle->vmset.name, id, id, id, id, id);
    }
  }
}

// `cafsd fsck`: the offline consistency check of the backing store and pools
// (core::CheckVolume, docs/redirectors.md). One tab-separated line per finding on stdout
// (kind, where, detail), a summary on stderr, progress on stderr when it is a terminal.
// Exit 0: consistent (after removals, with --remove-orphans); 1: findings remain; 2: the
// check could not run (the store is in use by a cafsd, a missing backing store).
int Fsck(const cafsd::Config& config, bool remove_orphans, bool upgrade_pool_paths) {
  auto store_lock = core::BackingStoreLock::Acquire(config.backing_store);
  if (!store_lock.ok()) {
    std::fprintf(stderr, "cafsd fsck: %s\n", store_lock.status().ToString().c_str());
    return 2;
  }
  pool::PoolMapper pools;
  if (Status s = AddPools(config, pools); !s.ok()) {
    std::fprintf(stderr, "cafsd fsck: %s\n", s.ToString().c_str());
    return 2;
  }
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  core::CheckOptions options;
  options.remove_orphans = remove_orphans;
  options.upgrade_pool_paths = upgrade_pool_paths;
  if (tty) {
    options.progress = [](const core::CheckProgress& p) {
      std::fprintf(stderr, "\rcafsd fsck: %llu redirectors, %llu pool files read",
                   static_cast<unsigned long long>(p.redirectors),
                   static_cast<unsigned long long>(p.pool_files));
    };
  }
  auto report = core::CheckVolume(config.backing_store, pools, options);
  if (tty) std::fprintf(stderr, "\n");
  if (!report.ok()) {
    std::fprintf(stderr, "cafsd fsck: %s\n", report.status().ToString().c_str());
    return 2;
  }
  std::uint64_t orphan_bytes = 0;
  for (const auto& f : report->findings) {
    std::printf("%s\t%s\t%s%s\n", core::CheckFindingName(f.kind), f.where.c_str(), f.detail.c_str(),
                f.removed ? " (removed)" : "");
    if (f.kind == core::CheckFinding::Kind::kOrphanPoolFile && !f.removed) {
      orphan_bytes += f.bytes;
    }
  }
  std::fflush(stdout);
  std::fprintf(stderr,
               "cafsd fsck: %s: %llu redirectors, %llu pool files, %zu findings, %zu remaining "
               "(%llu bytes in orphan pool files); %llu at name-derived pool paths, %llu "
               "upgraded; %llu other gateways' owner marks left alone; %llu pool files moved "
               "out, %llu adopted (datastore moves)\n",
               config.backing_store.c_str(), static_cast<unsigned long long>(report->redirectors),
               static_cast<unsigned long long>(report->pool_files), report->findings.size(),
               report->remaining(), static_cast<unsigned long long>(orphan_bytes),
               static_cast<unsigned long long>(report->legacy_pool_paths),
               static_cast<unsigned long long>(report->upgraded),
               static_cast<unsigned long long>(report->other_owners),
               static_cast<unsigned long long>(report->moved_out),
               static_cast<unsigned long long>(report->adopted));
  return report->remaining() == 0 ? 0 : 1;
}

int Serve(const cafsd::Config& config) {
  // NFS only (no FUSE mount point): we wait for the stop signals ourselves, so block them in
  // every thread before any starts. With FUSE, its signal handlers end Run().
  const bool nfs_only = config.mountpoint.empty();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
  if (nfs_only) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto store_lock = core::BackingStoreLock::Acquire(config.backing_store);
  if (!store_lock.ok()) return Fail(store_lock.status());
  pool::PoolMapper pools;
  if (Status s = AddPools(config, pools); !s.ok()) return Fail(s);
  std::unique_ptr<core::KeyProvider> provider;
  core::KpsKeyProvider* kps_provider = nullptr;  // [kps]: provider, for the pool records
  if (!config.local_keys_dir.empty()) {
    provider = std::make_unique<core::LocalKeyProvider>(config.local_keys_dir, config.servers);
    WarnUnregisteredAddresses(config, *provider);
  } else {
    auto kps = core::KpsKeyProvider::Create(config.kps_url, config.kps_cert);
    if (!kps.ok()) return Fail(kps.status().WithContext("[kps]"));
    kps_provider = kps->get();
    provider = std::move(*kps);
  }
  const Clock& clock = SystemClock::Instance();
  core::PolicyCache cache(
      provider.get(), &clock,
      core::PolicyCacheOptions{.ttl = std::chrono::seconds(config.cache_ttl_s),
                               .grace = std::chrono::seconds(config.cache_grace_s)});
  auto volume = core::Volume::Open(config.backing_store, &pools);
  if (!volume.ok()) return Fail(volume.status());
  // DR replicas (docs/replicas.md): every writable pool file feeds its change log.
  core::ChangeTracker change_tracker(env::Env::Default(), config.backing_store);
  (*volume)->SetChangeTracker(&change_tracker);
  auto replica_secret = core::LoadOrCreateReplicaSecret(ReplicaKeyPath(config));
  if (!replica_secret.ok()) return Fail(replica_secret.status().WithContext("replica key"));
  auto log = audit::AuditLog::Open(
      config.audit_log, audit::AuditLogOptions{.sync_every_record = config.sync_every_record});
  if (!log.ok()) return Fail(log.status());
  if (kps_provider != nullptr) CheckPoolRecords(config, *kps_provider, **log, clock);
  const auto interval = std::chrono::seconds(config.aggregate_interval_s);
  // The VM sets' <audit-dest> destinations (docs/gateway.md "Alerts").
  core::AlertSink alerts(&clock);
  // Jobs (docs/jobs.md): records in the backing store, resumed now; the control socket.
  const jobs::JobAuditor auditor(log->get(), &clock, config.position);
  const jobs::JobManagerOptions job_options{
      .retention = {.max_age = std::chrono::hours(24) * config.keep_finished_days,
                    .keep_per_kind = static_cast<unsigned>(config.keep_finished_per_kind)}};
  auto job_manager =
      jobs::JobManager::Open(env::Env::Default(), config.backing_store, auditor, job_options);
  if (!job_manager.ok()) return Fail(job_manager.status().WithContext("jobs"));
  // Each kind with its default rate limit ([jobs], docs/jobs.md "Rate limits").
  auto shred_kind = std::make_unique<jobs::ShredJob>(volume->get(), auditor);
  // Unlinks under <shred-on-free> (docs/jobs.md "Shred on free") go through shred jobs.
  jobs::ShredOnFree shred_on_free(volume->get(), job_manager->get(), shred_kind.get());
  (*job_manager)->RegisterKind(std::move(shred_kind), config.shred_rate_bps);
  (*job_manager)
      ->RegisterKind(
          std::make_unique<jobs::RekeyJob>(volume->get(), &cache, config.position, auditor),
          config.rekey_rate_bps);
  (*job_manager)
      ->RegisterKind(std::make_unique<jobs::MigrateJob>(
                         volume->get(), auditor, core::MigrationOptions{}, &cache, config.position),
                     config.migrate_rate_bps);
  const jobs::ReplicaContext replica_ctx{
      .volume = volume->get(),
      .cache = &cache,
      .position = config.position,
      .replica_secret = ByteView(replica_secret->data(), replica_secret->size()),
      .auditor = auditor};
  (*job_manager)->RegisterKind(std::make_unique<jobs::ReplicaJob>(replica_ctx));
  (*job_manager)->RegisterKind(std::make_unique<jobs::RestoreJob>(replica_ctx));
  (*job_manager)
      ->RegisterKind(std::make_unique<jobs::ResyncJob>(volume->get(), auditor),
                     config.resync_rate_bps);
  (*job_manager)->ResumeAll();
  core::Gateway gateway(&cache, volume->get(), log->get(), &clock,
                        core::GatewayOptions{.position = config.position,
                                             .aggregate_interval = interval,
                                             .alerts = &alerts,
                                             .unlink_shredder = &shred_on_free,
                                             .resync_in_tick = false});  // resync jobs do it
  // The policies' <replica> schedules (docs/replicas.md "Schedule"): state in the backing store.
  jobs::ReplicaScheduler replica_scheduler(job_manager->get(), volume->get(), &cache, &clock,
                                           env::Env::Default(), config.backing_store);
  replica_scheduler.Load();
  replica_scheduler.Start(jobs::kReplicaScheduleTick);
  // A policy that places files under another key or cipher, or in another pool, converts or
  // moves them (docs/jobs.md "Conversions", docs/migration.md "Policy-driven migration").
  cache.SetPlacementObserver(
      [manager = job_manager->get()](const std::string& vmset, core::PlacementChange change) {
        jobs::StartPolicyConversion(*manager, vmset, change);
      });
  jobs::ControlService control_service(job_manager->get());
  jobs::AddReplicaOps(control_service, replica_ctx);  // cafsctl replica list|verify
  auto control = jobs::ControlServer::Start(config.backing_store + "/" + jobs::kControlSocketName,
                                            &control_service);
  if (!control.ok()) return Fail(control.status().WithContext("control socket"));
  std::unique_ptr<frontend::FuseFrontend> fuse;
  if (!nfs_only) {
    auto mounted = frontend::FuseFrontend::Mount(
        &gateway, frontend::FuseOptions{.mountpoint = config.mountpoint,
                                        .server_id = config.server_id,
                                        .allow_other = config.allow_other});
    if (!mounted.ok()) return Fail(mounted.status());
    fuse = std::move(*mounted);
  }
  std::unique_ptr<cafsd::NfsService> nfs;  // [nfs]: NFSv3 + MOUNT (+ portmap) over TCP
  if (config.nfs.enabled) {
    auto started = cafsd::NfsService::Start(config.nfs, &gateway);
    if (!started.ok()) return Fail(started.status());
    nfs = std::move(*started);
  }
  std::unique_ptr<core::KpsReporting> reporting;  // audit records + usage to kpsd
  if (!config.kps_url.empty() && config.push_audit) {
    auto r = core::KpsReporting::Start(
        log->get(), &gateway, &clock,
        core::KpsReportingOptions{
            .url = config.kps_url,
            .bundle_path = config.kps_cert,
            .cursor_path = config.push_cursor,
            .usage_interval = std::chrono::seconds(config.usage_interval_s),
            .inventory_interval = std::chrono::seconds(config.inventory_interval_s)});
    if (!r.ok()) return Fail(r.status().WithContext("[kps] audit push"));
    reporting = std::move(*r);
  }
  // kpsd's rekey requests (rotation periods, compromised versions) -> local rekey jobs.
  std::unique_ptr<jobs::RekeyRequestFollower> rekey_follower;
  if (!config.kps_url.empty() && config.rekey_poll_interval_s > 0) {
    auto f = jobs::RekeyRequestFollower::Create(
        job_manager->get(), jobs::RekeyRequestFollowerOptions{
                                .url = config.kps_url,
                                .bundle_path = config.kps_cert,
                                .interval = std::chrono::seconds(config.rekey_poll_interval_s),
                                .rate_limit_bps = std::nullopt});
    if (!f.ok()) return Fail(f.status().WithContext("[kps] rekey requests"));
    rekey_follower = std::move(*f);
    rekey_follower->Start();
  }
  CAFS_LOG_INFO("cafsd: serving {} at {} as server {} ({} pools, keys from {})",
                config.backing_store, config.mountpoint, config.server_id, config.pools.size(),
                provider->Describe());

  // Periodic work: audit aggregates, capacity checks, resyncs of mirrored files.
  jobs::ResyncTrigger resync_trigger(volume->get(), job_manager->get());
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread ticker([&] {
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, interval, [&] { return stopping; })) {
      lock.unlock();
      gateway.Tick();
      (void)resync_trigger.Tick();  // stale mirror copies whose pool is back: a resync job
      // Records of finished jobs beyond [jobs] keep_finished_* (docs/jobs.md "Retention").
      if (auto pruned = (*job_manager)->PruneFinished(clock.Now()); !pruned.ok()) {
        CAFS_LOG_WARN("jobs: records of finished jobs not pruned: {}", pruned.status().ToString());
      }
      if (reporting) reporting->Tick();
      lock.lock();
    }
  });
  Status run = Status::OK();
  if (fuse) {
    run = fuse->Run();
  } else {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    CAFS_LOG_INFO("cafsd: signal {}, stopping", sig);
  }
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  ticker.join();
  rekey_follower.reset();      // no more jobs from kpsd
  control->reset();            // no more job requests
  replica_scheduler.Stop();    // no new replica job once the runners stop
  (*job_manager)->Shutdown();  // runners stop at a step boundary; records say where
  nfs.reset();                 // stops the RPC server, unregisters from rpcbind
  fuse.reset();                // unmounts
  gateway.Tick(/*force=*/true);
  reporting.reset();  // pushes what the last Tick logged
  CAFS_LOG_INFO("cafsd: stopped ({} open handles dropped)", gateway.open_handles());
  return run.ok() ? 0 : Fail(run);
}

// The flags every job-starting subcommand (shred, rekey, migrate) shares, in one place:
// --rate, --parallel, --no-wait, --json. Parse fills `rate_text`, Apply checks it.
struct JobFlags {
  std::string rate_text;  // "": cafsd's [jobs] default for the kind
  bool no_wait = false;

  void Add(CLI::App* cmd, cafsd::JobLimits* limits, cafsd::JobsCliOptions* jobs) {
    cmd->add_option("--rate", rate_text,
                    "I/O rate limit, bytes/s with K/M/G, 0 = unlimited (default: the [jobs] "
                    "default of cafsd's config, docs/jobs.md \"Rate limits\")");
    cmd->add_option("--parallel", limits->parallel, "files at once (default 2)");
    cmd->add_flag("--no-wait", no_wait, "print the job id and return at once");
    cmd->add_flag("--json", jobs->json, "print the job as JSON on stdout");
  }
  // False (after a message naming `command`) when --rate is malformed.
  bool Apply(const char* command, cafsd::JobLimits* limits, cafsd::JobsCliOptions* jobs) const {
    jobs->wait = !no_wait;
    if (rate_text.empty()) return true;
    std::uint64_t rate = 0;
    if (!cafsd::ParseByteRate(rate_text, &rate)) {
      std::fprintf(stderr, "cafsd %s: --rate %s is not a byte rate (e.g. 50M)\n", command,
                   rate_text.c_str());
      return false;
    }
    limits->rate_limit_bps = rate;
    return true;
  }
};

// What PATH is for the job commands that take --vm, --vmset or --dir (shred, resync).
struct TargetFlags {
  bool vm = false, vmset = false, dir = false;

  void Add(CLI::App* cmd) {
    auto* vm_flag = cmd->add_flag("--vm", vm, "PATH is a VM directory: every file in it");
    auto* vmset_flag = cmd->add_flag("--vmset", vmset, "PATH is a VM set: every file of every VM");
    auto* dir_flag = cmd->add_flag("--dir", dir, "PATH is any directory: every file below it");
    vm_flag->excludes(vmset_flag, dir_flag);
    vmset_flag->excludes(dir_flag);
  }
  std::string Type() const { return vm ? "vm" : vmset ? "vmset" : dir ? "dir" : "file"; }
};

}  // namespace

// `cafsd replicas PATH... [--json]`: the state of each copy of mirrored files
// (docs/redirectors.md "Mirrored files"; docs/cafsctl.md "Replica state"), read from the
// redirectors and mirror logs (which a serving cafsd keeps current: every copy that goes stale
// is logged before the write that made it so, and a resync step saves its progress), so it
// runs beside a serving cafsd too; the running cafsd's resync jobs (control socket) tell which
// copies are being resynced. One tab-separated line per copy: path, pool, pool path, state
// (`in-sync`, `stale since <UTC time>`, `resyncing <n>% (job <id>)`), bytes it misses, why;
// `--json`: one object per path. `--resync` (cafsd stopped: it takes the backing store's lock)
// copies what the stale copies miss from a copy in sync. Exit 0 every copy in sync, 1 a copy
// stale or unreachable (or a resync failed), 2 could not run.
namespace {

std::string UtcText(std::int64_t ms) { return ms <= 0 ? "unknown" : UtcIsoText(ms / 1000); }

// The copy's state as shown: in-sync, stale since T, resyncing N% (job J).
nlohmann::json ReplicaStateJson(const core::ReplicaStatus& c,
                                const std::optional<cafsd::ResyncTaskView>& task) {
  nlohmann::json j{{"pool", c.pool},
                   {"pool_path", c.pool_path},
                   {"state", std::string(core::ReplicaHealthName(c.health))},
                   {"missing_bytes", c.dirty_bytes},
                   {"error", c.error}};
  if (c.health == core::ReplicaHealth::kInSync) return j;
  j["stale_since_ms"] = c.stale_since_ms;
  j["stale_since"] = UtcText(c.stale_since_ms);
  if (task && task->state == "running") {
    j["state"] = "resyncing";
    j["resync"] = {{"job", task->job_id},
                   {"done_bytes", task->done},
                   {"total_bytes", task->total},
                   {"percent", task->total ? 100 * task->done / task->total : 0}};
  }
  return j;
}

std::string ReplicaStateText(const nlohmann::json& j) {
  const std::string state = j["state"].get<std::string>();
  if (state == "in-sync") return state;
  if (j.contains("resync")) {
    return "resyncing " + std::to_string(j["resync"]["percent"].get<std::uint64_t>()) + "% (job " +
           j["resync"]["job"].get<std::string>() + ")";
  }
  return state + " since " + j["stale_since"].get<std::string>();
}

}  // namespace

int Replicas(const cafsd::Config& config, const std::vector<std::string>& paths, bool resync,
             bool json) {
  std::unique_ptr<core::BackingStoreLock> store_lock;
  if (resync) {
    auto lock = core::BackingStoreLock::Acquire(config.backing_store);
    if (!lock.ok()) {
      std::fprintf(stderr, "cafsd replicas --resync: %s\n", lock.status().ToString().c_str());
      return 2;
    }
    store_lock = std::move(*lock);
  }
  pool::PoolMapper pools;
  if (Status s = AddPools(config, pools); !s.ok()) {
    std::fprintf(stderr, "cafsd replicas: %s\n", s.ToString().c_str());
    return 2;
  }
  auto volume = core::Volume::Open(config.backing_store, &pools);
  if (!volume.ok()) {
    std::fprintf(stderr, "cafsd replicas: %s\n", volume.status().ToString().c_str());
    return 2;
  }
  cafsd::JobsCliOptions control;
  control.socket_path = config.backing_store + "/" + jobs::kControlSocketName;
  const std::map<std::string, cafsd::ResyncTaskView> tasks =
      resync ? std::map<std::string, cafsd::ResyncTaskView>{} : cafsd::ActiveResyncTasks(control);
  int rc = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const std::string& path : paths) {
    const std::string rel =
        path.substr(path.find_first_not_of('/') == std::string::npos ? path.size()
                                                                     : path.find_first_not_of('/'));
    if (resync) {
      auto copied = (*volume)->ResyncFile(rel, 1 << 20);
      if (!copied.ok()) {
        std::fprintf(stderr, "cafsd replicas: %s: %s\n", path.c_str(),
                     copied.status().ToString().c_str());
        rc = 1;
      } else {
        std::fprintf(stderr, "cafsd replicas: %s: %llu bytes resynced\n", path.c_str(),
                     static_cast<unsigned long long>(*copied));
      }
    }
    auto copies = (*volume)->Replicas(rel);
    if (!copies.ok()) {
      std::fprintf(stderr, "cafsd replicas: %s: %s\n", path.c_str(),
                   copies.status().ToString().c_str());
      if (json) all.push_back({{"path", path}, {"error", copies.status().ToString()}});
      rc = 1;
      continue;
    }
    std::optional<cafsd::ResyncTaskView> task;
    if (auto it = tasks.find("/" + rel); it != tasks.end()) task = it->second;
    nlohmann::json entry{{"path", path}, {"copies", nlohmann::json::array()}};
    for (const core::ReplicaStatus& c : *copies) {
      nlohmann::json j = ReplicaStateJson(c, task);
      if (!json) {
        std::printf("%s\t%s\t%s\t%s\t%llu\t%s\n", path.c_str(), c.pool.c_str(), c.pool_path.c_str(),
                    ReplicaStateText(j).c_str(), static_cast<unsigned long long>(c.dirty_bytes),
                    c.error.c_str());
      }
      entry["copies"].push_back(std::move(j));
      if (c.health != core::ReplicaHealth::kInSync || !c.error.empty()) rc = 1;
    }
    all.push_back(std::move(entry));
  }
  if (json) std::printf("%s\n", all.dump(2).c_str());
  return rc;
}

int main(int argc, char** argv) {
  // NFS READ/WRITE records and replies are up to 1 MiB each: keep such buffers on the heap,
  // reused, instead of one mmap (and 256 page faults) per buffer and a munmap at free; the
  // same choice as edifd (docs/performance.md, "NFS").
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{
      "cafsd: the CAFS gateway — policy-governed, encrypted VM storage served over FUSE.\n"
      "Runs in the foreground; SIGINT/SIGTERM unmount cleanly. See docs/gateway.md."};
  std::string config_path;
  app.add_option("-c,--config", config_path, "TOML configuration file")->required();
  bool remove_orphans = false;
  bool upgrade_pool_paths = false;
  auto* fsck = app.add_subcommand(
      "fsck",
      "check the backing store and pools offline (cafsd must not be running on them): "
      "redirectors without data, orphan pool files, duplicates; exit 0 consistent, 1 findings, "
      "2 could not check. See docs/redirectors.md.");
  fsck->add_flag("--remove-orphans", remove_orphans,
                 "remove orphan pool files and stale .cafs-new-* entries (crash residue)");
  fsck->add_flag("--upgrade-pool-paths", upgrade_pool_paths,
                 "move pool files at name-derived paths (older gateways) to their GUID paths "
                 "<store id>/<2 hex>/<guid> (docs/redirectors.md \"Pool paths\")");
  std::vector<std::string> replica_paths;
  bool replica_resync = false;
  bool replica_json = false;
  auto* replicas_cmd = app.add_subcommand(
      "replicas",
      "the state of each copy of mirrored files (policy <replicas>, docs/redirectors.md "
      "\"Mirrored files\"): path, pool, pool path, in-sync | stale since T | resyncing N% (job "
      "J), bytes missing, why. Exit 0 all in sync, 1 a copy stale or unreachable, 2 could not "
      "run.");
  replicas_cmd->add_option("path", replica_paths, "gateway paths of files")->required();
  replicas_cmd->add_flag("--resync", replica_resync,
                         "copy what the stale copies miss (cafsd stopped: takes the store lock)");
  replicas_cmd->add_flag("--json", replica_json, "one JSON array on stdout (docs/cafsctl.md)");
  cafsd::JobsCliOptions jobs_options;
  std::string jobs_verb, jobs_id;
  auto* jobs_cmd = app.add_subcommand(
      "jobs",
      "talk to the running cafsd about its jobs (docs/jobs.md): list | show ID | watch ID | "
      "wait ID | pause ID | resume ID | cancel ID | forget ID. Exit 0 ok, 1 refused or the job "
      "failed, 69 cafsd not running, 124 wait --timeout passed.");
  jobs_cmd->add_option("verb", jobs_verb, "list, show, watch, wait, pause, resume, cancel, forget")
      ->required()
      ->check(
          CLI::IsMember({"list", "show", "watch", "wait", "pause", "resume", "cancel", "forget"}));
  jobs_cmd->add_option("id", jobs_id, "job id");
  jobs_cmd->add_flag("--json", jobs_options.json, "print JSON on stdout");
  jobs_cmd->add_flag("--wait", jobs_options.wait, "after resume: wait for the end, with progress");
  jobs_cmd->add_option("--until", jobs_options.until,
                       "wait: end when the job is in one of these states (comma-separated: "
                       "queued, running, paused, cancelling, cancelled, done, failed, or "
                       "progress = some bytes done); default done");
  jobs_cmd
      ->add_option("--timeout", jobs_options.timeout_s,
                   "wait: give up after this many seconds (exit 124); default: no limit")
      ->check(CLI::NonNegativeNumber);
  JobFlags job_flags;  // one subcommand is parsed: they share it
  cafsd::ShredCliOptions shred_options;
  TargetFlags shred_target;
  auto* shred_cmd = app.add_subcommand(
      "shred",
      "overwrite and remove a file, a VM or a VM set through the running cafsd (a job: "
      "docs/jobs.md \"Shred\"); waits with a progress bar unless --no-wait. Exit 0 shredded, "
      "1 refused, failed or cancelled, 69 cafsd not running.");
  shred_cmd->add_option("path", shred_options.path, "gateway path, e.g. /my_vmset/vm1/disk.vmdk")
      ->required();
  shred_target.Add(shred_cmd);
  job_flags.Add(shred_cmd, &shred_options.limits, &jobs_options);
  cafsd::ResyncCliOptions resync_options;
  TargetFlags resync_target;
  auto* resync_cmd = app.add_subcommand(
      "resync",
      "start a resync job of the running cafsd (docs/jobs.md \"Resync\"): the stale copies of "
      "mirrored files get the chunks they miss; waits with a progress bar unless --no-wait. "
      "Exit 0 every copy in sync, 1 refused or failed, 69 cafsd not running.");
  resync_cmd->add_option("path", resync_options.path, "gateway path (\"/\" with --dir: all)")
      ->required();
  resync_target.Add(resync_cmd);
  job_flags.Add(resync_cmd, &resync_options.limits, &jobs_options);
  cafsd::RekeyCliOptions rekey_options;
  bool rekey_vm = false, rekey_vmset = false;
  auto* rekey_cmd = app.add_subcommand(
      "rekey",
      "deep rekey: re-encrypt a file, a VM or a VM set under another key version while it stays "
      "in use (a job of the running cafsd: docs/jobs.md \"Deep rekey\"); waits with a progress "
      "bar unless --no-wait. Exit 0 rekeyed, 1 refused, failed or cancelled, 69 cafsd not "
      "running.");
  rekey_cmd->add_option("path", rekey_options.path, "gateway path, e.g. /my_vmset/vm1/disk.vmdk")
      ->required();
  auto* rekey_vm_flag = rekey_cmd->add_flag("--vm", rekey_vm, "PATH is a VM directory");
  rekey_vm_flag->excludes(rekey_cmd->add_flag("--vmset", rekey_vmset, "PATH is a VM set"));
  rekey_cmd->add_option("--to-version", rekey_options.to_version, "target key version")->required();
  rekey_cmd->add_option("--to-key", rekey_options.to_key, "target key GUID (default: the file's)");
  rekey_cmd->add_option("--to-cipher", rekey_options.to_cipher,
                        "convert to this cipher (aes-256-xts, ...; clear-text files included, "
                        "they need --to-key; none is refused)");
  auto* from_key = rekey_cmd->add_option("--from-key", rekey_options.from_key,
                                         "only files under this key GUID ...");
  auto* from_version = rekey_cmd->add_option("--from-version", rekey_options.from_version,
                                             "... and this version (key-version target)");
  from_key->needs(from_version);
  from_version->needs(from_key);
  job_flags.Add(rekey_cmd, &rekey_options.limits, &jobs_options);
  cafsd::MigrateCliOptions migrate_options;
  bool migrate_vm = false, migrate_vmset = false;
  auto* migrate_cmd = app.add_subcommand(
      "migrate",
      "online migration: move a file, a VM, a VM set or every file of a pool (--drain) to "
      "another pool while it stays in use (a job of the running cafsd: docs/migration.md); waits "
      "with a progress bar unless --no-wait. Exit 0 moved, 1 refused, failed or cancelled, 69 "
      "cafsd not running");
  migrate_cmd
      ->add_option("path", migrate_options.path,
                   "gateway path, e.g. /my_vmset/vm1/disk.vmdk (with --drain: the part of "
                   "the tree to drain, / for all)")
      ->required();
  migrate_cmd->add_option("--to", migrate_options.to_pool, "the target pool")->required();
  auto* migrate_vm_flag = migrate_cmd->add_flag("--vm", migrate_vm, "PATH is a VM directory");
  auto* migrate_vmset_flag = migrate_cmd->add_flag("--vmset", migrate_vmset, "PATH is a VM set");
  auto* drain = migrate_cmd->add_option("--drain", migrate_options.drain_pool,
                                        "move every file below PATH whose data is in this pool");
  migrate_vm_flag->excludes(migrate_vmset_flag)->excludes(drain);
  migrate_vmset_flag->excludes(drain);
  job_flags.Add(migrate_cmd, &migrate_options.limits, &jobs_options);
  cafsd::ReplicaCliOptions replica_options;
  cafsd::ReplicaQuery replica_query;
  std::string replica_as;
  auto* replica_cmd = app.add_subcommand(
      "replica",
      "DR replicas of VMs in a DR pool (docs/replicas.md): run (a job of the running cafsd), "
      "list, verify (offline: only the replica key is needed), restore (a job)");
  replica_cmd->require_subcommand(1);
  auto* replica_run = replica_cmd->add_subcommand(
      "run", "replicate a VM now (full the first time, then incremental); waits unless --no-wait");
  replica_run->add_option("path", replica_options.path, "the VM's gateway path, /my_vmset/vm1")
      ->required();
  replica_run->add_option("--pool", replica_options.pool, "the DR pool")->required();
  replica_run->add_option("--keep", replica_options.keep, "replicas kept (default 3)");
  job_flags.Add(replica_run, &replica_options.limits, &jobs_options);
  auto* replica_list = replica_cmd->add_subcommand("list", "the replicas in a DR pool");
  replica_list->add_option("--pool", replica_query.pool, "the DR pool")->required();
  replica_list->add_flag("--json", replica_query.json, "print JSON on stdout");
  auto* replica_verify = replica_cmd->add_subcommand(
      "verify", "re-read a replica (and its parents): every manifest MAC and chunk hash");
  replica_verify->add_option("--pool", replica_query.pool, "the DR pool")->required();
  replica_verify->add_option("--vmset", replica_query.vmset, "VM set GUID")->required();
  replica_verify->add_option("--vm", replica_query.vm, "VM name")->required();
  replica_verify->add_option("--replica", replica_query.replica, "replica id (default: newest)");
  auto* replica_restore = replica_cmd->add_subcommand(
      "restore", "restore a replica to the VM's old place or --as a new VM of its VM set");
  replica_restore->add_option("--pool", replica_options.pool, "the DR pool")->required();
  replica_restore->add_option("--vmset", replica_options.vmset, "VM set GUID")->required();
  replica_restore->add_option("--vm", replica_options.vm, "VM name at the replica")->required();
  replica_restore->add_option("--replica", replica_options.replica, "replica id (default: newest)");
  replica_restore->add_option("--as", replica_as, "gateway path of a new VM (default: old place)");
  replica_restore->add_option("--to-pool", replica_options.to_pool, "pool for the files");
  job_flags.Add(replica_restore, &replica_options.limits, &jobs_options);
  std::string datastore_vmset, datastore_to, datastore_record;
  auto* datastore_cmd = app.add_subcommand(
      "datastore",
      "move a VM set's namespace to another gateway sharing the pools (docs/pools.md \"Moving a "
      "datastore to another gateway\"); offline: cafsd stopped on this store. Exit 0 done, 1 "
      "refused, 2 could not run.");
  datastore_cmd->require_subcommand(1);
  auto* datastore_export = datastore_cmd->add_subcommand(
      "export",
      "write the VM set to a move record and hand it over: this gateway no longer "
      "serves it, and its fsck never judges its pool files");
  datastore_export->add_option("vmset", datastore_vmset, "the VM set's name")->required();
  datastore_export->add_option("--to", datastore_to, "the move record to write (a new file)")
      ->required();
  auto* datastore_import = datastore_cmd->add_subcommand(
      "import", "take over the VM set of a move record exported by another gateway");
  datastore_import->add_option("record", datastore_record, "the move record")->required();
  app.fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : 2;  // a usage error exits 2, like a config error
  }
  auto config = cafsd::LoadConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "cafsd: %s\n", config.status().message().c_str());
    return 2;
  }
  logging::Level level = logging::Level::kInfo;
  if (!logging::ParseLevel(config->log_level, &level)) {
    std::fprintf(stderr, "cafsd: %s: [log] level must be trace|debug|info|warn|error|off\n",
                 config_path.c_str());
    return 2;
  }
  logging::Init("cafsd", level);
  if (fsck->parsed()) return Fsck(*config, remove_orphans, upgrade_pool_paths);
  if (datastore_export->parsed()) {
    return cafsd::RunDatastoreExport(config->backing_store, datastore_vmset, datastore_to);
  }
  if (datastore_import->parsed()) {
    pool::PoolMapper pools;
    if (Status s = AddPools(*config, pools); !s.ok()) {
      std::fprintf(stderr, "cafsd datastore import: %s\n", s.ToString().c_str());
      return 2;
    }
    return cafsd::RunDatastoreImport(config->backing_store, datastore_record, pools);
  }
  if (replicas_cmd->parsed()) {
    return Replicas(*config, replica_paths, replica_resync, replica_json);
  }
  jobs_options.socket_path = config->backing_store + "/" + jobs::kControlSocketName;
  if (jobs_cmd->parsed()) return cafsd::RunJobsCommand(jobs_options, jobs_verb, jobs_id);
  if (resync_cmd->parsed()) {
    if (!job_flags.Apply("resync", &resync_options.limits, &jobs_options)) return 2;
    resync_options.type = resync_target.Type();
    return cafsd::RunResync(jobs_options, resync_options);
  }
  if (shred_cmd->parsed()) {
    if (!job_flags.Apply("shred", &shred_options.limits, &jobs_options)) return 2;
    shred_options.type = shred_target.Type();
    return cafsd::RunShred(jobs_options, shred_options);
  }
  if (rekey_cmd->parsed()) {
    if (!job_flags.Apply("rekey", &rekey_options.limits, &jobs_options)) return 2;
    rekey_options.type = rekey_vm ? "vm" : rekey_vmset ? "vmset" : "file";
    return cafsd::RunRekey(jobs_options, rekey_options);
  }
  if (migrate_cmd->parsed()) {
    if (!job_flags.Apply("migrate", &migrate_options.limits, &jobs_options)) return 2;
    migrate_options.type = migrate_vm                            ? "vm"
                           : migrate_vmset                       ? "vmset"
                           : !migrate_options.drain_pool.empty() ? "pool"
                                                                 : "file";
    return cafsd::RunMigrate(jobs_options, migrate_options);
  }
  if (replica_cmd->parsed()) {
    if (!job_flags.Apply("replica", &replica_options.limits, &jobs_options)) return 2;
    if (replica_run->parsed()) return cafsd::RunReplica(jobs_options, replica_options);
    if (replica_restore->parsed()) {
      replica_options.path = replica_as.empty() ? "/" : replica_as;
      return cafsd::RunRestore(jobs_options, replica_options);
    }
    pool::PoolMapper pools;
    if (Status s = AddPools(*config, pools); !s.ok()) return Fail(s);
    replica_query.key_file = ReplicaKeyPath(*config);
    if (replica_list->parsed()) return cafsd::RunReplicaList(pools, replica_query);
    return cafsd::RunReplicaVerify(pools, replica_query);
  }
  return Serve(*config);
}
