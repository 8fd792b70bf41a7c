// Mirrored storage (cafs/mirrored_file.h, docs/redirectors.md "Mirrored files"; issue 15
// item 3), on real pools (PosixPool on temp directories, pool_b through a FaultInjectionEnv)
// and real encrypted files:
//  - the redirector's replica lines and the mirror log's codec (old redirectors still read,
//    a tampered log refused);
//  - write, one pool fails (EIO), keep writing, reads never stale, the failure reported once,
//    the copy stale with only the chunks written meanwhile; the pool comes back, an online
//    resync copies only those chunks while a writer keeps writing; both pool files
//    byte-identical in the end (compared on disk);
//  - a read error on the primary: the read is served by the other copy;
//  - the state survives a restart (the mirror log), a pool that vanished at open is copied
//    whole when it returns;
//  - fsck counts every copy (no orphan), unlink removes every copy and the log;
//  - a crash (FaultInjectionEnv CrashAfter) at every durable step of a degraded write and of
//    a resync: after the restart nothing acknowledged is lost, no copy the log calls in sync
//    differs, and the resync then makes both identical.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "cafs/mirrored_file.h"
#include "cafs/volume.h"
#include "cafs/volume_check.h"
#include "crypto/mac.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "pool/pool_kinds.h"
#include "pool/pool_use.h"
#include "pool/posix_pool.h"
#include "pool/write_lease.h"
#include "unit/cafs/two_pool_mirror_fixture.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;

constexpr char kFile[] = "vs/vm1/disk.img";

TEST(MirrorCodecTest, RedirectorReplicaLines) {
  Redirector r{Uuid::Random(), "o/3f/x", {{"pool_b", "o/3f/x"}, {"pool_c", "other/path"}}};
  auto back = DecodeRedirector(EncodeRedirector(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->replicas, r.replicas);
  // A redirector of one copy (written before mirroring) reads as before.
  auto old = DecodeRedirector("CAFS-REDIRECTOR 1\nguid " + r.guid.ToString() + "\npath p/q\n");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->replicas.empty());
  const std::string head = "CAFS-REDIRECTOR 1\nguid " + r.guid.ToString() + "\npath p\n";
  for (const char* bad :
       {"replica pool_b\n", "replica  x\n", "replica #p x\n", "replica b x\nreplica b y\n"}) {
    auto d = DecodeRedirector(head + bad);
    EXPECT_TRUE(d.status().IsCorruption()) << bad;
  }
}

TEST(MirrorCodecTest, LogRoundTripAndTamper) {
  MirrorLogRecord rec;
  rec.guid = Uuid::Random();
  rec.open = true;
  rec.copies = {{false, {}, 0}, {true, {5, 0, 1ull << 63}, 1796630400123}};
  const std::string bytes = EncodeMirrorLog(rec);
  auto back = DecodeMirrorLog(AsBytes(bytes));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->guid, rec.guid);
  EXPECT_TRUE(back->open);
  ASSERT_EQ(back->copies.size(), 2u);
  EXPECT_TRUE(back->copies[1].stale);
  EXPECT_EQ(back->copies[1].words, rec.copies[1].words);
  EXPECT_EQ(back->copies[1].stale_since_ms, 1796630400123);
  for (std::size_t at : {std::size_t{0}, std::size_t{13}, bytes.size() - 40, bytes.size() - 1}) {
    std::string t = bytes;
    t[at] = static_cast<char>(t[at] ^ 1);
    EXPECT_TRUE(DecodeMirrorLog(AsBytes(t)).status().IsCorruption()) << at;
  }
  EXPECT_TRUE(DecodeMirrorLog(AsBytes(bytes.substr(0, 50))).status().IsCorruption());
}

