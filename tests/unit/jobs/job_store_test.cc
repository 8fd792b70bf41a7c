// The job record codec and JobStore: the codec round-trips and refuses what it does not
// know; Save is atomic at every durable step (FaultInjectionEnv: a failure at each step, then
// a crash that drops unsynced data, leaves the old or the new record and nothing else), on
// MemEnv and on a FaultInjectionEnv over it.
#include "jobs/job_store.h"

#include <gtest/gtest.h>

#include "env/fault_injection_env.h"
#include "env/mem_env.h"
#include "util/json_text.h"
#include "util/uuid.h"

namespace cafs::jobs {
namespace {

JobRecord SampleJob() {
  JobRecord job;
  job.id = Uuid::Random().ToString();
  job.spec.kind = "shred";
  job.spec.target.type = "vm";
  job.spec.target.path = "/my_vmset/windows_xp";
  job.spec.rate_limit_bps = 1 << 20;
  job.spec.parallel = 2;
  job.spec.requested_by = "local uid 0";
  job.state = JobState::kRunning;
  job.planned = true;
  job.created_ms = 1700000000000;
  job.updated_ms = 1700000000500;
  TaskRecord t;
  t.path = "/my_vmset/windows_xp/osdisk1.vmdk";
  t.state = TaskState::kRunning;
  t.done = 4096;
  t.total = 8192;
  t.cursor = {{"phase", "overwrite"}, {"offset", 4096}};
  job.tasks.push_back(t);
  t.path = "/my_vmset/windows_xp/notes";
  t.state = TaskState::kFailed;
  t.error = "EBUSY";
  job.tasks.push_back(t);
  return job;
}

TEST(JobCodecTest, RoundTripsEveryField) {
  const JobRecord job = SampleJob();
  auto back = JobFromJson(ToJson(job));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ToJson(*back), ToJson(job));
  EXPECT_EQ(back->id, job.id);
  EXPECT_EQ(back->spec.target.path, "/my_vmset/windows_xp");
  EXPECT_EQ(back->tasks.at(1).state, TaskState::kFailed);
  EXPECT_EQ(back->tasks.at(0).cursor["offset"], 4096);
  EXPECT_EQ(back->DoneBytes(), 8192u);
  EXPECT_EQ(back->TotalBytes(), 16384u);
}

TEST(JobCodecTest, RefusesUnknownFieldsStatesAndFormats) {
  auto j = ToJson(SampleJob());
  auto with = [&](auto mutate) {
    auto copy = j;
    mutate(copy);
    return JobFromJson(copy).status();
  };
  EXPECT_TRUE(with([](auto& c) { c["typo"] = 1; }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c["state"] = "exploded"; }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c["format"] = "cafs-job 2"; }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c.erase("tasks"); }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c["tasks"][0]["done"] = -1; }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c["tasks"][0]["extra"] = true; }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c["target"] = "file"; }).IsInvalidArgument());
  EXPECT_TRUE(with([](auto& c) { c["id"] = ""; }).IsInvalidArgument());
}

TEST(JobStoreTest, SavesLoadsAndRemovesOnMemEnv) {
  env::MemEnv mem;
  ASSERT_TRUE(mem.CreateDir("/store").ok());
  JobStore store(&mem, "/store");
  JobRecord a = SampleJob(), b = SampleJob();
  ASSERT_TRUE(store.Save(a).ok());
  ASSERT_TRUE(store.Save(b).ok());
  a.state = JobState::kDone;
  ASSERT_TRUE(store.Save(a).ok());
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->jobs.size(), 2u);
  for (const auto& j : loaded->jobs) {
    EXPECT_EQ(j.state, j.id == a.id ? JobState::kDone : JobState::kRunning);
  }
  ASSERT_TRUE(store.Remove(b.id).ok());
  loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->jobs.size(), 1u);
  EXPECT_EQ(loaded->jobs[0].id, a.id);
  auto names = mem.ListDir("/store");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);  // no temporary file left
}

