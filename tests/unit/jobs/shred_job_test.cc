// The shred job kind on the JobManager, over a real Volume (a temp backing store) whose pool
// and job store go through a FaultInjectionEnv:
//  - a VM is shredded: its files are gone from the namespace and their pool files removed,
//    no byte sequence of their ciphertext is left in any pool file, the other VM is intact,
//    every file and the job's start and end are audited;
//  - a file in use (open through the Volume) is refused with EBUSY; resume after it closed;
//  - pause, resume and cancel: every file is at all times either intact or unreachable, and
//    after a cancel either intact or gone;
//  - the control channel: start/get/list/pause/cancel/forget over the UNIX socket, the peer
//    as requested_by, errors as replies (unknown op, bad spec, not JSON), no daemon: EAGAIN;
//  - a crash at every durable step (sync, rename, remove of the pool or the job store) then
//    a restart: the job resumes and completes (or, when the crash came before the job was
//    persisted, nothing changed);
//  - shred on free (jobs/shred_on_free.h): an unlink of a file's last name queues a "freed"
//    shred job that claims, overwrites, discards and removes its pool file (after the last
//    close of a file unlinked while open), also across a crash at every durable step; a
//    truncate down with EncryptedFile::SetShredFreed clears the pool range it frees, and a
//    crash at any durable step leaves either the old size (each freed sector old or zeros)
//    or the new one with none of the freed ciphertext left.
#include "jobs/shred_job.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "audit/audit_log.h"
#include "cafs/volume.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "jobs/control_socket.h"
#include "jobs/job_manager.h"
#include "jobs/shred_on_free.h"
#include "pool/posix_pool.h"
#include "unit/env/temp_dir.h"
#include "util/clock.h"