// A version 1 log (before stale_since): byte by byte as docs/redirectors.md had it.
TEST(MirrorCodecTest, ReadsVersion1Logs) {
  const Uuid guid = Uuid::Random();
  std::string v1("CAFSMLOG", 8);
  const auto le = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) v1.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  le(1, 4);  // version
  le(0, 4);  // flags
  v1.append(reinterpret_cast<const char*>(guid.bytes().data()), Uuid::kSize);
  le(kMirrorChunkBytes, 8);
  le(1, 4);  // one copy
  v1.append("\1\0\0\0", 4);
  le(1, 4);  // one word
  le(0x6, 8);
  const crypto::Sha256Mac digest = crypto::Sha256(AsBytes(v1));
  v1.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  auto r = DecodeMirrorLog(AsBytes(v1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->guid, guid);
  ASSERT_EQ(r->copies.size(), 1u);
  EXPECT_TRUE(r->copies[0].stale);
  EXPECT_EQ(r->copies[0].words, std::vector<std::uint64_t>{6});
  EXPECT_EQ(r->copies[0].stale_since_ms, 0);
}

class MirrorTest : public testing::TwoPoolMirrorFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MakeDirsAndKey("cafs-mirror-test"));
    Boot();
  }
  void TearDown() override {
    volume_.reset();
    pools_.reset();
    RemoveDirs();
  }

  // (Re)starts the Volume; the backing store and pool_a go through a_env_, pool_b through
  // b_env_.
  void Boot() {
    volume_.reset();
    pools_ = std::make_unique<pool::PoolMapper>();
    ASSERT_TRUE(pools_
                    ->Add(std::make_unique<pool::PosixPool>(
                        kPoolA, (dir_ / "pools" / kPoolA).string(), &a_env_))
                    .ok());
    ASSERT_TRUE(pools_
                    ->Add(std::make_unique<pool::PosixPool>(
                        kPoolB, (dir_ / "pools" / kPoolB).string(), b_target_))
                    .ok());
    auto v = Volume::Open((dir_ / "backing").string(), pools_.get(), &a_env_);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    volume_ = std::move(*v);
    volume_->SetReplicaEventSink([this](const std::string& rel, const ReplicaEvent& ev) {
      std::lock_guard lock(events_mu_);
      events_.push_back(
          rel + " " + (ev.kind == ReplicaEvent::Kind::kFailed ? "failed " : "resynced ") + ev.pool);
    });
  }

  KeyLookup Keys() {
    return [this](const Uuid& k, std::uint32_t) -> Result<const SecureBuffer*> {
      if (k != key_guid_) return Status::NotFound("key");
      return &dek_;
    };
  }

  std::shared_ptr<OpenFile> Create(const std::string& rel, const std::string& data) {
    const Placement p = MirroredPlacement();
    auto of = volume_->CreateFile(rel, 0644, ::getuid(), ::getgid(), p);
    EXPECT_TRUE(of.ok()) << of.status().ToString();
    if (!of.ok()) return nullptr;
    EXPECT_TRUE((*of)->file().Write(0, AsBytes(data)).ok());
    EXPECT_TRUE((*of)->file().Sync().ok());
    return *of;
  }

  static std::string ReadAll(OpenFile& of) {
    std::string out(of.file().Size(), '\0');
    auto n =
        of.file().Read(0, MutableByteView(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    out.resize(n.ok() ? *n : 0);
    return out;
  }

  // The two pool files of `rel`, as bytes on disk.
  std::pair<std::string, std::string> PoolFiles(const std::string& rel) {
    auto loc = volume_->Locate(rel);
    EXPECT_TRUE(loc.ok());
    if (!loc.ok() || loc->replicas.size() != 1) return {};
    return {Slurp(dir_ / "pools" / kPoolA / loc->pool_path),
            Slurp(dir_ / "pools" / kPoolB / loc->replicas[0].pool_path)};
  }

  ReplicaStatus CopyIn(const std::string& rel, const char* pool) {
    auto st = volume_->Replicas(rel);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (st.ok()) {
      for (const auto& r : *st) {
        if (r.pool == pool) return r;
      }
    }
    ADD_FAILURE() << "no copy in " << pool;
    return {};
  }

  std::vector<std::string> Events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }

  static bool InPoolB(const std::string& path, std::uint64_t, std::uint64_t) {
    return path.find("/pools/pool_b/") != std::string::npos;
  }
  static bool InPoolA(const std::string& path, std::uint64_t, std::uint64_t) {
    return path.find("/pools/pool_a/") != std::string::npos;
  }

  env::FaultInjectionEnv a_env_{env::Env::Default()};
  env::FaultInjectionEnv b_env_{env::Env::Default()};
  env::Env* b_target_ = &b_env_;  // the crash tests put every pool on a_env_ (one process)
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<Volume> volume_;
  std::mutex events_mu_;
  std::vector<std::string> events_;
};

