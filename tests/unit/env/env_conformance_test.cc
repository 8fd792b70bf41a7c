// One conformance suite for every Env: PosixEnv (in a temp dir) and MemEnv.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "env/env.h"
#include "env/mem_env.h"
#include "env/posix_env.h"
#include "unit/env/temp_dir.h"

namespace cafs::env {
namespace {

enum class Kind { kPosix, kMem };

class EnvConformanceTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kPosix) {
      tmp_ = std::make_unique<testing::TempDir>();
      env_ = Env::Default();
      root_ = tmp_->path();
    } else {
      mem_ = std::make_unique<MemEnv>();
      env_ = mem_.get();
      root_ = "/root";
      ASSERT_TRUE(env_->CreateDir(root_).ok());
    }
  }
  std::string P(const std::string& name) const { return root_ + "/" + name; }

  std::unique_ptr<File> Open(const std::string& name, OpenOptions o = {.create = true}) {
    auto f = env_->OpenFile(P(name), o);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  std::unique_ptr<testing::TempDir> tmp_;
  std::unique_ptr<MemEnv> mem_;
  Env* env_ = nullptr;
  std::string root_;
};

TEST_P(EnvConformanceTest, OpenMissingIsNotFound) {
  auto f = env_->OpenFile(P("missing"), OpenOptions::ReadWrite());
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsNotFound()) << f.status().ToString();
  EXPECT_EQ(f.status().errno_value(), ENOENT);
}

TEST_P(EnvConformanceTest, ExclusiveCreateFailsIfExists) {
  ASSERT_TRUE(Open("a"));
  auto f = env_->OpenFile(P("a"), OpenOptions::CreateNew());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kAlreadyExists);
}

TEST_P(EnvConformanceTest, WriteReadAtOffsetsAndShortReadAtEof) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, AsBytes("hello world")).ok());
  ASSERT_TRUE(f->WriteAt(6, AsBytes("WORLD")).ok());
  std::vector<std::uint8_t> buf(32, 0xee);
  auto n = f->ReadAt(0, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 11u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 11), "hello WORLD");
  n = f->ReadAt(11, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = f->ReadAt(1000, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(*f->Size(), 11u);
  EXPECT_EQ(f->path(), P("a"));
}

TEST_P(EnvConformanceTest, WritePastEndLeavesZeroGap) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(10000, AsBytes("x")).ok());
  EXPECT_EQ(*f->Size(), 10001u);
  std::vector<std::uint8_t> buf(10001, 0xee);
  ASSERT_EQ(*f->ReadAt(0, buf), 10001u);
  EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + 10000, [](auto b) { return b == 0; }));
  EXPECT_EQ(buf[10000], 'x');
}

TEST_P(EnvConformanceTest, TruncateShrinksAndGrowsWithZeros) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, AsBytes("abcdef")).ok());
  ASSERT_TRUE(f->Truncate(2).ok());
  ASSERT_TRUE(f->Truncate(5).ok());
  std::vector<std::uint8_t> buf(5);
  ASSERT_EQ(*f->ReadAt(0, buf), 5u);
  EXPECT_EQ(buf, (std::vector<std::uint8_t>{'a', 'b', 0, 0, 0}));
  ASSERT_TRUE(f->Sync().ok());
}

TEST_P(EnvConformanceTest, PunchHoleReadsZerosOrNotSupported) {
  auto f = Open("a");
  std::vector<std::uint8_t> data(3 * 4096, 0x5a);
  ASSERT_TRUE(f->WriteAt(0, data).ok());
  Status s = f->PunchHole(4096, 4096);
  if (s.code() == Status::Code::kNotSupported) GTEST_SKIP() << s.ToString();
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<std::uint8_t> buf(data.size());
  ASSERT_EQ(*f->ReadAt(0, buf), buf.size());
  EXPECT_EQ(buf[4095], 0x5a);
  EXPECT_EQ(buf[4096], 0);
  EXPECT_EQ(buf[8191], 0);
  EXPECT_EQ(buf[8192], 0x5a);
  EXPECT_EQ(*f->Size(), data.size());
}

TEST_P(EnvConformanceTest, ReadOnlyRejectsWrites) {
  ASSERT_TRUE(Open("a")->WriteAt(0, AsBytes("x")).ok());
  auto f = env_->OpenFile(P("a"), OpenOptions::ReadOnly());
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE((*f)->WriteAt(0, AsBytes("y")).ok());
  std::vector<std::uint8_t> b(1);
  ASSERT_EQ(*(*f)->ReadAt(0, b), 1u);
  EXPECT_EQ(b[0], 'x');
}

