#include "pool/pool_mapper.h"

namespace cafs::pool {

Status ValidatePoolName(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("storage pool name is empty");
  if (name.size() > kMaxPoolNameBytes) {
    return Status::InvalidArgument("storage pool name '" + name + "' is " +
                                   std::to_string(name.size()) + " bytes; at most " +
                                   std::to_string(kMaxPoolNameBytes) +
                                   " (a file's hashed backing name .cafs-long-<64 hex>##pool must "
                                   "fit NAME_MAX, 255: docs/redirectors.md \"Long names\")");
  }
  // A leading '#' would make `name##pool` ambiguous for names ending in '#' ("a###p": "a#"
  // in pool "p" or "a" in pool "#p"); without it the last "##" always splits correctly.
  if (name.find('/') != std::string::npos || name.find("##") != std::string::npos || name == "." ||
      name == ".." || name.front() == '#') {
    return Status::InvalidArgument("storage pool name '" + name +
                                   "' must not contain '/' or '##', start with '#' or be '.' or "
                                   "'..'");
  }
  return Status::OK();
}

Status PoolMapper::Add(std::unique_ptr<Pool> pool, std::optional<Uuid> guid) {
  CAFS_RETURN_IF_ERROR(ValidatePoolName(pool->name()));
  std::string name = pool->name();
  if (!pools_.emplace(name, std::move(pool)).second) {
    return Status::AlreadyExists("storage pool '" + name + "' is configured twice");
  }
  if (guid) guids_.emplace(name, *guid);
  return Status::OK();
}

std::optional<Uuid> PoolMapper::ConfiguredGuid(const std::string& name) const {
  auto it = guids_.find(name);
  if (it == guids_.end()) return std::nullopt;
  return it->second;
}

Result<Pool*> PoolMapper::Find(const std::string& name) const {
  auto it = pools_.find(name);
  if (it == pools_.end()) {
    std::string known;
    for (const auto& [n, p] : pools_) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("storage pool '" + name + "' is not configured (configured: " +
                            (known.empty() ? "none" : known) + ")");
  }
  return it->second.get();
}

std::vector<std::string> PoolMapper::names() const {
  std::vector<std::string> out;
  for (const auto& [n, p] : pools_) out.push_back(n);
  return out;
}

}  // namespace cafs::pool