namespace cafs::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kPool[] = "pool_A";
constexpr char kPoolB[] = "pool_B";  // the second copy of mirrored files
constexpr std::size_t kFileBytes = 32 * 1024;
constexpr std::size_t kBlock = 4096;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Kills the "process" at the k-th durable operation through it (a file or directory sync, a
// rename, a remove): that operation and every write, sync, rename and remove after it fail,
// and FaultInjectionEnv::DropUnsyncedData then models the power cut.
class CrashEnv final : public env::EnvWrapper {
 public:
  explicit CrashEnv(env::FaultInjectionEnv* fault) : EnvWrapper(fault), fault_(fault) {}

  void Arm(int k) {
    countdown_ = k;
    armed_ = true;
    dead_ = false;
    fault_->SetSyncFault([this](const std::string&) { return Durable(); });
    fault_->SetWriteFault(
        [this](const std::string&, std::uint64_t, std::uint64_t) { return dead_.load(); });
  }
  // The restart: no more faults, unsynced data dropped.
  void Revive() {
    armed_ = false;
    dead_ = false;
    fault_->ClearFaults();
    ASSERT_TRUE(fault_->DropUnsyncedData().ok());
  }
  bool dead() const { return dead_; }

  Status Rename(const std::string& from, const std::string& to) override {
    if (Durable()) return Status::FromErrno(EIO, "crashed");
    return EnvWrapper::Rename(from, to);
  }
  Status RemoveFile(const std::string& path) override {
    if (Durable()) return Status::FromErrno(EIO, "crashed");
    return EnvWrapper::RemoveFile(path);
  }
  Result<std::unique_ptr<env::File>> OpenFile(const std::string& path,
                                              const env::OpenOptions& options) override {
    if (dead_ && options.create) return Status::FromErrno(EIO, "crashed");
    return EnvWrapper::OpenFile(path, options);
  }

 private:
  bool Durable() {
    if (!armed_) return false;
    if (dead_) return true;
    if (--countdown_ <= 0) dead_ = true;
    return dead_.load();
  }

  env::FaultInjectionEnv* const fault_;
  std::atomic<int> countdown_{0};
  std::atomic<bool> armed_{false};
  std::atomic<bool> dead_{false};
};

class ShredJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = env::testing::ModelledDurabilityTmpBase() + "/cafs-shred-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "backing");
    fs::create_directories(root_ / "pool");
    fs::create_directories(root_ / "pool_b");
    auto key = crypto::RandomKey(64);
    ASSERT_TRUE(key.ok());
    key_ = std::move(*key);
    key_guid_ = Uuid::Random();
    fault_ = std::make_unique<env::FaultInjectionEnv>(env::Env::Default());
    crash_ = std::make_unique<CrashEnv>(fault_.get());
    ASSERT_TRUE(
        pools_
            .Add(std::make_unique<pool::PosixPool>(kPool, (root_ / "pool").string(), crash_.get()))
            .ok());
    ASSERT_TRUE(pools_
                    .Add(std::make_unique<pool::PosixPool>(kPoolB, (root_ / "pool_b").string(),
                                                           crash_.get()))
                    .ok());
    auto volume = core::Volume::Open((root_ / "backing").string(), &pools_);
    ASSERT_TRUE(volume.ok());
    volume_ = std::move(*volume);
    for (const char* dir : {"vs", "vs/vm", "vs/other"}) {
      ASSERT_TRUE(volume_->MakeDir(dir, 0755, 0, 0).ok());
    }
    for (const char* f : {"vs/vm/disk1", "vs/vm/disk2", "vs/other/keep"}) CreateFile(f);
    auto log = audit::AuditLog::Open((root_ / "audit.log").string(), {});
    ASSERT_TRUE(log.ok());
    audit_ = std::move(*log);
  }
  void TearDown() override {
    manager_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A fresh backing store, pool and files (the crash loops: one per crash point).
  void Fresh() {
    manager_.reset();
    TearDown();
    plain_.clear();
    blocks_.clear();
    pools_ = pool::PoolMapper();
    SetUp();
  }

  core::KeyLookup Keys() {
    return [this](const Uuid&, std::uint32_t) -> Result<const SecureBuffer*> { return &key_; };
  }

  void CreateFile(const std::string& rel, bool mirrored = false) {
    core::Placement p;
    p.pool = kPool;
    if (mirrored) p.replica_pools = {kPoolB};
    p.params.key_guid = key_guid_;
    p.params.key_version = 1;
    p.dek = &key_;
    auto of = volume_->CreateFile(rel, 0644, 0, 0, p);
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    std::string data(kFileBytes, '\0');
    ASSERT_TRUE(crypto::RandomBytes(
                    MutableByteView(reinterpret_cast<std::uint8_t*>(data.data()), data.size()))
                    .ok());
    ASSERT_TRUE((*of)->file().Write(0, AsBytes(data)).ok());
    ASSERT_TRUE((*of)->file().Sync().ok());
    plain_[rel] = data;
    // Remember every ciphertext block of the pool file (after the header).
    auto loc = volume_->Locate(rel);
    ASSERT_TRUE(loc.ok());
    const std::string raw = Slurp(root_ / "pool" / loc->pool_path);
    ASSERT_EQ(raw.size(), kBlock + kFileBytes);
    for (std::size_t off = kBlock; off < raw.size(); off += kBlock) {
      blocks_[rel].insert(raw.substr(off, kBlock));
    }
  }

  // Whether `rel` reads back exactly as written.
  bool Intact(const std::string& rel) {
    auto of = volume_->OpenExisting(rel, Keys());
    if (!of.ok()) return false;
    std::string back(kFileBytes, '\0');
    auto n = (*of)->file().Read(
        0, MutableByteView(reinterpret_cast<std::uint8_t*>(back.data()), back.size()));
    return n.ok() && *n == kFileBytes && back == plain_[rel];
  }

  bool Gone(const std::string& rel) { return volume_->Locate(rel).status().IsNotFound(); }

  // How many of `rel`'s ciphertext blocks some file of the pool still holds (block-aligned).
  int LeftoverBlocks(const std::string& rel) {
    int found = 0;
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (!e.is_regular_file() || e.path().string().find("/pool") == std::string::npos) continue;
      const std::string raw = Slurp(e.path());
      for (std::size_t off = 0; off + kBlock <= raw.size(); off += kBlock) {
        found += blocks_[rel].count(raw.substr(off, kBlock)) ? 1 : 0;
      }
    }
    return found;
  }

  void OpenManager(JobManagerOptions options = {.step_bytes = 16 * 1024, .default_parallel = 2},
                   std::chrono::milliseconds in_use_grace = ShredJob::kInUseGrace) {
    auto m = JobManager::Open(crash_.get(), (root_ / "backing").string(),
                              JobAuditor(audit_.get(), &SystemClock::Instance(), 1), options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    auto kind = std::make_unique<ShredJob>(
        volume_.get(), JobAuditor(audit_.get(), &SystemClock::Instance(), 1), in_use_grace);
    kind_ = kind.get();
    manager_->RegisterKind(std::move(kind));
    manager_->ResumeAll();
  }

  JobSpec ShredSpec(const std::string& type, const std::string& path, std::uint64_t rate = 0) {
    JobSpec spec;
    spec.kind = "shred";
    spec.target.type = type;
    spec.target.path = path;
    spec.rate_limit_bps = rate;
    spec.requested_by = "test";
    return spec;
  }

  JobStatus WaitFinal(const std::string& id) {
    auto st = manager_->Wait(id, 60s);
    EXPECT_TRUE(st.ok());
    return st.ok() ? *st : JobStatus{};
  }

  std::vector<std::string> AuditOps() {
    std::vector<std::string> ops;
    std::istringstream in(Slurp(root_ / "audit.log"));
    std::string line;
    while (std::getline(in, line)) {
      auto r = audit::AuditRecord::FromLine(line);
      if (r.ok()) ops.push_back(r->op + " " + r->vm + "/" + r->file);
    }
    return ops;
  }

  fs::path root_;
  SecureBuffer key_;
  Uuid key_guid_;
  std::unique_ptr<env::FaultInjectionEnv> fault_;
  std::unique_ptr<CrashEnv> crash_;
  pool::PoolMapper pools_;
  std::unique_ptr<core::Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<JobManager> manager_;
  ShredJob* kind_ = nullptr;  // owned by manager_
  std::map<std::string, std::string> plain_;
  std::map<std::string, std::set<std::string>> blocks_;
};