TEST_P(EnvConformanceTest, TwoHandlesSeeTheSameBytes) {
  auto a = Open("a");
  auto b = Open("a");
  ASSERT_TRUE(a->WriteAt(0, AsBytes("shared")).ok());
  std::vector<std::uint8_t> buf(6);
  ASSERT_EQ(*b->ReadAt(0, buf), 6u);
  EXPECT_EQ(std::string(buf.begin(), buf.end()), "shared");
}

TEST_P(EnvConformanceTest, RenameReplacesAtomically) {
  ASSERT_TRUE(Open("a")->WriteAt(0, AsBytes("new")).ok());
  ASSERT_TRUE(Open("b")->WriteAt(0, AsBytes("old!")).ok());
  ASSERT_TRUE(env_->Rename(P("a"), P("b")).ok());
  EXPECT_FALSE(env_->Exists(P("a")));
  auto info = env_->Stat(P("b"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 3u);
  EXPECT_FALSE(info->is_directory);
  EXPECT_TRUE(env_->Rename(P("missing"), P("c")).IsNotFound());
  ASSERT_TRUE(env_->SyncDir(root_).ok());
}

TEST_P(EnvConformanceTest, DirectoriesListRemove) {
  ASSERT_TRUE(env_->CreateDir(P("d")).ok());
  EXPECT_EQ(env_->CreateDir(P("d")).code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(env_->CreateDirs(P("d/e/f")).ok());
  ASSERT_TRUE(env_->CreateDirs(P("d/e/f")).ok());
  ASSERT_TRUE(Open("d/x"));
  auto names = env_->ListDir(P("d"));
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"e", "x"}));
  EXPECT_TRUE(env_->Stat(P("d/e"))->is_directory);
  EXPECT_FALSE(env_->RemoveDir(P("d")).ok());  // not empty
  ASSERT_TRUE(env_->RemoveFile(P("d/x")).ok());
  EXPECT_TRUE(env_->RemoveFile(P("d/x")).IsNotFound());
  ASSERT_TRUE(env_->RemoveDir(P("d/e/f")).ok());
  ASSERT_TRUE(env_->RemoveDir(P("d/e")).ok());
  ASSERT_TRUE(env_->RemoveDir(P("d")).ok());
  EXPECT_TRUE(env_->ListDir(P("d")).status().IsNotFound());
  EXPECT_TRUE(env_->Stat(P("d")).status().IsNotFound());
}

TEST_P(EnvConformanceTest, RemovedFileStaysReadableThroughOpenHandle) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, AsBytes("keep")).ok());
  ASSERT_TRUE(env_->RemoveFile(P("a")).ok());
  std::vector<std::uint8_t> buf(4);
  ASSERT_EQ(*f->ReadAt(0, buf), 4u);
  EXPECT_FALSE(env_->Exists(P("a")));
}

TEST_P(EnvConformanceTest, FreeSpaceIsPositive) {
  auto free = env_->FreeSpace(root_);
  ASSERT_TRUE(free.ok());
  EXPECT_GT(*free, 0u);
}

