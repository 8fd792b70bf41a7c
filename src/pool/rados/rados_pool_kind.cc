#include "pool/rados/rados_pool_kind.h"

#include "pool/rados/rados_pool.h"

namespace cafs::pool {

namespace {

constexpr std::int64_t kDefaultTimeoutS = 30;
constexpr std::int64_t kDefaultLeaseS = 30;

Status CheckAbsolute(const PoolSettings& s, std::string_view key) {
  const std::string v = SettingString(s, key);
  if (s.values.count(std::string(key)) != 0 && (v.empty() || v.front() != '/')) {
    return Status::InvalidArgument("[[pool]] '" + s.name + "' " + std::string(key) +
                                   " must be an absolute path");
  }
  return Status::OK();
}

Status Validate(const PoolSettings& s) {
  if (SettingString(s, "rados_pool").empty()) {
    return Status::InvalidArgument("[[pool]] '" + s.name + "' rados_pool must not be empty");
  }
  if (s.values.count("user") != 0 && SettingString(s, "user").empty()) {
    return Status::InvalidArgument("[[pool]] '" + s.name + "' user must not be empty");
  }
  CAFS_RETURN_IF_ERROR(CheckAbsolute(s, "conf"));
  CAFS_RETURN_IF_ERROR(CheckAbsolute(s, "keyring"));
  CAFS_RETURN_IF_ERROR(SettingInt(s, "lease_s", kDefaultLeaseS, 3, 3600).status());
  return SettingInt(s, "op_timeout_s", kDefaultTimeoutS, 1, 3600).status();
}

Result<std::unique_ptr<Pool>> Create(const PoolSettings& s, env::Env* /*env*/) {
  CAFS_ASSIGN_OR_RETURN(std::int64_t timeout,
                        SettingInt(s, "op_timeout_s", kDefaultTimeoutS, 1, 3600));
  CAFS_ASSIGN_OR_RETURN(std::int64_t lease, SettingInt(s, "lease_s", kDefaultLeaseS, 3, 3600));
  RadosPoolOptions o{
      .name = s.name,
      .conf = SettingString(s, "conf"),
      .user = SettingString(s, "user", "admin"),
      .keyring = SettingString(s, "keyring"),
      .rados_pool = SettingString(s, "rados_pool"),
      .ns = SettingString(s, "namespace"),
      .op_timeout_s = static_cast<int>(timeout),
      .lease_s = static_cast<int>(lease),
      .owner = s.owner,
  };
  return std::unique_ptr<Pool>(std::make_unique<RadosPool>(std::move(o)));
}

}  // namespace

PoolKind RadosPoolKind() {
  return PoolKind{
      .kind = "rados",
      .description = "objects in a RADOS pool of a Ceph cluster (librados), striped in 4 MiB",
      .capabilities = {.random_write = true,
                       .sparse = true,
                       .discard = true,
                       .atomic_rename = false,
                       .write_lease = true},
      .keys = {{"rados_pool", true, "the RADOS pool holding the objects (must exist)"},
               {"namespace", false, "RADOS namespace inside it (default: none)"},
               {"conf", false, "ceph.conf path (default: $CEPH_CONF, /etc/ceph/ceph.conf)"},
               {"user", false, "cephx client id, client.<user> (default: admin)"},
               {"keyring", false, "keyring path (default: from the conf)"},
               {"op_timeout_s", false, "bound of every cluster operation (default 30)"},
               {"lease_s", false, "duration of a write lease, renewed every third (default 30)"}},
      .validate = Validate,
      .create = Create,
  };
}

}  // namespace cafs::pool
