#include "jobs/replica_control.h"

#include "util/utc_time.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

std::string IsoTime(std::uint64_t ms) { return UtcIsoText(static_cast<std::int64_t>(ms / 1000)); }

std::string Field(const json& req, const char* key) {
  auto it = req.find(key);
  return it != req.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

json ReplicaListJson(const std::vector<core::ReplicaStore::Listed>& listed) {
  json out = json::array();
  for (const auto& l : listed) {
    json j{{"vmset", l.vm.vm_set_id.ToString()}, {"vm", l.vm.vm_name}, {"replica", l.id}};
    if (l.manifest.ok()) {
      std::uint64_t bytes = 0;
      for (const auto& f : l.manifest->files) bytes += f.pool_file_size;
      j["full"] = l.manifest->parent_id.IsNil();
      j["parent"] = l.manifest->parent_id.IsNil() ? "" : l.manifest->parent_id.ToString();
      j["time"] = IsoTime(l.manifest->created_ms);
      j["files"] = l.manifest->files.size();
      j["bytes"] = bytes;
      j["vm_path"] = l.manifest->vm_path;
    } else {
      j["error"] = l.manifest.status().ToString();
    }
    out.push_back(std::move(j));
  }
  return out;
}

void AddReplicaOps(ControlService& service, const ReplicaContext& ctx) {
  service.AddOp("replica-list", [ctx](const json& req) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto store,
                          OpenReplicaStore(*ctx.volume, Field(req, "pool"), ctx.replica_secret));
    CAFS_ASSIGN_OR_RETURN(auto listed, store->List());
    return json{{"replicas", ReplicaListJson(listed)}};
  });
  service.AddOp("replica-verify", [ctx](const json& req) -> Result<json> {
    CAFS_ASSIGN_OR_RETURN(auto store,
                          OpenReplicaStore(*ctx.volume, Field(req, "pool"), ctx.replica_secret));
    auto vmset = Uuid::Parse(Field(req, "vmset"));
    if (!vmset.ok()) return Status::InvalidArgument("vmset: " + vmset.status().message());
    if (Field(req, "vm").empty()) return Status::InvalidArgument("replica-verify needs vm");
    Uuid id;
    if (const std::string r = Field(req, "replica"); !r.empty()) {
      auto parsed = Uuid::Parse(r);
      if (!parsed.ok()) return Status::InvalidArgument("replica: " + parsed.status().message());
      id = *parsed;
    }
    CAFS_ASSIGN_OR_RETURN(std::uint64_t bytes,
                          store->Verify(core::ReplicaVm{*vmset, Field(req, "vm")}, id));
    return json{{"bytes", bytes}};
  });
}

}  // namespace cafs::jobs