TEST_P(EnvConformanceTest, ConcurrentDisjointWritesAllLand) {
  auto f = Open("a");
  constexpr int kThreads = 4, kBlocks = 64, kBlock = 4096;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint8_t> block(kBlock, static_cast<std::uint8_t>(t + 1));
      for (int i = t; i < kBlocks; i += kThreads) {
        ASSERT_TRUE(f->WriteAt(static_cast<std::uint64_t>(i) * kBlock, block).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::uint8_t> all(kBlocks * kBlock);
  ASSERT_EQ(*f->ReadAt(0, all), all.size());
  for (int i = 0; i < kBlocks; ++i) {
    const auto want = static_cast<std::uint8_t>(i % kThreads + 1);
    EXPECT_TRUE(std::all_of(all.begin() + i * kBlock, all.begin() + (i + 1) * kBlock,
                            [&](auto b) { return b == want; }))
        << "block " << i;
  }
}

// Directory handles (env/dir.h): the `*at` operations the namespace uses.
TEST_P(EnvConformanceTest, DirCreatesWithExactModesAndNeverFollowsSymlinks) {
  auto root = env_->OpenDirectory(root_);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  Dir& d = **root;
  ASSERT_TRUE(d.MakeDir("sub", 0777).ok());  // exactly 0777, whatever the umask
  EXPECT_EQ(d.Stat("sub")->mode & 07777, 0777u);
  EXPECT_TRUE(d.Stat("sub")->is_directory());
  EXPECT_EQ(d.MakeDir("sub", 0700).code(), Status::Code::kAlreadyExists);
  OpenOptions create = OpenOptions::CreateNew();
  create.mode = 0666;
  auto f = d.OpenFile("f", create);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->WriteAt(0, AsBytes(std::string("data"))).ok());
  EXPECT_EQ(d.Stat("f")->mode & 07777, 0666u);
  EXPECT_EQ(d.Stat("f")->size, 4u);
  EXPECT_EQ((*f)->Stat()->ino, d.Stat("f")->ino);
  ASSERT_TRUE(d.Symlink("sub", "ls").ok());
  EXPECT_TRUE(d.Stat("ls")->is_symlink());
  EXPECT_EQ(*d.ReadLink("ls"), "sub");
  EXPECT_EQ(d.OpenDir("ls").status().errno_value(), ENOTDIR);
  EXPECT_EQ(d.OpenFile("ls", OpenOptions::ReadOnly()).status().errno_value(), ELOOP);
  EXPECT_EQ(d.OpenDir("f").status().errno_value(), ENOTDIR);
  EXPECT_TRUE(d.OpenDir("missing").status().IsNotFound());
  auto names = d.List();
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"f", "ls", "sub"}));
  // A long path is many short names.
  auto sub = d.OpenDir("sub");
  ASSERT_TRUE(sub.ok());
  for (int i = 0; i < 20; ++i) {
    const std::string name(200, static_cast<char>('a' + i));
    ASSERT_TRUE((*sub)->MakeDir(name, 0700).ok());
    auto next = (*sub)->OpenDir(name);
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    sub = std::move(next);
  }
  EXPECT_TRUE((*sub)->OpenFile("deep", OpenOptions::CreateNew()).ok());  // > PATH_MAX deep
  // As mkdir(2): a set-group-ID parent passes its bit on; set-user-ID in `mode` is dropped.
  ASSERT_TRUE(d.MakeDir("sgid", 0770).ok());
  ASSERT_TRUE(d.Chmod("sgid", 02770).ok());
  auto sgid = d.OpenDir("sgid");
  ASSERT_TRUE(sgid.ok());
  ASSERT_TRUE((*sgid)->MakeDir("inner", 04750).ok());
  EXPECT_EQ((*sgid)->Stat("inner")->mode & 07777, 02750u);
}

TEST_P(EnvConformanceTest, DirLinksRenamesAndRemoves) {
  auto root = env_->OpenDirectory(root_);
  ASSERT_TRUE(root.ok());
  Dir& d = **root;
  ASSERT_TRUE(d.MakeDir("a", 0700).ok());
  auto a = d.OpenDir("a");
  ASSERT_TRUE(a.ok());
  for (const char* name : {"x", "y"}) {
    auto f = d.OpenFile(name, OpenOptions::CreateNew());
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes(std::string(name))).ok());
  }
  // Hard link: one inode, two names.
  ASSERT_TRUE(d.Link("x", **a, "x2").ok());
  EXPECT_EQ(d.Stat("x")->nlink, 2u);
  EXPECT_EQ(d.Stat("x")->ino, (*a)->Stat("x2")->ino);
  EXPECT_EQ(d.Link("x", **a, "x2").code(), Status::Code::kAlreadyExists);
  // Renames: no-replace refuses, exchange swaps, replace replaces.
  EXPECT_EQ(d.Rename("x", d, "y", RenameMode::kNoReplace).code(), Status::Code::kAlreadyExists);
  const auto x_ino = d.Stat("x")->ino, y_ino = d.Stat("y")->ino;
  ASSERT_TRUE(d.Rename("x", d, "y", RenameMode::kExchange).ok());
  EXPECT_EQ(d.Stat("x")->ino, y_ino);
  EXPECT_EQ(d.Stat("y")->ino, x_ino);
  ASSERT_TRUE(d.Rename("y", **a, "moved", RenameMode::kReplace).ok());
  EXPECT_TRUE(d.Stat("y").status().IsNotFound());
  EXPECT_EQ((*a)->Stat("moved")->ino, x_ino);
  // Removal: a directory is not unlinked, a non-empty one not removed.
  EXPECT_EQ(d.Unlink("a").errno_value(), EISDIR);
  EXPECT_EQ(d.RemoveDir("a").errno_value(), ENOTEMPTY);
  EXPECT_EQ(d.RemoveDir("x").errno_value(), ENOTDIR);
  ASSERT_TRUE((*a)->Unlink("moved").ok());
  ASSERT_TRUE((*a)->Unlink("x2").ok());
  ASSERT_TRUE(d.RemoveDir("a").ok());
  EXPECT_TRUE(d.Sync().ok());
  // A directory renamed with its contents.
  ASSERT_TRUE(d.MakeDir("p", 0700).ok());
  ASSERT_TRUE((*d.OpenDir("p"))->MakeDir("inner", 0700).ok());
  ASSERT_TRUE(d.Rename("p", d, "q", RenameMode::kNoReplace).ok());
  EXPECT_TRUE((*d.OpenDir("q"))->Stat("inner")->is_directory());
}

