// The deep rekey job kind on the JobManager over a real Gateway + Volume (temp backing store,
// PosixPool, LocalKeyProvider with the seed's VM set and policy):
//  - a VM set is rekeyed from key version 1 to 2 while one thread per file writes and reads
//    it through Gateway handles (the same shared OpenFile the job rekeys): every read matches
//    the writer's model, the files read back whole, and every pool file header names only
//    version 2 afterwards; each file is audited;
//  - bad input: a key of no VM set, a key of ANOTHER VM set, a destroyed, a pre-active
//    (as kpsd reports it) and an unknown version, a target equal to the current version, an
//    unsupported target type: clear errors, nothing changed;
//  - mid-job faults: the pool fills up (FaultInjectionEnv: ENOSPC like a full disk), the key
//    server becomes unreachable (the key directory gone, the cache's grace over): the job
//    fails with the cause in its error, nothing is lost (while the pool is full a file
//    caught mid-rekey cannot be opened: ENOSPC; every file reads back whole once the
//    cause is gone), and `resume` then completes the job with every file under version 2;
//  - policy-driven conversion: the seed's clear-text vobj gets a key; the policy cache's
//    refresh starts a conversion job that encrypts the existing clear-text file online while
//    a thread writes and reads it; the file ends under the key (XTS), reads back whole, and
//    no plaintext block is left in its pool file; the encrypted files are left alone;
//  - restart mid-job: the manager and the whole gateway stop while files are mid-rekey (the
//    job is rate-limited so it cannot finish first); a mid-rekey file opens and reads through
//    the restarted Gateway; the job resumes and completes with the data intact.
#include "jobs/rekey_job.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "audit/audit_log.h"
#include "cafs/gateway.h"
#include "cafs/key_provider.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "format/header_codec.h"
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

constexpr char kServer[] = "755083456";
constexpr char kOsdiskKey[] = "062b9056-bf64-11df-8d3e-000c29abeb4d";
constexpr char kVmSet[] = "my_vmset";
constexpr std::size_t kFileBytes = 192 * 1024;
constexpr std::size_t kBlock = 4096;
// The third name has NAME_MAX bytes: stored as a long name (docs/redirectors.md "Long names"),
// found by the job's walk under its full name.
const std::vector<std::string> kFiles = {"/my_vmset/vm1/osdisk1.vmdk", "/my_vmset/vm1/osdisk2.vmdk",
                                         "/my_vmset/vm2/osdisk3" + std::string(243, 'l') + ".vmdk"};

// Wed 2026-11-18 10:00 UTC: inside the seed policy's Mon-Fri(9am-5pm).
Clock::TimePoint Weekday10am() {
  return std::chrono::sys_days{std::chrono::year{2026} / 11 / 18} + 10h;
}

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string RandomKeyHex() {
  Bytes key(64);
  EXPECT_TRUE(crypto::RandomBytes(key).ok());
  return ToHex(key);
}

std::string RandomData(std::size_t n) {
  std::string data(n, '\0');
  EXPECT_TRUE(
      crypto::RandomBytes(MutableByteView(reinterpret_cast<std::uint8_t*>(data.data()), n)).ok());
  return data;
}

MutableByteView View(std::string& s) {
  return MutableByteView(reinterpret_cast<std::uint8_t*>(s.data()), s.size());
}

