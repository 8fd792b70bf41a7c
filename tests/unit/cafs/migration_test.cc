// Online migration of a file between pools (cafs/migrator.h, docs/migration.md), on real
// pools (PosixPool on temp directories) and real encrypted files:
//  - DirtyMap: marks, takes in order, counts;
//  - a file written by a concurrent writer (unaligned writes, extensions, a truncate) while it
//    migrates back and forth between two pools several times: afterwards every byte is what
//    the writer last wrote (through the open file, and through a fresh open after the Volume
//    restarted), the redirector's inode is unchanged, the pool file is in the target pool
//    only, the header is the same (ciphertext copied, never re-encrypted);
//  - a file that is not open migrates too, and an open during the migration is tracked;
//  - an NFS file handle taken before a move resolves to the same path after it;
//  - bad input: unknown pool, same pool, a directory, a symlink, a missing file, a pool whose
//    storage went away; a target pool that fills up (ENOSPC): the migration fails, the file is
//    intact where it was and no copy is left; a rename during the migration stops it;
//  - pool capabilities (docs/migration.md "Pool kinds"): a pool without random writes (as s3
//    reports; here a directory pool that says so) refuses a file that is open, at the start
//    and at the switch when it was opened meanwhile (the file stays whole where it was, no copy
//    left), and takes it once closed.
// The crash at every step is in volume_faults_test.cc (StepCrashTest "migrate_*").
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "cafs/file_handles.h"
#include "cafs/migrator.h"
#include "cafs/volume_check.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "pool/posix_pool.h"
#include "whole_object_pool.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;

constexpr char kPoolA[] = "pool_a";
constexpr char kPoolB[] = "pool_b";
constexpr char kPoolC[] = "pool_c";  // a WholeObjectPool

TEST(DirtyMapTest, MarksTakesAndCounts) {
  DirtyMap map(4096);
  EXPECT_EQ(map.DirtyChunks(), 0u);
  EXPECT_FALSE(map.TakeNext(0));
  map.Mark(4095, 2);  // chunks 0 and 1
  map.Mark(64 * 4096 * 3 + 5, 1);
  map.Mark(100, 0);  // nothing
  EXPECT_EQ(map.DirtyChunks(), 3u);
  EXPECT_EQ(map.TakeNext(1), std::optional<std::uint64_t>(1));
  EXPECT_EQ(map.TakeNext(0), std::optional<std::uint64_t>(0));
  EXPECT_EQ(map.TakeNext(0), std::optional<std::uint64_t>(192));
  EXPECT_FALSE(map.TakeNext(0));
  map.Mark(0, 4096);
  map.Mark(0, 4096);  // twice: one chunk
  EXPECT_EQ(map.DirtyChunks(), 1u);
  EXPECT_FALSE(map.TakeNext(1));
}

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cafs-migration-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* sub : {"backing/vs/vm1", "pools/pool_a", "pools/pool_b", "pools/pool_c"}) {
      fs::create_directories(dir_ / sub);
    }
    std::vector<std::uint8_t> key(64);
    ASSERT_TRUE(crypto::RandomBytes(key).ok());
    dek_ = SecureBuffer(key.data(), key.size());
    key_guid_ = Uuid::Random();
    Boot();
  }
  void TearDown() override {
    volume_.reset();
    pools_.reset();
    fs::remove_all(dir_);
  }

  void Boot() {
    volume_.reset();
    pools_ = std::make_unique<pool::PoolMapper>();
    for (const char* name : {kPoolA, kPoolB}) {
      env::Env* env = std::string(name) == kPoolB ? &b_env_ : env::Env::Default();
      ASSERT_TRUE(
          pools_
              ->Add(std::make_unique<pool::PosixPool>(name, (dir_ / "pools" / name).string(), env))
              .ok());
    }
    ASSERT_TRUE(
        pools_->Add(std::make_unique<WholeObjectPool>(kPoolC, (dir_ / "pools" / kPoolC).string()))
            .ok());
    auto v = Volume::Open((dir_ / "backing").string(), pools_.get());
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    volume_ = std::move(*v);
  }

  KeyLookup Keys() {
    return [this](const Uuid& k, std::uint32_t) -> Result<const SecureBuffer*> {
      if (k != key_guid_) return Status::NotFound("key");
      return &dek_;
    };
  }

  std::shared_ptr<OpenFile> Create(const std::string& rel, const std::string& data) {
    Placement p;
    p.pool = kPoolA;
    p.params.key_guid = key_guid_;
    p.params.key_version = 1;
    p.params.cipher = crypto::CipherId::kAes256Xts;
    p.dek = &dek_;
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

  // Runs a whole migration in small steps; `between` runs after each step.
  Status Migrate(
      const std::string& rel, const std::string& to, MigrationOptions options,
      const std::function<void()>& between = [] {}) {
    CAFS_ASSIGN_OR_RETURN(auto m, FileMigration::Start(*volume_, rel, to, options));
    for (int i = 0; i < 100000; ++i) {
      CAFS_ASSIGN_OR_RETURN(MigrationProgress p, m->Step(64 * 1024));
      if (p.finished()) {
        EXPECT_TRUE(p.warning.empty()) << p.warning;
        return Status::OK();
      }
      between();
    }
    return Status::Internal("never finished");
  }

  // Whether the file `rel` is in `pool`, at the pool path its redirector names (a GUID path).
  bool InPool(const char* pool, const std::string& rel) {
    auto loc = volume_->Locate(rel);
    return loc.ok() && loc->pool == pool && fs::exists(dir_ / "pools" / pool / loc->pool_path);
  }

  // The number of regular files in a pool (copies, temporaries, orphans included).
  int FilesIn(const char* pool) {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "pools" / pool)) {
      n += e.is_regular_file();
    }
    return n;
  }

  fs::path dir_;
  env::FaultInjectionEnv b_env_{env::Env::Default()};
  SecureBuffer dek_;
  Uuid key_guid_;
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<Volume> volume_;
};

