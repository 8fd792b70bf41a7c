// `cafsd replica list|verify`: read the replicas of a DR pool without the running cafsd (the
// DR side needs no data key: only the replica key, docs/replicas.md "Keys"). `replica run`
// and `replica restore` are jobs of the running cafsd (jobs_cli.h).
//
// Exit codes: 0 ok; 1 a manifest or chunk failed its check (tampered or damaged), or nothing
// found; 2 usage or configuration.
#pragma once

#include <string>

#include "pool/pool_mapper.h"

namespace cafs::cafsd {

struct ReplicaQuery {
  std::string pool;                // the DR pool
  std::string key_file;            // the replica key (32 bytes)
  std::string vmset, vm, replica;  // verify: which VM ("" replica: the newest)
  bool json = false;
};

int RunReplicaList(pool::PoolMapper& pools, const ReplicaQuery& q);
int RunReplicaVerify(pool::PoolMapper& pools, const ReplicaQuery& q);

}  // namespace cafs::cafsd