// The key server's view of key versions the local directory cannot state: what kpsd reports
// in `unusable` (e.g. "pre-active") added to the real LocalKeyProvider's bundle.
class KeyStates final : public core::KeyProvider {
 public:
  explicit KeyStates(core::KeyProvider* inner) : inner_(inner) {}
  void Set(const core::KeyId& id, std::string state) {
    std::lock_guard lock(mu_);
    states_[id] = std::move(state);
  }
  Result<core::VmSetBundle> FetchVmSet(const std::string& vmset_name) override {
    CAFS_ASSIGN_OR_RETURN(core::VmSetBundle bundle, inner_->FetchVmSet(vmset_name));
    std::lock_guard lock(mu_);
    for (const auto& [id, state] : states_) {
      bundle.keys.erase(id);
      bundle.unusable[id] = state;
    }
    return bundle;
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  core::KeyProvider* const inner_;
  std::mutex mu_;
  std::map<core::KeyId, std::string> states_;  // guarded by mu_
};

class RekeyJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = env::testing::ModelledDurabilityTmpBase() + "/cafs-rekey-job-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "backing");
    fs::create_directories(root_ / "pools/mirrored_pool_A");
    fs::create_directories(root_ / "pools/default_pool");
    fs::create_directories(root_ / "keys" / kVmSet);
    WriteFile(root_ / "keys" / kVmSet / "vmset.xml", policy::seed_examples::kSeedVmSet);
    WriteFile(root_ / "keys" / kVmSet / "policy.xml", policy::seed_examples::kSeedVobjList);
    keys_text_ = std::string(kOsdiskKey) + " 1 " + RandomKeyHex() + "\n";
    WriteFile(root_ / "keys" / kVmSet / "keys", keys_text_);
    Start();
    for (const char* dir : {"/my_vmset", "/my_vmset/vm1", "/my_vmset/vm2"}) {
      ASSERT_TRUE(gw_->MakeDir(caller_, dir, 0755).ok());
    }
    for (const auto& path : kFiles) {
      model_[path] = RandomData(kFileBytes);
      auto created = gw_->Create(caller_, path, 0644, true);
      ASSERT_TRUE(created.ok()) << created.status().ToString();
      ASSERT_TRUE(gw_->Write(caller_, created->handle, 0, AsBytes(model_[path])).ok());
      ASSERT_TRUE(gw_->Release(caller_, created->handle).ok());
      ASSERT_EQ(HeaderOf(path).key_version, 1u);
    }
    // `cafsctl key rotate`: version 2 is issued (and current); the files stay under 1.
    keys_text_ += std::string(kOsdiskKey) + " 2 " + RandomKeyHex() + "\n";
    WriteFile(root_ / "keys" / kVmSet / "keys", keys_text_);
    cache_->Invalidate(kVmSet);
  }

  void TearDown() override {
    Stop();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // The gateway stack (what cafsd builds), without the job manager.
  void Start() {
    pools_ = std::make_unique<pool::PoolMapper>();
    pool_env_ = std::make_unique<env::FaultInjectionEnv>(env::Env::Default());
    for (const char* name : {"mirrored_pool_A", "default_pool"}) {
      ASSERT_TRUE(pools_
                      ->Add(std::make_unique<pool::PosixPool>(
                          name, (root_ / "pools" / name).string(), pool_env_.get()))
                      .ok());
    }
    provider_ = std::make_unique<core::LocalKeyProvider>((root_ / "keys").string());
    states_ = std::make_unique<KeyStates>(provider_.get());
    cache_ = std::make_unique<core::PolicyCache>(
        states_.get(), &clock_, core::PolicyCacheOptions{.ttl = 30s, .grace = 10min});
    auto volume = core::Volume::Open((root_ / "backing").string(), pools_.get());
    ASSERT_TRUE(volume.ok()) << volume.status().ToString();
    volume_ = std::move(*volume);
    auto log = audit::AuditLog::Open((root_ / "audit.log").string(),
                                     audit::AuditLogOptions{.sync_every_record = false});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
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
    states_.reset();
    provider_.reset();
    pools_.reset();
    pool_env_.reset();
  }

  // `rekey_rate`: the rekey kind's default rate limit (0: unlimited).
  void OpenManager(JobManagerOptions options = {.step_bytes = 16 * 1024, .default_parallel = 2},
                   std::uint64_t rekey_rate = 0) {
    const JobAuditor auditor(audit_.get(), &clock_, 1);
    auto m = JobManager::Open(env::Env::Default(), (root_ / "backing").string(), auditor, options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    manager_->RegisterKind(
        std::make_unique<RekeyJob>(volume_.get(), cache_.get(), /*position=*/1, auditor),
        rekey_rate);
    manager_->ResumeAll();
  }

  static JobSpec RekeySpec(const std::string& type, const std::string& path, nlohmann::json params,
                           std::uint64_t rate = 0) {
    JobSpec spec;
    spec.kind = "rekey";
    spec.target.type = type;
    spec.target.path = path;
    spec.params = std::move(params);
    spec.rate_limit_bps = rate;
    spec.requested_by = "test";
    return spec;
  }

  // The pool file header of a gateway path, parsed without the key.
  format::Header HeaderOf(const std::string& path) {
    auto loc = volume_->Locate(path.substr(1));
    EXPECT_TRUE(loc.ok()) << loc.status().ToString();
    if (!loc.ok()) return {};
    std::ifstream in(root_ / "pools" / loc->pool / loc->pool_path, std::ios::binary);
    std::vector<std::uint8_t> raw(format::kHeaderSize);
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
    raw.resize(static_cast<std::size_t>(in.gcount()));
    auto hdr = format::ParseHeaderUnverified(raw);
    EXPECT_TRUE(hdr.ok()) << hdr.status().ToString();
    return hdr.ok() ? *hdr : format::Header{};
  }

  std::string ReadAll(const std::string& path) {
    auto opened = gw_->Open(caller_, path, false);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) return {};
    std::string out(opened->attr.size, '\0');
    auto n = gw_->Read(caller_, opened->handle, 0, View(out));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_TRUE(gw_->Release(caller_, opened->handle).ok());
    return out;
  }

  struct IoCounts {
    std::atomic<int> mismatches{0}, errors{0}, ops{0};
  };
  // Writes random blocks and reads random blocks of `path` through its own Gateway handle,
  // checking every read against model_[path], until `stop` (at least 64 operations, so a
  // quick job still overlaps some; at most 20000).
  void WriteAndVerify(const std::string& path, unsigned seed, const std::atomic<bool>& stop,
                      IoCounts& io) {
    std::string& model = model_[path];
    auto opened = gw_->Open(caller_, path, false);
    if (!opened.ok()) {
      ++io.errors;
      return;
    }
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> block(0, kFileBytes / kBlock - 1);
    for (int round = 0; round < 20000 && (round < 64 || !stop.load()); ++round) {
      const std::size_t off = block(rng) * kBlock;
      if (round % 2 == 0) {
        std::string data = RandomData(kBlock);
        if (!gw_->Write(caller_, opened->handle, off, AsBytes(data)).ok()) ++io.errors;
        model.replace(off, kBlock, data);
      } else {
        std::string back(kBlock, '\0');
        auto n = gw_->Read(caller_, opened->handle, off, View(back));
        if (!n.ok() || *n != kBlock) {
          ++io.errors;
        } else if (back != model.substr(off, kBlock)) {
          ++io.mismatches;
        }
      }
      ++io.ops;
    }
    if (!gw_->Release(caller_, opened->handle).ok()) ++io.errors;
  }

  // Until some bytes of job `id` are done (bounded: 30 s).
  void WaitForProgress(const std::string& id) {
    for (int i = 0; i < 3000; ++i) {
      auto st = manager_->Get(id);
      ASSERT_TRUE(st.ok());
      std::uint64_t done = 0;
      for (const auto& t : st->record.tasks) done += t.done;
      if (done > 0) return;
      std::this_thread::sleep_for(10ms);
    }
    FAIL() << "job " << id << " made no progress";
  }

  // Every file reads back exactly as written (parts of it may be under either version).
  void ExpectNothingLost() {
    for (const auto& path : kFiles) EXPECT_TRUE(ReadAll(path) == model_[path]) << path;
  }

  // While the pool is full: every file reads back exactly as written, or (a file caught
  // mid-rekey: opening it rolls its hotzone forward, which writes) its open fails with
  // ENOSPC. Never wrong data.
  void ExpectReadableOrNoSpace() {
    for (const auto& path : kFiles) {
      auto opened = gw_->Open(caller_, path, false);
      if (!opened.ok()) {
        EXPECT_EQ(opened.status().errno_value(), ENOSPC) << opened.status().ToString();
        continue;
      }
      std::string out(opened->attr.size, '\0');
      auto n = gw_->Read(caller_, opened->handle, 0, View(out));
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      EXPECT_TRUE(out == model_[path]) << path;
      EXPECT_TRUE(gw_->Release(caller_, opened->handle).ok());
    }
  }

  void ExpectAllUnderVersion2() {
    for (const auto& path : kFiles) {
      const format::Header hdr = HeaderOf(path);
      EXPECT_EQ(hdr.key_version, 2u) << path;
      EXPECT_EQ(hdr.rekey.state, format::kRekeyNone) << path;
      EXPECT_TRUE(ReadAll(path) == model_[path]) << path << " does not read back as written";
    }
  }

  fs::path root_;
  ManualClock clock_{Weekday10am()};
  core::Caller caller_{kServer, static_cast<std::uint32_t>(::getuid()),
                       static_cast<std::uint32_t>(::getgid())};
  std::string keys_text_;
  std::map<std::string, std::string> model_;          // gateway path -> expected contents
  std::unique_ptr<env::FaultInjectionEnv> pool_env_;  // the pools' (faults: a full disk)
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<core::LocalKeyProvider> provider_;
  std::unique_ptr<KeyStates> states_;
  std::unique_ptr<core::PolicyCache> cache_;
  std::unique_ptr<core::Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<JobManager> manager_;
};

