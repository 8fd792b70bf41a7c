// The "rados" pool kind (RadosPool, rados_pool.h) for the pool registry. This header does not
// include Ceph headers: pool_kinds.cc includes it when CAFS_HAVE_RADOS is defined.
#pragma once

#include "pool/pool_registry.h"

namespace cafs::pool {

// Keys: rados_pool (required), namespace, conf, user, keyring, op_timeout_s (docs/pools.md).
PoolKind RadosPoolKind();

}  // namespace cafs::pool
