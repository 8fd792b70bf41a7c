// AuditPusher: every record of the local log reaches the sink in order, a failing sink
// loses nothing, a restart resumes from the persisted cursor, a replaced log is pushed again
// from its start, a torn tail waits until it is complete.
#include "cafs/audit_pusher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "audit/audit_log.h"

namespace cafs::core {
namespace {

// Records what it takes; fails while `failures_left` > 0 (kpsd unreachable).
class FlakySink final : public AuditSink {
 public:
  Status Push(const std::vector<audit::AuditRecord>& records) override {
    ++calls;
    if (failures_left > 0) {
      --failures_left;
      return Status::Unavailable("kpsd at https://127.0.0.1:1 cannot be reached");
    }
    batches.push_back(records.size());
    for (const auto& r : records) taken.push_back(r);
    return Status::OK();
  }
  std::string Describe() const override { return "flaky test sink"; }

  int failures_left = 0;
  int calls = 0;
  std::vector<std::size_t> batches;
  std::vector<audit::AuditRecord> taken;
};

class AuditPusherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cafs-pusher-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    OpenLog();
  }
  void TearDown() override {
    log_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void OpenLog() {
    log_.reset();
    auto log = audit::AuditLog::Open(log_path(), {.sync_every_record = false});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }
  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      audit::AuditRecord r;
      r.time_ms = 1700000000000 + next_;
      r.server = "vs-1";
      r.vmset = "my_vmset";
      r.vm = "windows_xp";
      r.file = "osdisk" + std::to_string(next_) + ".qcow2";
      r.op = "write";
      r.bytes = 4096;
      ++next_;
      ASSERT_TRUE(log_->Append(r).ok());
    }
  }
  AuditPusherOptions Options(std::size_t batch = 3) {
    return {.log_path = log_path(), .cursor_path = cursor_path(), .max_batch_records = batch};
  }
  std::unique_ptr<AuditPusher> Pusher(FlakySink* sink, std::size_t batch = 3) {
    auto p = AuditPusher::Create(sink, Options(batch));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }
  static std::vector<std::uint64_t> Seqs(const std::vector<audit::AuditRecord>& rs) {
    std::vector<std::uint64_t> out;
    for (const auto& r : rs) out.push_back(r.seq);
    return out;
  }
  static std::vector<std::uint64_t> Range(std::uint64_t from, std::uint64_t to) {
    std::vector<std::uint64_t> out;
    for (auto s = from; s <= to; ++s) out.push_back(s);
    return out;
  }
  std::string log_path() const { return dir_ + "/audit.jsonl"; }
  std::string cursor_path() const { return dir_ + "/audit.jsonl.kps-cursor"; }

  std::string dir_;
  std::unique_ptr<audit::AuditLog> log_;
  int next_ = 0;
};

TEST_F(AuditPusherTest, PushesEveryRecordInOrderInBatchesAndPersistsTheCursor) {
  Append(10);
  FlakySink sink;
  auto pusher = Pusher(&sink);
  auto n = pusher->PushPending();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(Seqs(sink.taken), Range(1, 10));
  EXPECT_EQ(sink.batches, (std::vector<std::size_t>{3, 3, 3, 1}));
  // The records arrive as written: their hashes still verify.
  for (const auto& r : sink.taken) EXPECT_EQ(r.ComputeHash(), r.hash);
  auto saved = AuditPusher::LoadCursor(env::Env::Default(), cursor_path());
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->seq, 10u);
  EXPECT_EQ(saved->hash, sink.taken.back().hash);
  EXPECT_EQ(saved->offset, std::filesystem::file_size(log_path()));
  // Nothing new: nothing sent.
  n = pusher->PushPending();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(sink.taken.size(), 10u);
}

TEST_F(AuditPusherTest, AFailingSinkLosesNothingAndGetsNoDuplicatesWhenItRecovers) {
  Append(4);
  FlakySink sink;
  sink.failures_left = 3;
  auto pusher = Pusher(&sink);
  for (int i = 0; i < 3; ++i) {
    auto n = pusher->PushPending();
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), Status::Code::kUnavailable) << n.status().ToString();
    EXPECT_EQ(pusher->cursor().seq, 0u);
    Append(1);  // the gateway keeps logging during the outage
  }
  EXPECT_FALSE(std::filesystem::exists(cursor_path()));
  auto n = pusher->PushPending();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 7u);
  EXPECT_EQ(Seqs(sink.taken), Range(1, 7));
  EXPECT_EQ(pusher->pushed(), 7u);
}

