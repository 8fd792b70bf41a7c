#include "cafs/key_inventory.h"

#include <filesystem>

#include "cafs/store_walk.h"

namespace cafs::core {

namespace fs = std::filesystem;

VmSetKeyInventory TakeKeyInventory(const std::string& backing_root, pool::PoolMapper& pools,
                                   const std::string& vmset) {
  VmSetKeyInventory out;
  out.vmset = vmset;
  std::map<std::pair<Uuid, std::uint32_t>, KeyVersionUse> uses;
  const fs::path root(backing_root);
  auto depends = [&](const Uuid& key, std::uint32_t version, std::uint64_t bytes,
                     const std::string& guid, const std::string& path) {
    if (key == Uuid::ClearTextKey() || key.IsNil()) return;
    KeyVersionUse& u = uses[{key, version}];
    u.key = key;
    u.version = version;
    ++u.files;
    u.bytes += bytes;
    if (u.listed.size() < kInventoryListedFiles) u.listed.push_back({guid, path});
  };
  auto visit = [&](const fs::path& p) {
    const std::string backing_name = p.filename().string();  // `split` views into it
    const auto split = SplitRedirectorName(backing_name);
    if (!split) return;  // not a redirector (a temporary one has no "##")
    auto r = ReadRedirectorFile(p);
    auto pool = pools.Find(std::string(split->pool));
    if (!r.ok() || !pool.ok()) {
      ++out.unreadable;
      return;
    }
    auto header = ReadPoolFileHeader(**pool, r->pool_path);
    if (!header.ok()) {
      ++out.unreadable;
      return;
    }
    auto info = (*pool)->Stat(r->pool_path);
    const std::uint64_t bytes = info.ok() ? info->size : 0;
    // A hashed name whose side entry is gone still depends on its key: listed under its
    // backing path.
    auto caller_path = CallerPathOfFile(root, p);
    const std::string path =
        caller_path.ok() ? *caller_path : "/" + p.lexically_relative(root).generic_string();
    const std::string guid = header->file_guid.ToString();
    depends(header->key_guid, header->key_version, bytes, guid, path);
    if (!header->rekey.target_key_guid.IsNil() &&
        (header->rekey.target_key_guid != header->key_guid ||
         header->rekey.target_key_version != header->key_version)) {
      depends(header->rekey.target_key_guid, header->rekey.target_key_version, bytes, guid, path);
    }
  };
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(root / vmset, ec))) return out;  // no files yet
  WalkRegularFiles(root / vmset, visit,
                   [&](const fs::path&, const std::error_code&) { ++out.unreadable; });
  for (auto& [id, u] : uses) out.keys.push_back(std::move(u));
  return out;
}

}  // namespace cafs::core
