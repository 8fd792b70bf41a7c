#include "audit/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace cafs::audit {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cafs-audit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.jsonl").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static AuditRecord Denial(int i) {
    AuditRecord r;
    r.time_ms = 1700000000000 + i;
    r.server = "10.2.45.68";
    r.vmset = "my_vmset";
    r.vm = "windows_xp";
    r.file = "osdisk1.vmdk";
    r.op = "lookup";
    r.result = Result::kDenied;
    r.reason = "server not listed";
    return r;
  }

  std::vector<std::string> Lines() {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  void WriteLines(const std::vector<std::string>& lines) {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, ChainVerifiesAndSurvivesReopen) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append(Denial(i)).ok());
  }
  auto log = AuditLog::Open(path_);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->last_seq(), 5u);
  auto r = (*log)->Append(Denial(5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 6u);
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, 6u);
  auto all = ReadAuditLog(path_);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[0].prev_hash, GenesisHash());
  EXPECT_EQ((*all)[3].server, "10.2.45.68");
  EXPECT_EQ((*all)[3].result, Result::kDenied);
}

TEST_F(AuditLogTest, EditedRecordIsDetected) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*log)->Append(Denial(i)).ok());
  }
  auto lines = Lines();
  auto pos = lines[2].find("10.2.45.68");
  ASSERT_NE(pos, std::string::npos);
  lines[2].replace(pos, 10, "10.2.45.67");  // someone hides who was refused
  WriteLines(lines);
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_line, 3u);
  EXPECT_NE(report->problem.find("edited"), std::string::npos);
}

TEST_F(AuditLogTest, RemovedRecordIsDetected) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*log)->Append(Denial(i)).ok());
  }
  auto lines = Lines();
  lines.erase(lines.begin() + 1);
  WriteLines(lines);
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_line, 2u);
}

TEST_F(AuditLogTest, TornTailIsCutAndChainContinues) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Denial(i)).ok());
  }
  {
    std::ofstream out(path_, std::ios::app);
    out << "{\"bytes\":0,\"cou";  // crash in the middle of a record
  }
  auto log = AuditLog::Open(path_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_GT((*log)->torn_bytes_dropped(), 0u);
  ASSERT_TRUE((*log)->Append(Denial(9)).ok());
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, 4u);
}

TEST_F(AuditLogTest, ConcurrentAppendsFormOneChain) {
  auto log = AuditLog::Open(path_, AuditLogOptions{.sync_every_record = false});
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE((*log)->Append(Denial(t * 100 + i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, 200u);
}

TEST_F(AuditLogTest, MalformedLinesAreRejectedWithReason) {
  EXPECT_FALSE(AuditRecord::FromLine("not json").ok());
  EXPECT_FALSE(AuditRecord::FromLine("{\"seq\":1}").ok());
  AuditRecord r = Denial(1);
  r.hash = r.ComputeHash();
  std::string line = r.ToLine();
  ASSERT_TRUE(AuditRecord::FromLine(line).ok());
  std::string extra = line.substr(0, line.size() - 1) + ",\"x\":1}";
  EXPECT_FALSE(AuditRecord::FromLine(extra).ok());
}

// The NFS client's address (issue 16 defect 5): a member only when set, so records without
// it are byte for byte what they were; it is hashed, round-trips, and an empty one is refused.
TEST_F(AuditLogTest, ClientAddressIsOptionalAndHashed) {
  auto log = AuditLog::Open(path_, {});
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  AuditRecord fuse = Denial(1);
  fuse.server = "755083456";
  AuditRecord nfs = Denial(2);
  nfs.server = "";
  nfs.client = "192.0.2.11";
  ASSERT_TRUE((*log)->Append(fuse).ok());
  ASSERT_TRUE((*log)->Append(nfs).ok());
  log->reset();
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].find("\"client\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"client\":\"192.0.2.11\""), std::string::npos) << lines[1];
  auto back = AuditRecord::FromLine(lines[1]);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->client, "192.0.2.11");
  EXPECT_EQ(back->server, "");
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;

  // Another address in place of the recorded one breaks the chain.
  std::string edited = lines[1];
  edited.replace(edited.find("192.0.2.11"), 10, "192.0.2.10");
  WriteLines({lines[0], edited});
  report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  std::string empty = lines[1];
  empty.replace(empty.find("\"192.0.2.11\""), 12, "\"\"");
  EXPECT_FALSE(AuditRecord::FromLine(empty).ok());
}

}  // namespace
}  // namespace cafs::audit
