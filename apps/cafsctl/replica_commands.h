// `cafsctl replica list|verify|restore` (issue 15 item 5; docs/cafsctl.md "replica"): DR
// replicas through the gateway's control socket (`<backing store>/.cafs-control`, the channel
// `cafsd jobs` uses: docs/jobs.md "Control channel"), so cafsctl runs on the gateway host as
// root or cafsd's user. list and verify are the ops of jobs/replica_control.h; restore starts a
// job of kind "restore" and waits for it (unless no_wait).
//
// Exit codes: 0 done; 1 refused, failed, or a replica that does not check; 2 usage;
// 69 (EX_UNAVAILABLE) nothing listens on the socket (cafsd is not running there).
#pragma once

#include <string>

namespace cafs::cafsctl {

struct ReplicaCommand {
  std::string verb;    // list | verify | restore
  std::string socket;  // the control socket
  bool json = false;
  std::string pool, vmset, vm, replica;  // replica: "" = the newest
  std::string as;                        // restore: the VM's new path; "" = its old place
  std::string to_pool;                   // restore: "" = each file's pool at the replica
  bool no_wait = false;                  // restore: print the job id and return
};

int RunReplicaCommand(const ReplicaCommand& c);

}  // namespace cafs::cafsctl
