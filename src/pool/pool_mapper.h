// PoolMapper: the storage pool mapper of the seed — the set of configured pools by name.
// Policy names a pool (`<storepol>mirrored_pool_A</storepol>`); the mapper turns the name
// into a Pool. Redirector entries (`name##pool`) are resolved through it.
//
// Threading: Add happens at start-up; Find and names() are safe from many threads once
// start-up is over (the map is not modified afterwards).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pool/pool.h"
#include "pool/pool_name.h"

namespace cafs::pool {

class PoolMapper {
 public:
  // AlreadyExists for a duplicate name; InvalidArgument for a name that is empty, has '/',
  // contains "##" or starts with '#' (either would make redirector names ambiguous: the
  // last "##" of `name##pool` must be the separator, also for names ending in '#').
  Status Add(std::unique_ptr<Pool> pool);

  // NotFound naming the pool and listing the configured ones.
  Result<Pool*> Find(const std::string& name) const;

  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::unique_ptr<Pool>> pools_;
};

}  // namespace cafs::pool
