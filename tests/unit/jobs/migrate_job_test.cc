// The migration job kind on the JobManager over a real Gateway + Volume (temp backing store,
// two PosixPools, LocalKeyProvider with the seed's VM set and policy: *osdisk* encrypted in
// mirrored_pool_A, the rest clear in default_pool):
//  - a VM set moves to default_pool while one thread per file writes through Gateway handles:
//    every file reads back as its writer's model, is in the target pool only, and is audited
//    once ("migrate"); then draining default_pool moves every file (clear ones too) to
//    mirrored_pool_A; `cafsd fsck` (CheckVolume) finds nothing;
//  - bad input: an unknown pool, the pool the file is in, a directory or a symlink as a file,
//    draining a pool into itself, a VM set already there: refused at start, nothing moved;
//  - restart mid-job: the gateway stops while a rate-limited job is mid-way; it resumes and
//    completes with the data intact and no copy left behind;
//  - policy-driven: the *osdisk* vobj's storepol changes; the policy cache's refresh starts a
//    migrate job {"policy": true} by itself (through StartPolicyConversion, as key changes
//    start conversions) that moves the disks while they are written; the same policy again
//    starts nothing; a storepol naming a pool this gateway lacks fails that file's task only.
#include "jobs/migrate_job.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "audit/audit_log.h"
#include "cafs/gateway.h"
#include "cafs/key_provider.h"
#include "cafs/volume_check.h"
#include "crypto/rng.h"
#include "jobs/job_manager.h"
#include "jobs/policy_conversion.h"
#include "policy/seed_examples.h"
#include "pool/posix_pool.h"
#include "unit/env/temp_dir.h"
#include "util/bytes.h"
#include "util/clock.h"

namespace cafs::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kPoolA[] = "mirrored_pool_A";
constexpr char kPoolDefault[] = "default_pool";
const std::vector<std::string> kDisks = {"/my_vmset/vm1/osdisk1.vmdk", "/my_vmset/vm1/osdisk2.vmdk",
                                         "/my_vmset/vm2/osdisk3.vmdk"};
constexpr char kClear[] = "/my_vmset/vm1/notes.txt";

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

std::string Random(std::size_t n) {
  std::string s(n, '\0');
  EXPECT_TRUE(
      crypto::RandomBytes(MutableByteView(reinterpret_cast<std::uint8_t*>(s.data()), n)).ok());
  return s;
}

class MigrateJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = env::testing::ModelledDurabilityTmpBase() + "/cafs-migrate-job-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (const char* d :
         {"backing", "pools/mirrored_pool_A", "pools/default_pool", "keys/my_vmset"}) {
      fs::create_directories(root_ / d);
    }
    std::string vobjs = policy::seed_examples::kSeedVobjList;
    vobjs.replace(vobjs.find("Mon-Fri(9am-5pm)"), 16, "at_all_times");
    WriteFile(root_ / "keys/my_vmset/policy.xml", vobjs);
    WriteFile(root_ / "keys/my_vmset/vmset.xml", policy::seed_examples::kSeedVmSet);
    WriteFile(root_ / "keys/my_vmset/keys",
              "062b9056-bf64-11df-8d3e-000c29abeb4d 1 " + ToHex(AsBytes(Random(64))) + "\n");
    Start();
    for (const char* dir : {"/my_vmset", "/my_vmset/vm1", "/my_vmset/vm2"}) {
      ASSERT_TRUE(gw_->MakeDir(me_, dir, 0755).ok());
    }
    std::vector<std::string> all = kDisks;
    all.push_back(kClear);
    for (const auto& path : all) {
      model_[path] = Random(160 * 1024 + 123);
      auto f = gw_->Create(me_, path, 0644, true);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      ASSERT_TRUE(gw_->Write(me_, f->handle, 0, AsBytes(model_[path])).ok());
      ASSERT_TRUE(gw_->Release(me_, f->handle).ok());
    }
    ASSERT_EQ(PoolOf(kDisks[0]), kPoolA);
    ASSERT_EQ(PoolOf(kClear), kPoolDefault);
  }
  void TearDown() override {
    StopWriters();
    Stop();
    fs::remove_all(root_);
  }

  void Start() {
    pools_ = std::make_unique<pool::PoolMapper>();
    for (const char* name : {kPoolA, kPoolDefault}) {
      ASSERT_TRUE(pools_
                      ->Add(std::make_unique<pool::PosixPool>(
                          name, (root_ / "pools" / name).string(), env::Env::Default()))
                      .ok());
    }
    keys_ = std::make_unique<core::LocalKeyProvider>((root_ / "keys").string());
    cache_ = std::make_unique<core::PolicyCache>(keys_.get(), &clock_, core::PolicyCacheOptions{});
    auto volume = core::Volume::Open((root_ / "backing").string(), pools_.get());
    ASSERT_TRUE(volume.ok());
    volume_ = std::move(*volume);
    auto log = audit::AuditLog::Open((root_ / "audit.log").string(), audit::AuditLogOptions{});
    ASSERT_TRUE(log.ok());
    audit_ = std::move(*log);
    gw_ = std::make_unique<core::Gateway>(cache_.get(), volume_.get(), audit_.get(), &clock_,
                                          core::GatewayOptions{});
  }
  void Stop() {
    manager_.reset();
    gw_.reset();
    audit_.reset();
    volume_.reset();
    cache_.reset();
    keys_.reset();
    pools_.reset();
  }
  void OpenManager(JobManagerOptions options = {.step_bytes = 16 * 1024, .default_parallel = 2}) {
    const JobAuditor auditor(audit_.get(), &clock_, 1);
    auto m = JobManager::Open(env::Env::Default(), (root_ / "backing").string(), auditor, options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    core::MigrationOptions small;
    small.chunk_bytes = 16 * 1024;
    small.small_rest_bytes = 32 * 1024;
    manager_->RegisterKind(
        std::make_unique<MigrateJob>(volume_.get(), auditor, small, cache_.get(), 1));
    manager_->ResumeAll();
  }
  static JobSpec Spec(const std::string& type, const std::string& path, const std::string& to,
                      std::uint64_t rate = 0, const std::string& drain = "") {
    JobSpec spec;
    spec.kind = "migrate";
    spec.target.type = type;
    spec.target.path = path;
    spec.target.pool = drain;
    spec.params = {{"to_pool", to}};
    spec.rate_limit_bps = rate;
    spec.requested_by = "test";
    return spec;
  }
  // One thread per disk writing through a Gateway handle (offsets stepping by `stride`
  // sectors, 1000-4000 bytes each) until StopWriters; model_ follows every write.
  void StartWriters(std::uint64_t stride) {
    stop_ = false;
    for (const auto& path : kDisks) {
      writers_.emplace_back([this, path, stride] {
        auto f = gw_->Open(me_, path, false);
        ASSERT_TRUE(f.ok()) << path << ": " << f.status().ToString();
        for (std::uint64_t i = 0; !stop_.load(); ++i) {
          const std::uint64_t off = (i * stride * 512) % (160 * 1024);
          const std::string data = Random(1000 + i % 3000);
          std::lock_guard lock(model_mu_);
          ASSERT_TRUE(gw_->Write(me_, f->handle, off, AsBytes(data)).ok());
          std::string& m = model_[path];
          if (off + data.size() > m.size()) m.resize(off + data.size(), '\0');
          m.replace(off, data.size(), data);
        }
        ASSERT_TRUE(gw_->Release(me_, f->handle).ok());
      });
    }
  }
  void StopWriters() {
    stop_ = true;
    for (auto& w : writers_) w.join();
    writers_.clear();
  }
  std::string PoolOf(const std::string& path) {
    auto loc = volume_->Locate(path.substr(1));
    EXPECT_TRUE(loc.ok()) << loc.status().ToString();
    return loc.ok() ? loc->pool : "";
  }
  std::string ReadAll(const std::string& path) {
    auto f = gw_->Open(me_, path, false);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) return {};
    std::string out(f->attr.size, '\0');
    auto n = gw_->Read(me_, f->handle, 0,
                       MutableByteView(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    EXPECT_TRUE(n.ok());
    EXPECT_TRUE(gw_->Release(me_, f->handle).ok());
    return out;
  }
  void ExpectIntactAndClean() {
    for (const auto& [path, data] : model_) EXPECT_TRUE(ReadAll(path) == data) << path;
    auto report = core::CheckVolume((root_ / "backing").string(), *pools_, core::CheckOptions{});
    ASSERT_TRUE(report.ok());
    for (const auto& f : report->findings) ADD_FAILURE() << f.where << ": " << f.detail;
  }
  int Audited(std::string_view reason_part) {
    auto records = audit::ReadAuditLog((root_ / "audit.log").string());
    EXPECT_TRUE(records.ok());
    int n = 0;
    for (const auto& r : records.ok() ? *records : std::vector<audit::AuditRecord>{}) {
      n += r.op == "migrate" && r.reason.find(reason_part) != std::string::npos;
    }
    return n;
  }

  fs::path root_;
  ManualClock clock_{std::chrono::sys_days{std::chrono::year{2026} / 11 / 18} + 10h};
  core::Caller me_{"755083456", static_cast<std::uint32_t>(::getuid()),
                   static_cast<std::uint32_t>(::getgid())};
  std::map<std::string, std::string> model_;  // guarded by model_mu_ while writers run
  std::mutex model_mu_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> writers_;
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<core::LocalKeyProvider> keys_;
  std::unique_ptr<core::PolicyCache> cache_;
  std::unique_ptr<core::Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<JobManager> manager_;
};

TEST_F(MigrateJobTest, VmSetMovesWhileWrittenThenThePoolDrainsBack) {
  OpenManager();
  StartWriters(7919);
  auto started = manager_->Start(Spec("vmset", "/my_vmset", kPoolDefault));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto st = manager_->Wait(started->record.id, 60s);
  StopWriters();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  EXPECT_EQ(st->record.tasks.size(), kDisks.size());  // the clear file is there already
  for (const auto& path : kDisks) EXPECT_EQ(PoolOf(path), kPoolDefault) << path;
  EXPECT_EQ(Audited("moved from pool mirrored_pool_A to pool default_pool"), 3);
  ExpectIntactAndClean();

  // Drain default_pool: every file below / whose data is there, clear or not.
  started = manager_->Start(Spec("pool", "/", kPoolA, 0, kPoolDefault));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  st = manager_->Wait(started->record.id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  EXPECT_EQ(st->record.tasks.size(), 4u);
  for (const auto& [path, data] : model_) EXPECT_EQ(PoolOf(path), kPoolA) << path;
  // No pool file left in the drained pool (pool paths are GUID paths: look at all of it).
  int left = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_ / "pools/default_pool")) {
    left += e.is_regular_file();
  }
  EXPECT_EQ(left, 0);
  ExpectIntactAndClean();
}

