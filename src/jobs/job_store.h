// JobStore: the durable home of job records, one JSON file per job in a directory of the
// gateway's backing store (docs/jobs.md "On-disk record"), written through env::Env so every
// durable step can be crash-tested (FaultInjectionEnv).
//
//   <dir>/.cafs-job-<id>        the record (ToJson(JobRecord), one line + '\n')
//   <dir>/.cafs-job-<id>.new    a record being written (crash residue; ignored, removed by Load)
//
// The names are regular files without "##": the Volume never lists them and `cafsd fsck`
// ignores them (docs/redirectors.md), so they can live in the backing store's root.
//
// Save is atomic: write `.new`, File::Sync, Rename over the record, SyncDir. After a crash
// at any instant a record is either its previous or its new content, never a mix; a record
// whose first Save did not reach SyncDir may be missing (the job never started: Start
// returns only after Save).
//
// Threading: Save/Remove of different ids may run concurrently; the caller serializes calls
// for one id (JobManager does). Load is for start-up. Ownership: `env` is not owned and must
// outlive the store.
#pragma once

#include <string>
#include <vector>

#include "env/env.h"
#include "jobs/job.h"

namespace cafs::jobs {

class JobStore {
 public:
  static constexpr std::string_view kPrefix = ".cafs-job-";
  static constexpr std::string_view kTempSuffix = ".new";

  JobStore(env::Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

  Status Save(const JobRecord& job);
  Status Remove(const std::string& id);
  // Removes the records of `ids` (an absent one is no error), then syncs the directory once.
  // Stops at the first error; the records not removed yet stay.
  Status RemoveAll(const std::vector<std::string>& ids);

  struct Loaded {
    std::vector<JobRecord> jobs;
    // Records that could not be read, with the reason (left on disk untouched).
    std::vector<std::string> problems;
  };
  // Every record in the directory (temporary files removed).
  Result<Loaded> Load();

  const std::string& dir() const { return dir_; }

 private:
  std::string PathOf(const std::string& id) const;

  env::Env* const env_;
  const std::string dir_;
};

}  // namespace cafs::jobs