TEST_F(RekeyJobTest, RekeysAVmSetWhileItsFilesAreWrittenAndRead) {
  OpenManager();
  // Rate-limited so that the rekey overlaps the foreground I/O for a while (~2 s).
  auto started = manager_->Start(RekeySpec("vmset", "/my_vmset", {{"to_version", 2}}, 256 * 1024));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  // One thread per file: writes random blocks and reads random blocks through its own
  // Gateway handle, checking every read against its model, until the job ended.
  std::atomic<bool> stop{false};
  IoCounts io;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kFiles.size(); ++i) {
    threads.emplace_back(
        [&, i] { WriteAndVerify(kFiles[i], static_cast<unsigned>(i) + 1, stop, io); });
  }
  auto st = manager_->Wait(started->record.id, 120s);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  ASSERT_EQ(st->record.tasks.size(), kFiles.size());
  for (const auto& t : st->record.tasks) {
    EXPECT_EQ(t.state, TaskState::kDone) << t.path << ": " << t.error;
    EXPECT_EQ(t.done, t.total) << t.path;
  }
  EXPECT_EQ(io.errors.load(), 0);
  EXPECT_EQ(io.mismatches.load(), 0);
  EXPECT_GT(io.ops.load(), 0);
  ExpectAllUnderVersion2();
  // Each file audited as rekeyed.
  auto records = audit::ReadAuditLog((root_ / "audit.log").string());
  ASSERT_TRUE(records.ok());
  int rekeyed = 0;
  for (const auto& r : *records) rekeyed += r.op == "rekey" ? 1 : 0;
  EXPECT_EQ(rekeyed, static_cast<int>(kFiles.size()));
  // Rekeying again to the same version: nothing to do is an error, not a silent success.
  auto again = manager_->Start(RekeySpec("vmset", "/my_vmset", {{"to_version", 2}}));
  ASSERT_TRUE(again.ok());
  auto again_st = manager_->Wait(again->record.id, 60s);
  ASSERT_TRUE(again_st.ok());
  EXPECT_EQ(again_st->record.state, JobState::kFailed);
  EXPECT_NE(again_st->record.error.find("already under key version 2"), std::string::npos)
      << again_st->record.error;
}

