#include "policy/pool_name.h"

#include <algorithm>

#include "pool/pool_name.h"

namespace cafs::policy {

bool IsStoragePoolName(std::string_view name) {
  const auto pool_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  };
  return !name.empty() && name.size() <= pool::kMaxPoolNameBytes && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), pool_char);
}

}  // namespace cafs::policy