TEST_F(MigrationTest, ConcurrentWritesSurviveMovesBackAndForth) {
  constexpr std::size_t kSize = 3 * 1024 * 1024 + 1000;
  std::string shadow(kSize, '\0');
  std::mt19937_64 rng(42);
  for (char& c : shadow) c = static_cast<char>(rng());
  auto of = Create("vs/vm1/disk.img", shadow);
  ASSERT_TRUE(of);
  const auto header_before = of->file().header();
  const auto ino = volume_->GetAttr("vs/vm1/disk.img", Keys())->backing_ino;

  // The writer: random writes (aligned and not, some past the end), one truncate.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::mutex shadow_mu;
  std::thread writer([&] {
    std::mt19937_64 r(7);
    while (!stop.load()) {
      std::lock_guard lock(shadow_mu);
      const std::size_t len = 1 + r() % 20000;
      const std::size_t off = r() % (shadow.size() + 5000);
      std::string data(len, '\0');
      for (char& c : data) c = static_cast<char>(r());
      if (writes.load() == 50) {  // one truncate down
        const std::size_t to = shadow.size() - 100000;
        ASSERT_TRUE(of->file().Truncate(to).ok());
        shadow.resize(to);
      }
      ASSERT_TRUE(of->file().Write(off, AsBytes(data)).ok());
      if (off > shadow.size()) shadow.resize(off, '\0');
      if (off + len > shadow.size()) shadow.resize(off + len, '\0');
      shadow.replace(off, len, data);
      if (writes.fetch_add(1) % 16 == 0) {
        ASSERT_TRUE(of->file().Sync().ok());
      }
    }
  });
  MigrationOptions options;
  options.chunk_bytes = 64 * 1024;
  options.small_rest_bytes = 256 * 1024;
  const char* order[] = {kPoolB, kPoolA, kPoolB, kPoolA, kPoolB};
  for (const char* to : order) {
    SCOPED_TRACE(std::string("to ") + to);
    ASSERT_TRUE(Migrate("vs/vm1/disk.img", to, options, [] { std::this_thread::yield(); }).ok());
    EXPECT_EQ(of->pool(), to);
    const char* other = std::string(to) == kPoolA ? kPoolB : kPoolA;
    EXPECT_TRUE(InPool(to, "vs/vm1/disk.img"));
    EXPECT_EQ(FilesIn(other), 0);
    EXPECT_EQ(FilesIn(to), 1);
  }
  stop = true;
  writer.join();
  EXPECT_GT(writes.load(), 60);
  ASSERT_TRUE(of->file().Sync().ok());
  EXPECT_EQ(ReadAll(*of), shadow);
  // Same redirector inode, same header (file GUID, nonce, key): a copy, never a re-encryption.
  EXPECT_EQ(volume_->GetAttr("vs/vm1/disk.img", Keys())->backing_ino, ino);
  const auto header_after = of->file().header();
  EXPECT_EQ(header_after.file_guid, header_before.file_guid);
  EXPECT_EQ(header_after.file_nonce, header_before.file_nonce);
  EXPECT_EQ(header_after.key_guid, header_before.key_guid);
  // After a restart, from the disk alone.
  of.reset();
  Boot();
  auto again = volume_->OpenExisting("vs/vm1/disk.img", Keys());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->pool(), kPoolB);
  EXPECT_EQ(ReadAll(**again), shadow);
  auto report = CheckVolume((dir_ / "backing").string(), *pools_, CheckOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->findings.empty()) << report->findings.front().detail;
}

