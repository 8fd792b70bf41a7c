#include "kps/objects.h"

#include <array>
#include <utility>

namespace cafs::kps {

namespace {

using nlohmann::json;

constexpr std::array<std::pair<Role, std::string_view>, 6> kRoles = {{
    {Role::kSecurityAdmin, "security-admin"},
    {Role::kTenantAdmin, "tenant-admin"},
    {Role::kKeyAdmin, "key-admin"},
    {Role::kStorageAdmin, "storage-admin"},
    {Role::kAuditor, "auditor"},
    {Role::kGateway, "gateway"},
}};

constexpr std::array<std::pair<KeyState, std::string_view>, 5> kStates = {{
    {KeyState::kPreActive, "pre-active"},
    {KeyState::kActive, "active"},
    {KeyState::kDeactivated, "deactivated"},
    {KeyState::kCompromised, "compromised"},
    {KeyState::kDestroyed, "destroyed"},
}};

// Runs `fn` (which reads a json) and turns nlohmann's type/out-of-range errors into Status.
template <typename T, typename Fn>
Result<T> Parse(std::string_view what, Fn&& fn) {
  try {
    return fn();
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string(what) + ": " + e.what());
  }
}

std::string HexOrEmpty(const Bytes& b) { return b.empty() ? std::string() : ToHex(b); }

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [r, n] : kRoles) {
    if (r == role) return n;
  }
  return "unknown";
}

Result<Role> ParseRole(std::string_view name) {
  for (const auto& [r, n] : kRoles) {
    if (n == name) return r;
  }
  return Status::InvalidArgument(
      "unknown role '" + std::string(name) +
      "' (security-admin, tenant-admin, key-admin, storage-admin, auditor, gateway)");
}

std::string_view KeyStateName(KeyState state) {
  for (const auto& [s, n] : kStates) {
    if (s == state) return n;
  }
  return "unknown";
}

Result<KeyState> ParseKeyState(std::string_view name) {
  for (const auto& [s, n] : kStates) {
    if (n == name) return s;
  }
  return Status::InvalidArgument("unknown key state '" + std::string(name) +
                                 "' (pre-active, active, deactivated, compromised, destroyed)");
}

bool KeyStateTransitionAllowed(KeyState from, KeyState to) {
  switch (from) {
    case KeyState::kPreActive:
      return to == KeyState::kActive || to == KeyState::kCompromised;
    case KeyState::kActive:
      return to == KeyState::kDeactivated || to == KeyState::kCompromised;
    case KeyState::kDeactivated:
      return to == KeyState::kCompromised;
    case KeyState::kCompromised:
    case KeyState::kDestroyed:
      return false;
  }
  return false;
}

const KeyVersion* KeyRecord::Active() const {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->state == KeyState::kActive) return &*it;
  }
  return nullptr;
}

const KeyVersion* KeyRecord::Find(std::uint32_t number) const {
  for (const auto& v : versions) {
    if (v.number == number) return &v;
  }
  return nullptr;
}

KeyVersion* KeyRecord::Find(std::uint32_t number) {
  for (auto& v : versions) {
    if (v.number == number) return &v;
  }
  return nullptr;
}

json ToJson(const VmSetRecord& r) {
  return {{"name", r.name},
          {"guid", r.guid},
          {"mount_point", r.mount_point},
          {"position", r.position},
          {"servers", r.servers},
          {"policy_id", r.policy_id},
          {"time_zone", r.time_zone},
          {"audit_destinations", r.audit_destinations},
          {"capacity_threshold", r.capacity_threshold},
          {"version", r.version}};
}

json ToJson(const PolicyRecord& r) {
  return {{"id", r.id},   {"name", r.name},      {"vmset", r.vmset}, {"vmset_id", r.vmset_id},
          {"xml", r.xml}, {"version", r.version}};
}

json ToJson(const KeyRecord& r, bool with_wrapped) {
  json versions = json::array();
  for (const auto& v : r.versions) {
    json jv = {{"number", v.number},
               {"state", KeyStateName(v.state)},
               {"created", v.created},
               {"changed", v.changed}};
    if (with_wrapped) jv["wrapped"] = HexOrEmpty(v.wrapped);
    versions.push_back(std::move(jv));
  }
  json j = {{"id", r.id},           {"vmset", r.vmset},     {"vmset_id", r.vmset_id},
            {"cipher", r.cipher},   {"versions", versions}, {"created", r.created},
            {"rotated", r.rotated}, {"version", r.version}};
  if (!r.name.empty()) j["name"] = r.name;  // absent for keys without a KMIP Name
  return j;
}

json ToJson(const ServerRecord& r) {
  return {{"id", r.id}, {"name", r.name}, {"addresses", r.addresses}, {"version", r.version}};
}

json ToJson(const GatewayRecord& r) {
  return {{"name", r.name},
          {"cert_serial", r.cert_serial},
          {"cert_fingerprint", r.cert_fingerprint},
          {"vmsets", r.vmsets},
          {"approved", r.approved},
          {"enrolled", r.enrolled},
          {"enrolled_by", r.enrolled_by},
          {"revoked", r.revoked},
          {"version", r.version}};
}

json ToJson(const AdminRecord& r) {
  return {{"name", r.name},
          {"role", RoleName(r.role)},
          {"vmsets", r.vmsets},
          {"cert_serial", r.cert_serial},
          {"cert_fingerprint", r.cert_fingerprint},
          {"exports", r.exports},
          {"revoked", r.revoked},
          {"version", r.version}};
}

