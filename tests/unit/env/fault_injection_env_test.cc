// FaultInjectionEnv over MemEnv and PosixEnv: ENOSPC, read/sync/rename faults, and crashes
// that drop exactly the unsynced writes and truncates.
#include "env/fault_injection_env.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cafs::env
