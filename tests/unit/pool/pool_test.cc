#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "env/env.h"
#include "pool/pool_mapper.h"
#include "pool/posix_pool.h"

namespace cafs::pool {
namespace {

namespace fs = std::filesystem;

TEST(PoolPathTest, RejectsPathsThatLeaveThePool) {
  EXPECT_TRUE(ValidateRelativePath("vs/vm/osdisk1.vmdk").ok());
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/"}) {
    EXPECT_TRUE(ValidateRelativePath(bad).status().IsInvalidArgument()) << bad;
  }
}

class PosixPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cafs-pool-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(PosixPoolTest, FilesLiveBelowTheRoot) {
  PosixPool pool("mirrored_pool_A", root_.string(), env::Env::Default());
  ASSERT_TRUE(pool.CheckAvailable().ok());
  ASSERT_TRUE(pool.CreateDirs("my_vmset/windows_xp").ok());
  auto f = pool.OpenFile("my_vmset/windows_xp/osdisk1.vmdk", env::OpenOptions::CreateNew());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->WriteAt(0, AsBytes("hello")).ok());
  EXPECT_TRUE(fs::exists(root_ / "my_vmset/windows_xp/osdisk1.vmdk"));
  EXPECT_TRUE(
      pool.OpenFile("../escape", env::OpenOptions::CreateNew()).status().IsInvalidArgument());
  ASSERT_TRUE(pool.Rename("my_vmset/windows_xp/osdisk1.vmdk", "my_vmset/windows_xp/b").ok());
  auto names = pool.ListDir("my_vmset/windows_xp");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"b"});
  auto space = pool.Space();
  ASSERT_TRUE(space.ok());
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_GE(space->UsedPercent(), 0.0);
  EXPECT_LE(space->UsedPercent(), 100.0);
}

TEST_F(PosixPoolTest, DisappearedPoolIsUnavailable) {
  PosixPool pool("p", (root_ / "gone").string(), env::Env::Default());
  Status s = pool.CheckAvailable();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("gone"), std::string::npos);
  EXPECT_EQ(pool.Space().status().code(), Status::Code::kUnavailable);
}

TEST(PoolMapperTest, FindsByNameAndExplainsMisses) {
  PoolMapper mapper;
  ASSERT_TRUE(
      mapper.Add(std::make_unique<PosixPool>("default_pool", "/tmp/a", env::Env::Default())).ok());
  ASSERT_TRUE(
      mapper.Add(std::make_unique<PosixPool>("mirrored_pool_A", "/tmp/b", env::Env::Default()))
          .ok());
  EXPECT_TRUE(mapper.Add(std::make_unique<PosixPool>("default_pool", "/tmp/c", env::Env::Default()))
                  .code() == Status::Code::kAlreadyExists);
  EXPECT_TRUE(mapper.Add(std::make_unique<PosixPool>("a##b", "/tmp/c", env::Env::Default()))
                  .IsInvalidArgument());
  auto p = mapper.Find("mirrored_pool_A");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->name(), "mirrored_pool_A");
  auto miss = mapper.Find("sp_raid");
  EXPECT_TRUE(miss.status().IsNotFound());
  EXPECT_NE(miss.status().message().find("default_pool, mirrored_pool_A"), std::string::npos);
}

}  // namespace
}  // namespace cafs::pool

namespace cafs::pool {
namespace {

// A pool whose directory goes away under open files (posix_pool.h): Sync (never throttled)
// fails with EIO naming the pool, another directory in its place is not the pool, the same
// directory back is.
TEST_F(PosixPoolTest, FilesOfAVanishedPoolFailWithEioUntilItIsBack) {
  const fs::path root = root_ / "pool";
  fs::create_directories(root);
  PosixPool pool("mirrored_pool_A", root.string(), env::Env::Default());
  auto f = pool.OpenFile("disk", env::OpenOptions::CreateNew());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->WriteAt(0, AsBytes("data")).ok());
  ASSERT_TRUE((*f)->Sync().ok());

  fs::rename(root, root_ / "away");
  Status s = (*f)->Sync();
  EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
  EXPECT_NE(s.message().find("mirrored_pool_A"), std::string::npos) << s.ToString();
  EXPECT_EQ(pool.OpenFile("other", env::OpenOptions::CreateNew()).status().errno_value(), EIO);

  fs::create_directories(root);  // an empty mount point left behind
  EXPECT_EQ(pool.CheckAvailable().code(), Status::Code::kUnavailable);
  EXPECT_EQ((*f)->Sync().errno_value(), EIO);
  EXPECT_FALSE(fs::exists(root / "other"));

  fs::remove(root);
  fs::rename(root_ / "away", root);
  EXPECT_TRUE(pool.CheckAvailable().ok());
  EXPECT_TRUE((*f)->WriteAt(4, AsBytes("more")).ok());
  EXPECT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(fs::file_size(root / "disk"), 8u);
}

TEST(PoolNameTest, NamesThatWouldMakeRedirectorsAmbiguousAreRefused) {
  EXPECT_TRUE(ValidatePoolName("mirrored_pool_A").ok());
  EXPECT_TRUE(ValidatePoolName("pool#1").ok());
  for (const char* bad : {"", "a/b", "a##b", "#pool", ".", ".."}) {
    EXPECT_TRUE(ValidatePoolName(bad).IsInvalidArgument()) << bad;
  }
}

// A pool name whose hashed backing name `.cafs-long-<64 hex>##pool` would not fit NAME_MAX is
// refused with an error naming the limit, also when a pool is configured (PoolMapper::Add).
TEST_F(PosixPoolTest, NamesTooLongForTheHashedBackingNameAreRefused) {
  EXPECT_TRUE(ValidatePoolName(std::string(kMaxPoolNameBytes, 'p')).ok());
  const Status too_long = ValidatePoolName(std::string(kMaxPoolNameBytes + 1, 'p'));
  EXPECT_TRUE(too_long.IsInvalidArgument());
  EXPECT_NE(too_long.message().find("179 bytes; at most 178"), std::string::npos)
      << too_long.message();
  PoolMapper mapper;
  EXPECT_TRUE(mapper
                  .Add(std::make_unique<PosixPool>(std::string(kMaxPoolNameBytes + 1, 'p'),
                                                   root_.string(), env::Env::Default()))
                  .IsInvalidArgument());
  EXPECT_TRUE(mapper
                  .Add(std::make_unique<PosixPool>(std::string(kMaxPoolNameBytes, 'p'),
                                                   root_.string(), env::Env::Default()))
                  .ok());
}

}  // namespace
}  // namespace cafs::pool