json ToJson(const AuditRecord& r) {
  json j = {{"seq", r.seq},       {"time", r.time},     {"actor", r.actor},
            {"role", r.role},     {"action", r.action}, {"object", r.object},
            {"result", r.result}, {"reason", r.reason}, {"prev_hash", r.prev_hash},
            {"hash", r.hash}};
  if (!r.access.is_null()) j["access"] = r.access;
  return j;
}

Result<VmSetRecord> VmSetFromJson(const json& j) {
  return Parse<VmSetRecord>("vmset", [&] {
    VmSetRecord r;
    r.name = j.at("name").get<std::string>();
    r.mount_point = j.value("mount_point", std::string());
    r.position = j.value("position", 0);
    r.servers = j.value("servers", std::vector<std::string>());
    r.policy_id = j.value("policy_id", std::string());
    r.time_zone = j.value("time_zone", std::string("UTC"));
    r.audit_destinations = j.value("audit_destinations", std::vector<std::string>());
    r.capacity_threshold = j.value("capacity_threshold", policy::VmSet::kDefaultCapacityThreshold);
    r.version = j.value("version", std::uint64_t{0});
    r.guid = j.value("guid", std::string());
    return r;
  });
}

Result<PolicyRecord> PolicyFromJson(const json& j) {
  return Parse<PolicyRecord>("policy", [&] {
    PolicyRecord r;
    r.id = j.value("id", std::string());
    r.name = j.value("name", std::string());
    r.vmset = j.value("vmset", std::string());
    r.vmset_id = j.value("vmset_id", std::string());
    r.xml = j.at("xml").get<std::string>();
    r.version = j.value("version", std::uint64_t{0});
    return r;
  });
}

Result<KeyRecord> KeyFromJson(const json& j) {
  try {
    KeyRecord r;
    r.id = j.at("id").get<std::string>();
    // The store keeps vmset_id only (vmset is resolved on read); documents written before
    // VM set GUIDs keep vmset only until the upgrade (vmset_identity.h).
    r.vmset = j.value("vmset", std::string());
    r.vmset_id = j.value("vmset_id", std::string());
    if (r.vmset.empty() && r.vmset_id.empty()) {
      return Status::InvalidArgument("key: it names no 'vmset_id'");
    }
    r.cipher = j.at("cipher").get<std::string>();
    r.name = j.value("name", std::string());
    r.created = j.value("created", std::int64_t{0});
    r.rotated = j.value("rotated", std::int64_t{0});
    r.version = j.value("version", std::uint64_t{0});
    for (const auto& jv : j.at("versions")) {
      KeyVersion v;
      v.number = jv.at("number").get<std::uint32_t>();
      CAFS_ASSIGN_OR_RETURN(v.state, ParseKeyState(jv.at("state").get<std::string>()));
      v.created = jv.value("created", std::int64_t{0});
      v.changed = jv.value("changed", std::int64_t{0});
      std::string hex = jv.value("wrapped", std::string());
      if (!hex.empty()) {
        CAFS_ASSIGN_OR_RETURN(v.wrapped, FromHex(hex));
      }
      r.versions.push_back(std::move(v));
    }
    return r;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("key: ") + e.what());
  }
}

Result<ServerRecord> ServerFromJson(const json& j) {
  return Parse<ServerRecord>("server", [&] {
    ServerRecord r;
    r.id = j.at("id").get<std::string>();
    r.name = j.value("name", std::string());
    r.addresses = j.value("addresses", std::vector<std::string>());
    r.version = j.value("version", std::uint64_t{0});
    return r;
  });
}

Result<GatewayRecord> GatewayFromJson(const json& j) {
  return Parse<GatewayRecord>("gateway", [&] {
    GatewayRecord r;
    r.name = j.at("name").get<std::string>();
    r.cert_serial = j.value("cert_serial", std::string());
    r.cert_fingerprint = j.value("cert_fingerprint", std::string());
    r.vmsets = j.value("vmsets", std::vector<std::string>());
    r.approved = j.value("approved", std::vector<std::string>());
    r.enrolled = j.value("enrolled", std::int64_t{0});
    r.enrolled_by = j.value("enrolled_by", std::string());
    r.revoked = j.value("revoked", false);
    r.version = j.value("version", std::uint64_t{0});
    return r;
  });
}

Result<AdminRecord> AdminFromJson(const json& j) {
  try {
    AdminRecord r;
    r.name = j.at("name").get<std::string>();
    CAFS_ASSIGN_OR_RETURN(r.role, ParseRole(j.at("role").get<std::string>()));
    r.vmsets = j.value("vmsets", std::vector<std::string>());
    r.cert_serial = j.value("cert_serial", std::string());
    r.cert_fingerprint = j.value("cert_fingerprint", std::string());
    r.exports = j.value("exports", std::vector<std::string>());
    r.revoked = j.value("revoked", false);
    r.version = j.value("version", std::uint64_t{0});
    return r;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("admin: ") + e.what());
  }
}

Result<AuditRecord> AuditFromJson(const json& j) {
  return Parse<AuditRecord>("audit", [&] {
    AuditRecord r;
    r.seq = j.value("seq", std::uint64_t{0});
    r.time = j.value("time", std::int64_t{0});
    r.actor = j.value("actor", std::string());
    r.role = j.value("role", std::string());
    r.action = j.value("action", std::string());
    r.object = j.value("object", std::string());
    r.result = j.value("result", std::string());
    r.reason = j.value("reason", std::string());
    r.prev_hash = j.value("prev_hash", std::string());
    r.hash = j.value("hash", std::string());
    if (j.contains("access")) r.access = j["access"];
    return r;
  });
}

Status CheckKnownFields(const json& j, std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) return Status::InvalidArgument("the body must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || a == k;
    if (!ok) return Status::InvalidArgument("unknown field '" + k + "'");
  }
  return Status::OK();
}

}  // namespace cafs::kps
