#include "jobs/replica_job.h"

#include <algorithm>

#include "jobs/volume_files.h"
#include "policy/vmset_path.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

// Checks `params` against the allowed keys (a typo must not be ignored).
Status OnlyKeys(const json& params, std::string_view kind,
                std::initializer_list<std::string_view> keys) {
  if (!params.is_object())
    return Status::InvalidArgument(std::string(kind) + " params must be an object");
  for (const auto& [k, v] : params.items()) {
    (void)v;
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      return Status::InvalidArgument(std::string(kind) + ": unknown parameter '" + k + "'");
    }
  }
  return Status::OK();
}

std::string StringParam(const json& params, const char* key) {
  auto it = params.find(key);
  return it != params.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status NeedVm(const JobTarget& t, std::string_view kind) {
  if (t.type != "vm") {
    return Status::NotSupported(std::string(kind) + " works on a vm, not '" + t.type + "'");
  }
  if (t.path.empty() || t.path.front() != '/' || VolumePathOf(t.path).empty()) {
    return Status::InvalidArgument(std::string(kind) + " needs the gateway path of a VM, not '" +
                                   t.path + "'");
  }
  return Status::OK();
}

unsigned KeepOf(const json& params) {
  auto it = params.find("keep");
  return it != params.end() && it->is_number_unsigned() ? it->get<unsigned>() : 3u;
}

}  // namespace

Result<std::unique_ptr<core::ReplicaStore>> OpenReplicaStore(core::Volume& volume,
                                                             const std::string& pool,
                                                             ByteView replica_secret) {
  auto p = volume.pools().Find(pool);
  if (!p.ok())
    return Status::InvalidArgument("pool '" + pool + "' is not configured on this gateway");
  CAFS_ASSIGN_OR_RETURN(SecureBuffer key, core::ReplicaMacKey(replica_secret));
  return std::make_unique<core::ReplicaStore>(*p, std::move(key));
}

Result<std::string> FindVmSetByGuid(core::Volume& volume, core::PolicyCache& cache,
                                    const Uuid& id) {
  CAFS_ASSIGN_OR_RETURN(auto entries, volume.ReadDir(""));
  for (const auto& e : entries) {
    auto vs = cache.Get(e.name);
    if (vs.ok() && (*vs)->bundle.vmset.id == id) return e.name;
  }
  return Status::NotFound("no VM set with GUID " + id.ToString() + " on this gateway");
}

// --- replica ---

Status ReplicaJob::Validate(const JobSpec& spec) const {
  CAFS_RETURN_IF_ERROR(NeedVm(spec.target, kName));
  CAFS_RETURN_IF_ERROR(OnlyKeys(spec.params, kName, {"pool", "keep", "scheduled_ms"}));
  if (auto at = spec.params.find("scheduled_ms");
      at != spec.params.end() && (!at->is_number_integer() || at->get<std::int64_t>() <= 0)) {
    return Status::InvalidArgument("replica: scheduled_ms must be a positive Unix ms time");
  }
  const std::string pool = StringParam(spec.params, "pool");
  if (pool.empty()) return Status::InvalidArgument("replica needs pool, the DR pool");
  CAFS_RETURN_IF_ERROR(OpenReplicaStore(*ctx_.volume, pool, ctx_.replica_secret).status());
  if (auto k = spec.params.find("keep");
      k != spec.params.end() && (!k->is_number_unsigned() || *k == 0 || *k > 1000)) {
    return Status::InvalidArgument("replica: keep must be 1..1000");
  }
  const std::string rel = VolumePathOf(spec.target.path);
  std::vector<std::string> files;
  CAFS_RETURN_IF_ERROR(FilesBelow(*ctx_.volume, rel, files));
  if (files.empty())
    return Status::InvalidArgument(spec.target.path + " has no files to replicate");
  return Status::OK();
}

Result<std::vector<TaskRecord>> ReplicaJob::Plan(const JobRecord& job) {
  TaskRecord task;
  task.path = job.spec.target.path;
  task.cursor = json{{"phase", "planned"}};
  return std::vector<TaskRecord>{std::move(task)};
}

