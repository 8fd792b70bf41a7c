// The objects the key & policy server keeps, and their JSON forms.
//
// Each object is stored by the Store as one JSON document (the forms below, docs/kps.md)
// under (kind, id) with an optimistic-concurrency version; the same JSON (minus wrapped key
// bytes) is what the REST API shows. `version` is the store's row version: 0 = not stored yet.
// Threading: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/vm_set.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::kps {

// Separation of duties (seed: tenant, key and storage administrators are separate).
enum class Role { kSecurityAdmin, kTenantAdmin, kKeyAdmin, kStorageAdmin, kAuditor, kGateway };
// "security-admin", "tenant-admin", "key-admin", "storage-admin", "auditor", "gateway".
std::string_view RoleName(Role role);
Result<Role> ParseRole(std::string_view name);

// KMIP 1.x key life-cycle states (KMIP spec 3.22 State; we leave out "destroyed compromised").
enum class KeyState { kPreActive, kActive, kDeactivated, kCompromised, kDestroyed };
// "pre-active", "active", "deactivated", "compromised", "destroyed".
std::string_view KeyStateName(KeyState state);
Result<KeyState> ParseKeyState(std::string_view name);
// Whether KMIP allows moving from `from` to `to` (destroy has its own operation).
bool KeyStateTransitionAllowed(KeyState from, KeyState to);
// Whether a key version in `state` may be unwrapped to decrypt existing data.
inline bool CanDecrypt(KeyState s) {
  return s == KeyState::kActive || s == KeyState::kDeactivated || s == KeyState::kCompromised;
}

struct VmSetRecord {
  std::string name;                  // unique among live VM sets, e.g. "my_vmset"; renameable
  std::string mount_point;           // seed <mnt>, e.g. "/nfs"
  int position = 0;                  // path component index of the VM set under mnt
  std::vector<std::string> servers;  // virtualization server ids (seed <vmserv>)
  std::string policy_id;             // policy descriptor GUID (seed <pd>)
  std::uint64_t version = 0;
  // The VM set XML's extensions (docs/policy.md §2), kept so the gateway applies exactly what
  // the local-keys path applies. (Default member initializers: aggregate initializations that
  // stop at `version` keep the defaults.)
  std::string time_zone = "UTC";                     // <timezone>
  std::vector<std::string> audit_destinations = {};  // <audit-dest>, in document order
  unsigned capacity_threshold = policy::VmSet::kDefaultCapacityThreshold;  // percent
  // The VM set's identity (vmset_identity.h): a GUID minted when the VM set is created, never
  // changed (a rename keeps it) and never reused; KEKs, keys and policies are bound to it.
  std::string guid = {};
};

// A policy descriptor. Its id is unique within its VM set only (docs/kps.md "Policy ids are
// per VM set"): the store keeps it under PolicyStoreId(vmset_id, id).
struct PolicyRecord {
  std::string id;  // GUID text
  std::string name;
  std::string vmset;  // the name of the VM set whose tenant admin owns it (resolved on read)
  std::string xml;
  std::uint64_t version = 0;
  std::string vmset_id = {};  // that VM set's GUID: what the store keeps
};

struct KeyVersion {
  std::uint32_t number = 1;
  KeyState state = KeyState::kActive;
  Bytes wrapped;             // RFC 5649 wrapped key; empty once destroyed
  std::int64_t created = 0;  // unix seconds
  std::int64_t changed = 0;
};

// A data key (DEK, kind kKey) or a VM set's key-encryption key (kind kKek, id = VM set GUID).
// The binding to the VM set is `vmset_id` (what the store keeps); `vmset` is the VM set's
// current name, resolved on read (catalog.h), so a rename changes no key.
struct KeyRecord {
  std::string id;                    // GUID text (DEK) or the VM set GUID (KEK)
  std::string vmset;                 // owning VM set's name (resolved on read)
  std::string cipher;                // "aes-256-xts" ..., or "aes-256-kwp" for a KEK
  std::string name;                  // optional KMIP Name attribute ("" = none; docs/kmip.md)
  std::vector<KeyVersion> versions;  // ascending numbers
  std::int64_t created = 0;
  std::int64_t rotated = 0;
  std::uint64_t version = 0;
  std::string vmset_id = {};  // owning VM set's GUID

