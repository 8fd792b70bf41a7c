#include "pool/pool_kinds.h"

#include <cstdlib>

#ifdef CAFS_HAVE_RADOS
#include "pool/rados/rados_pool_kind.h"
#endif
#ifdef CAFS_HAVE_S3
#include "pool/s3/s3_pool_kind.h"
#endif

namespace cafs::pool {

namespace {

PoolRegistry MakeBuiltin() {
  PoolRegistry registry;
  std::vector<PoolKind> kinds = {PosixPoolKind()};
#ifdef CAFS_HAVE_RADOS
  kinds.push_back(RadosPoolKind());
#endif
#ifdef CAFS_HAVE_S3
  kinds.push_back(S3PoolKind());
#endif
  for (PoolKind& kind : kinds) {
    // A built-in kind that does not register is a build defect, not a run-time condition.
    if (!registry.Register(std::move(kind)).ok()) std::abort();
  }
  return registry;
}

}  // namespace

const PoolRegistry& BuiltinPoolKinds() {
  static const PoolRegistry registry = MakeBuiltin();
  return registry;
}

}  // namespace cafs::pool
