// The Pool/PoolFile contract (pool.h, env/file.h, docs/pools.md), one suite run against every
// pool kind built into this program, each made through the registry (pool_kinds.h):
//  - posix: a temporary directory (always);
//  - rados: a namespace of its own in the pool "cafs" of the test cluster named by
//    CAFS_TEST_CEPH_DIR (the CTest fixture `ceph`, tests/integration/lib/ceph_fixture.sh); skipped
//    with the reason when the variable is unset, the cluster is not up or librados was not
//    found at configure time. CTest runs those as pool_contract_rados (label integration).
//  - s3: a key prefix of its own in the bucket of the same cluster's radosgw (DIR/s3/, made by
//    the fixture), part size 5 MiB so that uploads and copies above it go in parts; skipped
//    the same way. CTest runs those as pool_contract_s3. Cases a kind's capabilities rule out
//    (sparse files, PunchHole) are skipped for it with the reason.
// Sizes straddle RADOS object boundaries (4 MiB) and S3 part boundaries (5 MiB) on purpose.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "pool/pool_kinds.h"
#include "pool/write_lease.h"
#include "unit/pool/test_cluster.h"

namespace cafs::pool {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1 << 20;

Bytes Pattern(std::size_t n, std::uint32_t seed) {
  Bytes b(n);
  std::mt19937 rng(seed);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

Bytes ReadAll(env::File& f, std::uint64_t offset, std::size_t n) {
  Bytes out(n, 0xEE);
  auto got = f.ReadAt(offset, out);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (got.ok()) out.resize(*got);
  return out;
}

bool AllZero(const Bytes& b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

class PoolContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const std::string unique = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    PoolSettings s{.name = "contract_pool", .kind = GetParam(), .values = {}};
    if (GetParam() == "posix") {
      root_ = fs::temp_directory_path() / ("cafs-pool-contract-" + unique);
      fs::create_directories(root_);
      s.values["path"] = root_.string();
    } else {
      std::string why;
      const fs::path dir = testing::TestClusterDir(GetParam(), "pool_contract_" + GetParam(), &why);
      if (dir.empty()) GTEST_SKIP() << why;
      if (GetParam() == "rados") {
        s.values = {{"conf", (dir / "ceph.conf").string()},
                    {"rados_pool", "cafs"},
                    {"namespace", "contract-" + unique},
                    {"op_timeout_s", "20"},
                    {"lease_s", "6"}};
      } else {
        s.values = testing::TestS3Settings(dir, &why);
        ASSERT_FALSE(s.values.empty()) << why;
        s.values.insert({{"prefix", "contract-" + unique},
                         {"staging_dir", fs::temp_directory_path().string()},
                         {"part_size_mib", "5"},
                         {"op_timeout_s", "20"}});
      }
    }
    s.owner = "gateway-a-" + unique;
    settings_ = s;
    auto pool = BuiltinPoolKinds().Create(s, env::Env::Default());
    ASSERT_TRUE(pool.ok()) << pool.status().ToString();
    pool_ = std::move(*pool);
    ASSERT_TRUE(pool_->CheckAvailable().ok()) << pool_->CheckAvailable().ToString();
  }

  void TearDown() override {
    if (pool_ != nullptr) RemoveTree("");
    if (!root_.empty()) fs::remove_all(root_);
  }

  // Removes every file and directory below `dir` through the pool.
  void RemoveTree(const std::string& dir) {
    auto names = pool_->ListDir(dir);
    if (!names.ok()) return;
    for (const auto& n : *names) {
      const std::string p = dir.empty() ? n : dir + "/" + n;
      auto info = pool_->Stat(p);
      if (info.ok() && info->is_directory) {
        RemoveTree(p);
        (void)pool_->RemoveDir(p);
      } else {
        (void)pool_->RemoveFile(p);
      }
    }
  }

  // Creates the file (and its parent: a POSIX pool needs it, a RADOS one ignores it).
  std::unique_ptr<env::File> Create(const std::string& path) {
    if (auto slash = path.rfind('/'); slash != std::string::npos) {
      EXPECT_TRUE(pool_->CreateDirs(path.substr(0, slash)).ok());
    }
    auto f = pool_->OpenFile(path, env::OpenOptions::CreateNew());
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(*f) : nullptr;
  }

  // The same storage as pool_, as another gateway (`owner`) sees it.
  std::unique_ptr<Pool> OtherGateway(const std::string& owner) {
    PoolSettings s = settings_;
    s.owner = owner;
    auto pool = BuiltinPoolKinds().Create(s, env::Env::Default());
    EXPECT_TRUE(pool.ok()) << pool.status().ToString();
    return pool.ok() ? std::move(*pool) : nullptr;
  }

  fs::path root_;
  PoolSettings settings_;
  std::unique_ptr<Pool> pool_;
};

TEST_P(PoolContractTest, KindAndCapabilities) {
  EXPECT_EQ(pool_->kind(), GetParam());
  EXPECT_EQ(pool_->name(), "contract_pool");
  const PoolKind* kind = BuiltinPoolKinds().Find(GetParam());
  ASSERT_NE(kind, nullptr);
  const PoolCapabilities c = pool_->capabilities();
  EXPECT_EQ(c.atomic_rename, kind->capabilities.atomic_rename);
  EXPECT_EQ(c.discard, kind->capabilities.discard);
  EXPECT_EQ(c.random_write, kind->capabilities.random_write);
  EXPECT_EQ(c.sparse, kind->capabilities.sparse);
  // Neither RADOS nor S3 has a rename: said so, not hidden.
  EXPECT_EQ(c.atomic_rename, GetParam() == "posix");
  // S3 objects are whole: no write in place, no holes, no discard (docs/pools.md "s3").
  EXPECT_EQ(c.random_write, GetParam() != "s3");
  EXPECT_EQ(c.sparse, GetParam() != "s3");
  EXPECT_EQ(c.discard, GetParam() != "s3");
}

TEST_P(PoolContractTest, WritesAtSectorOffsetsReadBackAcrossObjects) {
  auto f = Create("vs/vm/osdisk1.img");
  ASSERT_NE(f, nullptr);
  const Bytes data = Pattern(9 * kMiB + 512, 1);
  const std::uint64_t at = 3 * kMiB + 512;  // crosses the 4 and 8 MiB boundaries
  ASSERT_TRUE(f->WriteAt(at, data).ok());
  ASSERT_TRUE(f->Sync().ok());
  EXPECT_EQ(*f->Size(), at + data.size());
  EXPECT_EQ(ReadAll(*f, at, data.size()), data);
  // A read of a sector inside, and one straddling a boundary.
  EXPECT_EQ(ReadAll(*f, 4 * kMiB - 512, 1024),
            Bytes(data.begin() + (kMiB - 1024), data.begin() + kMiB));
  // The never-written start is a hole: zeros.
  EXPECT_TRUE(AllZero(ReadAll(*f, 0, at)));
  // Short only at the end, 0 past it.
  EXPECT_EQ(ReadAll(*f, at + data.size() - 100, 4096).size(), 100u);
  EXPECT_EQ(ReadAll(*f, at + data.size() + 4096, 4096).size(), 0u);
}

TEST_P(PoolContractTest, SparseWritesFarOutLeaveZeros) {
  if (!pool_->capabilities().sparse) {
    GTEST_SKIP() << GetParam() << " is not sparse: a 1000 MiB hole would be uploaded as zeros";
  }
  auto f = Create("sparse");
  ASSERT_NE(f, nullptr);
  const Bytes sector = Pattern(4096, 2);
  ASSERT_TRUE(f->WriteAt(1000 * kMiB, sector).ok());
  EXPECT_EQ(*f->Size(), 1000 * kMiB + 4096);
  EXPECT_TRUE(AllZero(ReadAll(*f, 500 * kMiB, kMiB)));
  EXPECT_EQ(ReadAll(*f, 1000 * kMiB, 4096), sector);
}

TEST_P(PoolContractTest, TruncateShrinksAndGrowsWithZeros) {
  auto f = Create("t");
  ASSERT_NE(f, nullptr);
  const Bytes data(12 * kMiB, 0xAB);
  ASSERT_TRUE(f->WriteAt(0, data).ok());
  const std::uint64_t cut = 5 * kMiB + 100;
  ASSERT_TRUE(f->Truncate(cut).ok());
  EXPECT_EQ(*f->Size(), cut);
  ASSERT_TRUE(f->Truncate(12 * kMiB).ok());
  EXPECT_EQ(*f->Size(), 12 * kMiB);
  EXPECT_EQ(ReadAll(*f, 0, cut), Bytes(cut, 0xAB));
  EXPECT_TRUE(AllZero(ReadAll(*f, cut, 12 * kMiB - cut)));
  ASSERT_TRUE(f->Truncate(0).ok());
  EXPECT_EQ(*f->Size(), 0u);
  ASSERT_TRUE(f->Truncate(4096).ok());
  EXPECT_TRUE(AllZero(ReadAll(*f, 0, 4096)));
}

TEST_P(PoolContractTest, OpenOptions) {
  EXPECT_EQ(pool_->OpenFile("missing", env::OpenOptions::ReadWrite()).status().code(),
            Status::Code::kNotFound);
  auto f = Create("o");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, Pattern(8192, 3)).ok());
  EXPECT_EQ(pool_->OpenFile("o", env::OpenOptions::CreateNew()).status().code(),
            Status::Code::kAlreadyExists);
  auto ro = pool_->OpenFile("o", env::OpenOptions::ReadOnly());
  ASSERT_TRUE(ro.ok());
  EXPECT_FALSE((*ro)->WriteAt(0, Pattern(512, 4)).ok());
  EXPECT_EQ(*(*ro)->Size(), 8192u);
  auto again = pool_->OpenFile("o", env::OpenOptions{.create = true, .truncate = true});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Size(), 0u);
  EXPECT_EQ(*f->Size(), 0u);  // every handle of the file sees it
  EXPECT_TRUE(pool_->OpenFile("../x", env::OpenOptions::CreateNew()).status().IsInvalidArgument());
}

