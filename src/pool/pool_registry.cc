#include "pool/pool_registry.h"

#include <charconv>

#include "pool/posix_pool.h"

namespace cafs::pool {

namespace {

std::string Where(const PoolSettings& s) { return "[[pool]] '" + s.name + "'"; }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Status ValidatePosix(const PoolSettings& s) {
  const std::string path = SettingString(s, "path");
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument(Where(s) + " path must be an absolute directory path");
  }
  return Status::OK();
}

Result<std::unique_ptr<Pool>> CreatePosix(const PoolSettings& s, env::Env* env) {
  return std::unique_ptr<Pool>(std::make_unique<PosixPool>(s.name, SettingString(s, "path"), env));
}

}  // namespace

Status PoolRegistry::Register(PoolKind kind) {
  if (kind.api_version != kPoolApiVersion) {
    return Status::InvalidArgument(
        "pool kind '" + std::string(kind.kind) + "' was written for pool API version " +
        std::to_string(kind.api_version) + ", this program has " + std::to_string(kPoolApiVersion));
  }
  if (kind.kind.empty() || kind.create == nullptr) {
    return Status::InvalidArgument("pool kind without a name or a create call");
  }
  std::string name(kind.kind);
  if (!kinds_.emplace(name, std::move(kind)).second) {
    return Status::AlreadyExists("pool kind '" + name + "' registered twice");
  }
  return Status::OK();
}

const PoolKind* PoolRegistry::Find(std::string_view kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> PoolRegistry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : kinds_) out.push_back(name);
  return out;
}

Status PoolRegistry::Validate(const PoolSettings& settings) const {
  const PoolKind* kind = Find(settings.kind);
  if (kind == nullptr) {
    return Status::InvalidArgument(Where(settings) + " kind '" + settings.kind +
                                   "' is not built into this program (kinds: " + Join(kinds()) +
                                   ")");
  }
  for (const auto& [key, _] : settings.values) {
    bool known = false;
    for (const auto& k : kind->keys) known = known || k.name == key;
    if (!known) {
      std::vector<std::string> keys;
      for (const auto& k : kind->keys) keys.emplace_back(k.name);
      return Status::InvalidArgument(Where(settings) + " unknown key '" + key + "' for kind '" +
                                     settings.kind + "' (keys: name, kind, " + Join(keys) + ")");
    }
  }
  for (const auto& k : kind->keys) {
    if (k.required && settings.values.find(std::string(k.name)) == settings.values.end()) {
      return Status::InvalidArgument(Where(settings) + " " + std::string(k.name) +
                                     " is required for kind '" + settings.kind + "' (" +
                                     std::string(k.help) + ")");
    }
  }
  return kind->validate == nullptr ? Status::OK() : kind->validate(settings);
}

Result<std::unique_ptr<Pool>> PoolRegistry::Create(const PoolSettings& settings,
                                                   env::Env* env) const {
  CAFS_RETURN_IF_ERROR(Validate(settings));
  return Find(settings.kind)->create(settings, env);
}

PoolKind PosixPoolKind() {
  return PoolKind{
      .kind = "posix",
      .description = "a directory on a mounted file system (local disk, RAID, NAS mount)",
      .capabilities = {},
      .keys = {{"path", true, "absolute path of the pool's root directory"}},
      .validate = ValidatePosix,
      .create = CreatePosix,
  };
}

Result<std::int64_t> SettingInt(const PoolSettings& settings, std::string_view key,
                                std::int64_t fallback, std::int64_t min, std::int64_t max) {
  auto it = settings.values.find(std::string(key));
  if (it == settings.values.end()) return fallback;
  const std::string& text = it->second;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return Status::InvalidArgument(Where(settings) + " " + std::string(key) +
                                   " must be an integer in [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "], not '" + text + "'");
  }
  return v;
}

std::string SettingString(const PoolSettings& settings, std::string_view key,
                          std::string_view fallback) {
  auto it = settings.values.find(std::string(key));
  return it == settings.values.end() ? std::string(fallback) : it->second;
}

}  // namespace cafs::pool