TEST_F(MigrateJobTest, BadInputIsRefusedAtStartAndNothingMoves) {
  OpenManager();
  ASSERT_TRUE(gw_->Symlink(me_, "osdisk1.vmdk", "/my_vmset/vm1/link").ok());
  auto refused = [&](JobSpec spec, std::string_view why) {
    auto s = manager_->Start(std::move(spec));
    EXPECT_FALSE(s.ok());
    if (!s.ok()) {
      EXPECT_NE(s.status().message().find(why), std::string::npos) << s.status().ToString();
    }
  };
  refused(Spec("file", kDisks[0], "nope"), "pool 'nope' is not configured");
  refused(Spec("file", kDisks[0], kPoolA), "is in pool mirrored_pool_A already");
  refused(Spec("file", "/my_vmset/vm1", kPoolDefault), "directory");
  refused(Spec("file", "/my_vmset/vm1/link", kPoolDefault), "symlink");
  refused(Spec("pool", "/", kPoolA, 0, kPoolA), "into itself");
  refused(Spec("pool", "/", kPoolA, 0, "nope"), "not configured");
  refused(Spec("vmset", "", kPoolA), "gateway path");
  // A VM set whose files are all in the target already: the plan fails the job.
  auto all_there = manager_->Start(Spec("vm", "/my_vmset/vm2", kPoolA));
  ASSERT_TRUE(all_there.ok());
  auto st = manager_->Wait(all_there->record.id, 30s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kFailed);
  EXPECT_NE(st->record.error.find("already"), std::string::npos) << st->record.error;
  for (const auto& path : kDisks) EXPECT_EQ(PoolOf(path), kPoolA);
  ExpectIntactAndClean();
}

