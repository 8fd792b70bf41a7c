// cafsd: the CAFS gateway daemon. Reads a TOML config (config.h), builds the gateway core
// (key provider -> policy cache, pools, Volume over the backing store, audit log, Gateway)
// and serves it through FUSE in the foreground until SIGINT/SIGTERM, then flushes the audit
// aggregates and unmounts. docs/gateway.md describes the configuration.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "cafs/gateway.h"
#include "cafs/key_provider.h"
#include "cafs/kps_key_provider.h"
#include "cafs/kps_reporter.h"
#include "config.h"
#include "frontend/fuse/fuse_frontend.h"
#include "nfs_service.h"
#include "pool/posix_pool.h"
#include "util/logging.h"

namespace {

using namespace cafs;

int Fail(const Status& s) {
  std::fprintf(stderr, "cafsd: %s\n", s.ToString().c_str());
  return 1;
}

int Serve(const cafsd::Config& config) {
  // NFS only (no FUSE mount point): we wait for the stop signals ourselves, so block them in
  // every thread before any starts. With FUSE, its signal handlers end Run().
  const bool nfs_only = config.mountpoint.empty();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
  if (nfs_only) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  pool::PoolMapper pools;
  for (const auto& p : config.pools) {
    auto pool = std::make_unique<pool::PosixPool>(p.name, p.path, env::Env::Default());
    if (Status avail = pool->CheckAvailable(); !avail.ok()) {
      CAFS_LOG_WARN("pool {} at {} is not available now: {}", p.name, p.path, avail.ToString());
    }
    if (Status s = pools.Add(std::move(pool)); !s.ok()) return Fail(s);
  }
  std::unique_ptr<core::KeyProvider> provider;
  if (!config.local_keys_dir.empty()) {
    provider = std::make_unique<core::LocalKeyProvider>(config.local_keys_dir);
  } else {
    auto kps = core::KpsKeyProvider::Create(config.kps_url, config.kps_cert);
    if (!kps.ok()) return Fail(kps.status().WithContext("[kps]"));
    provider = std::move(*kps);
  }
  const Clock& clock = SystemClock::Instance();
  core::PolicyCache cache(
      provider.get(), &clock,
      core::PolicyCacheOptions{.ttl = std::chrono::seconds(config.cache_ttl_s),
                               .grace = std::chrono::seconds(config.cache_grace_s)});
  auto volume = core::Volume::Open(config.backing_store, &pools);
  if (!volume.ok()) return Fail(volume.status());
  auto log = audit::AuditLog::Open(
      config.audit_log, audit::AuditLogOptions{.sync_every_record = config.sync_every_record});
  if (!log.ok()) return Fail(log.status());
  const auto interval = std::chrono::seconds(config.aggregate_interval_s);
  core::Gateway gateway(
      &cache, volume->get(), log->get(), &clock,
      core::GatewayOptions{.position = config.position, .aggregate_interval = interval});
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
        core::KpsReportingOptions{.url = config.kps_url,
                                  .bundle_path = config.kps_cert,
                                  .cursor_path = config.push_cursor,
                                  .usage_interval = std::chrono::seconds(config.usage_interval_s)});
    if (!r.ok()) return Fail(r.status().WithContext("[kps] audit push"));
    reporting = std::move(*r);
  }
  CAFS_LOG_INFO("cafsd: serving {} at {} as server {} ({} pools, keys from {})",
                config.backing_store, config.mountpoint, config.server_id, config.pools.size(),
                provider->Describe());

  // Periodic work: audit aggregates and capacity checks.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread ticker([&] {
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, interval, [&] { return stopping; })) {
      lock.unlock();
      gateway.Tick();
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
  nfs.reset();   // stops the RPC server, unregisters from rpcbind
  fuse.reset();  // unmounts
  gateway.Tick(/*force=*/true);
  reporting.reset();  // pushes what the last Tick logged
  CAFS_LOG_INFO("cafsd: stopped ({} open handles dropped)", gateway.open_handles());
  return run.ok() ? 0 : Fail(run);
}

}  // namespace

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
  return Serve(*config);
}