Result<StepResult> ReplicaJob::Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) {
  std::shared_ptr<Live> live = live_.Find(job, task);
  if (!live) {
    // A new cut (also after a restart: the copy-before-write state lived in memory).
    auto fresh = std::make_shared<Live>();
    CAFS_ASSIGN_OR_RETURN(
        fresh->store,
        OpenReplicaStore(*ctx_.volume, StringParam(job.spec.params, "pool"), ctx_.replica_secret));
    const std::string rel = VolumePathOf(task.path);
    std::vector<std::string> files;
    CAFS_RETURN_IF_ERROR(FilesBelow(*ctx_.volume, rel, files));
    auto run =
        core::ReplicaRun::Start(*ctx_.volume, *fresh->store, rel, files, KeepOf(job.spec.params));
    if (!run.ok()) return run.status().WithContext(task.path);
    fresh->run = std::move(*run);
    const auto& r = fresh->run->report();
    task.cursor = json{{"phase", "copy"},
                       {"replica", r.replica_id.ToString()},
                       {"parent", r.parent_id.IsNil() ? "" : r.parent_id.ToString()},
                       {"pause_us", r.pause.count()},
                       {"bytes_copied", 0}};
    task.total = r.bytes_total;
    task.done = 0;
    live = fresh;
    live_.Put(job, task, live);
  }
  const std::uint64_t before = live->run->report().bytes_copied;
  auto sealed = live->run->Step(budget);
  const auto& r = live->run->report();
  if (!sealed.ok()) {
    live_.Drop(job, task);  // the run is abandoned: its changes go back to the change logs
    return sealed.status().WithContext(task.path);
  }
  StepResult result;
  result.bytes = r.bytes_copied - before;
  task.cursor["bytes_copied"] = r.bytes_copied;
  task.done = std::min(r.bytes_copied, task.total);
  if (*sealed) {
    task.cursor["phase"] = "sealed";
    task.done = task.total;
    result.done = true;
    live_.Drop(job, task);
  }
  return result;
}

void ReplicaJob::TaskEnded(const JobRecord& job, const TaskRecord& task) {
  live_.Drop(job, task);
  auto str = [&](const char* k) {
    auto it = task.cursor.find(k);
    return it != task.cursor.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k) {
    auto it = task.cursor.find(k);
    return it != task.cursor.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
  };
  const std::string pool = StringParam(job.spec.params, "pool");
  if (task.state == TaskState::kDone) {
    const std::string parent = str("parent");
    ctx_.auditor.Record(job, task.path, "replica", audit::Result::kOk,
                        (parent.empty() ? "full replica " : "incremental replica ") +
                            str("replica") + " in pool " + pool +
                            (parent.empty() ? "" : " (parent " + parent + ")") + ", " +
                            std::to_string(num("bytes_copied")) + " bytes copied, write pause " +
                            std::to_string(num("pause_us")) + " us",
                        num("bytes_copied"));
  } else {
    ctx_.auditor.Record(job, task.path, "replica", audit::Result::kError,
                        (task.error.empty() ? std::string("cancelled") : task.error) +
                            " (no replica made; the changes stay for the next one)",
                        num("bytes_copied"));
  }
}

// --- restore ---

Status RestoreJob::Validate(const JobSpec& spec) const {
  // Path "/": the VM's old place, in its VM set found by GUID (Plan).
  const bool old_place = spec.target.type == "vm" && spec.target.path == "/";
  if (!old_place) CAFS_RETURN_IF_ERROR(NeedVm(spec.target, kName));
  CAFS_RETURN_IF_ERROR(OnlyKeys(spec.params, kName, {"pool", "vmset", "vm", "replica", "to_pool"}));
  CAFS_RETURN_IF_ERROR(
      OpenReplicaStore(*ctx_.volume, StringParam(spec.params, "pool"), ctx_.replica_secret)
          .status());
  CAFS_RETURN_IF_ERROR(
      Uuid::Parse(StringParam(spec.params, "vmset")).status().WithContext("restore: vmset"));
  if (StringParam(spec.params, "vm").empty()) return Status::InvalidArgument("restore needs vm");
  if (const std::string id = StringParam(spec.params, "replica"); !id.empty()) {
    CAFS_RETURN_IF_ERROR(Uuid::Parse(id).status().WithContext("restore: replica"));
  }
  if (const std::string p = StringParam(spec.params, "to_pool");
      !p.empty() && !ctx_.volume->pools().Find(p).ok()) {
    return Status::InvalidArgument("pool '" + p + "' is not configured on this gateway");
  }
  if (old_place) return Status::OK();
  // The target must be in the replica's VM set (by GUID): its files are bound to it.
  CAFS_ASSIGN_OR_RETURN(policy::VmSetPath where,
                        policy::ResolveVmSetPath("/", ctx_.position, spec.target.path));
  auto vs = ctx_.cache->Get(where.vmset_name);
  if (!vs.ok()) return vs.status().WithContext("VM set " + where.vmset_name);
  const Uuid want = *Uuid::Parse(StringParam(spec.params, "vmset"));
  if ((*vs)->bundle.vmset.id != want) {
    return Status::InvalidArgument(spec.target.path + " is in VM set " + where.vmset_name + " (" +
                                   (*vs)->bundle.vmset.id.ToString() +
                                   "), not in the replica's VM set " + want.ToString());
  }
  return Status::OK();
}

