// PoolUse: the roles CAFS gives a pool, what each role needs of the pool's capabilities
// (pool.h PoolCapabilities), and the one check of it. Placement and mirroring (Volume) ask
// CheckPoolUse before they put a file in a pool, instead of trying and failing at the first
// write. The table of roles and needs is docs/pools.md "Who needs which capability"; a new
// role (migration's target, migrate2) is a new enumerator and a row there.
//
// Threading: pure functions.
#pragma once

#include <string_view>

#include "pool/pool.h"
#include "util/status.h"

namespace cafs::pool {

enum class PoolUse {
  // A copy of a mirrored file (<replicas> > 1: the <storepol> and every <replica-pool>): every
  // write goes to every copy in place and a resync rewrites ranges, so random_write.
  kMirrorCopy,
};

// What `use` needs (the flags that must be set; the others are false).
PoolCapabilities NeededFor(PoolUse use);
// The name of the role for messages ("a copy of a mirrored file").
std::string_view PoolUseName(PoolUse use);

// OK when `pool` has every capability `use` needs; otherwise NotSupported (EOPNOTSUPP) naming
// the pool, its kind, the role and each missing flag.
Status CheckPoolUse(const Pool& pool, PoolUse use);

}  // namespace cafs::pool
