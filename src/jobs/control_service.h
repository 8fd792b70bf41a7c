// ControlService: the job requests cafsd answers on its control socket (docs/jobs.md
// "Control channel"), transport-free: one JSON request in, one JSON reply out. A table of
// small handlers, one per op:
//
//   {"op":"start","spec":{"kind","target","params","rate_limit_bps","parallel"}} -> {"job"}
//   {"op":"list"}                                                              -> {"jobs":[...]}
//   {"op":"get"|"pause"|"resume"|"cancel","id":ID}                             -> {"job"}
//   {"op":"forget","id":ID}                                                    -> {}
// plus the ops added with AddOp (cafsd: "replica-list", "replica-verify", replica_control.h).
//
// Every reply has "ok": true, or "ok": false with "error" (the message), "code" (the Status
// code name) and "errno". A job object is ToJson(JobStatus). The request's "requested_by" is
// set by the transport (the peer), never taken from the request.
//
// Threading: Handle is safe from any thread (JobManager is). Ownership: `jobs` not owned.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "jobs/job_manager.h"

namespace cafs::jobs {

class ControlService {
 public:
  explicit ControlService(JobManager* jobs) : jobs_(jobs) {}

  // `peer` names who asks ("local uid 0"); it becomes JobSpec::requested_by.
  nlohmann::json Handle(const nlohmann::json& request, const std::string& peer) const;
  // The same on text: a request line that is not JSON gets an error reply. Never throws: an
  // exception from a handler (or an allocation) becomes an Internal error reply.
  std::string HandleLine(std::string_view line, const std::string& peer) const;

  // An op beside the job ops: request in, reply fields out (an error becomes the error reply).
  // Add every op before the server starts (AddOp is not synchronised with Handle); the job
  // ops' names cannot be taken.
  using Op = std::function<Result<nlohmann::json>(const nlohmann::json& request)>;
  void AddOp(std::string name, Op op);

 private:
  JobManager* const jobs_;
  std::map<std::string, Op, std::less<>> extra_;
};

// The reply for a failed request (also used by clients for transport errors).
nlohmann::json ErrorReply(const Status& s);

}  // namespace cafs::jobs
