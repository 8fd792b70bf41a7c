// The resync job kind (jobs/resync_job.h) on the JobManager over a real Volume with two
// PosixPools (pool_b through a FaultInjectionEnv):
//  - closed mirrored files whose copy in pool_b went stale are resynced by the job the
//    trigger starts: only the chunks the mirror logs name, progress bytes per task, the two
//    pool files byte-identical, no mirror log left, `cafsd fsck` clean, audited;
//  - pause, a restart while paused (the mirror log keeps the progress of the steps done),
//    resume; cancel leaves the copy stale with an exact log;
//  - the trigger: nothing while the pool is down, one job when it returns, none after;
//  - fsck reports (and removes) the mirror log of a file no redirector names.
#include "jobs/resync_job.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "audit/audit_log.h"
#include "cafs/volume_check.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "pool/posix_pool.h"
#include "unit/cafs/two_pool_mirror_fixture.h"
#include "util/bytes.h"
#include "util/clock.h"

namespace cafs::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::uint64_t kChunk = core::kMirrorChunkBytes;

class ResyncJobTest : public cafs::testing::TwoPoolMirrorFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeDirsAndKey("cafs-resync-job-test"));
    Boot();
  }
  void TearDown() override {
    Halt();
    RemoveDirs();
  }

  void Boot(JobManagerOptions options = {.step_bytes = kChunk, .default_parallel = 2}) {
    pools_ = std::make_unique<pool::PoolMapper>();
    ASSERT_TRUE(pools_
                    ->Add(std::make_unique<pool::PosixPool>(
                        kPoolA, (dir_ / "pools" / kPoolA).string(), env::Env::Default()))
                    .ok());
    ASSERT_TRUE(pools_
                    ->Add(std::make_unique<pool::PosixPool>(
                        kPoolB, (dir_ / "pools" / kPoolB).string(), &b_env_))
                    .ok());
    auto v = core::Volume::Open((dir_ / "backing").string(), pools_.get());
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    volume_ = std::move(*v);
    auto log = audit::AuditLog::Open((dir_ / "audit.log").string(), audit::AuditLogOptions{});
    ASSERT_TRUE(log.ok());
    audit_ = std::move(*log);
    const JobAuditor auditor(audit_.get(), &clock_, 1);
    auto m = JobManager::Open(env::Env::Default(), (dir_ / "backing").string(), auditor, options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    manager_->RegisterKind(std::make_unique<ResyncJob>(volume_.get(), auditor));
    manager_->ResumeAll();
  }
  void Halt() {
    manager_.reset();
    audit_.reset();
    volume_.reset();
    pools_.reset();
  }

  // A mirrored file of `size` random bytes, then `regions` writes while pool_b fails (its
  // copy goes stale with those chunks dirty), closed. Returns the content.
  std::string MakeStale(const std::string& rel, std::size_t size,
                        const std::vector<std::uint64_t>& regions, std::mt19937_64& rng) {
    const core::Placement p = MirroredPlacement();
    auto of = volume_->CreateFile(rel, 0644, ::getuid(), ::getgid(), p);
    EXPECT_TRUE(of.ok()) << of.status().ToString();
    if (!of.ok()) return {};
    std::string data = Random(size, rng);
    EXPECT_TRUE((*of)->file().Write(0, AsBytes(data)).ok());
    EXPECT_TRUE((*of)->file().Sync().ok());
    b_env_.SetWriteFault([](const std::string& path, std::uint64_t, std::uint64_t) {
      return path.find("/pools/pool_b/") != std::string::npos;
    });
    for (std::uint64_t off : regions) {
      const std::string more = Random(4096, rng);
      EXPECT_TRUE((*of)->file().Write(off, AsBytes(more)).ok());
      data.replace(off, more.size(), more);
    }
    EXPECT_TRUE((*of)->file().Sync().ok());
    b_env_.ClearFaults();
    return data;
  }

  core::ReplicaStatus CopyB(const std::string& rel) {
    auto st = volume_->Replicas(rel);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (!st.ok() || st->size() != 2) return {};
    return (*st)[1];
  }

  void ExpectIdenticalAndReadable(const std::string& rel, const std::string& data) {
    auto loc = volume_->Locate(rel);
    ASSERT_TRUE(loc.ok());
    ASSERT_EQ(loc->replicas.size(), 1u);
    const std::string a = Slurp(dir_ / "pools" / kPoolA / loc->pool_path);
    const std::string b = Slurp(dir_ / "pools" / kPoolB / loc->replicas[0].pool_path);
    EXPECT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b) << rel << ": the copies differ";
    EXPECT_EQ(CopyB(rel).health, core::ReplicaHealth::kInSync);
    auto of = volume_->OpenExisting(
        rel, [this](const Uuid& k, std::uint32_t) -> Result<const SecureBuffer*> {
          if (k != key_guid_) return Status::NotFound("key");
          return &dek_;
        });
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    std::string out(data.size(), '\0');
    auto n = (*of)->file().Read(
        0, MutableByteView(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(out == data) << rel << ": reads back other bytes";
  }

  void ExpectFsckClean() {
    auto report = core::CheckVolume((dir_ / "backing").string(), *pools_, core::CheckOptions{});
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const auto& f : report->findings) ADD_FAILURE() << f.where << ": " << f.detail;
  }

  std::size_t MirrorLogsOnDisk() {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_ / "backing")) {
      n += e.path().filename().string().rfind(core::kMirrorLogPrefix, 0) == 0;
    }
    return n;
  }

  int Audited(std::string_view op) {
    auto records = audit::ReadAuditLog((dir_ / "audit.log").string());
    EXPECT_TRUE(records.ok());
    int n = 0;
    for (const auto& r : records.ok() ? *records : std::vector<audit::AuditRecord>{}) {
      n += r.op == op;
    }
    return n;
  }

  static JobSpec Spec(const std::string& type, const std::string& path, std::uint64_t rate = 0) {
    JobSpec spec;
    spec.kind = "resync";
    spec.target.type = type;
    spec.target.path = path;
    spec.rate_limit_bps = rate;
    spec.requested_by = "test";
    return spec;
  }

  env::FaultInjectionEnv b_env_{env::Env::Default()};
  ManualClock clock_{std::chrono::sys_days{std::chrono::year{2026} / 12 / 7} + 10h};
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<core::Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<JobManager> manager_;
};

