// Crash and full-disk behaviour of EncryptedFile on FaultInjectionEnv over MemEnv.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "env/fault_injection_env.h"
#include "env/mem_env.h"
#include "format/encrypted_file.h"
#include "unit/format/test_util.h"

namespace cafs::format {
namespace {

class EncryptedFileCrashTest : public ::testing::TestWithParam<testing::CipherAndSector> {
 protected:
  void SetUp() override { ASSERT_TRUE(mem_.CreateDir("/p").ok()); }
  crypto::CipherId cipher() const { return std::get<0>(GetParam()); }

  std::unique_ptr<EncryptedFile> Create() {
    CreateParams p;
    p.cipher = cipher();
    p.sector_size = std::get<1>(GetParam());
    auto ef = EncryptedFile::Create(
        testing::Must(fenv_.OpenFile(path_, env::OpenOptions::CreateNew())), p, dek_);
    EXPECT_TRUE(ef.ok()) << ef.status().ToString();
    return std::move(ef).value();
  }
  Result<std::unique_ptr<EncryptedFile>> Reopen() {
    return EncryptedFile::Open(testing::Must(fenv_.OpenFile(path_, env::OpenOptions::ReadWrite())),
                               dek_);
  }

  env::MemEnv mem_;
  env::FaultInjectionEnv fenv_{&mem_};
  const std::string path_ = "/p/file";
  SecureBuffer dek_ = testing::TestDek(std::get<0>(GetParam()));
};

std::vector<std::uint8_t> ReadAll(EncryptedFile& ef) {
  std::vector<std::uint8_t> out(ef.Size());
  auto n = ef.Read(0, out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return out;
}

std::vector<std::uint8_t> RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() | 1);  // never zero: easy to spot holes
  return v;
}

TEST_P(EncryptedFileCrashTest, CrashKeepsEverySyncedByte) {
  std::mt19937_64 rng(42);
  auto ef = Create();
  std::vector<std::uint8_t> synced;
  for (int round = 0; round < 6; ++round) {
    // Random writes, then sync: this is the durable state.
    std::vector<std::uint8_t> model = synced;
    for (int i = 0; i < 5; ++i) {
      const std::uint64_t off = rng() % (model.size() + 20000);
      auto data = RandomBytes(rng, 1 + rng() % 20000);
      ASSERT_TRUE(ef->Write(off, data).ok());
      if (model.size() < off + data.size()) model.resize(off + data.size(), 0);
      std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(off));
    }
    ASSERT_TRUE(ef->Sync().ok());
    synced = model;
    // Unsynced work: overwrites, extensions and a truncate, all lost in the crash.
    ASSERT_TRUE(ef->Write(rng() % (synced.size() + 1), RandomBytes(rng, 5000)).ok());
    ASSERT_TRUE(ef->Write(synced.size() + 3000, RandomBytes(rng, 7000)).ok());
    if (round % 2 == 1) {
      ASSERT_TRUE(ef->Truncate(synced.size() / 2).ok());
    }
    ASSERT_TRUE(ef->Write(synced.size() / 3 + 1, RandomBytes(rng, 100)).ok());
    ef.reset();
    ASSERT_TRUE(fenv_.DropUnsyncedData().ok());
    auto reopened = Reopen();
    ASSERT_TRUE(reopened.ok()) << "round " << round << ": " << reopened.status().ToString();
    ef = std::move(reopened).value();
    ASSERT_EQ(ef->Size(), synced.size()) << "round " << round;
    ASSERT_EQ(ReadAll(*ef), synced) << "round " << round;
  }
}

TEST_P(EncryptedFileCrashTest, CrashBetweenDataSyncAndHeaderKeepsOldSizeAndRepairsTail) {
  auto ef = Create();
  std::mt19937_64 rng(7);
  auto first = RandomBytes(rng, 5000);
  ASSERT_TRUE(ef->Write(0, first).ok());
  ASSERT_TRUE(ef->Sync().ok());
  // Extend and let the data sync succeed but fail the header's sync (the second Sync of the
  // pool file): the header rewrite is then not durable.
  ASSERT_TRUE(ef->Write(5000, RandomBytes(rng, 9000)).ok());
  int syncs = 0;
  fenv_.SetSyncFault([&](const std::string&) { return ++syncs == 2; });
  EXPECT_FALSE(ef->Sync().ok());
  fenv_.ClearFaults();
  ef.reset();
  ASSERT_TRUE(fenv_.DropUnsyncedData().ok());
  auto reopened = Reopen();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  ef = std::move(reopened).value();
  ASSERT_EQ(ef->Size(), 5000u);  // the durable size, never larger than durable data
  EXPECT_EQ(ReadAll(*ef), first);
  // The synced-but-beyond-size bytes were repaired: extending shows zeros in the gap.
  ASSERT_TRUE(ef->Truncate(20000).ok());
  auto all = ReadAll(*ef);
  EXPECT_TRUE(std::all_of(all.begin() + 5000, all.end(), [](auto b) { return b == 0; }));
}

TEST_P(EncryptedFileCrashTest, NoSpaceMidWriteIsReportedAndSyncedDataSurvives) {
  auto ef = Create();
  std::mt19937_64 rng(9);
  auto base = RandomBytes(rng, 64 * 1024);
  ASSERT_TRUE(ef->Write(0, base).ok());
  ASSERT_TRUE(ef->Sync().ok());
  fenv_.FailWritesAfter(10000);
  Status s = ef->Write(30000, RandomBytes(rng, 200 * 1024));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  fenv_.ClearWriteLimit();
  ef.reset();
  ASSERT_TRUE(fenv_.DropUnsyncedData().ok());
  auto reopened = Reopen();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(ReadAll(**reopened), base);
  // Without a crash: the file still opens and the header verifies after the failed write.
  fenv_.FailWritesAfter(100);
  EXPECT_TRUE((*reopened)->Write(0, RandomBytes(rng, 10000)).IsNoSpace());
  fenv_.ClearWriteLimit();
  reopened->reset();
  EXPECT_TRUE(Reopen().ok());
}

TEST_P(EncryptedFileCrashTest, ReadErrorsPropagate) {
  auto ef = Create();
  ASSERT_TRUE(ef->Write(0, std::vector<std::uint8_t>(10000, 7)).ok());
  fenv_.SetReadFault(
      [](const std::string&, std::uint64_t off, std::uint64_t) { return off >= 4096; });
  std::vector<std::uint8_t> buf(100);
  auto r = ef->Read(10, buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().errno_value(), EIO);
  fenv_.ClearFaults();
  EXPECT_TRUE(ef->Read(10, buf).ok());
}

INSTANTIATE_TEST_SUITE_P(
    AllCiphers, EncryptedFileCrashTest,
    ::testing::Combine(::testing::ValuesIn(testing::AllCiphers()),
                       ::testing::Values(std::uint32_t{512}, std::uint32_t{4096})),
    [](const auto& param_info) { return testing::ParamName(param_info.param); });

}  // namespace
}  // namespace cafs::format