TEST_F(ShredJobTest, ShredsAVmLeavingNoCiphertextAndAuditsEachFile) {
  ASSERT_TRUE(Intact("vs/vm/disk1"));
  ASSERT_EQ(LeftoverBlocks("vs/vm/disk1"), 8);  // the scan finds what is there
  OpenManager();
  auto started = manager_->Start(ShredSpec("vm", "/vs/vm"));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const JobStatus st = WaitFinal(started->record.id);
  EXPECT_EQ(st.record.state, JobState::kDone) << st.record.error;
  ASSERT_EQ(st.record.tasks.size(), 2u);
  for (const auto& t : st.record.tasks) {
    EXPECT_EQ(t.state, TaskState::kDone);
    EXPECT_EQ(t.done, kBlock + kFileBytes);
  }
  EXPECT_EQ(st.record.DoneBytes(), 2 * (kBlock + kFileBytes));
  for (const char* f : {"vs/vm/disk1", "vs/vm/disk2"}) {
    EXPECT_TRUE(Gone(f)) << f;
    EXPECT_EQ(LeftoverBlocks(f), 0) << f;
  }
  auto listing = volume_->ReadDir("vs/vm");
  ASSERT_TRUE(listing.ok());
  EXPECT_TRUE(listing->empty());
  // Nothing of them is left in the pool (pool paths carry no names: count the files).
  std::size_t pool_files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_ / "pool")) {
    if (e.is_regular_file()) ++pool_files;
  }
  EXPECT_EQ(pool_files, 1u);  // vs/other/keep's
  EXPECT_TRUE(Intact("vs/other/keep"));
  const auto ops = AuditOps();
  for (const char* want : {"job-start vm/", "shred vm/disk1", "shred vm/disk2", "job-done vm/"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), want), ops.end()) << want;
  }
  auto verified = audit::VerifyAuditLog((root_ / "audit.log").string());
  ASSERT_TRUE(verified.ok());
  // The record is durable and says done after a restart.
  manager_.reset();
  OpenManager();
  auto again = manager_->Get(st.record.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->record.state, JobState::kDone);
  EXPECT_TRUE(manager_->Forget(st.record.id).ok());
  EXPECT_TRUE(manager_->Get(st.record.id).status().IsNotFound());
}

TEST_F(ShredJobTest, RefusesWhatItDoesNotImplement) {
  OpenManager();
  EXPECT_TRUE(manager_->Start(ShredSpec("pool", "/vs")).status().code() ==
              Status::Code::kNotSupported);
  EXPECT_TRUE(manager_->Start(ShredSpec("file", "vs/vm/disk1")).status().IsInvalidArgument());
  EXPECT_TRUE(manager_->Start(ShredSpec("dir", "/")).status().IsInvalidArgument());
  auto with_params = ShredSpec("file", "/vs/vm/disk1");
  with_params.params["passes"] = 3;
  EXPECT_TRUE(manager_->Start(with_params).status().IsInvalidArgument());
  auto bad_kind = ShredSpec("file", "/vs/vm/disk1");
  bad_kind.kind = "defragment";
  EXPECT_TRUE(manager_->Start(bad_kind).status().IsInvalidArgument());
  // A missing file fails the plan: the job fails, nothing changes.
  auto missing = manager_->Start(ShredSpec("file", "/vs/vm/nope"));
  ASSERT_TRUE(missing.ok());
  const JobStatus st = WaitFinal(missing->record.id);
  EXPECT_EQ(st.record.state, JobState::kFailed);
  EXPECT_NE(st.record.error.find("plan"), std::string::npos);
  EXPECT_TRUE(Intact("vs/vm/disk1"));
}

TEST_F(ShredJobTest, FileInUseIsRefusedUntilClosed) {
  // A short grace: the file stays open, so the task fails once it is over (cafsd: 5 s).
  OpenManager({.step_bytes = 16 * 1024, .default_parallel = 2}, 300ms);
  auto open = volume_->OpenExisting("vs/vm/disk1", Keys());
  ASSERT_TRUE(open.ok());
  auto started = manager_->Start(ShredSpec("file", "/vs/vm/disk1"));
  ASSERT_TRUE(started.ok());
  JobStatus st = WaitFinal(started->record.id);
  EXPECT_EQ(st.record.state, JobState::kFailed);
  EXPECT_NE(st.record.error.find("in use"), std::string::npos) << st.record.error;
  open->reset();
  EXPECT_TRUE(Intact("vs/vm/disk1"));
  ASSERT_TRUE(manager_->Resume(started->record.id).ok());
  st = WaitFinal(started->record.id);
  EXPECT_EQ(st.record.state, JobState::kDone) << st.record.error;
  EXPECT_TRUE(Gone("vs/vm/disk1"));
  EXPECT_EQ(LeftoverBlocks("vs/vm/disk1"), 0);
}