TEST_F(MigrateJobTest, ResumesAfterARestartMidJob) {
  // 192 KiB/s over 3 x 160 KiB, two files at once: mid-way when the gateway stops (10 ms
  // after the first bytes; a file needs most of a second); the whole job lasts about 3 s.
  OpenManager({.step_bytes = 8 * 1024, .default_parallel = 2});
  auto started = manager_->Start(Spec("vmset", "/my_vmset", kPoolDefault, 192 * 1024));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::string id = started->record.id;
  for (int i = 0; i < 3000; ++i) {
    auto st = manager_->Get(id);
    ASSERT_TRUE(st.ok());
    if (st->record.DoneBytes() > 0) break;
    std::this_thread::sleep_for(10ms);
  }
  Stop();
  Start();
  for (const auto& [path, data] : model_) EXPECT_TRUE(ReadAll(path) == data) << path;
  OpenManager();
  auto st = manager_->Wait(id, 120s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  for (const auto& path : kDisks) EXPECT_EQ(PoolOf(path), kPoolDefault) << path;
  ExpectIntactAndClean();
}

TEST_F(MigrateJobTest, PolicyChangeMovesMatchingFilesInTheBackground) {
  // Writers on every disk while the job the policy change starts moves them.
  OpenManager({.step_bytes = 16 * 1024, .default_parallel = 2});
  std::vector<core::PlacementChange> seen;
  std::mutex seen_mu;
  cache_->SetPlacementObserver([&](const std::string& vmset, core::PlacementChange change) {
    {
      std::lock_guard lock(seen_mu);
      seen.push_back(change);
    }
    StartPolicyConversion(*manager_, vmset, change);
  });
  const std::string seed = [] {
    std::string v = policy::seed_examples::kSeedVobjList;
    v.replace(v.find("Mon-Fri(9am-5pm)"), 16, "at_all_times");
    return v;
  }();
  auto set_policy = [&](const std::string& osdisk_pool, const std::string& default_pool) {
    std::string v = seed;
    v.replace(v.find("<storepol>mirrored_pool_A"), 25, "<storepol>" + osdisk_pool);
    v.replace(v.find("<storepol>default_pool"), 22, "<storepol>" + default_pool);
    WriteFile(root_ / "keys/my_vmset/policy.xml", v);
    cache_->Invalidate("my_vmset");
  };
  auto policy_jobs = [&] {
    std::vector<std::string> ids;
    for (const auto& st : manager_->List()) {
      if (st.record.spec.requested_by == kPolicyConversionRequester) ids.push_back(st.record.id);
    }
    return ids;
  };
  auto wait_for_job = [&](std::size_t n) {
    for (int i = 0; i < 300 && policy_jobs().size() < n; ++i) {
      EXPECT_FALSE(ReadAll(kClear).empty());  // an open refreshes the cache: the trigger
      std::this_thread::sleep_for(20ms);
    }
    auto ids = policy_jobs();
    EXPECT_EQ(ids.size(), n) << "no migrate job was started by the policy change";
    return ids.empty() ? std::string() : ids.back();
  };

  // 1. The disks' vobj now names default_pool: they move while written.
  StartWriters(4099);
  set_policy(kPoolDefault, kPoolDefault);
  const std::string id = wait_for_job(1);
  ASSERT_FALSE(id.empty());
  auto st = manager_->Wait(id, 60s);
  StopWriters();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.spec.kind, "migrate");
  EXPECT_EQ(st->record.spec.params, (nlohmann::json{{"policy", true}}));
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  EXPECT_EQ(st->record.tasks.size(), kDisks.size());  // the clear file is there already
  for (const auto& path : kDisks) EXPECT_EQ(PoolOf(path), kPoolDefault) << path;
  EXPECT_EQ(Audited("moved from pool mirrored_pool_A to pool default_pool"), 3);
  {
    std::lock_guard lock(seen_mu);
    ASSERT_EQ(seen.size(), 1u);  // one rule: a storepol change moves, it does not rekey
    EXPECT_EQ(seen[0], (core::PlacementChange{.keys = false, .pools = true}));
  }
  ExpectIntactAndClean();

  // 2. The same policy again: nothing changes, no job.
  cache_->Invalidate("my_vmset");
  EXPECT_FALSE(ReadAll(kClear).empty());
  EXPECT_EQ(policy_jobs().size(), 1u);

  // 3. Back to mirrored_pool_A; the default vobj names a pool this gateway does not have:
  // the disks move, the clear file's task fails with the reason and the file stays.
  set_policy(kPoolA, "tape_pool");
  const std::string back = wait_for_job(2);
  ASSERT_FALSE(back.empty());
  st = manager_->Wait(back, 60s);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->record.tasks.size(), kDisks.size() + 1);
  for (const auto& task : st->record.tasks) {
    if (task.path == kClear) {
      EXPECT_EQ(task.state, TaskState::kFailed);
      EXPECT_NE(task.error.find("'tape_pool' is not configured"), std::string::npos) << task.error;
    } else {
      EXPECT_EQ(task.state, TaskState::kDone) << task.path << ": " << task.error;
    }
  }
  for (const auto& path : kDisks) EXPECT_EQ(PoolOf(path), kPoolA) << path;
  EXPECT_EQ(PoolOf(kClear), kPoolDefault);
  ExpectIntactAndClean();
}

}  // namespace
}  // namespace cafs::jobs