TEST_F(AuditPusherTest, AFailureMidwayKeepsWhatWasAcceptedBefore) {
  Append(7);
  FlakySink sink;
  auto pusher = Pusher(&sink);
  ASSERT_TRUE(pusher->PushPending().ok());
  Append(5);
  sink.failures_left = 1;
  EXPECT_FALSE(pusher->PushPending().ok());
  EXPECT_EQ(pusher->cursor().seq, 7u);
  ASSERT_TRUE(pusher->PushPending().ok());
  EXPECT_EQ(Seqs(sink.taken), Range(1, 12));
}

TEST_F(AuditPusherTest, ARestartResumesFromThePersistedCursor) {
  Append(5);
  {
    FlakySink sink;
    auto pusher = Pusher(&sink);
    ASSERT_TRUE(pusher->PushPending().ok());
    EXPECT_EQ(sink.taken.size(), 5u);
  }
  OpenLog();  // cafsd restarts: the log reopens and continues its chain
  Append(3);
  FlakySink sink;
  auto pusher = Pusher(&sink);
  EXPECT_EQ(pusher->cursor().seq, 5u);
  auto n = pusher->PushPending();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(Seqs(sink.taken), Range(6, 8));
  EXPECT_EQ(sink.taken.front().prev_hash.size(), 64u);
}

TEST_F(AuditPusherTest, ALostCursorUpdateResendsTheBatchAtLeastOnce) {
  Append(3);
  FlakySink sink;
  auto pusher = Pusher(&sink);
  ASSERT_TRUE(pusher->PushPending().ok());
  pusher.reset();
  // A crash after kpsd took the records but before the cursor reached the disk.
  std::filesystem::remove(cursor_path());
  auto again = Pusher(&sink);
  ASSERT_TRUE(again->PushPending().ok());
  EXPECT_EQ(Seqs(sink.taken), (std::vector<std::uint64_t>{1, 2, 3, 1, 2, 3}));
}

TEST_F(AuditPusherTest, AReplacedLogIsPushedAgainFromItsStart) {
  Append(5);
  FlakySink sink;
  auto pusher = Pusher(&sink);
  ASSERT_TRUE(pusher->PushPending().ok());
  // The operator moves the log away; cafsd starts a new chain (longer than the old one, so
  // only the chain check can tell).
  log_.reset();
  std::filesystem::rename(log_path(), log_path() + ".old");
  OpenLog();
  next_ = 100;
  Append(8);
  sink.taken.clear();
  ASSERT_TRUE(pusher->PushPending().ok());
  EXPECT_EQ(Seqs(sink.taken), Range(1, 8));
  EXPECT_EQ(sink.taken.front().file, "osdisk100.qcow2");
  // And a log shorter than the cursor.
  log_.reset();
  std::filesystem::remove(log_path());
  OpenLog();
  Append(1);
  sink.taken.clear();
  ASSERT_TRUE(pusher->PushPending().ok());
  EXPECT_EQ(Seqs(sink.taken), Range(1, 1));
}

TEST_F(AuditPusherTest, ATornTailIsNotPushedUntilItIsComplete) {
  Append(2);
  {
    std::ofstream out(log_path(), std::ios::app);
    out << R"({"bytes":0,"count":1,"end_ms":)";
  }
  FlakySink sink;
  auto pusher = Pusher(&sink);
  ASSERT_TRUE(pusher->PushPending().ok());
  EXPECT_EQ(Seqs(sink.taken), Range(1, 2));
  EXPECT_LT(pusher->cursor().offset, std::filesystem::file_size(log_path()));
}

TEST_F(AuditPusherTest, AMalformedCursorFileIsAnError) {
  {
    std::ofstream out(cursor_path());
    out << "not json";
  }
  FlakySink sink;
  auto p = AuditPusher::Create(&sink, Options());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.status().IsCorruption()) << p.status().ToString();
}

TEST_F(AuditPusherTest, StopPushesWhatIsPending) {
  FlakySink sink;
  auto pusher = Pusher(&sink);
  pusher->Start();
  Append(4);
  pusher->Notify();
  pusher->Stop();
  EXPECT_EQ(Seqs(sink.taken), Range(1, 4));
}

}  // namespace
}  // namespace cafs::core
