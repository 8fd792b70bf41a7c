// The "s3" pool kind (S3Pool, s3_pool.h) for the pool registry. This header does not include
// curl headers: pool_kinds.cc includes it when CAFS_HAVE_S3 is defined.
#pragma once

#include "pool/pool_registry.h"

namespace cafs::pool {

// Keys: endpoint, bucket, access_key, secret_key_file (required), region, prefix, staging_dir,
// part_size_mib, retries, retry_base_ms, op_timeout_s, capacity_gib (docs/pools.md "s3").
PoolKind S3PoolKind();

}  // namespace cafs::pool