TEST_F(ShredJobTest, AFileClosedWithinTheGraceIsShredded) {
  // The VM closed the file just before the job started; the release arrives a moment later.
  OpenManager();
  auto open = volume_->OpenExisting("vs/vm/disk1", Keys());
  ASSERT_TRUE(open.ok());
  auto started = manager_->Start(ShredSpec("file", "/vs/vm/disk1"));
  ASSERT_TRUE(started.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  open->reset();
  const JobStatus st = WaitFinal(started->record.id);
  EXPECT_EQ(st.record.state, JobState::kDone) << st.record.error;
  EXPECT_TRUE(Gone("vs/vm/disk1"));
}

TEST_F(ShredJobTest, AWaitingTaskIsShownAndPauseAndCancelActAtOnce) {
  // A file in use: the task waits (job-level state, no sleep inside Step) and says why.
  OpenManager();
  auto open = volume_->OpenExisting("vs/vm/disk1", Keys());
  ASSERT_TRUE(open.ok());
  auto started = manager_->Start(ShredSpec("file", "/vs/vm/disk1"));
  ASSERT_TRUE(started.ok());
  const std::string id = started->record.id;
  auto waiting = [&] {
    auto st = manager_->Get(id);
    return st.ok() && !st->tasks.empty() && !st->tasks[0].waiting_for.empty();
  };
  for (int i = 0; i < 200 && !waiting(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(waiting());
  EXPECT_NE(ToJson(*manager_->Get(id)).dump().find("\"waiting\""), std::string::npos);
  // Pause ends the wait: the task is not failed (it never gave up), the file is untouched.
  ASSERT_TRUE(manager_->Pause(id).ok());
  JobStatus st = WaitFinal(id);
  EXPECT_EQ(st.record.state, JobState::kPaused);
  ASSERT_EQ(st.record.tasks.size(), 1u);
  EXPECT_NE(st.record.tasks[0].state, TaskState::kFailed) << st.record.tasks[0].error;
  EXPECT_TRUE(Intact("vs/vm/disk1"));
  // Cancel of the waiting task (before its point of no return) skips it; nothing changed.
  ASSERT_TRUE(manager_->Resume(id).ok());
  for (int i = 0; i < 200 && !waiting(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(manager_->Cancel(id).ok());
  st = WaitFinal(id);
  EXPECT_EQ(st.record.state, JobState::kCancelled);
  EXPECT_EQ(st.record.tasks[0].state, TaskState::kSkipped);
  open->reset();
  EXPECT_TRUE(Intact("vs/vm/disk1"));
}

TEST_F(ShredJobTest, PauseResumeAndCancelNeverLeaveAReadableHalf) {
  OpenManager();
  // 32 KiB/s: the two files (72 KiB) take about two seconds.
  auto started = manager_->Start(ShredSpec("vs", "/vs/vm", 64 * 1024));
  ASSERT_FALSE(started.ok());  // "vs" is not a target type
  started = manager_->Start(ShredSpec("vm", "/vs/vm", 32 * 1024));
  ASSERT_TRUE(started.ok());
  const std::string id = started->record.id;
  auto paused = manager_->Pause(id);
  ASSERT_TRUE(paused.ok()) << paused.status().ToString();
  JobStatus st = WaitFinal(id);
  EXPECT_EQ(st.record.state, JobState::kPaused);
  for (const char* f : {"vs/vm/disk1", "vs/vm/disk2"}) EXPECT_TRUE(Intact(f) || Gone(f)) << f;
  // Paused stays paused over a restart.
  manager_.reset();
  OpenManager();
  ASSERT_TRUE(manager_->Get(id).ok());
  EXPECT_EQ(manager_->Get(id)->record.state, JobState::kPaused);
  EXPECT_TRUE(manager_->Pause(id).ok());  // idempotent
  EXPECT_TRUE(manager_->Forget(id).code() == Status::Code::kFailedPrecondition);
  ASSERT_TRUE(manager_->Resume(id).ok());
  auto cancelled = manager_->Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  st = WaitFinal(id);
  EXPECT_EQ(st.record.state, JobState::kCancelled);
  for (std::size_t i = 0; i < st.record.tasks.size(); ++i) {
    const auto& t = st.record.tasks[i];
    const std::string rel = t.path.substr(1);
    if (t.state == TaskState::kDone) {
      EXPECT_TRUE(Gone(rel)) << rel;
      EXPECT_EQ(LeftoverBlocks(rel), 0) << rel;
    } else {
      EXPECT_EQ(t.state, TaskState::kSkipped) << rel;
      EXPECT_TRUE(Intact(rel)) << rel;
    }
  }
  EXPECT_TRUE(manager_->Resume(id).status().code() == Status::Code::kFailedPrecondition);
  EXPECT_TRUE(Intact("vs/other/keep"));
}

TEST_F(ShredJobTest, ControlSocketStartsListsAndRefuses) {
  OpenManager();
  const std::string sock = (root_ / "backing" / kControlSocketName).string();
  EXPECT_EQ(ControlCall(sock, {{"op", "list"}}).status().code(), Status::Code::kUnavailable);
  ControlService service(manager_.get());
  auto server = ControlServer::Start(sock, &service);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto call = [&](const nlohmann::json& req) {
    auto r = ControlCall(sock, req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : nlohmann::json();
  };
  nlohmann::json spec{{"kind", "shred"},
                      {"target", {{"type", "file"}, {"path", "/vs/vm/disk1"}}},
                      {"params", nlohmann::json::object()},
                      {"rate_limit_bps", 0},
                      {"parallel", 1}};
  auto started = call({{"op", "start"}, {"spec", spec}});
  ASSERT_EQ(started["ok"], true) << started.dump();
  const std::string id = started["job"]["id"];
  EXPECT_EQ(started["job"]["requested_by"], "local uid " + std::to_string(::getuid()));
  const JobStatus st = WaitFinal(id);
  EXPECT_EQ(st.record.state, JobState::kDone);
  auto got = call({{"op", "get"}, {"id", id}});
  EXPECT_EQ(got["job"]["state"], "done");
  EXPECT_EQ(got["job"]["done_bytes"], got["job"]["total_bytes"]);
  EXPECT_EQ(got["job"]["tasks"][0]["path"], "/vs/vm/disk1");
  auto listed = call({{"op", "list"}});
  ASSERT_EQ(listed["jobs"].size(), 1u);
  EXPECT_EQ(call({{"op", "pause"}, {"id", id}})["code"], "failed precondition");
  EXPECT_EQ(call({{"op", "frobnicate"}})["ok"], false);
  EXPECT_EQ(call({{"op", "get"}, {"id", "nope"}})["errno"], ENOENT);
  spec["evil"] = true;
  EXPECT_EQ(call({{"op", "start"}, {"spec", spec}})["code"], "invalid argument");
  EXPECT_EQ(nlohmann::json::parse(service.HandleLine("{not json", "test"))["code"],
            "invalid argument");
  EXPECT_EQ(call({{"op", "forget"}, {"id", id}})["ok"], true);
  EXPECT_TRUE(call({{"op", "list"}})["jobs"].empty());
  EXPECT_TRUE(Intact("vs/vm/disk2"));
}

TEST_F(ShredJobTest, CrashAtEveryDurableStepThenRestartCompletes) {
  int crashes = 0;
  for (int k = 1; k < 400; ++k) {
    SCOPED_TRACE("crash at durable operation " + std::to_string(k));
    if (k > 1) {  // a fresh store and files per crash point
      ASSERT_NO_FATAL_FAILURE(Fresh());
    }
    OpenManager({.step_bytes = 16 * 1024, .default_parallel = 1});
    crash_->Arm(k);
    auto started = manager_->Start(ShredSpec("vm", "/vs/vm"));
    std::string id = started.ok() ? started->record.id : "";
    for (int i = 0; i < 600 && started.ok() && !crash_->dead(); ++i) {
      auto st = manager_->Wait(id, 10ms);
      if (st.ok() && IsFinal(st->record.state)) break;
    }
    manager_.reset();  // the process is gone (its runners stop at once: everything fails)
    const bool crashed = crash_->dead();  // (the last Save may have crashed during reset)
    crash_->Revive();
    OpenManager();
    auto all = manager_->List();
    if (!crashed) {
      ASSERT_EQ(all.size(), 1u);
      EXPECT_EQ(all[0].record.state, JobState::kDone);
      EXPECT_GT(crashes, 20) << crashes;  // the loop did crash inside the job many times
      return;
    }
    ++crashes;
    ASSERT_LE(all.size(), 1u);
    if (all.empty()) {
      // The crash came before the job was durable: Start failed, nothing changed.
      EXPECT_FALSE(started.ok());
      EXPECT_TRUE(Intact("vs/vm/disk1"));
      EXPECT_TRUE(Intact("vs/vm/disk2"));
      continue;
    }
    id = all[0].record.id;
    const JobStatus st = WaitFinal(id);
    ASSERT_EQ(st.record.state, JobState::kDone) << st.record.error;
    for (const char* f : {"vs/vm/disk1", "vs/vm/disk2"}) {
      EXPECT_TRUE(Gone(f)) << f;
      EXPECT_EQ(LeftoverBlocks(f), 0) << f;
    }
    EXPECT_TRUE(Intact("vs/other/keep"));
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      const std::string name = e.path().filename().string();
      EXPECT_EQ(name.find(".cafs-shred-"), std::string::npos) << e.path();
      EXPECT_FALSE(name.ends_with(".new")) << e.path();
    }
  }
  ADD_FAILURE() << "the job never ran to its end without a crash";
}

// Shred on free: the unlink removes the name at once; the job shreds the pool file and audits
// it; a second name (hard link) is a plain unlink that frees nothing.
TEST_F(ShredJobTest, UnlinkUnderShredOnFreeShredsThePoolFile) {
  OpenManager();
  ShredOnFree on_free(volume_.get(), manager_.get(), kind_);
  ASSERT_TRUE(volume_->Link("vs/vm/disk2", "vs/vm/disk2-link").ok());
  ASSERT_TRUE(on_free.Unlink("vs/vm/disk2-link").ok());
  EXPECT_TRUE(manager_->List().empty()) << "another name keeps the file: nothing freed";
  EXPECT_TRUE(Intact("vs/vm/disk2"));

  ASSERT_TRUE(on_free.Unlink("vs/vm/disk1").ok());
  EXPECT_TRUE(Gone("vs/vm/disk1"));
  auto all = manager_->List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].record.spec.target.type, "freed");
  const JobStatus st = WaitFinal(all[0].record.id);
  ASSERT_EQ(st.record.state, JobState::kDone) << st.record.error;
  EXPECT_EQ(LeftoverBlocks("vs/vm/disk1"), 0);
  EXPECT_TRUE(Intact("vs/vm/disk2"));
  EXPECT_TRUE(Intact("vs/other/keep"));
  const auto ops = AuditOps();
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "shred vm/disk1"), 1);
  EXPECT_EQ(on_free.Unlink("vs/vm/disk1").errno_value(), ENOENT);
}

// A mirrored file under shred on free: the unlink works, and every copy is shredded (a task
// per copy), the mirror log removed, one audit record per copy.
TEST_F(ShredJobTest, UnlinkOfAMirroredFileUnderShredOnFreeShredsEveryCopy) {
  CreateFile("vs/vm/mirrored", /*mirrored=*/true);
  auto loc = volume_->Locate("vs/vm/mirrored");
  ASSERT_TRUE(loc.ok());
  ASSERT_EQ(loc->replicas.size(), 1u);
  EXPECT_EQ(Slurp(root_ / "pool" / loc->pool_path),
            Slurp(root_ / "pool_b" / loc->replicas[0].pool_path));
  {  // written and closed: the log of a file closed cleanly is gone; make one stay (a
     // degraded copy would keep it) by writing while pool_B refuses syncs
    auto of = volume_->OpenExisting("vs/vm/mirrored", Keys());
    ASSERT_TRUE(of.ok());
    fault_->SetSyncFault([](const std::string& p) { return p.find("/pool_b/") != p.npos; });
    ASSERT_TRUE((*of)->file().Write(0, AsBytes(plain_["vs/vm/mirrored"].substr(0, 512))).ok());
    ASSERT_TRUE((*of)->file().Sync().ok());
    fault_->ClearFaults();
  }
  const std::string log_name = ".cafs-mirror-" + loc->guid.ToString();
  ASSERT_TRUE(fs::exists(root_ / "backing" / log_name)) << "a degraded copy keeps its log";
  OpenManager();
  ShredOnFree on_free(volume_.get(), manager_.get(), kind_);
  Status s = on_free.Unlink("vs/vm/mirrored");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Gone("vs/vm/mirrored"));
  auto all = manager_->List();
  ASSERT_EQ(all.size(), 1u);
  const JobStatus st = WaitFinal(all[0].record.id);
  ASSERT_EQ(st.record.state, JobState::kDone) << st.record.error;
  ASSERT_EQ(st.record.tasks.size(), 2u);
  EXPECT_EQ(LeftoverBlocks("vs/vm/mirrored"), 0);
  EXPECT_FALSE(fs::exists(root_ / "pool" / loc->pool_path));
  EXPECT_FALSE(fs::exists(root_ / "pool_b" / loc->replicas[0].pool_path));
  EXPECT_FALSE(fs::exists(root_ / "backing" / log_name));
  for (const char* pool : {"pool", "pool_b"}) {
    for (const auto& e : fs::recursive_directory_iterator(root_ / pool)) {
      EXPECT_EQ(e.path().filename().string().find(".cafs-shred-"), std::string::npos) << e.path();
    }
  }
  const auto ops = AuditOps();
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "shred vm/mirrored"), 2);
  EXPECT_TRUE(Intact("vs/vm/disk1"));
}