TEST_F(ResyncJobTest, TriggerStartsAJobThatResyncsClosedFilesChunkByChunk) {
  std::mt19937_64 rng(11);
  const std::string d1 = MakeStale("vs/vm1/a.img", 6 * kChunk, {kChunk + 100, 4 * kChunk}, rng);
  const std::string d2 = MakeStale("vs/vm1/b.img", 3 * kChunk, {2 * kChunk + 7}, rng);
  const std::uint64_t miss1 = CopyB("vs/vm1/a.img").dirty_bytes;
  EXPECT_EQ(CopyB("vs/vm1/a.img").health, core::ReplicaHealth::kStale);
  EXPECT_GE(miss1, 2 * kChunk);
  EXPECT_LE(miss1, 4 * kChunk);  // the written chunks (a write may straddle two), not the file
  ASSERT_EQ(MirrorLogsOnDisk(), 2u);

  ResyncTrigger trigger(volume_.get(), manager_.get());
  auto id = trigger.Tick();
  ASSERT_TRUE(id.has_value());
  auto st = manager_->Wait(*id, 60s);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  ASSERT_EQ(st->record.tasks.size(), 2u);
  for (const TaskRecord& t : st->record.tasks) {
    EXPECT_EQ(t.state, TaskState::kDone) << t.path << ": " << t.error;
    EXPECT_EQ(t.done, t.total) << t.path;
    EXPECT_GT(t.done, 0u) << t.path;
    EXPECT_LE(t.done, 4 * kChunk) << t.path << ": more than the dirty chunks copied";
  }
  ExpectIdenticalAndReadable("vs/vm1/a.img", d1);
  ExpectIdenticalAndReadable("vs/vm1/b.img", d2);
  EXPECT_EQ(MirrorLogsOnDisk(), 0u);
  EXPECT_EQ(Audited("resync"), 2);
  ExpectFsckClean();
  EXPECT_FALSE(trigger.Tick().has_value());  // nothing stale: no job
}

TEST_F(ResyncJobTest, PauseRestartResumeKeepsProgressAndCancelLeavesAnExactLog) {
  std::mt19937_64 rng(12);
  std::vector<std::uint64_t> regions;
  for (std::uint64_t c = 0; c < 12; ++c) regions.push_back(c * kChunk + 4096);
  const std::string data = MakeStale("vs/vm1/big.img", 12 * kChunk, regions, rng);
  const std::uint64_t before = CopyB("vs/vm1/big.img").dirty_bytes;
  ASSERT_GE(before, 12 * kChunk);

  // 2 MiB/s: a step (one chunk) every half second; paused after the first steps.
  auto started = manager_->Start(Spec("file", "/vs/vm1/big.img", 2 * kChunk));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::string id = started->record.id;
  for (int i = 0; i < 200; ++i) {
    auto s = manager_->Get(id);
    ASSERT_TRUE(s.ok());
    if (!s->record.tasks.empty() && s->record.tasks[0].done >= 2 * kChunk) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(manager_->Pause(id).ok());
  auto paused = manager_->Wait(id, 30s);
  ASSERT_TRUE(paused.ok());
  ASSERT_EQ(paused->record.state, JobState::kPaused);
  ASSERT_FALSE(paused->record.tasks.empty());
  EXPECT_GT(paused->record.tasks[0].done, 0u);
  EXPECT_LT(paused->record.tasks[0].done, paused->record.tasks[0].total);

  // A restart while paused: the mirror log on disk kept what the steps copied.
  Halt();
  Boot();
  const std::uint64_t left = CopyB("vs/vm1/big.img").dirty_bytes;
  EXPECT_EQ(CopyB("vs/vm1/big.img").health, core::ReplicaHealth::kStale);
  EXPECT_LT(left, before) << "the steps' progress was not saved in the mirror log";
  auto still = manager_->Get(id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->record.state, JobState::kPaused);
  ASSERT_TRUE(manager_->Resume(id).ok());
  auto done = manager_->Wait(id, 60s);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->record.state, JobState::kDone) << done->record.error;
  ExpectIdenticalAndReadable("vs/vm1/big.img", data);
  ExpectFsckClean();

  // Cancel: the copy stays stale, its log names what it misses.
  const std::string d2 = MakeStale("vs/vm1/c.img", 4 * kChunk, {0, 3 * kChunk}, rng);
  auto slow = manager_->Start(Spec("vm", "/vs/vm1", 1));
  ASSERT_TRUE(slow.ok()) << slow.status().ToString();
  ASSERT_TRUE(manager_->Cancel(slow->record.id).ok());
  auto cancelled = manager_->Wait(slow->record.id, 30s);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->record.state, JobState::kCancelled);
  const core::ReplicaStatus c = CopyB("vs/vm1/c.img");
  EXPECT_EQ(c.health, core::ReplicaHealth::kStale);
  EXPECT_GE(c.dirty_bytes, kChunk);
  ASSERT_TRUE(manager_->Start(Spec("file", "/vs/vm1/c.img")).ok());
  for (const JobStatus& j : manager_->List()) (void)manager_->Wait(j.record.id, 60s);
  ExpectIdenticalAndReadable("vs/vm1/c.img", d2);
}

