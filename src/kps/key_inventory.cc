#include "kps/key_inventory.h"

#include <algorithm>

#include "kps/catalog.h"
#include "util/json_text.h"

namespace cafs::kps {

namespace {

using nlohmann::json;

bool IsCount(const json& j, const char* field) {
  return j.contains(field) && j[field].is_number_unsigned();
}

std::string TimeOf(const json& doc) {
  if (!doc.contains("received") || !doc["received"].is_number_integer())
    return "at an unknown time";
  return "received at unix time " + std::to_string(doc["received"].get<std::int64_t>());
}

// The newest version number of `key` (0 when it has none).
std::uint32_t Newest(const KeyRecord& key) {
  return key.versions.empty() ? 0 : key.versions.back().number;
}

}  // namespace

Status CheckInventory(const json& body) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"time_ms", "vmsets"}));
  if (!body.contains("vmsets") || !body["vmsets"].is_array()) {
    return Status::InvalidArgument("an inventory needs a 'vmsets' list");
  }
  for (const auto& v : body["vmsets"]) {
    CAFS_RETURN_IF_ERROR(CheckKnownFields(v, {"vmset", "known", "unreadable", "keys"}));
    if (v.contains("unreadable") && !v["unreadable"].is_number_unsigned()) {
      return Status::InvalidArgument("'unreadable' is a count of files");
    }
    if (!v.contains("vmset") || !v["vmset"].is_string() || !v.contains("keys") ||
        !v["keys"].is_array()) {
      return Status::InvalidArgument("'vmsets' entries are {vmset, known, keys}");
    }
    if (v.contains("known") && !v["known"].is_null()) {
      if (!v["known"].is_object()) {
        return Status::InvalidArgument("'known' is an object {key GUID: newest version} or null");
      }
      for (const auto& [id, n] : v["known"].items()) {
        if (!n.is_number_unsigned()) {
          return Status::InvalidArgument("'known' versions are numbers (key " + id + ")");
        }
      }
    }
    for (const auto& k : v["keys"]) {
      CAFS_RETURN_IF_ERROR(CheckKnownFields(k, {"id", "version", "files", "bytes", "listed"}));
      if (!k.contains("id") || !k["id"].is_string() || !IsCount(k, "version") ||
          !IsCount(k, "files") || !IsCount(k, "bytes")) {
        return Status::InvalidArgument("'keys' entries are {id, version, files, bytes, listed}");
      }
      const json listed = k.value("listed", json::array());
      if (!listed.is_array() || listed.size() > kMaxListedFiles) {
        return Status::InvalidArgument("'listed' is a list of at most " +
                                       std::to_string(kMaxListedFiles) + " files");
      }
      for (const auto& f : listed) {
        CAFS_RETURN_IF_ERROR(CheckKnownFields(f, {"guid", "path"}));
        if (!f.contains("guid") || !f["guid"].is_string() || !f.contains("path") ||
            !f["path"].is_string()) {
          return Status::InvalidArgument("'listed' entries are {guid, path}");
        }
      }
    }
  }
  return Status::OK();
}

Result<KeyDependents> FindKeyDependents(StoreTxn& txn, const KeyRecord& key,
                                        std::optional<std::uint32_t> number) {
  KeyDependents out;
  const std::uint32_t newest = Newest(key);
  CAFS_ASSIGN_OR_RETURN(auto gateways, ListRecords<GatewayRecord>(txn));
  for (const auto& gw : gateways) {
    if (gw.revoked ||
        std::find(gw.approved.begin(), gw.approved.end(), key.vmset) == gw.approved.end()) {
      continue;
    }
    auto row = txn.Get(ObjectKind::kInventory, gw.name);
    if (!row.ok()) {
      if (!row.status().IsNotFound()) return row.status();
      out.stale.push_back("gateway " + gw.name + " has not reported its key inventory yet");
      continue;
    }
    auto parsed = ParseJson(row->body, "inventory of gateway " + gw.name);
    if (!parsed.ok() || !parsed->is_object()) {
      return Status::Corruption("the stored inventory of gateway " + gw.name +
                                " is not a JSON object");
    }
    const json& doc = *parsed;
    const json* vs = nullptr;
    if (auto list = doc.find("vmsets"); list != doc.end() && list->is_array()) {
      for (const auto& v : *list) {
        if (v.is_object() && v.value("vmset", "") == key.vmset) vs = &v;
      }
    }
    if (vs == nullptr) {
      out.stale.push_back("gateway " + gw.name + "'s last inventory (" + TimeOf(doc) +
                          ") does not cover VM set " + key.vmset);
      continue;
    }
    if (const auto unreadable = vs->value("unreadable", std::uint64_t{0}); unreadable > 0) {
      out.stale.push_back("gateway " + gw.name + " could not read the headers of " +
                          std::to_string(unreadable) + " file(s) of VM set " + key.vmset +
                          " (their key versions are unknown; see its log, run cafsd fsck)");
      // and on: the files it could read are dependents all the same
    }
    const json known = vs->value("known", json());
    if (known.is_object() && known.contains(key.id) &&
        known[key.id].get<std::uint64_t>() < newest) {
      out.stale.push_back("gateway " + gw.name + " has not reported since key " + key.id +
                          " was rotated to version " + std::to_string(newest) +
                          " (its last inventory, " + TimeOf(doc) + ", knew version " +
                          std::to_string(known[key.id].get<std::uint64_t>()) + ")");
      // and on: the files that inventory lists still use the versions it names
    }
    for (const auto& k : vs->value("keys", json::array())) {
      if (k.value("id", "") != key.id) continue;
      const auto version = k.value("version", std::uint32_t{0});
      if (number && version != *number) continue;
      const auto files = k.value("files", std::uint64_t{0});
      if (files == 0) continue;
      out.file_count += files;
      out.bytes += k.value("bytes", std::uint64_t{0});
      for (const auto& f : k.value("listed", json::array())) {
        out.files.push_back({gw.name, version, f.value("guid", ""), f.value("path", "")});
      }
    }
  }
  return out;
}

std::string KeyDependents::Describe(const KeyRecord& key) const {
  std::string out;
  if (file_count > 0) {
    out = "key " + key.id + " (VM set " + key.vmset + ") is still used by " +
          std::to_string(file_count) + " file(s), " + std::to_string(bytes) + " bytes:";
    constexpr std::size_t kShown = 50;  // the rest is counted, not listed
    for (std::size_t i = 0; i < files.size() && i < kShown; ++i) {
      const auto& f = files[i];
      out += (i ? ", " : " ") + std::string("version ") + std::to_string(f.version) + " " + f.guid +
             " " + f.path + " (gateway " + f.gateway + ")";
    }
    if (file_count > std::min(files.size(), kShown)) {
      out += " and " + std::to_string(file_count - std::min(files.size(), kShown)) + " more";
    }
    out += "; rekey them off it first";
  }
  for (const auto& s : stale) out += (out.empty() ? "" : "; ") + s;
  if (!stale.empty()) {
    out +=
        " (a gateway reports within its cache TTL after a key change and every inventory "
        "interval; wait for it, or revoke a gateway that is gone)";
  }
  return out;
}

}  // namespace cafs::kps