TEST_P(PoolContractTest, SizeAndDataSurviveReopen) {
  const Bytes data = Pattern(5 * kMiB + 7, 5);
  {
    auto f = Create("d/persist");
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->WriteAt(0, data).ok());
    ASSERT_TRUE(f->Sync().ok());
  }
  auto f = pool_->OpenFile("d/persist", env::OpenOptions::ReadOnly());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*(*f)->Size(), data.size());
  EXPECT_EQ(ReadAll(**f, 0, data.size()), data);
  auto info = pool_->Stat("d/persist");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->is_directory);
  EXPECT_EQ(info->size, data.size());
}

TEST_P(PoolContractTest, ConcurrentExtendingWritesKeepEveryByte) {
  auto f = Create("c");
  ASSERT_NE(f, nullptr);
  constexpr std::uint32_t kThreads = 4;
  constexpr std::size_t kChunk = 3 * kMiB;  // not a multiple of the object size
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (!f->WriteAt(t * kChunk, Pattern(kChunk, 10 + t)).ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*f->Size(), kThreads * kChunk);
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    EXPECT_EQ(ReadAll(*f, t * kChunk, kChunk), Pattern(kChunk, 10 + t)) << t;
  }
}

TEST_P(PoolContractTest, RemoveFile) {
  auto f = Create("r/gone");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, Pattern(9 * kMiB, 6)).ok());
  f.reset();
  ASSERT_TRUE(pool_->RemoveFile("r/gone").ok());
  EXPECT_EQ(pool_->Stat("r/gone").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(pool_->RemoveFile("r/gone").code(), Status::Code::kNotFound);
  // Re-created under the same name: empty, no old bytes.
  auto g = Create("r/gone");
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(g->Truncate(9 * kMiB).ok());
  EXPECT_TRUE(AllZero(ReadAll(*g, 0, 9 * kMiB)));
}