TEST_F(MirrorTest, CreateWritesEveryCopyAndFsckCountsThem) {
  std::mt19937_64 rng(1);
  const std::string data = Random(3 * 1024 * 1024 + 77, rng);
  auto of = Create(kFile, data);
  ASSERT_TRUE(of);
  auto [a, b] = PoolFiles(kFile);
  EXPECT_GT(a.size(), data.size());  // header + sectors
  EXPECT_EQ(a, b);
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kInSync);
  of.reset();  // a clean close removes the mirror log
  for (const auto& e : fs::directory_iterator(dir_ / "backing")) {
    EXPECT_EQ(e.path().filename().string().rfind(kMirrorLogPrefix, 0), std::string::npos)
        << e.path();
  }
  CheckOptions opts;
  auto report = CheckVolume((dir_ / "backing").string(), *pools_, opts);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->findings.empty()) << report->findings.front().detail;
  EXPECT_EQ(report->pool_files, 2u);
  // Unlink removes both copies.
  ASSERT_TRUE(volume_->Unlink(kFile).ok());
  for (const char* p : {kPoolA, kPoolB}) {
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "pools" / p)) {
      EXPECT_FALSE(e.is_regular_file()) << e.path();
    }
  }
}

// The test the issue asks for: write, fail one pool, keep writing, bring it back, resync;
// the copies byte-identical; reads never stale.
TEST_F(MirrorTest, PoolFailsFileStaysAvailableAndResyncCopiesOnlyWhatChanged) {
  constexpr std::size_t kSize = 8 * 1024 * 1024;
  std::mt19937_64 rng(2);
  std::string shadow = Random(kSize, rng);
  auto of = Create(kFile, shadow);
  ASSERT_TRUE(of);

  b_env_.SetWriteFault(InPoolB);  // pool_b full: every write ENOSPC
  // Writes to two regions of the file only (chunks 1 and 5 of the pool file).
  for (int i = 0; i < 20; ++i) {
    const std::size_t off = (i % 2 == 0 ? 1 : 5) * 1024 * 1024 + rng() % 500000;
    const std::string data = Random(1 + rng() % 60000, rng);
    ASSERT_TRUE(of->file().Write(off, AsBytes(data)).ok());
    shadow.replace(off, data.size(), data);
    if (i % 5 == 4) {
      ASSERT_TRUE(of->file().Sync().ok());
    }
    ASSERT_EQ(ReadAll(*of), shadow) << "stale read after write " << i;
  }
  ASSERT_TRUE(of->file().Sync().ok());
  const ReplicaStatus b = CopyIn(kFile, kPoolB);
  EXPECT_EQ(b.health, ReplicaHealth::kStale);
  EXPECT_NE(b.error.find("No space left on device"), std::string::npos) << b.error;
  EXPECT_LE(b.dirty_bytes, 3 * kMirrorChunkBytes);  // the two regions, not the file
  EXPECT_GE(b.dirty_bytes, 2 * kMirrorChunkBytes);
  EXPECT_EQ(Events(), std::vector<std::string>{std::string(kFile) + " failed pool_b"});

  // The pool is back: an online resync while a writer keeps writing.
  b_env_.ClearFaults();
  std::atomic<bool> stop{false};
  std::mutex shadow_mu;
  std::thread writer([&] {
    std::mt19937_64 r(3);
    while (!stop.load()) {
      std::lock_guard lock(shadow_mu);
      const std::size_t off = r() % (kSize - 70000);
      const std::string data = Random(1 + r() % 65536, r);
      ASSERT_TRUE(of->file().Write(off, AsBytes(data)).ok());
      shadow.replace(off, data.size(), data);
    }
  });
  std::uint64_t steps = 0;
  auto copied = volume_->ResyncFile(kFile, 64 * 1024, [&](std::uint64_t) {
    ++steps;
    std::this_thread::yield();
    return true;
  });
  stop = true;
  writer.join();
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_GE(*copied, 2 * kMirrorChunkBytes - 1);
  EXPECT_LE(*copied, 3 * kMirrorChunkBytes);  // only what changed, never the whole file
  EXPECT_GT(steps, 0u);
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kInSync);
  ASSERT_TRUE(of->file().Sync().ok());
  auto [pa, pb] = PoolFiles(kFile);
  EXPECT_EQ(pa.size(), pb.size());
  EXPECT_TRUE(pa == pb) << "the copies differ after the resync";
  EXPECT_EQ(ReadAll(*of), shadow);
  EXPECT_EQ(Events().back(), std::string(kFile) + " resynced pool_b");

  // Reads from the resynced copy alone (pool_a now fails reads) return the latest data.
  of.reset();
  a_env_.SetReadFault(InPoolA);
  auto again = volume_->OpenExisting(kFile, Keys());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ReadAll(**again), shadow);
  EXPECT_EQ(CopyIn(kFile, kPoolA).health, ReplicaHealth::kStale);
}