  // The newest version in state active, or nullptr.
  const KeyVersion* Active() const;
  const KeyVersion* Find(std::uint32_t number) const;
  KeyVersion* Find(std::uint32_t number);
};

struct ServerRecord {
  std::string id;  // seed <vmserv> id, e.g. "755083456"
  std::string name;
  std::vector<std::string> addresses;
  std::uint64_t version = 0;
};

struct GatewayRecord {
  std::string name;
  std::string cert_serial;          // hex
  std::string cert_fingerprint;     // SHA-256 hex of the DER certificate
  std::vector<std::string> vmsets;  // requested scope: VM sets it is enrolled for (not empty)
  std::int64_t enrolled = 0;
  bool revoked = false;
  std::uint64_t version = 0;
  // Effective scope: the VM sets of `vmsets` an approver approved (rbac.h "two people"); the
  // gateway fetches keys of and pushes for these only. Empty = none yet.
  // (Default member initializers: aggregate initializations that stop at `version` stay
  // warning-free.)
  std::vector<std::string> approved = {};
  std::string enrolled_by = {};  // the security-admin who enrolled it (may not approve it)
};

struct AdminRecord {
  std::string name;
  Role role = Role::kAuditor;
  // Scope: a tenant-admin's VM sets; a key- or storage-admin's (empty = every VM set; rbac.h).
  std::vector<std::string> vmsets;
  std::string cert_serial;
  std::string cert_fingerprint;
  bool revoked = false;
  std::uint64_t version = 0;
  // Key-admin: VM sets whose key bytes it may Get over KMIP, granted by an approver of each
  // (rbac.h). Empty = none.
  std::vector<std::string> exports = {};
};

struct AuditRecord {
  std::uint64_t seq = 0;  // assigned by the store, ascending
  std::int64_t time = 0;  // unix seconds
  std::string actor;      // certificate CN
  std::string role;
  std::string action;  // e.g. "POST /v1/keys"
  std::string object;
  std::string result;  // "ok", "denied", "error"
  std::string reason;
  std::string prev_hash;  // hex SHA-256 of the previous record's hash ("" for the first)
  std::string hash;       // hex SHA-256(prev_hash || canonical JSON without hash)
  // A gateway's own record as pushed (docs/audit.md: server, vmset, vm, file, op, result,
  // bytes, count, its seq/prev/hash); null for kpsd's own records (then absent in JSON).
  nlohmann::json access;
};

// JSON forms. `with_secrets` = include wrapped key bytes (store only, never the API).
nlohmann::json ToJson(const VmSetRecord& r);
nlohmann::json ToJson(const PolicyRecord& r);
nlohmann::json ToJson(const KeyRecord& r, bool with_wrapped);
nlohmann::json ToJson(const ServerRecord& r);
nlohmann::json ToJson(const GatewayRecord& r);
nlohmann::json ToJson(const AdminRecord& r);
nlohmann::json ToJson(const AuditRecord& r);

// Parsers are strict: a wrong type or a missing required field is InvalidArgument naming it.
Result<VmSetRecord> VmSetFromJson(const nlohmann::json& j);
Result<PolicyRecord> PolicyFromJson(const nlohmann::json& j);
Result<KeyRecord> KeyFromJson(const nlohmann::json& j);
Result<ServerRecord> ServerFromJson(const nlohmann::json& j);
Result<GatewayRecord> GatewayFromJson(const nlohmann::json& j);
Result<AdminRecord> AdminFromJson(const nlohmann::json& j);
Result<AuditRecord> AuditFromJson(const nlohmann::json& j);

// InvalidArgument naming the first key of `j` not in `allowed` (REST: unknown fields).
Status CheckKnownFields(const nlohmann::json& j, std::initializer_list<std::string_view> allowed);

}  // namespace cafs::kps
