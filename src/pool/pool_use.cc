#include "pool/pool_use.h"

#include <string>

namespace cafs::pool {

PoolCapabilities NeededFor(PoolUse use) {
  PoolCapabilities none{.random_write = false,
                        .sparse = false,
                        .discard = false,
                        .atomic_rename = false,
                        .write_lease = false};
  switch (use) {
    case PoolUse::kMirrorCopy:
      none.random_write = true;
      return none;
  }
  return none;
}

std::string_view PoolUseName(PoolUse use) {
  switch (use) {
    case PoolUse::kMirrorCopy:
      return "a copy of a mirrored file";
  }
  return "?";
}

Status CheckPoolUse(const Pool& pool, PoolUse use) {
  const PoolCapabilities need = NeededFor(use);
  const PoolCapabilities has = pool.capabilities();
  std::string missing;
  auto check = [&](bool needed, bool present, std::string_view flag) {
    if (needed && !present) missing += (missing.empty() ? "" : ", ") + std::string(flag);
  };
  check(need.random_write, has.random_write, "random_write");
  check(need.sparse, has.sparse, "sparse");
  check(need.discard, has.discard, "discard");
  check(need.atomic_rename, has.atomic_rename, "atomic_rename");
  check(need.write_lease, has.write_lease, "write_lease");
  if (missing.empty()) return Status::OK();
  return Status::NotSupported("pool '" + pool.name() + "' (kind " + std::string(pool.kind()) +
                              ") cannot hold " + std::string(PoolUseName(use)) + ": it lacks " +
                              missing + " (docs/pools.md \"Who needs which capability\")");
}

}  // namespace cafs::pool
