#include "cafs/pool_identity.h"

#include <algorithm>

namespace cafs::core {

namespace {

const PoolRecordRef* FindRecord(const std::vector<PoolRecordRef>& records,
                                const std::string& name) {
  auto it = std::find_if(records.begin(), records.end(),
                         [&](const PoolRecordRef& r) { return r.name == name; });
  return it == records.end() ? nullptr : &*it;
}

}  // namespace

Status CheckPolicyPools(const VmSetBundle& bundle) {
  if (!bundle.pools) return Status::OK();
  for (const std::string& pool : bundle.descriptor.Pools()) {
    if (FindRecord(*bundle.pools, pool) == nullptr) {
      return Status::PermissionDenied(
          "the policy of VM set " + bundle.vmset.name + " names pool '" + pool +
          "', which the key server's allow list for the VM set does not hold: the gateway "
          "refuses this policy (a storage-admin allows it: cafsctl pool allow " +
          bundle.vmset.name + " " + pool + ")");
    }
  }
  return Status::OK();
}

Status CheckPlacementPool(const std::string& pool, const std::optional<Uuid>& configured,
                          const VmSetBundle& bundle) {
  if (!configured || !bundle.pools) return Status::OK();
  const PoolRecordRef* record = FindRecord(*bundle.pools, pool);
  if (record == nullptr || record->guid == *configured) return Status::OK();
  return Status::FromErrno(
      EIO, "pool '" + pool + "': the key server's record of that name has GUID " +
               record->guid.ToString() + ", but this gateway's [[pool]] guid is " +
               configured->ToString() + ": no file is placed in it until they agree");
}

std::vector<PoolFinding> ComparePoolRecords(const std::vector<ConfiguredPool>& configured,
                                            const std::vector<PoolRecordRef>& records) {
  std::vector<PoolFinding> out;
  for (const ConfiguredPool& c : configured) {
    const PoolRecordRef* record = FindRecord(records, c.name);
    if (record == nullptr) {
      out.push_back({c.name, "pool '" + c.name +
                                 "' is configured here but the key server has no pool record "
                                 "of that name: no policy kpsd accepts can use it (a "
                                 "storage-admin creates it: cafsctl pool create " +
                                 c.name + (c.guid ? " --guid " + c.guid->ToString() : "") + ")"});
    } else if (c.guid && record->guid != *c.guid) {
      out.push_back({c.name, "pool '" + c.name + "' is configured with guid " + c.guid->ToString() +
                                 ", but the key server's record of that name has GUID " +
                                 record->guid.ToString() +
                                 ": files are not placed in it until they agree"});
    }
  }
  return out;
}

}  // namespace cafs::core
