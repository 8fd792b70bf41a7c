// The pool kinds built into this program: "posix" always, "rados" when librados was found at
// configure time (CMake option CAFS_RADOS), "s3" when libcurl >= 7.85 was (CAFS_S3;
// docs/pools.md). cafsd builds its pools from here.
#pragma once

#include "pool/pool_registry.h"

namespace cafs::pool {

// Filled on first use (thread-safe), never modified afterwards.
const PoolRegistry& BuiltinPoolKinds();

}  // namespace cafs::pool