TEST_P(EnvConformanceTest, DirAttributesAndSpecialFiles) {
  auto root = env_->OpenDirectory(root_);
  ASSERT_TRUE(root.ok());
  Dir& d = **root;
  ASSERT_TRUE(d.OpenFile("f", OpenOptions::CreateNew()).ok());
  ASSERT_TRUE(d.Chmod("f", 0).ok());
  EXPECT_EQ(d.Stat("f")->mode & 07777, 0u);
  // An attributes-only handle needs no access to the file.
  auto attr = d.OpenFile("f", OpenOptions::AttributesOnly());
  ASSERT_TRUE(attr.ok()) << attr.status().ToString();
  struct timespec times[2] = {{1000, 0}, {2000, 5}};
  ASSERT_TRUE((*attr)->SetTimes(times).ok());
  EXPECT_EQ((*attr)->Stat()->mtime.tv_sec, 2000);
  EXPECT_EQ((*attr)->Stat()->mtime.tv_nsec, 5);
  EXPECT_EQ((*attr)->Stat()->atime.tv_sec, 1000);
  ASSERT_TRUE((*attr)->Chmod(0640).ok());
  EXPECT_EQ(d.Stat("f")->mode & 07777, 0640u);
  EXPECT_TRUE((*attr)->Chown(static_cast<std::uint32_t>(-1), static_cast<std::uint32_t>(-1)).ok());
  struct timespec keep_atime[2] = {{0, UTIME_OMIT}, {3000, 0}};
  ASSERT_TRUE(d.SetTimes("f", keep_atime).ok());
  EXPECT_EQ(d.Stat("f")->atime.tv_sec, 1000);
  EXPECT_EQ(d.Stat("f")->mtime.tv_sec, 3000);
  const std::uint32_t keep = static_cast<std::uint32_t>(-1);
  EXPECT_TRUE(d.Chown("f", keep, keep).ok());
  ASSERT_TRUE(d.Chmod(".", 0755).ok());
  EXPECT_EQ(d.Stat(".")->mode & 07777, 0755u);
  // A FIFO: an entry without data, any user may make one.
  ASSERT_TRUE(d.MakeNode("fifo", S_IFIFO | 0640, 0).ok());
  EXPECT_TRUE(S_ISFIFO(d.Stat("fifo")->mode));
  EXPECT_EQ(d.Stat("fifo")->mode & 07777, 0640u);
  auto space = d.Space();
  ASSERT_TRUE(space.ok());
  EXPECT_GT(space->total_bytes, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllEnvs, EnvConformanceTest, ::testing::Values(Kind::kPosix, Kind::kMem),
                         [](const auto& param_info) {
                           return param_info.param == Kind::kPosix ? std::string("Posix")
                                                                   : std::string("Mem");
                         });

TEST(PosixEnvTest, ErrnoIsKept) {
  auto f = Env::Default()->OpenFile("/proc/definitely/not/here", OpenOptions::ReadWrite());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().errno_value(), ENOENT);
  EXPECT_NE(f.status().message().find("/proc/definitely/not/here"), std::string::npos);
}

TEST(PosixEnvTest, SparseFileAllocatesLittle) {
  testing::TempDir tmp;
  auto f = Env::Default()->OpenFile(tmp.path() + "/s", {.create = true});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(std::uint64_t{1} << 30, AsBytes("x")).ok());
  auto info = Env::Default()->Stat(tmp.path() + "/s");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, (std::uint64_t{1} << 30) + 1);
  EXPECT_LT(info->allocated_bytes, std::uint64_t{1} << 20);
}

}  // namespace
}  // namespace cafs::env