Result<std::vector<TaskRecord>> RestoreJob::Plan(const JobRecord& job) {
  TaskRecord task;
  task.path = job.spec.target.path;
  if (task.path == "/") {  // the old place: the VM set's current name (it may have been renamed)
    CAFS_ASSIGN_OR_RETURN(Uuid id, Uuid::Parse(StringParam(job.spec.params, "vmset")));
    CAFS_ASSIGN_OR_RETURN(std::string name, FindVmSetByGuid(*ctx_.volume, *ctx_.cache, id));
    task.path = "/" + name + "/" + StringParam(job.spec.params, "vm");
  }
  task.cursor = json{{"phase", "planned"}};
  return std::vector<TaskRecord>{std::move(task)};
}

Result<StepResult> RestoreJob::Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) {
  std::shared_ptr<Live> live = live_.Find(job, task);
  const json& p = job.spec.params;
  if (!live) {
    auto fresh = std::make_shared<Live>();
    CAFS_ASSIGN_OR_RETURN(
        fresh->store, OpenReplicaStore(*ctx_.volume, StringParam(p, "pool"), ctx_.replica_secret));
    CAFS_ASSIGN_OR_RETURN(policy::VmSetPath where,
                          policy::ResolveVmSetPath("/", ctx_.position, task.path));
    CAFS_ASSIGN_OR_RETURN(fresh->vmset, ctx_.cache->Get(where.vmset_name));
    CAFS_ASSIGN_OR_RETURN(Uuid vmset_id, Uuid::Parse(StringParam(p, "vmset")));
    Uuid id;
    if (const std::string r = StringParam(p, "replica"); !r.empty()) {
      CAFS_ASSIGN_OR_RETURN(id, Uuid::Parse(r));
    }
    auto vmset = fresh->vmset;
    auto run = core::RestoreRun::Start(
        *ctx_.volume, *fresh->store, core::ReplicaVm{vmset_id, StringParam(p, "vm")}, id,
        VolumePathOf(task.path), StringParam(p, "to_pool"),
        [vmset](const Uuid& key, std::uint32_t version) { return vmset->FindKey(key, version); });
    if (!run.ok()) return run.status().WithContext(task.path);
    fresh->run = std::move(*run);
    task.total = fresh->run->bytes_total();
    task.done = 0;
    task.cursor =
        json{{"phase", "copy"}, {"replica", fresh->run->manifest().replica_id.ToString()}};
    live = fresh;
    live_.Put(job, task, live);
  }
  auto finished = live->run->Step(budget);
  if (!finished.ok()) {
    live_.Drop(job, task);  // the run is destroyed: its temporary pool files removed
    return finished.status().WithContext(task.path);
  }
  StepResult result;
  result.bytes = budget;
  task.done = std::min(task.total, task.done + budget);
  if (*finished) {
    task.cursor["phase"] = "done";
    task.done = task.total;
    result.done = true;
    live_.Drop(job, task);
  }
  return result;
}

void RestoreJob::TaskEnded(const JobRecord& job, const TaskRecord& task) {
  live_.Drop(job, task);
  auto it = task.cursor.find("replica");
  const std::string id = it != task.cursor.end() && it->is_string() ? it->get<std::string>() : "";
  const std::string pool = StringParam(job.spec.params, "pool");
  if (task.state == TaskState::kDone) {
    ctx_.auditor.Record(job, task.path, "restore", audit::Result::kOk,
                        "restored from replica " + id + " in pool " + pool, task.total);
  } else {
    ctx_.auditor.Record(job, task.path, "restore", audit::Result::kError,
                        (task.error.empty() ? std::string("cancelled") : task.error) +
                            " (replica " + id + " in pool " + pool + ")",
                        task.done);
  }
}

}  // namespace cafs::jobs