TEST_F(MirrorTest, DegradedStateSurvivesRestartAndVanishedPoolIsCopiedWhole) {
  std::mt19937_64 rng(4);
  std::string shadow = Random(2 * 1024 * 1024, rng);
  {
    auto of = Create(kFile, shadow);
    ASSERT_TRUE(of);
    b_env_.SetSyncFault([](const std::string& p) { return p.find("/pools/pool_b/") != p.npos; });
    const std::string data = Random(10000, rng);
    ASSERT_TRUE(of->file().Write(100, AsBytes(data)).ok());
    shadow.replace(100, data.size(), data);
    ASSERT_TRUE(of->file().Sync().ok());  // pool_a synced: acknowledged
    b_env_.ClearFaults();
  }
  Boot();  // a restart: the log says pool_b is stale
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kStale);
  {
    auto of = volume_->OpenExisting(kFile, Keys());
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    EXPECT_EQ(ReadAll(**of), shadow);
  }
  // pool_b vanishes (its directory moved away): opening degrades, writes go on.
  fs::rename(dir_ / "pools" / kPoolB, dir_ / "pools" / "gone");
  {
    auto of = volume_->OpenExisting(kFile, Keys());
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    const std::string data = Random(5000, rng);
    ASSERT_TRUE((*of)->file().Write(1500000, AsBytes(data)).ok());
    shadow.replace(1500000, data.size(), data);
    ASSERT_TRUE((*of)->file().Sync().ok());
    EXPECT_EQ(ReadAll(**of), shadow);
    auto bad = volume_->ResyncFile(kFile, 1 << 20);
    EXPECT_EQ(bad.status().errno_value(), EIO) << bad.status().ToString();
    EXPECT_NE(bad.status().message().find("still unreachable: pool_b"), std::string::npos)
        << bad.status().ToString();
  }
  // It comes back empty (its files lost): the copy is made whole again.
  fs::rename(dir_ / "pools" / "gone", dir_ / "pools" / kPoolB);
  fs::remove_all(dir_ / "pools" / kPoolB);
  fs::create_directories(dir_ / "pools" / kPoolB);
  Boot();  // a new directory: the pool's identity is pinned at start (pool/posix_pool.h)
  auto copied = volume_->ResyncFile(kFile, 1 << 20);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_GT(*copied, shadow.size());
  auto [pa, pb] = PoolFiles(kFile);
  EXPECT_TRUE(pa == pb);
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kInSync);
  auto of = volume_->OpenExisting(kFile, Keys());
  ASSERT_TRUE(of.ok());
  EXPECT_EQ(ReadAll(**of), shadow);
}

