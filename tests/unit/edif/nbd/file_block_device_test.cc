#include "edif/nbd/file_block_device.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

namespace cafs::edif::nbd {
namespace {

class FileBlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cafs-nbd-file-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/disk.img";
    std::filesystem::resize_file((std::ofstream(path_).close(), std::filesystem::path(path_)),
                                 1 << 20);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Result<Bytes> ReadSync(BlockDevice& d, std::uint64_t off, std::uint32_t len) {
    std::promise<Result<Bytes>> p;
    d.Read(off, len, [&](Status s, Bytes b) {
      if (s.ok()) {
        p.set_value(std::move(b));
      } else {
        p.set_value(std::move(s));
      }
    });
    return p.get_future().get();
  }
  static Status Sync(const std::function<void(BlockDevice::DoneCallback)>& op) {
    std::promise<Status> p;
    op([&](Status s) { p.set_value(s); });
    return p.get_future().get();
  }

  std::string dir_;
  std::string path_;
};

TEST_F(FileBlockDeviceTest, WriteReadFlushTrimZero) {
  auto dev = FileBlockDevice::Open(path_);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  BlockDevice& d = **dev;
  EXPECT_EQ(d.Size(), 1u << 20);
  Bytes data(8192);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 13);
  ASSERT_TRUE(Sync([&](auto done) { d.Write(4096, data, true, done); }).ok());
  EXPECT_EQ(ReadSync(d, 4096, 8192).value(), data);
  ASSERT_TRUE(Sync([&](auto done) { d.Flush(done); }).ok());
  ASSERT_TRUE(Sync([&](auto done) { d.WriteZeroes(4096, 4096, false, done); }).ok());
  EXPECT_EQ(ReadSync(d, 4096, 4096).value(), Bytes(4096, 0));
  ASSERT_TRUE(Sync([&](auto done) { d.Trim(65536, 4096, done); }).ok());
  // Data outside the zeroed range is intact on disk.
  std::ifstream in(path_, std::ios::binary);
  in.seekg(8192);
  Bytes tail(100);
  in.read(reinterpret_cast<char*>(tail.data()), 100);
  EXPECT_EQ(tail, Bytes(data.begin() + 4096, data.begin() + 4196));
}

TEST_F(FileBlockDeviceTest, OpenErrorsKeepErrno) {
  auto missing = FileBlockDevice::Open(dir_ + "/nope");
  EXPECT_TRUE(missing.status().IsNotFound());
  auto dir = FileBlockDevice::Open(dir_);
  EXPECT_FALSE(dir.ok());
  auto ro = FileBlockDevice::Open(path_, {.read_only = true});
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE((*ro)->Features().read_only);
}

}  // namespace
}  // namespace cafs::edif::nbd
