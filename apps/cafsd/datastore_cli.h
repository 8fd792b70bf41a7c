// `cafsd datastore export VMSET --to FILE` and `cafsd datastore import FILE`: the planned move
// of a VM set's namespace to another gateway sharing the pools (core/datastore_move.h,
// docs/pools.md "Moving a datastore to another gateway"). Offline, like `cafsd fsck`: each
// takes the backing store's lock, so cafsd must be stopped on that store (no file of the set
// is open, no write lease held).
//
// Exit codes: 0 done; 1 refused (the reason on stderr: no such VM set, record exists,
// imported already, a pool missing, ...); 2 could not run (the store is in use, config).
#pragma once

#include <string>

#include "pool/pool_mapper.h"

namespace cafs::cafsd {

int RunDatastoreExport(const std::string& backing_store, const std::string& vmset,
                       const std::string& record_path);
int RunDatastoreImport(const std::string& backing_store, const std::string& record_path,
                       pool::PoolMapper& pools);

}  // namespace cafs::cafsd