// One report (audit + alert) per degradation: a copy already known stale, across a restart,
// a reopen and a resync that fails again, is not reported again; once resynced, a new failure
// is a new degradation.
TEST_F(MirrorTest, AKnownDegradationIsReportedOnceAcrossRestarts) {
  std::mt19937_64 rng(12);
  std::string shadow = Random(2 * 1024 * 1024, rng);
  std::int64_t stale_since = 0;
  {
    auto of = Create(kFile, shadow);
    ASSERT_TRUE(of);
    b_env_.SetWriteFault(InPoolB);
    const std::string data = Random(10000, rng);
    ASSERT_TRUE(of->file().Write(100, AsBytes(data)).ok());
    shadow.replace(100, data.size(), data);
    ASSERT_TRUE(of->file().Sync().ok());
    stale_since = CopyIn(kFile, kPoolB).stale_since_ms;
    EXPECT_GT(stale_since, 0);
  }
  EXPECT_EQ(Events(), std::vector<std::string>{std::string(kFile) + " failed pool_b"});
  for (int restart = 0; restart < 2; ++restart) {
    SCOPED_TRACE("restart " + std::to_string(restart));
    Boot();  // pool_b still fails its writes
    {
      auto of = volume_->OpenExisting(kFile, Keys());
      ASSERT_TRUE(of.ok()) << of.status().ToString();
      EXPECT_EQ(ReadAll(**of), shadow);
      const std::string data = Random(3000, rng);
      ASSERT_TRUE((*of)->file().Write(700000, AsBytes(data)).ok());
      shadow.replace(700000, data.size(), data);
      ASSERT_TRUE((*of)->file().Sync().ok());
      // The pool answers, so a resync is tried (cafsd's trigger does at start): it fails.
      EXPECT_FALSE(volume_->ResyncFile(kFile, 1 << 20).ok());
    }
    const ReplicaStatus b = CopyIn(kFile, kPoolB);
    EXPECT_EQ(b.health, ReplicaHealth::kStale);
    EXPECT_EQ(b.stale_since_ms, stale_since) << "the same degradation";
    EXPECT_EQ(Events().size(), 1u) << "reported again: " << Events().back();
  }
  // Resynced, then a new failure: a new degradation, reported.
  b_env_.ClearFaults();
  ASSERT_TRUE(volume_->ResyncFile(kFile, 1 << 20).ok());
  EXPECT_EQ(Events().back(), std::string(kFile) + " resynced pool_b");
  b_env_.SetWriteFault(InPoolB);
  {
    auto of = volume_->OpenExisting(kFile, Keys());
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    ASSERT_TRUE((*of)->file().Write(0, AsBytes(std::string(512, 'x'))).ok());
    ASSERT_TRUE((*of)->file().Sync().ok());
  }
  EXPECT_EQ(Events(), (std::vector<std::string>{std::string(kFile) + " failed pool_b",
                                                std::string(kFile) + " resynced pool_b",
                                                std::string(kFile) + " failed pool_b"}));
}

// The gateway's periodic tick resyncs open files whose pool is back, without being asked.
TEST_F(MirrorTest, OpenFilesAreResyncedWhenThePoolIsBack) {
  std::mt19937_64 rng(6);
  std::string shadow = Random(2 * 1024 * 1024, rng);
  auto of = Create(kFile, shadow);
  ASSERT_TRUE(of);
  fs::rename(dir_ / "pools" / kPoolB, dir_ / "pools" / "gone");  // vanishes
  const std::string data = Random(4096, rng);
  ASSERT_TRUE(of->file().Write(4096, AsBytes(data)).ok());
  shadow.replace(4096, data.size(), data);
  ASSERT_TRUE(of->file().Sync().ok());  // the probe finds pool_b gone: stale, fully dirty
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kStale);
  EXPECT_EQ(volume_->ResyncOpenFiles(1 << 20), 0u);  // still gone: not tried
  fs::rename(dir_ / "pools" / "gone", dir_ / "pools" / kPoolB);
  EXPECT_GT(volume_->ResyncOpenFiles(1 << 20), 0u);
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kInSync);
  auto [pa, pb] = PoolFiles(kFile);
  EXPECT_TRUE(pa == pb);
  EXPECT_EQ(ReadAll(*of), shadow);
}

