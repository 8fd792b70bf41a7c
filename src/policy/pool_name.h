// The one rule for a storage pool's name as the policy language writes it (<storepol>) and as
// kpsd's pool records keep it (src/kps/pool_registry.h). Threading: a pure function.
#pragma once

#include <string_view>

namespace cafs::policy {

// Whether `name` may name a storage pool: 1..pool::kMaxPoolNameBytes (178) letters, digits,
// '_', '-' and '.', not "." or ".." (the length limit is the gateway's, src/pool/pool_name.h).
bool IsStoragePoolName(std::string_view name);

}  // namespace cafs::policy