TEST(JobStoreTest, RefusesIdsThatAreNotUuids) {
  env::MemEnv mem;
  ASSERT_TRUE(mem.CreateDir("/store").ok());
  JobStore store(&mem, "/store");
  JobRecord j = SampleJob();
  j.id = "../../etc/passwd";
  EXPECT_TRUE(store.Save(j).IsInvalidArgument());
  EXPECT_TRUE(store.Remove(j.id).IsInvalidArgument());
}

TEST(JobStoreTest, UnreadableRecordIsReportedAndLeftAlone) {
  env::MemEnv mem;
  ASSERT_TRUE(mem.CreateDir("/store").ok());
  JobStore store(&mem, "/store");
  const JobRecord good = SampleJob();
  ASSERT_TRUE(store.Save(good).ok());
  const std::string bad = "/store/.cafs-job-" + Uuid::Random().ToString();
  auto f = mem.OpenFile(bad, env::OpenOptions::CreateNew());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, AsBytes("{\"format\":")).ok());
  // A record stored under another job's name is refused too.
  JobRecord other = SampleJob();
  const std::string misnamed = "/store/.cafs-job-" + Uuid::Random().ToString();
  auto g = mem.OpenFile(misnamed, env::OpenOptions::CreateNew());
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE((*g)->WriteAt(0, AsBytes(ToJson(other).dump())).ok());
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->jobs.size(), 1u);
  EXPECT_EQ(loaded->jobs[0].id, good.id);
  EXPECT_EQ(loaded->problems.size(), 2u);
  EXPECT_TRUE(mem.Exists(bad));
  EXPECT_TRUE(mem.Exists(misnamed));
}

// A failure at each durable step of Save, then a crash (unsynced data dropped): Load finds
// the old record or the new one, whole, and no temporary file.
TEST(JobStoreTest, CrashAtEveryDurableStepOfSaveLeavesOldOrNew) {
  enum class Step { kWrite, kPartialWrite, kSyncFile, kRename, kSyncDir };
  for (Step step :
       {Step::kWrite, Step::kPartialWrite, Step::kSyncFile, Step::kRename, Step::kSyncDir}) {
    SCOPED_TRACE(static_cast<int>(step));
    env::MemEnv mem;
    ASSERT_TRUE(mem.CreateDir("/store").ok());
    env::FaultInjectionEnv fault(&mem);
    JobStore store(&fault, "/store");
    JobRecord v1 = SampleJob();
    ASSERT_TRUE(store.Save(v1).ok());
    JobRecord v2 = v1;
    v2.tasks[0].done = 8192;
    v2.tasks[0].cursor["offset"] = 8192;
    v2.state = JobState::kDone;
    switch (step) {
      case Step::kWrite:
        fault.SetWriteFault([](const std::string&, std::uint64_t, std::uint64_t) { return true; });
        break;
      case Step::kPartialWrite:
        fault.FailWritesAfter(100);
        break;
      case Step::kSyncFile:
        fault.SetSyncFault([](const std::string& p) { return p.ends_with(".new"); });
        break;
      case Step::kRename:
        fault.SetRenameFault(true);
        break;
      case Step::kSyncDir:
        fault.SetSyncFault([](const std::string& p) { return p == "/store"; });
        break;
    }
    EXPECT_FALSE(store.Save(v2).ok());
    fault.ClearFaults();
    fault.ClearWriteLimit();
    ASSERT_TRUE(fault.DropUnsyncedData().ok());
    JobStore after(&fault, "/store");
    auto loaded = after.Load();
    ASSERT_TRUE(loaded.ok());
    EXPECT_TRUE(loaded->problems.empty()) << loaded->problems.front();
    ASSERT_EQ(loaded->jobs.size(), 1u);
    const auto got = ToJson(loaded->jobs[0]);
    // Directory operations are durable at once in FaultInjectionEnv: only a failure of the
    // final SyncDir can leave the new record.
    EXPECT_EQ(got, ToJson(step == Step::kSyncDir ? v2 : v1));
    auto names = mem.ListDir("/store");
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(names->size(), 1u);
    // And the store works again.
    ASSERT_TRUE(after.Save(v2).ok());
  }
}

}  // namespace
}  // namespace cafs::jobs
