// FaultInjectionEnv over MemEnv and PosixEnv: ENOSPC, read/sync/rename faults, and crashes
// that drop exactly the unsynced writes and truncates.
#include "env/fault_injection_env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "env/mem_env.h"
#include "unit/env/temp_dir.h"

namespace cafs::env {
namespace {

std::string ReadAll(File& f) {
  const std::uint64_t size = *f.Size();
  std::string s(size, '\0');
  auto n = f.ReadAt(0, MutableByteView(reinterpret_cast<std::uint8_t*>(s.data()), s.size()));
  EXPECT_TRUE(n.ok());
  return s;
}

class FaultInjectionEnvTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      tmp_ = std::make_unique<testing::TempDir>();
      base_ = Env::Default();
      root_ = tmp_->path();
    } else {
      base_ = &mem_;
      root_ = "/r";
      ASSERT_TRUE(mem_.CreateDir(root_).ok());
    }
    fenv_ = std::make_unique<FaultInjectionEnv>(base_);
  }
  std::unique_ptr<File> Open(const std::string& name) {
    auto f = fenv_->OpenFile(root_ + "/" + name, {.create = true});
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return std::move(f).value();
  }

  MemEnv mem_;
  std::unique_ptr<testing::TempDir> tmp_;
  Env* base_ = nullptr;
  std::string root_;
  std::unique_ptr<FaultInjectionEnv> fenv_;
};

TEST_P(FaultInjectionEnvTest, CrashDropsUnsyncedWritesAndTruncates) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, AsBytes("synced-data")).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(0, AsBytes("XXXXXX")).ok());  // overwrite
  ASSERT_TRUE(f->WriteAt(100, AsBytes("tail")).ok());  // extend
  ASSERT_TRUE(f->Truncate(3).ok());                    // shrink
  ASSERT_TRUE(f->WriteAt(50, AsBytes("more")).ok());   // extend again
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(*f), "synced-data");
  // A second crash with nothing unsynced changes nothing.
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(*Open("a")), "synced-data");
}

TEST_P(FaultInjectionEnvTest, NeverSyncedFileRollsBackToEmpty) {
  auto f = Open("b");
  ASSERT_TRUE(f->WriteAt(0, AsBytes("lost")).ok());
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(*f->Size(), 0u);
}

TEST_P(FaultInjectionEnvTest, WriteLimitGivesEnospcAfterAPrefix) {
  auto f = Open("c");
  fenv_->FailWritesAfter(5);
  ASSERT_TRUE(f->WriteAt(0, AsBytes("abc")).ok());
  Status s = f->WriteAt(3, AsBytes("defgh"));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(s.errno_value(), ENOSPC);
  EXPECT_EQ(ReadAll(*f), "abcde");  // the prefix up to the limit reached the file
  EXPECT_TRUE(f->WriteAt(0, AsBytes("z")).IsNoSpace());
  fenv_->ClearWriteLimit();
  EXPECT_TRUE(f->WriteAt(0, AsBytes("z")).ok());
  EXPECT_EQ(fenv_->bytes_written(), 3u + 2u + 1u);
}

// ReadAtNoWait (preadv2 RWF_NOWAIT on PosixEnv) reads what ReadAt reads when the data is
// cached (just written here), short only at the end; an injected page-cache miss answers EAGAIN
// and counts, while ReadAt, the blocking fallback, still reads. Stat calls are counted.
TEST_P(FaultInjectionEnvTest, ReadAtNoWaitAndItsMisses) {
  auto f = Open("nowait");
  const std::string data(10000, 'n');
  ASSERT_TRUE(f->WriteAt(0, AsBytes(data)).ok());
  std::string got(12000, '\0');
  MutableByteView out(reinterpret_cast<std::uint8_t*>(got.data()), got.size());
  auto n = f->ReadAtNoWait(0, out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(got.substr(0, data.size()), data);
  EXPECT_EQ(*f->ReadAtNoWait(20000, out), 0u);  // past the end

  fenv_->SetNoWaitMiss(
      [](const std::string&, std::uint64_t offset, std::uint64_t) { return offset < 5000; });
  auto miss = f->ReadAtNoWait(0, out);
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.status().errno_value(), EAGAIN);
  EXPECT_EQ(fenv_->nowait_misses(), 1u);
  EXPECT_EQ(*f->ReadAt(0, out), data.size());  // the blocking fallback
  EXPECT_EQ(*f->ReadAtNoWait(6000, out), data.size() - 6000);
  fenv_->ClearFaults();
  EXPECT_TRUE(f->ReadAtNoWait(0, out).ok());
  EXPECT_EQ(fenv_->nowait_misses(), 1u);

  const std::uint64_t stats = fenv_->file_stats();
  (void)f->Stat();
  (void)f->Stat();
  EXPECT_EQ(fenv_->file_stats(), stats + 2);
}