TEST_P(PoolContractTest, RenameReplacesTheTarget) {
  const Bytes data = Pattern(6 * kMiB, 7);
  {
    auto a = Create("a/src");
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(a->WriteAt(0, data).ok());
    auto b = Create("b/dst");
    ASSERT_NE(b, nullptr);
    ASSERT_TRUE(b->WriteAt(0, Pattern(13 * kMiB, 8)).ok());
  }
  ASSERT_TRUE(pool_->CreateDirs("b").ok());
  Status renamed = pool_->Rename("a/src", "b/dst");
  ASSERT_TRUE(renamed.ok()) << renamed.ToString();
  ASSERT_TRUE(pool_->SyncDir("b").ok());
  EXPECT_EQ(pool_->Stat("a/src").status().code(), Status::Code::kNotFound);
  auto f = pool_->OpenFile("b/dst", env::OpenOptions::ReadOnly());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*(*f)->Size(), data.size());
  EXPECT_EQ(ReadAll(**f, 0, data.size()), data);
  // A small file too (S3: one server-side copy instead of parts).
  const Bytes small = Pattern(4096, 17);
  {
    auto s = Create("a/small");
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->WriteAt(0, small).ok());
    ASSERT_TRUE(s->Sync().ok());
  }
  renamed = pool_->Rename("a/small", "b/small");
  ASSERT_TRUE(renamed.ok()) << renamed.ToString();
  auto g = pool_->OpenFile("b/small", env::OpenOptions::ReadOnly());
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(ReadAll(**g, 0, 8192), small);
  EXPECT_EQ(pool_->Stat("a/small").status().code(), Status::Code::kNotFound);
}

