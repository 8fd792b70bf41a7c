#include "cafs/kps_key_provider.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "kps/client/kps_client.h"
#include "policy/pool_name.h"

namespace cafs::core {

namespace {

using nlohmann::json;

// Standard base64 (RFC 4648, '=' padding). Writes into `out`; false on bad input.
bool DecodeBase64(const std::string& in, SecureBuffer* out) {
  static const std::array<int, 256> kTable = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
  }();
  if (in.empty() || in.size() % 4 != 0) return false;
  std::size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  SecureBuffer buf(in.size() / 4 * 3 - pad);
  std::size_t o = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::uint32_t acc = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      int v = 0;
      if (c == '=') {
        if (i + 4 != in.size() || k < 4 - pad) return false;
      } else {
        v = kTable[static_cast<unsigned char>(c)];
        if (v < 0) return false;
      }
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
    }
    for (int s = 16; s >= 0; s -= 8) {
      if (o < buf.size()) buf.data()[o++] = static_cast<std::uint8_t>((acc >> s) & 0xff);
    }
  }
  *out = std::move(buf);
  return true;
}

// kpsd's VM set JSON (docs/kps-api.md "VM sets") as the policy model. Every field the VM set
// XML can carry is read, and the result must pass VmSet::Validate: what the local-keys path
// would refuse in vmset.xml is refused here too.
Result<policy::VmSet> VmSetFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("'vmset' is not an object");
  policy::VmSet v;
  try {
    v.name = j.at("name").get<std::string>();
    v.mount_point = j.value("mount_point", std::string());
    const int position = j.value("position", 0);
    if (position < 0 || position > static_cast<int>(policy::VmSet::kMaxPosition)) {
      return Status::InvalidArgument("vmset.position out of range");
    }
    if (position > 0) v.position = static_cast<unsigned>(position);
    v.servers = j.value("servers", std::vector<std::string>());
    const std::string pid = j.value("policy_id", std::string());
    if (!pid.empty()) {
      auto guid = Uuid::Parse(pid);
      if (!guid.ok()) return Status::InvalidArgument("vmset.policy_id is not a GUID: " + pid);
      v.policy_descriptor = *guid;
    }
    v.time_zone = j.value("time_zone", v.time_zone);
    v.audit_destinations = j.value("audit_destinations", std::vector<std::string>());
    v.capacity_threshold_percent = j.value("capacity_threshold", v.capacity_threshold_percent);
    // The VM set's GUID (kpsd mints it): written into the headers of new pool files, checked
    // on open (gateway.md "VM set identity"). Absent from a kpsd before VM set GUIDs.
    const std::string guid = j.value("guid", std::string());
    if (!guid.empty()) {
      auto id = Uuid::Parse(guid);
      if (!id.ok()) return Status::InvalidArgument("vmset.guid is not a GUID: " + guid);
      v.id = *id;
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed 'vmset': ") + e.what());
  }
  if (Status s = v.Validate(); !s.ok()) {
    return Status::InvalidArgument("kpsd answer: vmset: " + s.message());
  }
  return v;
}

// `registered_servers` of kpsd's answer (docs/kps-api.md "Gateway fetch"): the registered
// servers the VM set lists, with their addresses. Absent (an older kpsd) = none: no NFS
// client is identified. Checked as the local registry is (policy::ServerRegistry::Create).
Result<std::vector<policy::RegisteredServer>> RegisteredServersFromJson(const json& body) {
  std::vector<policy::RegisteredServer> out;
  if (!body.contains("registered_servers")) return out;
  const json& list = body["registered_servers"];
  if (!list.is_array())
    return Status::InvalidArgument("kpsd answer: 'registered_servers' is not a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    const std::string where = "kpsd answer: registered_servers[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("id") || !e["id"].is_string() || !e.contains("addresses") ||
        !e["addresses"].is_array()) {
      return Status::InvalidArgument(where + " needs id and addresses");
    }
    policy::RegisteredServer r{e["id"].get<std::string>(), {}};
    for (const json& a : e["addresses"]) {
      if (!a.is_string()) return Status::InvalidArgument(where + ".addresses holds a non-string");
      r.addresses.push_back(a.get<std::string>());
    }
    out.push_back(std::move(r));
  }
  if (auto registry = policy::ServerRegistry::Create(out); !registry.ok()) {
    return Status::InvalidArgument("kpsd answer: registered_servers: " +
                                   registry.status().message());
  }
  return out;
}

