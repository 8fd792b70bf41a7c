#include "replica_cli.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cafs/replicator.h"
#include "jobs/replica_control.h"

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
  const json out = jobs::ReplicaListJson(*listed);
  int rc = 0;
  for (const auto& j : out) {
    if (j.contains("error")) {
      rc = 1;
      if (!q.json) {
        std::printf("%s  %s/%s  BAD: %s\n", j["replica"].get<std::string>().c_str(),
                    j["vmset"].get<std::string>().c_str(), j["vm"].get<std::string>().c_str(),
                    j["error"].get<std::string>().c_str());
      }
    } else if (!q.json) {
      std::printf("%s  %s/%s  %s  %s  %zu files  %llu bytes  (/%s)\n",
                  j["replica"].get<std::string>().c_str(), j["vmset"].get<std::string>().c_str(),
                  j["vm"].get<std::string>().c_str(), j["time"].get<std::string>().c_str(),
                  j["full"].get<bool>() ? "full" : "incremental", j["files"].get<std::size_t>(),
                  static_cast<unsigned long long>(j["bytes"].get<std::uint64_t>()),
                  j["vm_path"].get<std::string>().c_str());
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