// Size and Stat race a copy that fails and is resynced (its handle swapped by BeginResync):
// they hold the set's I/O lock, so the handle they use is never freed under them (ASan), and
// writes to other chunks go on while a chunk is copied. Bounded: 20 rounds.
TEST_F(MirrorTest, SizeAndStatDuringFailAndResyncSwaps) {
  std::mt19937_64 rng(9);
  const std::string shadow = Random(3 * 1024 * 1024, rng);
  auto of = Create(kFile, shadow);
  ASSERT_TRUE(of);
  auto set = volume_->MirrorSetOf(kFile);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto expected = (*set)->Size();
  ASSERT_TRUE(expected.ok());
  std::atomic<bool> stop{false};
  auto stat = (*set)->Stat();
  std::atomic<int> wrong{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto n = (*set)->Size();
      auto st = (*set)->Stat();
      if (!n.ok() || *n != *expected || st.ok() != stat.ok()) wrong.fetch_add(1);
    }
  });
  for (int round = 0; round < 20; ++round) {
    a_env_.SetWriteFault(InPoolA);  // the primary fails: pool_b is the source meanwhile
    const std::string data = Random(4096, rng);
    ASSERT_TRUE(of->file().Write(1024 * 1024, AsBytes(data)).ok());
    a_env_.ClearFaults();
    auto copied = volume_->ResyncFile(kFile, 64 * 1024);
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  }
  stop = true;
  reader.join();
  EXPECT_EQ(wrong.load(), 0) << "size " << *expected << ", stat " << stat.status().ToString();
  EXPECT_EQ(CopyIn(kFile, kPoolA).health, ReplicaHealth::kInSync);
  ASSERT_TRUE(of->file().Sync().ok());
  auto [pa, pb] = PoolFiles(kFile);
  EXPECT_TRUE(pa == pb);
}

TEST_F(MirrorTest, RefusedWhereNotImplemented) {
  std::mt19937_64 rng(5);
  auto of = Create(kFile, Random(1000, rng));
  ASSERT_TRUE(of);
  auto m = volume_->BeginMigration(kFile, kPoolB, 1 << 20);
  EXPECT_EQ(m.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(m.status().message().find("migrating mirrored files is not implemented yet"),
            std::string::npos);
  Placement p;
  p.pool = kPoolA;
  p.replica_pools = {"nowhere"};
  p.dek = &dek_;
  p.params.key_guid = key_guid_;
  p.params.key_version = 1;
  p.params.cipher = crypto::CipherId::kAes256Xts;
  auto c = volume_->CreateFile("vs/vm1/x", 0644, ::getuid(), ::getgid(), p);
  EXPECT_EQ(c.status().errno_value(), EIO);
  EXPECT_NE(c.status().message().find("replica pool 'nowhere' which is not configured"),
            std::string::npos);
}

// Capabilities (pool/pool_use.h, docs/pools.md "Who needs which capability"): a policy that
// places a copy of a mirrored file in a pool that cannot write in place (an s3 pool: a real
// one, its endpoint unreachable on purpose: the check comes before any I/O) is refused at
// create with EOPNOTSUPP naming the pool, its kind and the missing flag; nothing is left in
// the other pool. The same s3 pool alone (a file written once) is not refused by that rule.
TEST_F(MirrorTest, MirroredCopyInAPoolWithoutRandomWriteIsRefusedAtCreate) {
  if (pool::BuiltinPoolKinds().Find("s3") == nullptr) GTEST_SKIP() << "s3 kind not built";
  const fs::path secret = dir_ / "s3.secret";
  std::ofstream(secret) << "not-a-secret\n";
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  pool::PoolSettings s{.name = "cold_s3",
                       .kind = "s3",
                       .values = {{"endpoint", "http://127.0.0.1:9"},
                                  {"bucket", "cafs"},
                                  {"access_key", "AK"},
                                  {"secret_key_file", secret.string()},
                                  {"retries", "0"},
                                  {"op_timeout_s", "1"}}};
  auto s3 = pool::BuiltinPoolKinds().Create(s, env::Env::Default());
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  EXPECT_FALSE(pool::CheckPoolUse(**s3, pool::PoolUse::kMirrorCopy).ok());
  ASSERT_TRUE(pools_->Add(std::move(*s3)).ok());
  for (auto [primary, replica] : {std::pair{kPoolA, "cold_s3"}, std::pair{"cold_s3", kPoolA}}) {
    Placement p;
    p.pool = primary;
    p.replica_pools = {replica};
    p.dek = &dek_;
    p.params.key_guid = key_guid_;
    p.params.key_version = 1;
    p.params.cipher = crypto::CipherId::kAes256Xts;
    auto c = volume_->CreateFile("vs/vm1/mirrored", 0644, ::getuid(), ::getgid(), p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), Status::Code::kNotSupported) << c.status().ToString();
    for (const char* part : {"pool 'cold_s3' (kind s3)", "a copy of a mirrored file",
                             "random_write", "vs/vm1/mirrored"}) {
      EXPECT_NE(c.status().message().find(part), std::string::npos) << c.status().ToString();
    }
    EXPECT_TRUE(volume_->GetAttr("vs/vm1/mirrored", Keys()).status().IsNotFound());
  }
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "pools" / kPoolA)) {
    EXPECT_FALSE(e.is_regular_file()) << e.path();
  }
  // One copy in it: that rule does not apply (the pool is unreachable, so EIO instead).
  Placement single;
  single.pool = "cold_s3";
  single.dek = &dek_;
  single.params.key_guid = key_guid_;
  single.params.key_version = 1;
  single.params.cipher = crypto::CipherId::kAes256Xts;
  auto one = volume_->CreateFile("vs/vm1/single", 0644, ::getuid(), ::getgid(), single);
  EXPECT_EQ(one.status().errno_value(), EIO) << one.status().ToString();
}