TEST_P(PoolContractTest, DirectoriesListAndRemove) {
  ASSERT_TRUE(pool_->CreateDirs("x/y").ok());
  ASSERT_NE(Create("x/y/f1"), nullptr);
  ASSERT_NE(Create("x/f2"), nullptr);
  auto top = pool_->ListDir("x");
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  std::sort(top->begin(), top->end());
  EXPECT_EQ(*top, (std::vector<std::string>{"f2", "y"}));
  auto inner = pool_->ListDir("x/y");
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(*inner, std::vector<std::string>{"f1"});
  auto root = pool_->ListDir("");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, std::vector<std::string>{"x"});
  auto info = pool_->Stat("x/y");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_directory);
  EXPECT_FALSE(pool_->RemoveDir("x/y").ok());  // not empty
  ASSERT_TRUE(pool_->RemoveFile("x/y/f1").ok());
  EXPECT_TRUE(pool_->RemoveDir("x/y").ok());
}

TEST_P(PoolContractTest, PunchHoleKeepsSizeAndReadsZeros) {
  auto f = Create("p");
  ASSERT_NE(f, nullptr);
  const Bytes data = Pattern(10 * kMiB, 9);
  ASSERT_TRUE(f->WriteAt(0, data).ok());
  Status punched = f->PunchHole(kMiB, 8 * kMiB);  // a whole object (4-8 MiB) and two parts
  if (!pool_->capabilities().discard) {
    EXPECT_EQ(punched.code(), Status::Code::kNotSupported) << punched.ToString();
    GTEST_SKIP() << GetParam() << " cannot discard (capabilities)";
  }
  if (punched.code() == Status::Code::kNotSupported || punched.errno_value() == EOPNOTSUPP) {
    ASSERT_EQ(GetParam(), "posix");  // RADOS always can
    GTEST_SKIP() << "the file system under the temporary directory cannot punch holes";
  }
  ASSERT_TRUE(punched.ok()) << punched.ToString();
  EXPECT_EQ(*f->Size(), data.size());
  EXPECT_EQ(ReadAll(*f, 0, kMiB), Bytes(data.begin(), data.begin() + kMiB));
  EXPECT_TRUE(AllZero(ReadAll(*f, kMiB, 8 * kMiB)));
  EXPECT_EQ(ReadAll(*f, 9 * kMiB, kMiB), Bytes(data.begin() + 9 * kMiB, data.end()));
}

