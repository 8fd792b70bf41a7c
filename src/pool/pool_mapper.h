// PoolMapper: the storage pool mapper of the seed — the set of configured pools by name.
// Policy names a pool (`<storepol>mirrored_pool_A</storepol>`); the mapper turns the name
// into a Pool. Redirector entries (`name##pool`) are resolved through it.
//
// Threading: Add happens at start-up; Find and names() are safe from many threads once
// start-up is over (the map is not modified afterwards).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pool/pool.h"
#include "pool/pool_name.h"
#include "util/uuid.h"

namespace cafs::pool {

class PoolMapper {
 public:
  // AlreadyExists for a duplicate name; InvalidArgument for a name that is empty, has '/',
  // contains "##" or starts with '#' (either would make redirector names ambiguous: the
  // last "##" of `name##pool` must be the separator, also for names ending in '#').
  // `guid`: the GUID of kpsd's record this pool is (cafsd [[pool]] guid =; docs/gateway.md
  // "Pool identity"); none = mapped to the record of the same name.
  Status Add(std::unique_ptr<Pool> pool, std::optional<Uuid> guid = std::nullopt);

  // NotFound naming the pool and listing the configured ones.
  Result<Pool*> Find(const std::string& name) const;
  // The GUID configured for pool `name`; none when not given (or no such pool).
  std::optional<Uuid> ConfiguredGuid(const std::string& name) const;

  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::unique_ptr<Pool>> pools_;
  std::map<std::string, Uuid> guids_;
};

}  // namespace cafs::pool