// Two gateways (two Volumes with pool objects of their own on the same pool directories): a
// mirrored file open for writing in one is refused to the other with the lease error (EBUSY),
// not opened degraded with its copies called failed (docs/pools.md "Write leases").
TEST_F(MirrorTest, MirroredFileOpenInAnotherGatewayIsLeaseHeldNotDegraded) {
  std::mt19937_64 rng(7);
  auto of = Create(kFile, Random(10000, rng));
  ASSERT_TRUE(of);
  pool::PoolMapper other_pools;
  for (const char* name : {kPoolA, kPoolB}) {
    ASSERT_TRUE(other_pools
                    .Add(std::make_unique<pool::PosixPool>(name, (dir_ / "pools" / name).string(),
                                                           env::Env::Default()))
                    .ok());
  }
  auto other = Volume::Open((dir_ / "backing").string(), &other_pools, env::Env::Default());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto refused = (*other)->OpenExisting(kFile, Keys());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(pool::IsLeaseHeld(refused.status())) << refused.status().ToString();
  EXPECT_EQ(refused.status().errno_value(), EBUSY);
  EXPECT_EQ(CopyIn(kFile, kPoolB).health, ReplicaHealth::kInSync);
  of.reset();
  auto taken = (*other)->OpenExisting(kFile, Keys());
  EXPECT_TRUE(taken.ok()) << taken.status().ToString();
}

// A crash (kill -9, power cut) at every durable step (FaultInjectionEnv::CrashAfter over the
// backing store and both pools; unsynced data and directory entries dropped) of (a) writes
// while pool_b fails and (b) a resync. After the restart: every acknowledged write reads
// back, every other write reads old or new; a copy the mirror log calls in sync is
// byte-identical to the primary; a resync then makes both identical.
class MirrorCrashTest : public MirrorTest, public ::testing::WithParamInterface<bool> {
 protected:
  static constexpr std::size_t kSize = 3 * 1024 * 1024;
  static constexpr std::size_t kOff1 = 100000, kOff2 = 2 * 1024 * 1024 + 5000;