TEST_F(ResyncJobTest, TriggerWaitsForThePoolAndStartsOneJobPerReturn) {
  std::mt19937_64 rng(13);
  const std::string data = MakeStale("vs/vm1/a.img", 2 * kChunk, {100}, rng);
  const fs::path b = dir_ / "pools" / kPoolB;
  const fs::path away = dir_ / "pool_b.away";
  ResyncTrigger trigger(volume_.get(), manager_.get());
  fs::rename(b, away);  // the pool vanishes
  EXPECT_FALSE(trigger.Tick().has_value());
  EXPECT_FALSE(trigger.Tick().has_value());
  EXPECT_TRUE(manager_->List().empty());
  fs::rename(away, b);  // back
  auto id = trigger.Tick();
  ASSERT_TRUE(id.has_value());
  EXPECT_FALSE(trigger.Tick().has_value());  // one job at a time / nothing changed
  auto st = manager_->Wait(*id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  ExpectIdenticalAndReadable("vs/vm1/a.img", data);
  EXPECT_FALSE(trigger.Tick().has_value());
  EXPECT_EQ(manager_->List().size(), 1u);
}

TEST_F(ResyncJobTest, BadInputIsRefused) {
  std::mt19937_64 rng(14);
  (void)MakeStale("vs/vm1/a.img", kChunk, {0}, rng);
  JobSpec bad = Spec("file", "/vs/vm1/a.img");
  bad.params = {{"to_pool", kPoolB}};
  EXPECT_FALSE(manager_->Start(bad).ok());
  EXPECT_FALSE(manager_->Start(Spec("pool", "/")).ok());
  EXPECT_FALSE(manager_->Start(Spec("file", "/vs/vm1/none.img")).ok());
  EXPECT_FALSE(manager_->Start(Spec("file", "relative")).ok());
  EXPECT_TRUE(manager_->List().empty());
}

TEST_F(ResyncJobTest, FsckReportsAndRemovesTheMirrorLogOfARemovedFile) {
  std::mt19937_64 rng(15);
  (void)MakeStale("vs/vm1/a.img", kChunk, {0}, rng);
  Halt();
  // A log no redirector names (an unlink interrupted before the log went).
  fs::path log;
  for (const auto& e : fs::directory_iterator(dir_ / "backing")) {
    if (e.path().filename().string().rfind(core::kMirrorLogPrefix, 0) == 0) log = e.path();
  }
  ASSERT_FALSE(log.empty());
  const Uuid other = Uuid::Random();
  fs::copy_file(log, dir_ / "backing" / core::MirrorLog::NameFor(other));
  pools_ = std::make_unique<pool::PoolMapper>();
  for (const char* name : {kPoolA, kPoolB}) {
    ASSERT_TRUE(pools_
                    ->Add(std::make_unique<pool::PosixPool>(name, (dir_ / "pools" / name).string(),
                                                            env::Env::Default()))
                    .ok());
  }
  core::CheckOptions opts;
  auto report = core::CheckVolume((dir_ / "backing").string(), *pools_, opts);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->findings.size(), 1u);
  EXPECT_EQ(report->findings[0].kind, core::CheckFinding::Kind::kOrphanMirrorLog);
  EXPECT_NE(report->findings[0].where.find(other.ToString()), std::string::npos);
  EXPECT_STREQ(core::CheckFindingName(report->findings[0].kind), "orphan-mirror-log");
  opts.remove_orphans = true;
  report = core::CheckVolume((dir_ / "backing").string(), *pools_, opts);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->remaining(), 0u);
  EXPECT_FALSE(fs::exists(dir_ / "backing" / core::MirrorLog::NameFor(other)));
  EXPECT_TRUE(fs::exists(log));  // the live file's log is kept
}

}  // namespace
}  // namespace cafs::jobs