TEST_F(MigrationTest, AFileNotOpenMovesAndAnOpenDuringTheCopyIsTracked) {
  const std::string data(600000, 'q');
  ASSERT_TRUE(Create("vs/vm1/a.img", data));  // closed again at once
  MigrationOptions options;
  options.chunk_bytes = 4096;
  options.small_rest_bytes = 0;
  std::shared_ptr<OpenFile> opened;
  int steps = 0;
  ASSERT_TRUE(Migrate("vs/vm1/a.img", kPoolB, options, [&] {
                if (++steps != 3) return;
                // Opened mid-copy: its writes must reach the copy too.
                auto of = volume_->OpenExisting("vs/vm1/a.img", Keys());
                ASSERT_TRUE(of.ok()) << of.status().ToString();
                opened = *of;
                ASSERT_TRUE(opened->file().Write(1, AsBytes(std::string("WRITTEN"))).ok());
                ASSERT_TRUE(opened->file().Write(599990, AsBytes(std::string(20, 'z'))).ok());
              }).ok());
  ASSERT_TRUE(opened);
  std::string want = data;
  want.replace(1, 7, "WRITTEN");
  want.replace(599990, 10, std::string(10, 'z'));
  want += std::string(10, 'z');
  EXPECT_EQ(ReadAll(*opened), want);
  ASSERT_TRUE(opened->file().Sync().ok());
  opened.reset();
  Boot();
  auto of = volume_->OpenExisting("vs/vm1/a.img", Keys());
  ASSERT_TRUE(of.ok());
  EXPECT_EQ((*of)->pool(), kPoolB);
  EXPECT_EQ(ReadAll(**of), want);
}

// NFS file handles wrap the kernel handle of the redirector inode (file_handles.h): the
// switch renames that same inode, so a handle taken before the move resolves after it.
TEST_F(MigrationTest, AnNfsFileHandleStaysValidAcrossTheMove) {
  auto handles = FileHandles::Open((dir_ / "backing").string());
  if (!handles.ok()) GTEST_SKIP() << "no file handles here: " << handles.status().ToString();
  ASSERT_TRUE(Create("vs/vm1/h.img", std::string(100000, 'h')));
  auto before = (*handles)->HandleOf({"vs", "vm1", "h.img"}, {kPoolA, kPoolB});
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  for (const char* to : {kPoolB, kPoolA}) {
    ASSERT_TRUE(Migrate("vs/vm1/h.img", to, MigrationOptions{}).ok());
    auto path = (*handles)->Resolve(*before);
    ASSERT_TRUE(path.ok()) << path.status().ToString();
    EXPECT_EQ(*path, "/vs/vm1/h.img");
    EXPECT_EQ(*(*handles)->HandleOf({"vs", "vm1", "h.img"}, {kPoolA, kPoolB}), *before);
  }
}

