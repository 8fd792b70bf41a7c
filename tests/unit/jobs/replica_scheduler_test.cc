// The DR replica schedule (jobs/replica_scheduler.h; docs/replicas.md "Schedule") on a real
// JobManager with the replica kind over a temp backing store, a PosixPool and a DR pool, the
// VM set and its policy from a LocalKeyProvider, and an injected ManualClock:
//  - a VM the policy's <replica> covers is replicated at once, then once per interval (not
//    before), with the policy's retention (keep 2 of 3), and VMs it does not cover never;
//  - restarts: the schedule state lost after a job was started (a crash between the two
//    writes) does not double it; cafsd down for three intervals gives one replica, not three;
//    a replica job of the VM that is not final (paused) holds the next one back;
//  - an unknown DR pool: no job, the error kept in the state, retried at the next interval only.
// ReplicaRestoreJobTest (the same fixture, the restore kind too): a VM replicated, its VM set
// renamed (its GUID kept, as kpsd's rename does; with local keys: the key directory and
// <name>), restored to its old place ("/": the VM set found by GUID) and as a new VM: the keys
// are found by key GUID in the renamed set, the bytes match, and every file keeps the mode
// and owner it had at the replica.
#include "jobs/replica_scheduler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "audit/audit_log.h"
#include "cafs/change_log.h"
#include "cafs/key_provider.h"
#include "crypto/rng.h"
#include "jobs/replica_job.h"
#include "pool/posix_pool.h"
#include "unit/env/temp_dir.h"
#include "util/bytes.h"
#include "util/clock.h"

namespace cafs::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kKey[] = "062b9056-bf64-11df-8d3e-000c29abeb4d";

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

class ReplicaSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = env::testing::ModelledDurabilityTmpBase() + "/cafs-replica-sched-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (const char* d : {"backing", "pools/pool_a", "pools/dr", "keys/vs"}) {
      fs::create_directories(root_ / d);
    }
    vm_set_ = Uuid::Random();
    WriteFile(root_ / "keys/vs/vmset.xml",
              "<vmset><name>vs</name><mnt>/nfs</mnt><pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>"
              "<vmserv>1</vmserv><vmset-id>" +
                  vm_set_.ToString() + "</vmset-id></vmset>");
    std::vector<std::uint8_t> key(64);
    ASSERT_TRUE(crypto::RandomBytes(key).ok());
    dek_ = SecureBuffer(key.data(), key.size());
    WriteFile(root_ / "keys/vs/keys", std::string(kKey) + " 1 " + ToHex(key) + "\n");
    SetPolicy("<replica vm=\"vm*\" interval=\"1h\" keep=\"2\" pool=\"dr\"/>");
    secret_ = Bytes(32, 0x42);

    pools_ = std::make_unique<pool::PoolMapper>();
    for (const char* name : {"pool_a", "dr"}) {
      ASSERT_TRUE(pools_
                      ->Add(std::make_unique<pool::PosixPool>(
                          name, (root_ / "pools" / name).string(), env::Env::Default()))
                      .ok());
    }
    auto v = core::Volume::Open((root_ / "backing").string(), pools_.get());
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    volume_ = std::move(*v);
    tracker_ =
        std::make_unique<core::ChangeTracker>(env::Env::Default(), (root_ / "backing").string());
    volume_->SetChangeTracker(tracker_.get());
    keys_ = std::make_unique<core::LocalKeyProvider>((root_ / "keys").string());
    // A TTL of zero: every Tick sees the policy file as it is now.
    cache_ = std::make_unique<core::PolicyCache>(keys_.get(), &clock_,
                                                 core::PolicyCacheOptions{.ttl = 0ms});
    auto log = audit::AuditLog::Open((root_ / "audit.log").string(), audit::AuditLogOptions{});
    ASSERT_TRUE(log.ok());
    audit_ = std::move(*log);
    for (const char* dir : {"vs", "vs/vm1", "vs/other"}) {
      ASSERT_TRUE(volume_->MakeDir(dir, 0755, ::getuid(), ::getgid()).ok());
    }
    for (const char* file : {"vs/vm1/disk", "vs/other/disk"}) {
      auto f = volume_->CreateFile(file, 0644, ::getuid(), ::getgid(), Placed());
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      ASSERT_TRUE((*f)->file().Write(0, Bytes(300 * 1024, 0x5c)).ok());
      ASSERT_TRUE((*f)->file().Sync().ok());
    }
    OpenManager();
  }
  void TearDown() override {
    scheduler_.reset();
    manager_.reset();
    audit_.reset();
    cache_.reset();
    keys_.reset();
    volume_.reset();
    tracker_.reset();
    pools_.reset();
    fs::remove_all(root_);
  }

  // A new file of the VM set: pool_a, the VM set's key, bound to its GUID.
  core::Placement Placed() {
    core::Placement p;
    p.pool = "pool_a";
    p.params.key_guid = *Uuid::Parse(kKey);
    p.params.key_version = 1;
    p.params.vm_set_id = vm_set_;
    p.dek = &dek_;
    return p;
  }
  void SetPolicy(const std::string& replicas) {
    WriteFile(root_ / "keys/vs/policy.xml",
              std::string("<policy-descriptor><vobj-list><vobj><vglob>hc_default</vglob><symkey>") +
                  kKey +
                  "</symkey><storepol>pool_a</storepol><access>at_all_times</access>"
                  "<audit>none</audit></vobj></vobj-list>" +
                  replicas + "</policy-descriptor>");
  }
  // A cafsd (re)start: job manager reopened and resumed, the scheduler loads its state.
  void OpenManager() {
    scheduler_.reset();
    manager_.reset();
    const JobAuditor auditor(audit_.get(), &clock_, 1);
    auto m = JobManager::Open(env::Env::Default(), (root_ / "backing").string(), auditor,
                              JobManagerOptions{.step_bytes = 256 * 1024});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    const ReplicaContext ctx{.volume = volume_.get(),
                             .cache = cache_.get(),
                             .position = 1,
                             .replica_secret = secret_,
                             .auditor = auditor};
    manager_->RegisterKind(std::make_unique<ReplicaJob>(ctx));
    manager_->RegisterKind(std::make_unique<RestoreJob>(ctx));
    manager_->ResumeAll();
    scheduler_ =
        std::make_unique<ReplicaScheduler>(manager_.get(), volume_.get(), cache_.get(), &clock_,
                                           env::Env::Default(), (root_ / "backing").string());
    scheduler_->Load();
  }
  std::vector<std::string> Tick() {
    auto started = scheduler_->Tick();
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    return started.ok() ? *started : std::vector<std::string>{};
  }
  void WaitDone(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto st = manager_->Wait(id, 60s);
      ASSERT_TRUE(st.ok()) << st.status().ToString();
      EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
      EXPECT_EQ(st->record.spec.target.path, "/vs/vm1");
      EXPECT_EQ(st->record.spec.requested_by, kReplicaScheduleRequester);
    }
  }
  std::size_t Replicas() {
    auto store = OpenReplicaStore(*volume_, "dr", secret_);
    EXPECT_TRUE(store.ok());
    auto chain = (*store)->Chain(core::ReplicaVm{vm_set_, "vm1"});
    return chain.ok() ? chain->size() : 0;
  }
  std::string StateText() {
    std::ifstream in(root_ / "backing" / kReplicaScheduleFile);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path root_;
  ManualClock clock_{std::chrono::sys_days{std::chrono::year{2026} / 12 / 7} + 10h};
  Uuid vm_set_;
  SecureBuffer dek_;
  Bytes secret_;
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<core::Volume> volume_;
  std::unique_ptr<core::ChangeTracker> tracker_;
  std::unique_ptr<core::LocalKeyProvider> keys_;
  std::unique_ptr<core::PolicyCache> cache_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<ReplicaScheduler> scheduler_;
};