TEST_P(FaultInjectionEnvTest, PredicateFaults) {
  auto f = Open("d");
  ASSERT_TRUE(f->WriteAt(0, AsBytes("0123456789")).ok());
  fenv_->SetWriteFault(
      [](const std::string&, std::uint64_t off, std::uint64_t) { return off == 4; });
  EXPECT_TRUE(f->WriteAt(4, AsBytes("x")).IsNoSpace());
  EXPECT_TRUE(f->WriteAt(5, AsBytes("y")).ok());
  fenv_->SetReadFault([](const std::string&, std::uint64_t off, std::uint64_t) { return off < 2; });
  std::vector<std::uint8_t> b(2);
  auto r = f->ReadAt(0, b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().errno_value(), EIO);
  EXPECT_TRUE(f->ReadAt(2, b).ok());
  fenv_->SetSyncFault([](const std::string&) { return true; });
  EXPECT_EQ(f->Sync().errno_value(), EIO);
  // The failed sync kept the undo log: a crash still drops the write.
  fenv_->ClearFaults();
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(*f->Size(), 0u);
  fenv_->SetRenameFault(true);
  EXPECT_EQ(fenv_->Rename(root_ + "/d", root_ + "/e").errno_value(), EIO);
  fenv_->SetRenameFault(false);
  EXPECT_TRUE(fenv_->Rename(root_ + "/d", root_ + "/e").ok());
}

INSTANTIATE_TEST_SUITE_P(OverMemAndPosix, FaultInjectionEnvTest, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? std::string("Posix") : std::string("Mem");
                         });

// (b') Directory changes: lost on a crash until their directory is synced.
class DirectoryCrashTest : public FaultInjectionEnvTest {
 protected:
  void SetUp() override {
    FaultInjectionEnvTest::SetUp();
    ASSERT_TRUE(base_->CreateDir(root_ + "/d").ok());
    ASSERT_TRUE(base_->CreateDir(root_ + "/e").ok());
    ASSERT_TRUE(fenv_->ModelDirectoryCrashes(root_ + "/stash").ok());
    auto d = fenv_->OpenDirectory(root_ + "/d");
    auto e = fenv_->OpenDirectory(root_ + "/e");
    ASSERT_TRUE(d.ok() && e.ok());
    d_ = std::move(*d);
    e_ = std::move(*e);
  }
  // A file `name` in `dir` holding `text`, data synced (the directory entry is not).
  void Put(Dir& dir, const std::string& name, const std::string& text) {
    auto f = dir.OpenFile(name, {.create = true, .truncate = true});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes(text)).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  std::string Get(Dir& dir, const std::string& name) {
    auto f = dir.OpenFile(name, OpenOptions::ReadOnly());
    return f.ok() ? ReadAll(**f) : "<" + f.status().ToString() + ">";
  }
  std::vector<std::string> Names(Dir& dir) {
    auto names = dir.List();
    EXPECT_TRUE(names.ok());
    std::sort(names->begin(), names->end());
    return *names;
  }
  std::unique_ptr<Dir> d_, e_;
};

TEST_P(DirectoryCrashTest, UnsyncedCreatesAndMkdirsAreLostSyncedOnesKept) {
  Put(*d_, "kept", "k");
  ASSERT_TRUE(d_->Sync().ok());
  Put(*d_, "lost", "l");
  ASSERT_TRUE(d_->MakeDir("sub", 0755).ok());
  auto sub = d_->OpenDir("sub");
  ASSERT_TRUE(sub.ok());
  Put(**sub, "inner", "i");
  ASSERT_TRUE((*sub)->Sync().ok());  // durable inside, but "sub" itself is not
  ASSERT_TRUE(d_->Symlink("kept", "link").ok());
  ASSERT_TRUE(d_->MakeNode("fifo", S_IFIFO | 0600, 0).ok() || !GetParam());
  EXPECT_GE(fenv_->pending_directory_changes(), 3u);
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Names(*d_), std::vector<std::string>{"kept"});
  EXPECT_EQ(Get(*d_, "kept"), "k");
  EXPECT_EQ(fenv_->pending_directory_changes(), 0u);
}