  void Fresh() {
    volume_.reset();
    pools_.reset();
    fs::remove_all(dir_);
    for (const char* sub : {"backing/vs/vm1", "pools/pool_a", "pools/pool_b"}) {
      fs::create_directories(dir_ / sub);
    }
    a_env_.ClearFaults();
    ASSERT_TRUE(a_env_.DropUnsyncedData().ok());
    b_target_ = &a_env_;
    ASSERT_TRUE(a_env_.ModelDirectoryCrashes((dir_ / "stash").string()).ok());
    Boot();
  }

  void Crash() {
    volume_.reset();
    pools_.reset();
    ASSERT_TRUE(a_env_.DropUnsyncedData().ok());
    a_env_.ClearFaults();
    Boot();
  }

  // Checks the state after the restart; `acked[i]`: write i's sync returned OK.
  void CheckAfterRestart(const std::string& d0, const std::string& w1, const std::string& w2,
                         const bool acked[2], std::uint64_t step) {
    auto of = volume_->OpenExisting(kFile, Keys());
    ASSERT_TRUE(of.ok()) << "step " << step << ": " << of.status().ToString();
    const std::string got = ReadAll(**of);
    ASSERT_EQ(got.size(), kSize) << "step " << step;
    const std::string r1 = got.substr(kOff1, w1.size()), r2 = got.substr(kOff2, w2.size());
    EXPECT_TRUE(!acked[0] || r1 == w1) << "step " << step << ": acknowledged write 1 lost";
    EXPECT_TRUE(!acked[1] || r2 == w2) << "step " << step << ": acknowledged write 2 lost";
    EXPECT_TRUE(r1 == w1 || r1 == d0.substr(kOff1, w1.size())) << "step " << step;
    EXPECT_TRUE(r2 == w2 || r2 == d0.substr(kOff2, w2.size())) << "step " << step;
    of->reset();
    if (CopyIn(kFile, kPoolB).health == ReplicaHealth::kInSync) {
      auto [pa, pb] = PoolFiles(kFile);
      EXPECT_TRUE(pa == pb) << "step " << step << ": the log says in sync, the copies differ";
    }
    auto copied = volume_->ResyncFile(kFile, 256 * 1024);
    ASSERT_TRUE(copied.ok()) << "step " << step << ": " << copied.status().ToString();
    auto [pa, pb] = PoolFiles(kFile);
    EXPECT_TRUE(pa == pb) << "step " << step << ": copies differ after the resync";
    auto again = volume_->OpenExisting(kFile, Keys());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(ReadAll(**again), got) << "step " << step << ": the resync changed the data";
  }
};

TEST_P(MirrorCrashTest, NothingAcknowledgedIsLostAndTheLogNeverLies) {
  const bool resync = GetParam();
  std::mt19937_64 rng(9);
  const std::string d0 = Random(kSize, rng), w1 = Random(30000, rng), w2 = Random(20000, rng);
  for (std::uint64_t step = 0;; ++step) {
    ASSERT_LT(step, 400u) << "never finished";
    Fresh();
    bool acked[2] = {false, false};
    {
      auto of = Create(kFile, d0);
      ASSERT_TRUE(of);
      a_env_.SetWriteFault(InPoolB);  // pool_b full
      if (!resync) a_env_.CrashAfter(step);
      const std::string* w[2] = {&w1, &w2};
      const std::size_t off[2] = {kOff1, kOff2};
      for (int i = 0; i < 2; ++i) {
        if (of->file().Write(off[i], AsBytes(*w[i])).ok()) acked[i] = of->file().Sync().ok();
      }
    }
    bool finished = !a_env_.crashed();
    if (resync) {  // (b): the degraded writes done; pool_b back; a crash during the resync
      a_env_.ClearFaults();
      a_env_.CrashAfter(step);
      auto copied = volume_->ResyncFile(kFile, 64 * 1024);
      finished = copied.ok() && !a_env_.crashed();
    }
    Crash();
    CheckAfterRestart(d0, w1, w2, acked, step);
    if (::testing::Test::HasFailure() || finished) {
      std::printf("%s: crashed at each of %llu durable steps\n", resync ? "resync" : "writes",
                  static_cast<unsigned long long>(step));
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Mirror, MirrorCrashTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "resync" : "degraded_writes");
                         });

}  // namespace
}  // namespace cafs::core
