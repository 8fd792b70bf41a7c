// The client side of `cafsd --config F jobs ...`, `cafsd --config F shred PATH`,
// `cafsd --config F rekey PATH` and `cafsd --config F migrate PATH`: requests
// to the running cafsd over its control socket (src/jobs/control_socket.h), a progress bar
// on a terminal (bytes, rate, ETA, files), `--json` for scripts. docs/jobs.md "What an
// administrator sees" shows the output.
//
// Exit codes: 0 done (or the request succeeded); 1 the request was refused or the job ended
// failed or cancelled; 2 usage or configuration; 69 (EX_UNAVAILABLE) cafsd is not running on
// this backing store; `jobs wait`: 0 the job reached a state of --until, 1 it ended in
// another final state (it never will), 124 --timeout passed first (as timeout(1)).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cafs::cafsd {

inline constexpr int kExitUnavailable = 69;
inline constexpr int kExitTimedOut = 124;

struct JobsCliOptions {
  std::string socket_path;  // <backing store>/.cafs-control
  bool json = false;        // print the reply as JSON on stdout
  bool wait = false;        // wait for the job to end (progress on stderr when a terminal)
  // `jobs wait`: the states that end the wait, comma-separated job states and `progress`
  // (some bytes done); and the limit in seconds (0: none).
  std::string until = "done";
  double timeout_s = 0;
};

// `jobs list|show|watch|wait|pause|resume|cancel|forget [ID]`. `wait` is one process that asks
// the control socket every 20 ms (a script's poll loop would start a process a poll).
int RunJobsCommand(const JobsCliOptions& options, const std::string& verb, const std::string& id);

// What every job command may set (--rate, --parallel).
struct JobLimits {
  std::optional<std::uint64_t> rate_limit_bps;  // none: cafsd's [jobs] default; 0: unlimited
  unsigned parallel = 0;                        // 0: cafsd's default
};

struct ShredCliOptions {
  std::string path;           // gateway path, "/my_vmset/vm/disk"
  std::string type = "file";  // file | vm | vmset | dir
  JobLimits limits;
};
// `shred PATH [--vm|--vmset|--dir] [--rate R] [--parallel N] [--no-wait] [--json]`
int RunShred(const JobsCliOptions& options, const ShredCliOptions& shred);

struct RekeyCliOptions {
  std::string path;           // gateway path of the file, VM or VM set
  std::string type = "file";  // file | vm | vmset
  std::uint32_t to_version = 0;
  std::string to_key;     // "": each file's own key
  std::string to_cipher;  // "": each file's own cipher; else a conversion (docs/jobs.md)
  std::string from_key;   // with from_version: only files under this key version
  std::uint32_t from_version = 0;
  JobLimits limits;
};
// `rekey PATH [--vm|--vmset] --to-version N [--to-key K] [--to-cipher C]
//  [--from-key K --from-version V]
//  [--rate R] [--parallel N] [--no-wait] [--json]` (docs/jobs.md "Deep rekey")
int RunRekey(const JobsCliOptions& options, const RekeyCliOptions& rekey);

struct MigrateCliOptions {
  std::string path;           // gateway path of the file, VM, VM set (or the tree to drain)
  std::string type = "file";  // file | vm | vmset | pool (drain)
  std::string to_pool;
  std::string drain_pool;  // type pool: the pool whose files move
  JobLimits limits;
};
// `migrate PATH --to POOL [--vm|--vmset|--drain POOL] [--rate R] [--parallel N] [--no-wait]
//  [--json]` (docs/migration.md)
int RunMigrate(const JobsCliOptions& options, const MigrateCliOptions& migrate);

struct ReplicaCliOptions {
  std::string path;  // replica run: the VM's gateway path; restore: where ("/" = its old place)
  std::string pool;  // the DR pool
  unsigned keep = 3;
  std::string vmset, vm, replica, to_pool;  // restore: which replica, and where the files go
  JobLimits limits;                         // parallel is always 1 (one VM at a time)
};
// `replica run PATH --pool DR [--keep K]` and `replica restore --pool DR --vmset GUID --vm NAME
//  [--replica ID] [--as PATH] [--to-pool P]`: jobs of kinds replica / restore (docs/replicas.md).
int RunReplica(const JobsCliOptions& options, const ReplicaCliOptions& replica);
int RunRestore(const JobsCliOptions& options, const ReplicaCliOptions& restore);

// `resync PATH [--vm|--vmset|--dir] [--rate R] [--parallel N] [--no-wait] [--json]`: a job of
// kind resync (docs/jobs.md "Resync"); the same target flags as shred.
using ResyncCliOptions = ShredCliOptions;
int RunResync(const JobsCliOptions& options, const ResyncCliOptions& resync);

// A file's task in a resync job of the running cafsd that has not ended (`cafsd replicas`).
struct ResyncTaskView {
  std::string job_id;
  std::string state;  // the task's: pending | running (| done | failed | skipped)
  std::uint64_t done = 0, total = 0;
};
// Gateway path -> its task, over every resync job not final; empty when no cafsd runs.
std::map<std::string, ResyncTaskView> ActiveResyncTasks(const JobsCliOptions& options);

}  // namespace cafs::cafsd
