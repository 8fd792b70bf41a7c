#include "pool/s3/s3_pool_kind.h"

#include <string.h>

#include <algorithm>
#include <cctype>

#include "pool/s3/s3_pool.h"

namespace cafs::pool {

namespace {

constexpr std::int64_t kDefaultPartMiB = 16;
constexpr std::int64_t kDefaultCapacityGiB = 1024;

Status Bad(const PoolSettings& s, std::string_view key, std::string_view why) {
  return Status::InvalidArgument("[[pool]] '" + s.name + "' " + std::string(key) + " " +
                                 std::string(why));
}

bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  return std::all_of(b.begin(), b.end(), [](unsigned char c) {
    return std::islower(c) != 0 || std::isdigit(c) != 0 || c == '-' || c == '.';
  });
}

struct Numbers {
  std::int64_t part_mib, retries, retry_base_ms, op_timeout_s, capacity_gib;
};

Result<Numbers> ReadNumbers(const PoolSettings& s) {
  Numbers n{};
  // S3's smallest part is 5 MiB (but the last); its largest 5 GiB.
  CAFS_ASSIGN_OR_RETURN(n.part_mib, SettingInt(s, "part_size_mib", kDefaultPartMiB, 5, 5120));
  CAFS_ASSIGN_OR_RETURN(n.retries, SettingInt(s, "retries", 5, 0, 20));
  CAFS_ASSIGN_OR_RETURN(n.retry_base_ms, SettingInt(s, "retry_base_ms", 200, 1, 60000));
  CAFS_ASSIGN_OR_RETURN(n.op_timeout_s, SettingInt(s, "op_timeout_s", 30, 1, 3600));
  CAFS_ASSIGN_OR_RETURN(n.capacity_gib,
                        SettingInt(s, "capacity_gib", kDefaultCapacityGiB, 1, 1ll << 30));
  return n;
}

Status Validate(const PoolSettings& s) {
  const std::string endpoint = SettingString(s, "endpoint");
  if (!(endpoint.starts_with("http://") || endpoint.starts_with("https://")) ||
      endpoint.find('/', endpoint.find("//") + 2) != std::string::npos) {
    return Bad(s, "endpoint", "must be http://HOST[:PORT] or https://HOST[:PORT] (no path)");
  }
  if (!ValidBucket(SettingString(s, "bucket"))) {
    return Bad(s, "bucket", "must be 3 to 63 of a-z, 0-9, '-' and '.'");
  }
  if (SettingString(s, "region", "us-east-1").empty()) return Bad(s, "region", "must not be empty");
  if (SettingString(s, "access_key").empty()) return Bad(s, "access_key", "must not be empty");
  for (std::string_view key : {"secret_key_file", "staging_dir"}) {
    const std::string v = SettingString(s, key, "/");
    if (v.empty() || v.front() != '/') return Bad(s, key, "must be an absolute path");
  }
  const std::string prefix = SettingString(s, "prefix");
  if (!prefix.empty() && !ValidateRelativePath(prefix).ok()) {
    return Bad(s, "prefix", "must be a relative path without empty, '.' or '..' parts");
  }
  return ReadNumbers(s).status();
}

// The secret, from its file (one line; a trailing newline is not part of it).
Result<std::string> ReadSecret(const PoolSettings& s, env::Env* env) {
  const std::string path = SettingString(s, "secret_key_file");
  auto file = env->OpenFile(path, env::OpenOptions::ReadOnly());
  if (!file.ok()) return Bad(s, "secret_key_file", "cannot be read: " + file.status().message());
  Bytes buffer(4096);
  auto n = (*file)->ReadAt(0, buffer);
  if (!n.ok()) return Bad(s, "secret_key_file", "cannot be read: " + n.status().message());
  std::string secret(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n));
  explicit_bzero(buffer.data(), buffer.size());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty() || secret.find('\n') != std::string::npos) {
    return Bad(s, "secret_key_file", "must hold the secret key on one line");
  }
  return secret;
}

Result<std::unique_ptr<Pool>> Create(const PoolSettings& s, env::Env* env) {
  if (env == nullptr) env = env::Env::Default();
  CAFS_ASSIGN_OR_RETURN(Numbers n, ReadNumbers(s));
  CAFS_ASSIGN_OR_RETURN(std::string secret, ReadSecret(s, env));
  const std::string staging = SettingString(s, "staging_dir", "/var/tmp");
  if (auto info = env->Stat(staging); !info.ok() || !info->is_directory) {
    return Bad(s, "staging_dir", "'" + staging + "' is not a directory");
  }
  S3PoolOptions o{
      .client = {.pool_name = s.name,
                 .endpoint = SettingString(s, "endpoint"),
                 .region = SettingString(s, "region", "us-east-1"),
                 .bucket = SettingString(s, "bucket"),
                 .access_key = SettingString(s, "access_key"),
                 .secret_key = std::move(secret),
                 .retries = static_cast<int>(n.retries),
                 .retry_base_ms = static_cast<int>(n.retry_base_ms),
                 .op_timeout_s = static_cast<int>(n.op_timeout_s)},
      .prefix = SettingString(s, "prefix"),
      .staging_dir = staging,
      .part_size = static_cast<std::uint64_t>(n.part_mib) << 20,
      .capacity_bytes = static_cast<std::uint64_t>(n.capacity_gib) << 30,
  };
  return std::unique_ptr<Pool>(std::make_unique<S3Pool>(std::move(o), env));
}

}  // namespace

PoolKind S3PoolKind() {
  return PoolKind{
      .kind = "s3",
      .description = "whole objects in an S3 bucket (libcurl, SigV4); writes staged locally",
      .capabilities = {.random_write = false,
                       .sparse = false,
                       .discard = false,
                       .atomic_rename = false,
                       .write_lease = false},
      .keys = {{"endpoint", true, "http://HOST[:PORT] or https://HOST[:PORT] of the S3 service"},
               {"bucket", true, "the bucket holding the objects (must exist)"},
               {"access_key", true, "the access key id"},
               {"secret_key_file", true, "absolute path of a file holding the secret key"},
               {"region", false, "signing region (default us-east-1)"},
               {"prefix", false, "key prefix inside the bucket (default: none)"},
               {"staging_dir", false, "local directory for staged writes (default /var/tmp)"},
               {"part_size_mib", false, "multipart part size, 5..5120 (default 16)"},
               {"retries", false, "retries of a failed request, 0..20 (default 5)"},
               {"retry_base_ms", false, "first backoff wait, doubled each retry (default 200)"},
               {"op_timeout_s", false, "connect bound and stall bound of a request (default 30)"},
               {"capacity_gib", false, "capacity reported by Space (default 1024)"}},
      .validate = Validate,
      .create = Create,
  };
}

}  // namespace cafs::pool