TEST_P(PoolContractTest, SpaceReportsCapacity) {
  auto space = pool_->Space();
  ASSERT_TRUE(space.ok()) << space.status().ToString();
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->total_bytes);
}

// Write leases (write_lease.h, docs/pools.md "Write leases"): one gateway writes a file at a
// time; readers are never refused; the handles of one gateway share its lease.
TEST_P(PoolContractTest, WriteLeaseIsExclusiveAcrossGateways) {
  if (!pool_->capabilities().write_lease) {
    GTEST_SKIP() << GetParam() << " has no write lease (S3 has no compare-and-swap)";
  }
  auto a = Create("lease/f");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->WriteAt(0, Pattern(4096, 1)).ok());
  auto a2 = pool_->OpenFile("lease/f", env::OpenOptions::ReadWrite());
  ASSERT_TRUE(a2.ok()) << "the same gateway's second handle: " << a2.status().ToString();

  auto b = OtherGateway("gateway-b");
  ASSERT_NE(b, nullptr);
  auto refused = b->OpenFile("lease/f", env::OpenOptions::ReadWrite());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsLeaseHeld(refused.status())) << refused.status().ToString();
  EXPECT_EQ(refused.status().errno_value(), EBUSY);
  EXPECT_NE(refused.status().message().find("lease/f"), std::string::npos);
  EXPECT_NE(refused.status().message().find("contract_pool"), std::string::npos);
  // Truncating on open is refused too, and truncated nothing.
  env::OpenOptions trunc = env::OpenOptions::ReadWrite();
  trunc.truncate = true;
  EXPECT_TRUE(IsLeaseHeld(b->OpenFile("lease/f", trunc).status()));
  auto reader = b->OpenFile("lease/f", env::OpenOptions::ReadOnly());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(ReadAll(**reader, 0, 4096), Pattern(4096, 1));

  // Released with the last writing handle of the holder: then the other gateway may write.
  a.reset();
  EXPECT_TRUE(IsLeaseHeld(b->OpenFile("lease/f", env::OpenOptions::ReadWrite()).status()));
  a2->reset();
  auto taken = b->OpenFile("lease/f", env::OpenOptions::ReadWrite());
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_TRUE((*taken)->WriteAt(4096, Pattern(512, 2)).ok());
  EXPECT_TRUE(IsLeaseHeld(pool_->OpenFile("lease/f", env::OpenOptions::ReadWrite()).status()));
}

