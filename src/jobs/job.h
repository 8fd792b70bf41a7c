// Job: the persisted description and progress of one long operation of the gateway (shred
// today; rekey, migrate, resync, replicate, restore later), docs/jobs.md. One codec turns it
// into JSON and back: the same text is the on-disk record in the backing store (JobStore) and
// the body of the control channel's replies (ControlService), so both always agree.
//
// A job has a kind (a JobKind registered with the JobManager), a target (what it works on), a
// list of tasks (one per file; made by the kind's Plan, persisted before the first step) and
// a state:
//
//   queued -> running -> done | failed
//   running <-> paused;  running | paused | queued -> cancelling -> cancelled
//   failed -> running (resume retries the failed tasks)
//
// Pure data; no I/O. Threading: plain values (the JobManager locks around them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace cafs::jobs {

// The first line a reader checks ("format" field); a newer writer changes it.
inline constexpr std::string_view kJobFormat = "cafs-job 1";

enum class JobState : std::uint8_t {
  kQueued,      // persisted, not planned or not started yet
  kRunning,     // a runner works on it (also what a crash leaves: resumed at start-up)
  kPaused,      // stopped at a step boundary by an administrator; stays paused over restarts
  kCancelling,  // finishing tasks past their point of no return, skipping the rest
  kCancelled,   // final
  kDone,        // final: every task done
  kFailed,      // a task or the plan failed; `resume` retries
};
std::string_view JobStateName(JobState s);
Result<JobState> ParseJobState(std::string_view text);
// Done, failed and cancelled jobs have no runner.
bool IsFinal(JobState s);

enum class TaskState : std::uint8_t { kPending, kRunning, kDone, kFailed, kSkipped };
std::string_view TaskStateName(TaskState s);
Result<TaskState> ParseTaskState(std::string_view text);

// What a job works on. `type` decides which other fields matter:
//   "file", "vm", "vmset", "dir": path (a gateway path, "/my_vmset/vm/disk")
//   "pool": pool; "key-version": key (GUID text) and version  (kinds that support them)
struct JobTarget {
  std::string type;
  std::string path;
  std::string pool;
  std::string key;
  std::uint32_t version = 0;
};

// A gateway path ("/my_vmset/vm1/disk.vmdk") as core::Volume names it: without the leading and
// trailing '/' ("my_vmset/vm1/disk.vmdk"; "" for the root).
std::string VolumePathOf(std::string_view gateway_path);

// One unit of a job: one file. `cursor` is the kind's own resumable state (a JSON object it
// defines and documents); `done`/`total` are bytes.
struct TaskRecord {
  std::string path;  // gateway path of the file
  TaskState state = TaskState::kPending;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  nlohmann::json cursor = nlohmann::json::object();
  std::string error;
};

// What a caller asks for (JobManager::Start).
struct JobSpec {
  std::string kind;
  JobTarget target;
  nlohmann::json params = nlohmann::json::object();  // kind-specific
  // Bytes per second, 0 = unlimited; none = the kind's default (JobManagerOptions::
  // default_rate_bps; cafsd's [jobs] config). Always set in a started job's record.
  std::optional<std::uint64_t> rate_limit_bps;
  unsigned parallel = 0;     // files at once; 0: the default
  std::string requested_by;  // who asked ("local uid 0")
};

struct JobRecord {
  std::string id;  // a random UUID
  JobSpec spec;
  JobState state = JobState::kQueued;
  bool planned = false;  // tasks hold the whole plan
  std::vector<TaskRecord> tasks;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t finished_ms = 0;  // 0 until final
  std::string error;             // why the job failed (the first task error, or the plan's)

  std::uint64_t DoneBytes() const;
  std::uint64_t TotalBytes() const;
};

// The one codec (docs/jobs.md "On-disk record" lists every field).
nlohmann::json ToJson(const JobRecord& job);
// InvalidArgument naming the field on anything malformed, an unknown state, or another
// format line. Unknown fields are refused too (a typo must not be ignored).
Result<JobRecord> JobFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const JobTarget& t);
Result<JobTarget> TargetFromJson(const nlohmann::json& j);

}  // namespace cafs::jobs