TEST_F(ReplicaSchedulerTest, DueAtOnceThenOncePerIntervalWithRetention) {
  auto first = Tick();
  ASSERT_EQ(first.size(), 1u) << "vm1 is covered, 'other' is not";
  WaitDone(first);
  EXPECT_TRUE(Tick().empty()) << "not due again within the interval";
  clock_.Advance(59min);
  EXPECT_TRUE(Tick().empty());
  clock_.Advance(1min);
  auto second = Tick();
  ASSERT_EQ(second.size(), 1u);
  WaitDone(second);
  clock_.Advance(1h);
  auto third = Tick();
  ASSERT_EQ(third.size(), 1u);
  WaitDone(third);
  EXPECT_EQ(Replicas(), 2u) << "keep=2";
  // Only the newest finished scheduled job record is kept.
  std::size_t records = 0;
  for (const auto& j : manager_->List()) records += j.record.spec.kind == "replica";
  EXPECT_LE(records, 2u);
  EXPECT_NE(StateText().find(vm_set_.ToString() + "/vm1"), std::string::npos) << StateText();
  // A policy without <replica>: nothing more, however long.
  SetPolicy("");
  clock_.Advance(24h);
  EXPECT_TRUE(Tick().empty());
}

TEST_F(ReplicaSchedulerTest, ARestartNeitherLosesNorDoublesADueReplica) {
  auto first = Tick();
  ASSERT_EQ(first.size(), 1u);
  WaitDone(first);
  // A crash after the job was persisted, before the state was: the job's record still counts.
  fs::remove(root_ / "backing" / kReplicaScheduleFile);
  OpenManager();
  EXPECT_TRUE(Tick().empty()) << "the same replica started twice";
  // Down for three intervals: one replica at the first tick, not three.
  OpenManager();
  clock_.Advance(3h + 10min);
  auto late = Tick();
  ASSERT_EQ(late.size(), 1u);
  WaitDone(late);
  EXPECT_TRUE(Tick().empty());
  OpenManager();
  EXPECT_TRUE(Tick().empty()) << "the state written after the start survives the restart";
  // A replica job of the VM that is not final holds the next one back (one at a time).
  JobSpec manual;
  manual.kind = "replica";
  manual.target.type = "vm";
  manual.target.path = "/vs/vm1";
  manual.params = {{"pool", "dr"}};
  manual.rate_limit_bps = 1;  // crawls: paused below long before it ends
  manual.requested_by = "test";
  auto m = manager_->Start(manual);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(manager_->Pause(m->record.id).ok());
  clock_.Advance(2h);
  EXPECT_TRUE(Tick().empty());
  OpenManager();  // still paused after a restart
  EXPECT_TRUE(Tick().empty());
  ASSERT_TRUE(manager_->Cancel(m->record.id).ok());
  ASSERT_TRUE(manager_->Wait(m->record.id, 60s).ok());
  auto after = Tick();
  ASSERT_EQ(after.size(), 1u);
  WaitDone(after);
}

TEST_F(ReplicaSchedulerTest, AnUnknownDrPoolIsReportedAndRetriedAtTheNextInterval) {
  SetPolicy("<replica interval=\"10m\" pool=\"nope\"/>");
  EXPECT_TRUE(Tick().empty());
  EXPECT_TRUE(manager_->List().empty());
  EXPECT_NE(StateText().find("pool 'nope' is not configured on this gateway"), std::string::npos)
      << StateText();
  const std::string state = StateText();
  clock_.Advance(5min);
  EXPECT_TRUE(Tick().empty());
  EXPECT_EQ(StateText(), state) << "not retried within the interval";
  // The pool named right: both VMs ("*") are replicated at the next interval.
  SetPolicy("<replica interval=\"10m\" pool=\"dr\"/>");
  clock_.Advance(5min);
  auto started = Tick();
  EXPECT_EQ(started.size(), 2u);
  for (const auto& id : started) {
    auto st = manager_->Wait(id, 60s);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  }
}

