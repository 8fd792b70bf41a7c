// The DR replica ops of cafsd's control channel (docs/replicas.md "Jobs and commands";
// docs/jobs.md "Control channel"), what `cafsctl replica list|verify` asks (restore is a job:
// the op "start" with kind "restore"):
//
//   {"op":"replica-list","pool":DR}                          -> {"replicas":[REPLICA...]}
//   {"op":"replica-verify","pool":DR,"vmset":GUID,"vm":NAME,"replica":ID or ""}
//                                                            -> {"bytes": n}  (every stored
//                                                               byte of the lineage checked)
// REPLICA (ReplicaListJson, also `cafsd replica list --json`): {"vmset","vm","replica",
// "full","parent","time" (UTC ISO 8601),"files","bytes","vm_path"}, or {"vmset","vm",
// "replica","error"} for a replica whose manifest does not check.
//
// Threading: the ops run on the control server's worker threads, each on its own ReplicaStore
// (the pool is safe for concurrent use). A verify reads the whole lineage: the client waits
// (ControlCall: 60 s at most; `cafsd replica verify` runs without a time limit).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "cafs/replicator.h"
#include "jobs/control_service.h"
#include "jobs/replica_job.h"

namespace cafs::jobs {

nlohmann::json ReplicaListJson(const std::vector<core::ReplicaStore::Listed>& listed);

// Adds "replica-list" and "replica-verify" to `service` (before it serves). `ctx` as the
// replica kinds get it (volume and secret outlive the service).
void AddReplicaOps(ControlService& service, const ReplicaContext& ctx);

}  // namespace cafs::jobs