// POSIX: an unlinked file stays readable through its open handles; its shred waits for the
// last close, then runs.
TEST_F(ShredJobTest, UnlinkWhileOpenShredsAfterTheLastClose) {
  OpenManager();
  ShredOnFree on_free(volume_.get(), manager_.get(), kind_);
  auto of = volume_->OpenExisting("vs/vm/disk1", Keys());
  ASSERT_TRUE(of.ok());
  ASSERT_TRUE(on_free.Unlink("vs/vm/disk1").ok());
  EXPECT_TRUE(Gone("vs/vm/disk1"));
  auto all = manager_->List();
  ASSERT_EQ(all.size(), 1u);
  const std::string id = all[0].record.id;
  std::string waiting;
  for (int i = 0; i < 500 && waiting.empty(); ++i) {
    auto st = manager_->Get(id);
    ASSERT_TRUE(st.ok());
    ASSERT_FALSE(IsFinal(st->record.state)) << "shredded while open";
    if (!st->tasks.empty()) waiting = st->tasks[0].waiting_for;
    if (waiting.empty()) std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(waiting.find("still open"), std::string::npos) << waiting;
  std::string back(kFileBytes, '\0');
  auto n = (*of)->file().Read(
      0, MutableByteView(reinterpret_cast<std::uint8_t*>(back.data()), back.size()));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(back, plain_["vs/vm/disk1"]);
  of->reset();  // the last close
  const JobStatus st = WaitFinal(id);
  ASSERT_EQ(st.record.state, JobState::kDone) << st.record.error;
  EXPECT_EQ(LeftoverBlocks("vs/vm/disk1"), 0);
}

TEST_F(ShredJobTest, UnlinkUnderShredOnFreeCrashAtEveryDurableStep) {
  int crashes = 0;
  for (int k = 1; k < 400; ++k) {
    SCOPED_TRACE("crash at durable operation " + std::to_string(k));
    if (k > 1) {  // a fresh store and files per crash point
      ASSERT_NO_FATAL_FAILURE(Fresh());
    }
    OpenManager({.step_bytes = 8 * 1024, .default_parallel = 1});
    crash_->Arm(k);
    Status unlinked;
    {
      ShredOnFree on_free(volume_.get(), manager_.get(), kind_);
      unlinked = on_free.Unlink("vs/vm/disk1");
    }
    auto all = manager_->List();
    for (int i = 0; i < 600 && !all.empty() && !crash_->dead(); ++i) {
      auto st = manager_->Wait(all[0].record.id, 10ms);
      if (st.ok() && IsFinal(st->record.state)) break;
    }
    manager_.reset();
    const bool crashed = crash_->dead();
    crash_->Revive();
    OpenManager();
    all = manager_->List();
    EXPECT_TRUE(Intact("vs/vm/disk2"));
    if (!crashed) {
      ASSERT_TRUE(unlinked.ok()) << unlinked.ToString();
      ASSERT_EQ(all.size(), 1u);
      EXPECT_EQ(all[0].record.state, JobState::kDone);
      EXPECT_TRUE(Gone("vs/vm/disk1"));
      EXPECT_EQ(LeftoverBlocks("vs/vm/disk1"), 0);
      EXPECT_GT(crashes, 8) << crashes;
      return;
    }
    ++crashes;
    ASSERT_LE(all.size(), 1u);
    if (all.empty()) {  // the job never became durable: the unlink was refused
      EXPECT_FALSE(unlinked.ok());
      EXPECT_TRUE(Intact("vs/vm/disk1"));
      continue;
    }
    const JobStatus st = WaitFinal(all[0].record.id);
    ASSERT_EQ(st.record.state, JobState::kDone) << st.record.error;
    if (unlinked.ok()) {
      EXPECT_TRUE(Gone("vs/vm/disk1"));
    }
    // Either the name is gone and so is every block of its data, or it was kept intact.
    if (Gone("vs/vm/disk1")) {
      EXPECT_EQ(LeftoverBlocks("vs/vm/disk1"), 0);
    } else {
      EXPECT_TRUE(Intact("vs/vm/disk1"));
    }
    for (const auto& e : fs::recursive_directory_iterator(root_ / "pool")) {
      EXPECT_EQ(e.path().filename().string().find(".cafs-shred-"), std::string::npos) << e.path();
    }
  }
  ADD_FAILURE() << "the unlink never ran to its end without a crash";
}

// Retention (docs/jobs.md "Retention"): the records of finished shred-on-free jobs do not
// pile up for ever. Beyond keep_per_kind, and once older than max_age, done records are
// removed from the store (and from memory); failed and paused jobs are never removed.
TEST_F(ShredJobTest, RecordsOfFinishedShredOnFreeJobsArePruned) {
  for (const char* f : {"vs/vm/disk3", "vs/vm/disk4", "vs/other/busy"}) CreateFile(f);
  JobManagerOptions options{.step_bytes = 16 * 1024, .default_parallel = 1};
  options.retention = {.max_age = 24h * 30, .keep_per_kind = 2};
  OpenManager(options, 100ms);
  // Four shreds on free, done one after the other.
  std::vector<std::string> done;  // oldest first
  {
    ShredOnFree on_free(volume_.get(), manager_.get(), kind_);
    for (const char* f : {"vs/vm/disk1", "vs/vm/disk2", "vs/vm/disk3", "vs/vm/disk4"}) {
      const auto before = manager_->List().size();
      ASSERT_TRUE(on_free.Unlink(f).ok());
      auto all = manager_->List();
      ASSERT_EQ(all.size(), before + 1);
      const std::string id = all.back().record.id;
      ASSERT_EQ(WaitFinal(id).record.state, JobState::kDone);
      done.push_back(id);
      std::this_thread::sleep_for(2ms);  // distinct finished_ms
    }
  }
  // A failed job (its file stays open) and a paused one: not finished for good.
  auto busy_handle = volume_->OpenExisting("vs/other/busy", Keys());
  ASSERT_TRUE(busy_handle.ok());
  auto failed = manager_->Start(ShredSpec("file", "/vs/other/busy"));
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(WaitFinal(failed->record.id).record.state, JobState::kFailed);
  auto paused = manager_->Start(ShredSpec("file", "/vs/other/keep", /*rate=*/4096));
  ASSERT_TRUE(paused.ok());
  ASSERT_TRUE(manager_->Pause(paused->record.id).ok());
  ASSERT_EQ(WaitFinal(paused->record.id).record.state, JobState::kPaused);

  const auto records_on_disk = [&] {
    std::set<std::string> ids;
    for (const auto& e : fs::directory_iterator(root_ / "backing")) {
      const std::string name = e.path().filename().string();
      if (name.rfind(JobStore::kPrefix, 0) == 0) ids.insert(name.substr(JobStore::kPrefix.size()));
    }
    return ids;
  };
  ASSERT_EQ(records_on_disk().size(), 6u);
  const auto now = std::chrono::system_clock::now();
  // The count rule: the two newest done records stay.
  auto pruned = manager_->PruneFinished(now);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 2u);
  EXPECT_EQ(records_on_disk(),
            (std::set<std::string>{done[2], done[3], failed->record.id, paused->record.id}));
  EXPECT_TRUE(manager_->Get(done[0]).status().IsNotFound());
  EXPECT_EQ(*manager_->PruneFinished(now), 0u) << "nothing more to prune";
  // The age rule, a crash at each durable step of the removal (a remove, the directory
  // sync): each record is there or gone after the restart, and the next prune finishes.
  const auto later = now + 24h * 31;
  for (int k = 1;; ++k) {
    SCOPED_TRACE("crash at durable operation " + std::to_string(k));
    ASSERT_LT(k, 10) << "the prune never ran without a crash";
    if (records_on_disk().size() < 4) {  // two done records again: two more shreds on free
      for (const char* f : {"vs/vm/again1", "vs/vm/again2"}) {
        CreateFile(f);
        ShredOnFree on_free(volume_.get(), manager_.get(), kind_);
        ASSERT_TRUE(on_free.Unlink(f).ok());
      }
      for (const auto& st : manager_->List()) {
        if (st.record.spec.target.type == "freed") WaitFinal(st.record.id);
      }
      ASSERT_EQ(records_on_disk().size(), 4u);
    }
    crash_->Arm(k);
    auto crashed_prune = manager_->PruneFinished(later);
    const bool crashed = crash_->dead();
    manager_.reset();
    crash_->Revive();
    OpenManager(options, 100ms);  // the restart (its own prune runs at today's date)
    EXPECT_TRUE(records_on_disk().contains(failed->record.id));
    EXPECT_TRUE(records_on_disk().contains(paused->record.id));
    if (!crashed) {
      ASSERT_TRUE(crashed_prune.ok()) << crashed_prune.status().ToString();
      EXPECT_EQ(*crashed_prune, 2u);
      EXPECT_GT(k, 2) << "the prune never crashed";
      break;
    }
    EXPECT_FALSE(crashed_prune.ok());
    auto again = manager_->PruneFinished(later);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(records_on_disk(), (std::set<std::string>{failed->record.id, paused->record.id}));
  }
  // Failed and paused jobs are never pruned, however old; they survive a restart as they were.
  EXPECT_EQ(records_on_disk(), (std::set<std::string>{failed->record.id, paused->record.id}));
  auto st = manager_->Get(failed->record.id);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kFailed);
  st = manager_->Get(paused->record.id);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kPaused);
  EXPECT_EQ(manager_->List().size(), 2u);
}

