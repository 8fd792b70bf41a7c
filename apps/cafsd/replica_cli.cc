#include "replica_cli.h"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "cafs/replicator.h"

namespace cafs::cafsd {
namespace {

using json = nlohmann::json;

Result<std::unique_ptr<core::ReplicaStore>> StoreOf(pool::PoolMapper& pools,
                                                    const ReplicaQuery& q) {
  auto p = pools.Find(q.pool);
  if (!p.ok()) return Status::InvalidArgument("pool '" + q.pool + "' is not configured");
  // Never created here: a missing key means these replicas cannot be checked.
  CAFS_ASSIGN_OR_RETURN(SecureBuffer secret, core::LoadReplicaSecret(q.key_file));
  CAFS_ASSIGN_OR_RETURN(SecureBuffer mac,
                        core::ReplicaMacKey(ByteView(secret.data(), secret.size())));
  return std::make_unique<core::ReplicaStore>(*p, std::move(mac));
}

std::string Time(std::uint64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int Failed(const Status& s) {
  std::fprintf(stderr, "cafsd replica: %s\n", s.ToString().c_str());
  return s.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunReplicaList(pool::PoolMapper& pools, const ReplicaQuery& q) {
  auto store = StoreOf(pools, q);
  if (!store.ok()) return Failed(store.status());
  auto listed = (*store)->List();
  if (!listed.ok()) return Failed(listed.status());
  int rc = 0;
  json out = json::array();
  for (const auto& l : *listed) {
    json j{{"vmset", l.vm.vm_set_id.ToString()}, {"vm", l.vm.vm_name}, {"replica", l.id}};
    if (l.manifest.ok()) {
      std::uint64_t bytes = 0;
      for (const auto& f : l.manifest->files) bytes += f.pool_file_size;
      j["full"] = l.manifest->parent_id.IsNil();
      j["parent"] = l.manifest->parent_id.IsNil() ? "" : l.manifest->parent_id.ToString();
      j["time"] = Time(l.manifest->created_ms);
      j["files"] = l.manifest->files.size();
      j["bytes"] = bytes;
      j["vm_path"] = l.manifest->vm_path;
    } else {
      j["error"] = l.manifest.status().ToString();
      rc = 1;
    }
    out.push_back(j);
    if (!q.json) {
      if (l.manifest.ok()) {
        std::printf("%s  %s/%s  %s  %s  %zu files  %llu bytes  (/%s)\n", l.id.c_str(),
                    l.vm.vm_set_id.ToString().c_str(), l.vm.vm_name.c_str(),
                    Time(l.manifest->created_ms).c_str(),
                    l.manifest->parent_id.IsNil() ? "full" : "incremental",
                    l.manifest->files.size(),
                    static_cast<unsigned long long>(j["bytes"].get<std::uint64_t>()),
                    l.manifest->vm_path.c_str());
      } else {
        std::printf("%s  %s/%s  BAD: %s\n", l.id.c_str(), l.vm.vm_set_id.ToString().c_str(),
                    l.vm.vm_name.c_str(), l.manifest.status().ToString().c_str());
      }
    }
  }
  if (q.json) std::printf("%s\n", out.dump(2).c_str());
  return rc;
}

int RunReplicaVerify(pool::PoolMapper& pools, const ReplicaQuery& q) {
  auto store = StoreOf(pools, q);
  if (!store.ok()) return Failed(store.status());
  auto vmset = Uuid::Parse(q.vmset);
  if (!vmset.ok()) return Failed(Status::InvalidArgument("--vmset: " + vmset.status().message()));
  Uuid id;
  if (!q.replica.empty()) {
    auto parsed = Uuid::Parse(q.replica);
    if (!parsed.ok())
      return Failed(Status::InvalidArgument("--replica: " + parsed.status().message()));
    id = *parsed;
  }
  auto bytes = (*store)->Verify(core::ReplicaVm{*vmset, q.vm}, id);
  if (!bytes.ok()) return Failed(bytes.status());
  std::printf("cafsd replica: verified: every manifest and %llu stored bytes check\n",
              static_cast<unsigned long long>(*bytes));
  return 0;
}

}  // namespace cafs::cafsd