TEST_F(MigrationTest, BadInputIsRefusedAndNothingIsLost) {
  const std::string data(300000, 'd');
  ASSERT_TRUE(Create("vs/vm1/a.img", data));
  ASSERT_TRUE(volume_->Symlink("a.img", "vs/vm1/link", ::getuid(), ::getgid()).ok());
  auto err = [&](const std::string& rel, const std::string& to) {
    auto m = FileMigration::Start(*volume_, rel, to);
    EXPECT_FALSE(m.ok());
    return m.ok() ? Status::OK() : m.status();
  };
  EXPECT_NE(err("vs/vm1/a.img", "nope").message().find("not configured"), std::string::npos);
  EXPECT_EQ(err("vs/vm1/a.img", kPoolA).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(err("vs/vm1", kPoolB).errno_value(), EISDIR);
  EXPECT_EQ(err("vs/vm1/link", kPoolB).errno_value(), ELOOP);
  EXPECT_TRUE(err("vs/vm1/none", kPoolB).IsNotFound());
  // A configured pool whose storage went away (its directory moved): not reachable, EIO.
  fs::rename(dir_ / "pools" / kPoolB, dir_ / "pools/gone");
  const Status gone = err("vs/vm1/a.img", kPoolB);
  fs::rename(dir_ / "pools/gone", dir_ / "pools" / kPoolB);
  EXPECT_EQ(gone.errno_value(), EIO) << gone.ToString();
  EXPECT_NE(gone.message().find("pool 'pool_b' is not reachable"), std::string::npos)
      << gone.ToString();
  // Two migrations of one file at once: the second is refused.
  {
    auto first = FileMigration::Start(*volume_, "vs/vm1/a.img", kPoolB);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(err("vs/vm1/a.img", kPoolB).errno_value(), EBUSY);
  }
  EXPECT_EQ(FilesIn(kPoolB), 0);  // the abandoned one left no copy
  // The target pool fills up mid-copy: ENOSPC, no copy left, the file intact in pool A.
  b_env_.FailWritesAfter(100000);
  Status full = Migrate("vs/vm1/a.img", kPoolB, MigrationOptions{});
  EXPECT_EQ(full.errno_value(), ENOSPC) << full.ToString();
  b_env_.ClearWriteLimit();
  EXPECT_EQ(FilesIn(kPoolB), 0);
  auto of = volume_->OpenExisting("vs/vm1/a.img", Keys());
  ASSERT_TRUE(of.ok());
  EXPECT_EQ((*of)->pool(), kPoolA);
  EXPECT_EQ(ReadAll(**of), data);
  // A rename during the migration stops it; the file is whole under its new name.
  {
    MigrationOptions small;
    small.chunk_bytes = 4096;
    auto m = FileMigration::Start(*volume_, "vs/vm1/a.img", kPoolB, small);
    ASSERT_TRUE(m.ok());
    ASSERT_FALSE((*m)->Step(4096)->finished());
    ASSERT_TRUE(volume_->Rename("vs/vm1/a.img", "vs/vm1/b.img", false).ok());
    Result<MigrationProgress> p = MigrationProgress{};
    for (int i = 0; i < 1000 && p.ok() && !p->finished(); ++i) p = (*m)->Step(1 << 20);
    EXPECT_EQ(p.status().code(), Status::Code::kFailedPrecondition) << p.status().ToString();
  }
  EXPECT_EQ(FilesIn(kPoolB), 0);
  auto b = volume_->OpenExisting("vs/vm1/b.img", Keys());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(ReadAll(**b), data);
}

TEST_F(MigrationTest, APoolWithoutRandomWritesTakesOnlyAClosedFile) {
  const std::string data(300000, 'w');
  auto open = Create("vs/vm1/w.img", data);
  ASSERT_TRUE(open);
  auto refused = FileMigration::Start(*volume_, "vs/vm1/w.img", kPoolC);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("is open: pool pool_c (kind whole-object) takes "
                                            "whole objects only"),
            std::string::npos)
      << refused.status().ToString();
  open.reset();
  // Opened after the start: the switch refuses; the file stays whole in pool A, no copy left.
  {
    MigrationOptions small;
    small.chunk_bytes = 4096;
    auto m = FileMigration::Start(*volume_, "vs/vm1/w.img", kPoolC, small);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_FALSE((*m)->Step(4096)->finished());
    auto of = volume_->OpenExisting("vs/vm1/w.img", Keys());
    ASSERT_TRUE(of.ok());
    Result<MigrationProgress> p = MigrationProgress{};
    for (int i = 0; i < 1000 && p.ok() && !p->finished(); ++i) p = (*m)->Step(1 << 20);
    EXPECT_EQ(p.status().code(), Status::Code::kFailedPrecondition) << p.status().ToString();
    EXPECT_EQ((*of)->pool(), kPoolA);
    EXPECT_EQ(ReadAll(**of), data);
  }
  EXPECT_EQ(FilesIn(kPoolC), 0);
  // Closed: it moves, and back (a whole-object pool as the source is read like any other).
  ASSERT_TRUE(Migrate("vs/vm1/w.img", kPoolC, MigrationOptions{}).ok());
  EXPECT_TRUE(InPool(kPoolC, "vs/vm1/w.img"));
  ASSERT_TRUE(Migrate("vs/vm1/w.img", kPoolB, MigrationOptions{}).ok());
  EXPECT_TRUE(InPool(kPoolB, "vs/vm1/w.img"));
  EXPECT_EQ(FilesIn(kPoolC), 0);
  auto of = volume_->OpenExisting("vs/vm1/w.img", Keys());
  ASSERT_TRUE(of.ok());
  EXPECT_EQ(ReadAll(**of), data);
}

}  // namespace
}  // namespace cafs::core
