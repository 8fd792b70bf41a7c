// Pool identity on the gateway (issue 16; docs/gateway.md "Pool identity"): how cafsd's
// configured pools ([[pool]] name, optional guid) meet the key server's pool records
// ({name, guid}, kps/pool_registry.h), and the gateway's own check of a fetched policy's pools
// against the VM set's allow list. The rules, each in one place:
//
// - Allow list (CheckPolicyPools): every pool a fetched policy names (policy::PolicyDescriptor::
//   Pools: <storepol> and <replica-pool>) must be on the VM set's allow list the fetch carries
//   (`VmSetBundle::pools`). kpsd already refuses such a policy at upload; the gateway checks
//   again (defence in depth: a store edited behind kpsd's back, a kpsd bug) and refuses the
//   whole policy: every access to the VM set is denied and audited (Gateway::CheckAt).
// - Placement (CheckPlacementPool): a pool configured with `guid =` takes new files only while
//   the record of that name in the fetch has that GUID. A record with another GUID means the
//   name now denotes another pool in kpsd: the create fails with EIO, audited and alerted,
//   naming both GUIDs. Without `guid =` the pool is mapped to the record by name.
// - Start-up (ComparePoolRecords): with [kps], cafsd compares its configured pools with every
//   record kpsd holds (GET /v1/gateway/pools) and warns (log + audit) for a pool kpsd has no
//   record of and for one whose `guid =` differs from the record of its name.
// With no allow list (`pools` nullopt: local keys, a kpsd before pool records) nothing is
// checked: the gateway's [[pool]] tables are then the only pool list.
//
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cafs/key_provider.h"
#include "util/status.h"
#include "util/uuid.h"

namespace cafs::core {

// PermissionDenied naming the first pool of `bundle`'s policy that its allow list does not
// hold, and the VM set; OK when every pool is on it or there is no allow list.
Status CheckPolicyPools(const VmSetBundle& bundle);

// Whether new files may go to pool `pool`, configured with GUID `configured` (none: mapped by
// name), for a VM set whose fetch is `bundle`: an EIO Status naming the pool and both GUIDs
// when the record of that name has another GUID; OK otherwise.
Status CheckPlacementPool(const std::string& pool, const std::optional<Uuid>& configured,
                          const VmSetBundle& bundle);

// A configured pool as the start-up comparison sees it.
struct ConfiguredPool {
  std::string name;
  std::optional<Uuid> guid;
};
// One finding of the start-up comparison: the pool and what is wrong, as one log line.
struct PoolFinding {
  std::string pool;
  std::string text;
};
// Configured pools against every record kpsd holds (`records`): one finding per pool without
// a record of its name, and per pool whose configured GUID differs from that record's.
std::vector<PoolFinding> ComparePoolRecords(const std::vector<ConfiguredPool>& configured,
                                            const std::vector<PoolRecordRef>& records);

}  // namespace cafs::core