TEST_P(DirectoryCrashTest, UnsyncedUnlinkAndRmdirComeBack) {
  Put(*d_, "a", "alpha");
  ASSERT_TRUE(d_->MakeDir("empty", 0750).ok());
  ASSERT_TRUE(d_->Sync().ok());
  ASSERT_TRUE(d_->Unlink("a").ok());
  ASSERT_TRUE(d_->RemoveDir("empty").ok());
  EXPECT_EQ(Names(*d_), std::vector<std::string>{});
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Names(*d_), (std::vector<std::string>{"a", "empty"}));
  EXPECT_EQ(Get(*d_, "a"), "alpha");
  EXPECT_EQ(d_->Stat("empty")->mode & 07777, 0750u);
  // Synced, an unlink stays done (and its stash is gone).
  ASSERT_TRUE(d_->Unlink("a").ok());
  ASSERT_TRUE(d_->Sync().ok());
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Names(*d_), std::vector<std::string>{"empty"});
  auto stash = base_->ListDir(root_ + "/stash");
  ASSERT_TRUE(stash.ok());
  EXPECT_TRUE(stash->empty());
}

TEST_P(DirectoryCrashTest, RenameBetweenDirectoriesNeedsBothSynced) {
  Put(*d_, "x", "new");
  Put(*e_, "y", "old");
  ASSERT_TRUE(d_->Sync().ok());
  ASSERT_TRUE(e_->Sync().ok());
  // Over an existing target, then only the target's directory synced: undone, and the
  // replaced file is back.
  ASSERT_TRUE(d_->Rename("x", *e_, "y", RenameMode::kReplace).ok());
  ASSERT_TRUE(e_->Sync().ok());
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Get(*d_, "x"), "new");
  EXPECT_EQ(Get(*e_, "y"), "old");
  // Both synced: durable.
  ASSERT_TRUE(d_->Rename("x", *e_, "y", RenameMode::kReplace).ok());
  ASSERT_TRUE(e_->Sync().ok());
  ASSERT_TRUE(d_->Sync().ok());
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Names(*d_), std::vector<std::string>{});
  EXPECT_EQ(Get(*e_, "y"), "new");
  // A link is a create in its directory.
  ASSERT_TRUE(e_->Link("y", *d_, "z").ok());
  EXPECT_EQ(e_->Stat("y")->nlink, 2u);
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Names(*d_), std::vector<std::string>{});
  EXPECT_EQ(e_->Stat("y")->nlink, 1u);
}

TEST_P(DirectoryCrashTest, PathBasedChangesAreJournalledToo) {
  ASSERT_TRUE(fenv_->CreateDirs(root_ + "/d/p/q").ok());  // durable: CreateDirs syncs parents
  auto f = fenv_->OpenFile(root_ + "/d/p/q/file", OpenOptions::CreateNew());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(fenv_->Rename(root_ + "/d/p/q/file", root_ + "/d/p/moved").ok());
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_TRUE(fenv_->Exists(root_ + "/d/p/q"));
  EXPECT_FALSE(fenv_->Exists(root_ + "/d/p/q/file"));
  EXPECT_FALSE(fenv_->Exists(root_ + "/d/p/moved"));
}

TEST_P(DirectoryCrashTest, CrashAfterFailsEveryLaterStep) {
  fenv_->CrashAfter(1);
  EXPECT_TRUE(d_->MakeDir("one", 0700).ok());
  EXPECT_FALSE(fenv_->crashed());
  Status s = d_->MakeDir("two", 0700);
  EXPECT_EQ(s.errno_value(), EIO);
  EXPECT_TRUE(fenv_->crashed());
  EXPECT_FALSE(d_->Sync().ok());
  EXPECT_FALSE(d_->Stat("two").ok());  // the failed step did nothing
  fenv_->ClearFaults();
  ASSERT_TRUE(fenv_->DropUnsyncedData().ok());
  EXPECT_EQ(Names(*d_), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(OverMemAndPosix, DirectoryCrashTest, ::testing::Values(false, true),
                         [](const auto& kind) { return kind.param ? "Posix" : "Mem"; });

}  // namespace
}  // namespace cafs::env