// A [{name, guid}] list of kpsd's pool records (the fetch's `pools`, GET /v1/gateway/pools):
// names a policy could name, GUIDs that parse, each name once. `what` names the list in
// messages.
Result<std::vector<PoolRecordRef>> PoolRecordsFromJson(const json& list, const std::string& what) {
  if (!list.is_array()) return Status::InvalidArgument(what + " is not a list");
  std::vector<PoolRecordRef> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    const std::string where = what + "[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("guid") ||
        !e["guid"].is_string()) {
      return Status::InvalidArgument(where + " needs name and guid");
    }
    PoolRecordRef r{e["name"].get<std::string>(), Uuid()};
    if (!policy::IsStoragePoolName(r.name)) {
      return Status::InvalidArgument(where + ".name is not a pool name");
    }
    auto guid = Uuid::Parse(e["guid"].get<std::string>());
    if (!guid.ok() || guid->IsNil()) return Status::InvalidArgument(where + ".guid is not a GUID");
    r.guid = *guid;
    for (const PoolRecordRef& before : out) {
      if (before.name == r.name) return Status::InvalidArgument(where + " repeats pool " + r.name);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

KpsKeyProvider::KpsKeyProvider(std::unique_ptr<kps::client::KpsClient> client, std::string url)
    : client_(std::move(client)), url_(std::move(url)) {}
KpsKeyProvider::~KpsKeyProvider() = default;

Result<std::unique_ptr<KpsKeyProvider>> KpsKeyProvider::Create(const std::string& url,
                                                               const std::string& bundle_path) {
  CAFS_ASSIGN_OR_RETURN(auto client, kps::client::KpsClient::Connect(url, bundle_path));
  return std::unique_ptr<KpsKeyProvider>(new KpsKeyProvider(std::move(client), url));
}

Status KpsKeyProvider::StatusForReply(int http_status, const std::string& reason,
                                      const std::string& vmset_name, const std::string& url) {
  const std::string what = "kpsd at " + url + " (VM set " + vmset_name + "): ";
  if (http_status == 404) return Status::NotFound(what + reason);
  if (http_status == 401 || http_status == 403) {
    return Status::PermissionDenied(what + "refused this gateway: " + reason);
  }
  if (http_status >= 500) return Status::Unavailable(what + "server error: " + reason);
  return Status::InvalidArgument(what + "HTTP " + std::to_string(http_status) + ": " + reason);
}

Result<VmSetBundle> KpsKeyProvider::ParseBundle(const json& body, const std::string& vmset_name,
                                                const std::string& kps_locator) {
  if (!body.is_object() || !body.contains("vmset")) {
    return Status::InvalidArgument("kpsd answer has no 'vmset'");
  }
  VmSetBundle out;
  CAFS_ASSIGN_OR_RETURN(out.vmset, VmSetFromJson(body["vmset"]));
  if (out.vmset.name != vmset_name) {
    return Status::InvalidArgument("kpsd answered VM set '" + out.vmset.name + "' for '" +
                                   vmset_name + "'");
  }
  if (!body.contains("policy")) {
    return Status::NotFound("VM set " + vmset_name + " has no policy descriptor in kpsd");
  }
  const json& pol = body["policy"];
  if (!pol.is_object() || !pol.contains("xml") || !pol["xml"].is_string()) {
    return Status::InvalidArgument("kpsd answer: 'policy.xml' missing");
  }
  CAFS_ASSIGN_OR_RETURN(out.descriptor,
                        policy::PolicyDescriptor::Parse(pol["xml"].get<std::string>()));
  std::map<Uuid, std::uint32_t> active;
  const json keys = body.value("keys", json::array());
  if (!keys.is_array()) return Status::InvalidArgument("kpsd answer: 'keys' is not a list");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const json& k = keys[i];
    const std::string where = "kpsd answer: keys[" + std::to_string(i) + "]";
    if (!k.is_object() || !k.contains("id") || !k["id"].is_string() || !k.contains("version") ||
        !k["version"].is_number_integer() || k["version"].get<std::int64_t>() < 0 ||
        !k.contains("key") || !k["key"].is_string()) {
      return Status::InvalidArgument(where + " needs id, version and key");
    }
    auto guid = Uuid::Parse(k["id"].get<std::string>());
    if (!guid.ok()) return Status::InvalidArgument(where + ".id is not a GUID");
    const auto version64 = k["version"].get<std::uint64_t>();
    if (version64 > 0xffffffffU) return Status::InvalidArgument(where + ".version too large");
    const auto version = static_cast<std::uint32_t>(version64);
    SecureBuffer dek;
    if (!DecodeBase64(k["key"].get<std::string>(), &dek) || dek.size() == 0) {
      return Status::InvalidArgument(where + ".key is not base64");
    }
    if (!out.keys.emplace(KeyId{*guid, version}, std::move(dek)).second) {
      return Status::InvalidArgument(where + " repeats a key version");
    }
    auto& highest = out.current_version[*guid];
    highest = std::max(highest, version);
    if (k.value("state", std::string()) == "active") active[*guid] = version;
  }
  for (const auto& [guid, version] : active) out.current_version[guid] = version;
  const json unusable = body.value("unusable", json::array());
  if (!unusable.is_array()) return Status::InvalidArgument("kpsd answer: 'unusable' is not a list");
  for (std::size_t i = 0; i < unusable.size(); ++i) {
    const json& u = unusable[i];
    const std::string where = "kpsd answer: unusable[" + std::to_string(i) + "]";
    if (!u.is_object() || !u.contains("id") || !u["id"].is_string() || !u.contains("version") ||
        !u["version"].is_number_integer() || u["version"].get<std::int64_t>() < 0 ||
        u["version"].get<std::uint64_t>() > 0xffffffffU || !u.contains("state") ||
        !u["state"].is_string()) {
      return Status::InvalidArgument(where + " needs id, version and state");
    }
    auto guid = Uuid::Parse(u["id"].get<std::string>());
    if (!guid.ok()) return Status::InvalidArgument(where + ".id is not a GUID");
    out.unusable[KeyId{*guid, u["version"].get<std::uint32_t>()}] = u["state"].get<std::string>();
  }
  out.kps_locator = kps_locator;
  CAFS_ASSIGN_OR_RETURN(out.servers, RegisteredServersFromJson(body));
  // The VM set's allow list; absent from a kpsd before pool records (then nothing to check).
  if (body.contains("pools")) {
    CAFS_ASSIGN_OR_RETURN(out.pools, PoolRecordsFromJson(body["pools"], "kpsd answer: pools"));
  }
  return out;
}

Result<std::vector<PoolRecordRef>> KpsKeyProvider::FetchPoolRecords() {
  Result<kps::client::Reply> reply = Status::Unavailable("not sent");
  {
    std::lock_guard lock(mu_);
    reply = client_->Call("GET", "/v1/gateway/pools");
  }
  if (!reply.ok()) return reply.status();
  if (!reply->ok()) return StatusForReply(reply->status, reply->Reason(), "(pool records)", url_);
  return PoolRecordsFromJson(reply->body, "kpsd answer (pool records)");
}

Result<VmSetBundle> KpsKeyProvider::FetchVmSet(const std::string& vmset_name) {
  Result<kps::client::Reply> reply = Status::Unavailable("not sent");
  {
    std::lock_guard lock(mu_);
    reply = client_->Call("GET", "/v1/gateway/vmsets/" + kps::client::UrlEncode(vmset_name));
  }
  if (!reply.ok()) return reply.status();
  if (!reply->ok()) return StatusForReply(reply->status, reply->Reason(), vmset_name, url_);
  return ParseBundle(reply->body, vmset_name, "kps:" + url_);
}

}  // namespace cafs::core