// Truncate down under shred on free, with a crash at every durable step of the truncate and
// the sync that makes it durable.
TEST_F(ShredJobTest, TruncateWithShredFreedCrashAtEveryDurableStep) {
  constexpr std::uint64_t kNewSize = 2 * kBlock + 100;  // sector 2 keeps 100 bytes
  const std::string rel = "vs/vm/disk1";
  for (int k = 1; k < 100; ++k) {
    SCOPED_TRACE("crash at durable operation " + std::to_string(k));
    if (k > 1) {  // a fresh store and files per crash point
      ASSERT_NO_FATAL_FAILURE(Fresh());
    }
    // The ciphertext blocks of the sectors the truncate frees or rewrites (2..7).
    auto loc = volume_->Locate(rel);
    ASSERT_TRUE(loc.ok());
    const std::string raw = Slurp(root_ / "pool" / loc->pool_path);
    std::set<std::string> freed;
    for (std::size_t off = kBlock + 2 * kBlock; off < raw.size(); off += kBlock) {
      freed.insert(raw.substr(off, kBlock));
    }
    blocks_[rel] = freed;
    crash_->Arm(k);
    Status s;
    {
      auto of = volume_->OpenExisting(rel, Keys());
      ASSERT_TRUE(of.ok());
      (*of)->file().SetShredFreed(true);
      s = (*of)->file().Truncate(kNewSize);
      if (s.ok()) s = (*of)->file().Sync();
    }
    const bool crashed = crash_->dead();
    crash_->Revive();
    auto of = volume_->OpenExisting(rel, Keys());
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    const std::uint64_t size = (*of)->file().Size();
    std::string back(size, '\0');
    auto n = (*of)->file().Read(
        0, MutableByteView(reinterpret_cast<std::uint8_t*>(back.data()), back.size()));
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, size);
    const std::string& orig = plain_[rel];
    if (size == kNewSize) {
      EXPECT_EQ(back, orig.substr(0, kNewSize));
      EXPECT_EQ(LeftoverBlocks(rel), 0) << "the new size is durable: no freed block may remain";
    } else {
      ASSERT_EQ(size, kFileBytes) << "neither the old size nor the new one";
      for (std::size_t off = 0; off < size; off += kBlock) {
        const std::string got = back.substr(off, kBlock);
        const std::string want = orig.substr(off, kBlock);
        const bool zeros = got == std::string(got.size(), '\0');
        // The new last sector may hold its truncated form (its tail zeroed: the write the
        // truncate made, synced with the cleared range) -- the "new" state of that sector.
        const std::size_t keep = kNewSize - 2 * kBlock;
        const bool truncated =
            off == 2 * kBlock && got == orig.substr(off, keep) + std::string(kBlock - keep, '\0');
        EXPECT_TRUE(got == want || truncated || (off > 2 * kBlock && zeros))
            << "sector " << off / kBlock;
      }
    }
    if (!crashed) {
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(size, kNewSize);
      EXPECT_GT(k, 2) << "the truncate never crashed";
      return;
    }
  }
  ADD_FAILURE() << "the truncate never ran to its end without a crash";
}

}  // namespace
}  // namespace cafs::jobs