using ReplicaRestoreJobTest = ReplicaSchedulerTest;

TEST_F(ReplicaRestoreJobTest, ARenamedVmSetIsFoundByGuidAndFilesKeepModeAndOwner) {
  // A second file with its own mode and owner (another owner needs root to chown).
  const bool root = ::geteuid() == 0;
  const std::uint32_t uid = root ? 4321 : ::getuid(), gid = root ? 8765 : ::getgid();
  const Bytes nvram(5000, 0x3d);
  {
    auto f = volume_->CreateFile("vs/vm1/nvram", 0600, uid, gid, Placed());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->file().Write(0, nvram).ok());
    ASSERT_TRUE((*f)->file().Sync().ok());
  }
  JobSpec rep;
  rep.kind = "replica";
  rep.target.type = "vm";
  rep.target.path = "/vs/vm1";
  rep.params = {{"pool", "dr"}};
  rep.requested_by = "test";
  auto r = manager_->Start(rep);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto rs = manager_->Wait(r->record.id, 60s);
  ASSERT_TRUE(rs.ok());
  ASSERT_EQ(rs->record.state, JobState::kDone) << rs->record.error;

  // The VM set renamed: same GUID, new name, on the gateway and at the key provider.
  ASSERT_TRUE(volume_->Rename("vs", "vs_renamed", true).ok());
  fs::rename(root_ / "keys/vs", root_ / "keys/vs_renamed");
  {
    std::ifstream in(root_ / "keys/vs_renamed/vmset.xml");
    std::string xml((std::istreambuf_iterator<char>(in)), {});
    xml.replace(xml.find("<name>vs</name>"), 15, "<name>vs_renamed</name>");
    WriteFile(root_ / "keys/vs_renamed/vmset.xml", xml);
  }
  // The old place must be free: the VM's files are gone (the disaster).
  ASSERT_TRUE(volume_->Unlink("vs_renamed/vm1/disk").ok());
  ASSERT_TRUE(volume_->Unlink("vs_renamed/vm1/nvram").ok());

  auto restore = [&](const std::string& where) {
    JobSpec spec;
    spec.kind = "restore";
    spec.target.type = "vm";
    spec.target.path = where;
    spec.params = {{"pool", "dr"}, {"vmset", vm_set_.ToString()}, {"vm", "vm1"}};
    spec.requested_by = "test";
    auto started = manager_->Start(spec);
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (!started.ok()) return;
    auto st = manager_->Wait(started->record.id, 60s);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  };
  restore("/");  // the old place: /vs_renamed/vm1, found by the VM set's GUID
  restore("/vs_renamed/vm1_copy");
  const core::KeyLookup keys(
      [this](const Uuid&, std::uint32_t) -> Result<const SecureBuffer*> { return &dek_; }, vm_set_);
  for (const std::string vm : {"vs_renamed/vm1", "vs_renamed/vm1_copy"}) {
    auto of = volume_->OpenExisting(vm + "/nvram", keys);
    ASSERT_TRUE(of.ok()) << vm << ": " << of.status().ToString();
    Bytes back((*of)->file().Size());
    ASSERT_TRUE((*of)->file().Read(0, back).ok());
    EXPECT_EQ(back, nvram) << vm;
    auto a = volume_->GetAttr(vm + "/nvram", keys);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->mode, 0600u) << vm;
    EXPECT_EQ(a->uid, uid) << vm;
    EXPECT_EQ(a->gid, gid) << vm;
    auto d = volume_->GetAttr(vm + "/disk", keys);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->mode, 0644u) << vm;
    EXPECT_EQ(d->size, 300u * 1024) << vm;
  }
}

}  // namespace
}  // namespace cafs::jobs