// A lease follows its file through a rename where the kind's rename keeps the open handles
// (atomic_rename): a migration makes its copy under a temporary name, renames it into place
// while the gateway keeps it open, and the gateway then opens it again by its new name. That
// open is the same gateway's and must succeed (it once took a second lock and was refused);
// another gateway's is still refused while the handle is open.
TEST_P(PoolContractTest, ALeaseFollowsItsFileThroughARename) {
  const PoolCapabilities caps = pool_->capabilities();
  if (!caps.write_lease || !caps.atomic_rename) {
    GTEST_SKIP() << GetParam() << ": no lease, or a rename that open handles do not follow";
  }
  auto copy = Create("lease/.copy-r");
  ASSERT_NE(copy, nullptr);
  ASSERT_TRUE(copy->WriteAt(0, Pattern(4096, 5)).ok());
  ASSERT_TRUE(pool_->Rename("lease/.copy-r", "lease/r").ok());
  auto again = pool_->OpenFile("lease/r", env::OpenOptions::ReadWrite());
  ASSERT_TRUE(again.ok()) << "the same gateway, the renamed file: " << again.status().ToString();
  ASSERT_TRUE((*again)->WriteAt(4096, Pattern(512, 6)).ok());
  auto b = OtherGateway("gateway-b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(IsLeaseHeld(b->OpenFile("lease/r", env::OpenOptions::ReadWrite()).status()));
  copy.reset();
  EXPECT_TRUE(IsLeaseHeld(b->OpenFile("lease/r", env::OpenOptions::ReadWrite()).status()));
  again->reset();
  auto taken = b->OpenFile("lease/r", env::OpenOptions::ReadWrite());
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(ReadAll(**taken, 0, 4096), Pattern(4096, 5));
}

// A lease left by a gateway that died (here: the same owner id on another connection, which
// is what its restart is) is broken by its successor at once; were the old holder still
// running, it would find out at its next renewal and its writes would fail with EIO from then
// on (RADOS; a posix lease is the kernel's and dies with its process).
TEST_P(PoolContractTest, RestartedGatewayBreaksItsOwnStaleLease) {
  if (GetParam() != "rados") GTEST_SKIP() << "only RADOS leases outlive their holder";
  auto stale = Create("lease/g");
  ASSERT_NE(stale, nullptr);
  auto successor = OtherGateway(settings_.owner);
  ASSERT_NE(successor, nullptr);
  auto f = successor->OpenFile("lease/g", env::OpenOptions::ReadWrite());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->WriteAt(0, Pattern(4096, 3)).ok());
  // Another owner is still refused: the successor holds it now.
  auto other = OtherGateway("gateway-c");
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(IsLeaseHeld(other->OpenFile("lease/g", env::OpenOptions::ReadWrite()).status()));
  // The old holder's renewal (every lease_s / 3 = 2 s here) finds the lock gone.
  Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s = stale->WriteAt(8192, Pattern(512, 4));
  }
  EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
  EXPECT_NE(s.message().find("lease"), std::string::npos) << s.ToString();
  EXPECT_EQ(ReadAll(**f, 0, 4096), Pattern(4096, 3));
}

INSTANTIATE_TEST_SUITE_P(Kinds, PoolContractTest, ::testing::Values("posix", "rados", "s3"),
                         [](const auto& param_info) { return param_info.param; });

