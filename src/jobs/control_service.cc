#include "jobs/control_service.h"

#include <exception>
#include <functional>
#include <map>

#include "util/json_text.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;
using Handler = std::function<Result<json>(JobManager&, const json&, const std::string&)>;

Result<std::string> IdOf(const json& req) {
  auto it = req.find("id");
  if (it == req.end() || !it->is_string())
    return Status::InvalidArgument("request needs an \"id\"");
  return it->get<std::string>();
}

Result<json> JobReply(const Result<JobStatus>& st) {
  if (!st.ok()) return st.status();
  return json{{"job", ToJson(*st)}};
}

Result<JobSpec> SpecOf(const json& req) {
  auto it = req.find("spec");
  if (it == req.end() || !it->is_object()) return Status::InvalidArgument("start needs a \"spec\"");
  const json& s = *it;
  JobSpec spec;
  for (const auto& [key, value] : s.items()) {
    if (key == "kind" && value.is_string()) {
      spec.kind = value.get<std::string>();
    } else if (key == "target") {
      CAFS_ASSIGN_OR_RETURN(spec.target, TargetFromJson(value));
    } else if (key == "params" && value.is_object()) {
      spec.params = value;
    } else if (key == "rate_limit_bps" && value.is_number_unsigned()) {
      spec.rate_limit_bps = value.get<std::uint64_t>();
    } else if (key == "parallel" && value.is_number_unsigned() &&
               value.get<std::uint64_t>() < 1024) {
      spec.parallel = value.get<unsigned>();
    } else {
      return Status::InvalidArgument("spec: bad or unknown field '" + key + "'");
    }
  }
  return spec;
}

// The handler of an op on one job: {"id": ID} -> {"job": JOB}.
Handler ById(std::function<Result<JobStatus>(JobManager&, const std::string&)> op) {
  return [op = std::move(op)](JobManager& m, const json& req, const std::string&) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(std::string id, IdOf(req));
    return JobReply(op(m, id));
  };
}

const std::map<std::string, Handler, std::less<>>& Handlers() {
  static const auto* table = new std::map<std::string, Handler, std::less<>>{
      {"start",
       [](JobManager& m, const json& req, const std::string& peer) -> Result<json> {
         CAFS_ASSIGN_OR_RETURN(JobSpec spec, SpecOf(req));
         spec.requested_by = peer;
         return JobReply(m.Start(std::move(spec)));
       }},
      {"list",
       [](JobManager& m, const json&, const std::string&) -> Result<json> {
         json jobs = json::array();
         for (const auto& st : m.List()) jobs.push_back(ToJson(st));
         return json{{"jobs", std::move(jobs)}};
       }},
      {"get", ById([](JobManager& m, const std::string& id) { return m.Get(id); })},
      {"pause", ById([](JobManager& m, const std::string& id) { return m.Pause(id); })},
      {"resume", ById([](JobManager& m, const std::string& id) { return m.Resume(id); })},
      {"cancel", ById([](JobManager& m, const std::string& id) { return m.Cancel(id); })},
      {"forget",
       [](JobManager& m, const json& req, const std::string&) -> Result<json> {
         CAFS_ASSIGN_OR_RETURN(std::string id, IdOf(req));
         CAFS_RETURN_IF_ERROR(m.Forget(id));
         return json::object();
       }},
  };
  return *table;
}

}  // namespace

json ErrorReply(const Status& s) {
  return json{{"ok", false},
              {"error", s.message()},
              {"code", std::string(Status::CodeName(s.code()))},
              {"errno", s.errno_value()}};
}

json ControlService::Handle(const json& request, const std::string& peer) const {
  if (!request.is_object()) return ErrorReply(Status::InvalidArgument("request is not an object"));
  auto op = request.find("op");
  if (op == request.end() || !op->is_string()) {
    return ErrorReply(Status::InvalidArgument("request needs an \"op\""));
  }
  const auto& table = Handlers();
  auto h = table.find(op->get<std::string>());
  auto extra = extra_.find(op->get<std::string>());
  if (h == table.end() && extra == extra_.end()) {
    return ErrorReply(Status::InvalidArgument("unknown op '" + op->get<std::string>() + "'"));
  }
  auto reply = h != table.end() ? h->second(*jobs_, request, peer) : extra->second(request);
  if (!reply.ok()) return ErrorReply(reply.status());
  json out = std::move(*reply);
  out["ok"] = true;
  return out;
}

void ControlService::AddOp(std::string name, Op op) {
  if (Handlers().count(name) == 0) extra_.emplace(std::move(name), std::move(op));
}

std::string ControlService::HandleLine(std::string_view line, const std::string& peer) const {
  // The one place a failure of any handler becomes a reply: nothing escapes to the transport.
  const auto text = [](const json& reply) {
    // Text fields may hold any bytes (names): replace what is not UTF-8 rather than throw.
    return reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  };
  try {
    auto req = ParseJson(line, "control request");
    return text(req.ok() ? Handle(*req, peer) : ErrorReply(req.status()));
  } catch (const std::exception& e) {
    return text(ErrorReply(Status::Internal(std::string("control request failed: ") + e.what())));
  } catch (...) {
    return text(ErrorReply(Status::Internal("control request failed")));
  }
}

}  // namespace cafs::jobs
