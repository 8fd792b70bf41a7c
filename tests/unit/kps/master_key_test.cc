#include "kps/master_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "kps/file_util.h"
#include "unit/kps/test_dir.h"

namespace cafs::kps {
namespace {

constexpr ScryptParams kFastScrypt{1u << 10, 8, 1};

std::string Slurp(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : std::string("<missing>");
}

TEST(MasterKeyTest, FileKeyIsCreated0600AndReopens) {
  testing::TempDir dir;
  auto created = MasterKey::Create(dir.path(), std::nullopt);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->source(), "file");
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto opened = MasterKey::Open(dir.path(), std::nullopt);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->key().Equals(created->key()));
}

TEST(MasterKeyTest, CreateRefusesToOverwrite) {
  testing::TempDir dir;
  ASSERT_TRUE(MasterKey::Create(dir.path(), std::nullopt).ok());
  auto again = MasterKey::Create(dir.path(), std::nullopt);
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);
}

TEST(MasterKeyTest, WrongKeyFileIsRefusedAndNothingTouched) {
  testing::TempDir dir;
  ASSERT_TRUE(MasterKey::Create(dir.path(), std::nullopt).ok());
  std::string other(32, 'x');
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/master.key", other, 0600, false).ok());
  const std::string meta_before = Slurp(dir.path() + "/master.json");
  auto opened = MasterKey::Open(dir.path(), std::nullopt);
  EXPECT_TRUE(opened.status().IsAuthFailed()) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("wrong master key"), std::string::npos);
  EXPECT_EQ(Slurp(dir.path() + "/master.json"), meta_before);
  EXPECT_EQ(Slurp(dir.path() + "/master.key"), other);
}

TEST(MasterKeyTest, PassphraseDerivesSameKeyAndWrongOneIsRefused) {
  testing::TempDir dir;
  auto created = MasterKey::Create(dir.path(), std::string("correct horse"), kFastScrypt);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->source(), "passphrase");
  EXPECT_FALSE(FileExists(dir.path() + "/master.key"));
  auto opened = MasterKey::Open(dir.path(), std::string("correct horse"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->key().Equals(created->key()));

  const std::string meta_before = Slurp(dir.path() + "/master.json");
  auto wrong = MasterKey::Open(dir.path(), std::string("battery staple"));
  EXPECT_TRUE(wrong.status().IsAuthFailed());
  EXPECT_NE(wrong.status().message().find("wrong passphrase"), std::string::npos);
  EXPECT_EQ(Slurp(dir.path() + "/master.json"), meta_before);

  auto none = MasterKey::Open(dir.path(), std::nullopt);
  EXPECT_TRUE(none.status().IsInvalidArgument());
}

TEST(MasterKeyTest, ScryptMatchesRfc7914Vector) {
  // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16 (first 32 B).
  auto key = MasterKey::DeriveFromPassphrase("password", AsBytes("NaCl"), {1024, 8, 16});
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(ToHex(key->view()), "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162");
}

TEST(MasterKeyTest, MissingDataDirSaysRunInit) {
  testing::TempDir dir;
  auto opened = MasterKey::Open(dir.path(), std::nullopt);
  EXPECT_TRUE(opened.status().IsNotFound());
  EXPECT_NE(opened.status().message().find("kpsd init"), std::string::npos);
}

}  // namespace
}  // namespace cafs::kps