// The registry: errors name the pool and the key.
TEST(PoolRegistryTest, ValidatesEachKindsKeys) {
  const PoolRegistry& r = BuiltinPoolKinds();
  EXPECT_NE(r.Find("posix"), nullptr);
  auto message = [&](PoolSettings s) { return r.Validate(s).message(); };
  EXPECT_NE(message({"p", "posix", {}}).find("path is required"), std::string::npos);
  EXPECT_NE(message({"p", "posix", {{"path", "rel"}}}).find("path must be an absolute"),
            std::string::npos);
  EXPECT_NE(message({"p", "posix", {{"path", "/x"}, {"colour", "red"}}}).find("'colour'"),
            std::string::npos);
  EXPECT_NE(message({"p", "tape", {}}).find("kind 'tape' is not built"), std::string::npos);
  EXPECT_TRUE(r.Validate({"p", "posix", {{"path", "/x"}}}).ok());
  if (r.Find("rados") != nullptr) {
    EXPECT_NE(message({"p", "rados", {}}).find("rados_pool is required"), std::string::npos);
    EXPECT_NE(message({"p", "rados", {{"rados_pool", "c"}, {"op_timeout_s", "0"}}})
                  .find("op_timeout_s must be an integer"),
              std::string::npos);
    EXPECT_NE(message({"p", "rados", {{"rados_pool", "c"}, {"conf", "ceph.conf"}}})
                  .find("conf must be an absolute path"),
              std::string::npos);
    EXPECT_NE(message({"p", "rados", {{"rados_pool", "c"}, {"path", "/x"}}}).find("'path'"),
              std::string::npos);
    EXPECT_TRUE(r.Validate({"p", "rados", {{"rados_pool", "c"}, {"namespace", "n"}}}).ok());
  }
  if (r.Find("s3") != nullptr) {
    const std::map<std::string, std::string> good = {{"endpoint", "http://127.0.0.1:7480"},
                                                     {"bucket", "cafs"},
                                                     {"access_key", "AK"},
                                                     {"secret_key_file", "/etc/cafs/s3.secret"}};
    EXPECT_TRUE(r.Validate({"p", "s3", good}).ok()) << message({"p", "s3", good});
    auto with = [&](std::string key, std::string value) {
      auto v = good;
      v[key] = value;
      return message({"p", "s3", v});
    };
    EXPECT_NE(message({"p", "s3", {}}).find("endpoint is required"), std::string::npos);
    EXPECT_NE(with("endpoint", "127.0.0.1:7480").find("endpoint must be http"), std::string::npos);
    EXPECT_NE(with("endpoint", "http://h/b").find("endpoint must be"), std::string::npos);
    EXPECT_NE(with("bucket", "Bad_Bucket").find("bucket must be"), std::string::npos);
    EXPECT_NE(with("secret_key_file", "s3.secret").find("secret_key_file must be an absolute"),
              std::string::npos);
    EXPECT_NE(with("staging_dir", "tmp").find("staging_dir must be an absolute"),
              std::string::npos);
    EXPECT_NE(with("prefix", "/gw").find("prefix must be"), std::string::npos);
    EXPECT_NE(with("part_size_mib", "4").find("part_size_mib must be an integer"),
              std::string::npos);
    EXPECT_NE(with("secret_key", "x").find("'secret_key'"), std::string::npos);
    // The secret file is read at create: a missing one is an error naming the key.
    auto missing = with("secret_key_file", "/nonexistent/cafs-s3-secret");
    EXPECT_TRUE(missing.empty());
    auto made = r.Create({"p", "s3",
                          [&] {
                            auto v = good;
                            v["secret_key_file"] = "/nonexistent/cafs-s3-secret";
                            return v;
                          }()},
                         env::Env::Default());
    ASSERT_FALSE(made.ok());
    EXPECT_NE(made.status().message().find("secret_key_file cannot be read"), std::string::npos)
        << made.status().ToString();
  }
}

TEST(PoolRegistryTest, RefusesAnotherApiVersionAndDuplicates) {
  PoolRegistry r;
  PoolKind old = PosixPoolKind();
  old.api_version = kPoolApiVersion + 1;
  EXPECT_TRUE(r.Register(old).IsInvalidArgument());
  EXPECT_TRUE(r.Register(PosixPoolKind()).ok());
  EXPECT_EQ(r.Register(PosixPoolKind()).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(r.kinds(), std::vector<std::string>{"posix"});
}

// A cluster that cannot be reached is Unavailable at CheckAvailable, not a hang or a crash at
// construction (cafsd starts and warns).
TEST(RadosPoolTest, UnreachableClusterIsUnavailable) {
  if (BuiltinPoolKinds().Find("rados") == nullptr) GTEST_SKIP() << "rados kind not built";
  const fs::path conf =
      fs::temp_directory_path() / ("cafs-no-cluster-" + std::to_string(::getpid()) + ".conf");
  {
    std::FILE* f = std::fopen(conf.c_str(), "w");
    ASSERT_NE(f, nullptr);
    // A port nobody listens on (loopback), no auth.
    std::fputs("[global]\nmon host = 127.0.0.1:9\nauth client required = none\n", f);
    std::fclose(f);
  }
  auto pool = BuiltinPoolKinds().Create(
      {"far", "rados", {{"conf", conf.string()}, {"rados_pool", "cafs"}, {"op_timeout_s", "2"}}},
      env::Env::Default());
  ASSERT_TRUE(pool.ok());
  Status s = (*pool)->CheckAvailable();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("'far'"), std::string::npos) << s.message();
  EXPECT_EQ((*pool)->OpenFile("x", env::OpenOptions::CreateNew()).status().code(),
            Status::Code::kUnavailable);
  fs::remove(conf);
}

}  // namespace
}  // namespace cafs::pool