TEST_F(RekeyJobTest, PolicyChangeConvertsAClearFileOnlineInTheBackground) {
  const std::string clear_path = "/my_vmset/vm1/notes.img";
  model_[clear_path] = RandomData(kFileBytes);
  {
    auto created = gw_->Create(caller_, clear_path, 0644, true);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    ASSERT_TRUE(gw_->Write(caller_, created->handle, 0, AsBytes(model_[clear_path])).ok());
    ASSERT_TRUE(gw_->Release(caller_, created->handle).ok());
  }
  ASSERT_EQ(HeaderOf(clear_path).cipher, crypto::CipherId::kNone);
  // The kind's default rate (128 KiB/s, what cafsd's [jobs] rekey_rate sets) applies to the
  // job the policy change starts: slow enough that it overlaps the writer below.
  OpenManager({.step_bytes = 16 * 1024, .default_parallel = 2}, 128 * 1024);
  cache_->SetPlacementObserver([this](const std::string& vmset, core::PlacementChange change) {
    EXPECT_EQ(change, (core::PlacementChange{.keys = true, .pools = false}));
    StartPolicyConversion(*manager_, vmset, change);
  });
  // The administrator gives the default vobj a key: its clear-text files must be encrypted.
  std::string policy = policy::seed_examples::kSeedVobjList;
  const std::string clear_key = "01010101-0101-0101-0101-010101010101";
  policy.replace(policy.find(clear_key), clear_key.size(), kOsdiskKey);
  WriteFile(root_ / "keys" / kVmSet / "policy.xml", policy);
  cache_->Invalidate(kVmSet);
  // A writer and reader on the clear file through the gateway while the job runs.
  std::atomic<bool> stop{false};
  IoCounts io;
  // Its Open refreshes the cache: the trigger.
  std::thread writer([&] { WriteAndVerify(clear_path, 7, stop, io); });
  // The job the refresh started (bounded wait for it to appear).
  std::string id;
  for (int i = 0; i < 300 && id.empty(); ++i) {
    for (const auto& st : manager_->List()) {
      if (st.record.spec.requested_by == kPolicyConversionRequester) id = st.record.id;
    }
    if (id.empty()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(id.empty()) << "no conversion job was started by the policy change";
  auto st = manager_->Wait(id, 120s);
  stop = true;
  writer.join();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  EXPECT_EQ(st->record.spec.rate_limit_bps, 128u * 1024);
  ASSERT_EQ(st->record.tasks.size(), 1u);  // the osdisk files already have their vobj's key
  EXPECT_EQ(st->record.tasks[0].path, clear_path);
  EXPECT_EQ(io.errors.load(), 0);
  EXPECT_EQ(io.mismatches.load(), 0);
  EXPECT_GT(io.ops.load(), 0);
  const format::Header hdr = HeaderOf(clear_path);
  EXPECT_EQ(hdr.key_guid.ToString(), kOsdiskKey);
  EXPECT_EQ(hdr.key_version, 2u);  // the key's current version
  EXPECT_EQ(hdr.cipher, crypto::CipherId::kAes256Xts);
  EXPECT_EQ(hdr.rekey.state, format::kRekeyNone);
  const std::string& model = model_[clear_path];
  EXPECT_TRUE(ReadAll(clear_path) == model) << "the converted file does not read back";
  // No 4 KiB block of the plaintext is left in the pool file.
  auto loc = volume_->Locate(clear_path.substr(1));
  ASSERT_TRUE(loc.ok());
  std::ifstream in(root_ / "pools" / loc->pool / loc->pool_path, std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t off = 0; off < kFileBytes; off += kBlock) {
    EXPECT_EQ(raw.find(model.substr(off, kBlock)), std::string::npos) << "plaintext at " << off;
  }
  for (const auto& path : kFiles) EXPECT_EQ(HeaderOf(path).key_version, 1u) << path;
  // The same policy again changes nothing: no new job.
  cache_->Invalidate(kVmSet);
  EXPECT_FALSE(ReadAll(clear_path).empty());
  int jobs = 0;
  for (const auto& j : manager_->List()) {
    jobs += j.record.spec.requested_by == kPolicyConversionRequester ? 1 : 0;
  }
  EXPECT_EQ(jobs, 1);
}

TEST_F(RekeyJobTest, RefusesBadTargetsWithClearErrors) {
  OpenManager();
  auto other_key = manager_->Start(
      RekeySpec("file", kFiles[0], {{"to_version", 1}, {"to_key", Uuid::Random().ToString()}}));
  ASSERT_FALSE(other_key.ok());
  EXPECT_EQ(other_key.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(other_key.status().message().find("is not a key of VM set my_vmset"), std::string::npos)
      << other_key.status().ToString();

  auto unknown = manager_->Start(
      RekeySpec("vm", "/my_vmset/vm1", {{"to_version", 7}, {"to_key", kOsdiskKey}}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("destroyed or unknown"), std::string::npos)
      << unknown.status().ToString();

  auto no_version = manager_->Start(RekeySpec("file", kFiles[0], nlohmann::json::object()));
  EXPECT_EQ(no_version.status().code(), Status::Code::kInvalidArgument);
  auto bad_type = manager_->Start(RekeySpec("pool", "/my_vmset", {{"to_version", 2}}));
  EXPECT_EQ(bad_type.status().code(), Status::Code::kNotSupported);

  auto same = manager_->Start(RekeySpec("file", kFiles[0], {{"to_version", 1}}));
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  auto st = manager_->Wait(same->record.id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kFailed);
  EXPECT_NE(st->record.error.find("already under key version 1"), std::string::npos)
      << st->record.error;
  for (const auto& path : kFiles) EXPECT_EQ(HeaderOf(path).key_version, 1u);
}

TEST_F(RekeyJobTest, KeyVersionTargetPicksOnlyFilesUnderThatVersion) {
  OpenManager();
  // osdisk1 to version 2 first; then "every file under K version 1" leaves it out.
  auto one = manager_->Start(RekeySpec("file", kFiles[0], {{"to_version", 2}}));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  auto one_st = manager_->Wait(one->record.id, 60s);
  ASSERT_TRUE(one_st.ok());
  ASSERT_EQ(one_st->record.state, JobState::kDone) << one_st->record.error;
  EXPECT_EQ(HeaderOf(kFiles[0]).key_version, 2u);
  EXPECT_EQ(HeaderOf(kFiles[1]).key_version, 1u);

  JobSpec spec = RekeySpec("key-version", "/my_vmset", {{"to_version", 2}});
  spec.target.key = kOsdiskKey;
  spec.target.version = 1;
  auto rest = manager_->Start(spec);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  auto st = manager_->Wait(rest->record.id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  EXPECT_EQ(st->record.tasks.size(), kFiles.size() - 1);
  ExpectAllUnderVersion2();
}

// Two rotations while the VM keeps its disk open: the second deep rekey runs on the same open
// file the first one finished on (the front-ends and the jobs share one open file per inode),
// and must not need the VM to close it. The handle reads and writes throughout.
TEST_F(RekeyJobTest, TwoRotationsWhileTheVmKeepsItsFileOpen) {
  OpenManager();
  const std::string& path = kFiles[0];
  auto opened = gw_->Open(caller_, path, false);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const auto rekey_to = [&](unsigned version) {
    auto job = manager_->Start(RekeySpec("file", path, {{"to_version", version}}));
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    auto st = manager_->Wait(job->record.id, 60s);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
    std::string data = RandomData(kBlock);
    ASSERT_TRUE(gw_->Write(caller_, opened->handle, kBlock * version, AsBytes(data)).ok());
    model_[path].replace(kBlock * version, kBlock, data);
    std::string back(model_[path].size(), '\0');
    auto n = gw_->Read(caller_, opened->handle, 0, View(back));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_TRUE(back == model_[path]) << "version " << version;
  };
  rekey_to(2);
  keys_text_ += std::string(kOsdiskKey) + " 3 " + RandomKeyHex() + "\n";
  WriteFile(root_ / "keys" / kVmSet / "keys", keys_text_);
  cache_->Invalidate(kVmSet);
  rekey_to(3);
  ASSERT_TRUE(gw_->Release(caller_, opened->handle).ok());
  EXPECT_EQ(HeaderOf(path).key_version, 3u);
  EXPECT_EQ(HeaderOf(path).rekey.state, format::kRekeyNone);
  EXPECT_TRUE(ReadAll(path) == model_[path]);
}

// A file left mid-rekey to version 2 (the job was cancelled) and then rekeyed to version 3:
// the job finishes the rekey to 2 first, then rekeys to 3 (docs/jobs.md "Deep rekey"). The same
// happens to a file restored from a replica cut during a deep rekey (docs/replicas.md).
TEST_F(RekeyJobTest, AFileMidRekeyToAnotherTargetIsFinishedFirstThenRekeyed) {
  OpenManager({.step_bytes = 8 * 1024, .default_parallel = 1});
  const std::string& path = kFiles[0];
  auto first = manager_->Start(RekeySpec("file", path, {{"to_version", 2}}, 64 * 1024));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  WaitForProgress(first->record.id);
  ASSERT_TRUE(manager_->Cancel(first->record.id).ok());
  auto cancelled = manager_->Wait(first->record.id, 60s);
  ASSERT_TRUE(cancelled.ok());
  ASSERT_EQ(cancelled->record.state, JobState::kCancelled) << cancelled->record.error;
  ASSERT_EQ(HeaderOf(path).rekey.state, format::kRekeyInProgress) << "not left mid-rekey";
  ASSERT_EQ(HeaderOf(path).rekey.target_key_version, 2u);

  keys_text_ += std::string(kOsdiskKey) + " 3 " + RandomKeyHex() + "\n";
  WriteFile(root_ / "keys" / kVmSet / "keys", keys_text_);
  cache_->Invalidate(kVmSet);
  auto second = manager_->Start(RekeySpec("file", path, {{"to_version", 3}}));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto st = manager_->Wait(second->record.id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  const format::Header hdr = HeaderOf(path);
  EXPECT_EQ(hdr.key_version, 3u);
  EXPECT_EQ(hdr.rekey.state, format::kRekeyNone);
  EXPECT_TRUE(ReadAll(path) == model_[path]);
}

TEST_F(RekeyJobTest, ResumesAfterARestartMidJob) {
  // 192 KiB/s over 3 x 192 KiB, two files at once: a file needs more than a second after
  // the job's first bytes, so the gateway stops (10 ms after those) with files mid-rekey;
  // the whole job lasts about 3 s.
  OpenManager({.step_bytes = 8 * 1024, .default_parallel = 2});
  auto started = manager_->Start(RekeySpec("vmset", "/my_vmset", {{"to_version", 2}}, 192 * 1024));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::string id = started->record.id;
  // Until some bytes are done (bounded: 30 s).
  for (int i = 0; i < 3000; ++i) {
    auto st = manager_->Get(id);
    ASSERT_TRUE(st.ok());
    std::uint64_t done = 0;
    for (const auto& t : st->record.tasks) done += t.done;
    if (done > 0) break;
    std::this_thread::sleep_for(10ms);
  }
  Stop();  // the manager (records say running), then the whole gateway
  int mid = 0;
  Start();
  for (const auto& path : kFiles) {
    mid += HeaderOf(path).rekey.state == format::kRekeyInProgress ? 1 : 0;
  }
  EXPECT_GT(mid, 0) << "no file was caught mid-rekey";
  // A file caught mid-rekey opens and reads through the restarted gateway (Volume passes the
  // rekey target's DEK from the header) before the job resumes.
  for (const auto& path : kFiles) {
    EXPECT_TRUE(ReadAll(path) == model_[path]) << path;
  }
  OpenManager();  // ResumeAll; no rate limit change: the record keeps it
  auto st = manager_->Wait(id, 120s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  ExpectAllUnderVersion2();
}

TEST_F(RekeyJobTest, RefusesKeysOfOtherVmSetsAndUnusableVersions) {
  // Another VM set with its own key, known to the same key server.
  const std::string other_key = Uuid::Random().ToString();
  fs::create_directories(root_ / "keys" / "other_vmset");
  std::string other_xml(policy::seed_examples::kSeedVmSet);
  other_xml.replace(other_xml.find("my_vmset"), 8, "other_vmset");
  WriteFile(root_ / "keys" / "other_vmset" / "vmset.xml", other_xml);
  WriteFile(root_ / "keys" / "other_vmset" / "policy.xml", policy::seed_examples::kSeedVobjList);
  WriteFile(root_ / "keys" / "other_vmset" / "keys", other_key + " 1 " + RandomKeyHex() + "\n");
  ASSERT_TRUE(provider_->FetchVmSet("other_vmset").ok());
  // Version 3 destroyed, version 4 pre-active (kpsd's state; the local directory has none).
  keys_text_ += std::string(kOsdiskKey) + " 3 destroyed\n";
  WriteFile(root_ / "keys" / kVmSet / "keys", keys_text_);
  const Uuid osdisk_key = *Uuid::Parse(kOsdiskKey);
  states_->Set({osdisk_key, 4}, "pre-active");
  cache_->Invalidate(kVmSet);
  OpenManager();

  auto cross =
      manager_->Start(RekeySpec("file", kFiles[0], {{"to_version", 1}, {"to_key", other_key}}));
  ASSERT_FALSE(cross.ok());
  EXPECT_EQ(cross.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(cross.status().message().find("is not a key of VM set my_vmset"), std::string::npos)
      << cross.status().ToString();

  auto destroyed = manager_->Start(
      RekeySpec("vm", "/my_vmset/vm1", {{"to_version", 3}, {"to_key", kOsdiskKey}}));
  ASSERT_FALSE(destroyed.ok());
  EXPECT_EQ(destroyed.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(destroyed.status().message().find("version 3 is destroyed in VM set my_vmset"),
            std::string::npos)
      << destroyed.status().ToString();

  auto pre_active =
      manager_->Start(RekeySpec("file", kFiles[0], {{"to_version", 4}, {"to_key", kOsdiskKey}}));
  ASSERT_FALSE(pre_active.ok());
  EXPECT_EQ(pre_active.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(pre_active.status().message().find("version 4 is pre-active in VM set my_vmset"),
            std::string::npos)
      << pre_active.status().ToString();
  // Without to_key (each file's own key): a version no key has usable.
  auto own_key = manager_->Start(RekeySpec("vmset", "/my_vmset", {{"to_version", 4}}));
  ASSERT_FALSE(own_key.ok());
  EXPECT_NE(own_key.status().message().find("has version 4"), std::string::npos)
      << own_key.status().ToString();

  EXPECT_TRUE(manager_->List().empty()) << "a refused start left a job";
  for (const auto& path : kFiles) EXPECT_EQ(HeaderOf(path).key_version, 1u);
  ExpectNothingLost();
}

TEST_F(RekeyJobTest, PoolFullMidJobFailsClearlyAndResumes) {
  OpenManager({.step_bytes = 16 * 1024, .default_parallel = 1});
  auto started = manager_->Start(RekeySpec("vmset", "/my_vmset", {{"to_version", 2}}, 256 * 1024));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::string id = started->record.id;
  WaitForProgress(id);
  pool_env_->FailWritesAfter(0);  // the pool's disk is full from now on
  auto st = manager_->Wait(id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kFailed) << st->record.error;
  EXPECT_NE(st->record.error.find("errno 28"), std::string::npos) << st->record.error;
  ExpectReadableOrNoSpace();
  // Still full: a resume fails again, with the same cause.
  ASSERT_TRUE(manager_->Resume(id).ok());
  st = manager_->Wait(id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kFailed) << st->record.error;
  ExpectReadableOrNoSpace();
  pool_env_->ClearWriteLimit();  // space freed: every file reads back whole
  ExpectNothingLost();
  auto resumed = manager_->Resume(id);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  st = manager_->Wait(id, 120s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  ExpectAllUnderVersion2();
}

TEST_F(RekeyJobTest, KeyServerUnreachableMidJobFailsClearlyAndResumes) {
  OpenManager({.step_bytes = 16 * 1024, .default_parallel = 1});
  JobSpec spec = RekeySpec("vmset", "/my_vmset", {{"to_version", 2}}, 256 * 1024);
  spec.parallel = 1;
  auto started = manager_->Start(spec);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::string id = started->record.id;
  WaitForProgress(id);
  // The key server goes away (LocalKeyProvider: the directory is gone = Unavailable) and the
  // cache's grace runs out: the files not yet opened by the job cannot get their keys.
  fs::rename(root_ / "keys", root_ / "keys.away");
  clock_.Advance(11min);
  cache_->Invalidate(kVmSet);
  auto st = manager_->Wait(id, 60s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kFailed) << st->record.error;
  EXPECT_NE(st->record.error.find("unavailable"), std::string::npos) << st->record.error;
  // Back: nothing was lost, and the job resumes to its end.
  fs::rename(root_ / "keys.away", root_ / "keys");
  cache_->Invalidate(kVmSet);
  ExpectNothingLost();
  auto resumed = manager_->Resume(id);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  st = manager_->Wait(id, 120s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->record.state, JobState::kDone) << st->record.error;
  ExpectAllUnderVersion2();
}

}  // namespace
}  // namespace cafs::jobs
