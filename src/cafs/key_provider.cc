#include "cafs/key_provider.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "util/bytes.h"

namespace cafs::core {

VmSetBundle VmSetBundle::Clone() const {
  VmSetBundle out;
  out.vmset = vmset;
  out.descriptor = descriptor;
  for (const auto& [id, key] : keys) out.keys.emplace(id, key.Clone());
  out.current_version = current_version;
  out.unusable = unusable;
  out.kps_locator = kps_locator;
  out.servers = servers;
  out.pools = pools;
  return out;
}

std::map<Uuid, std::uint32_t> VmSetBundle::NewestVersions() const {
  std::map<Uuid, std::uint32_t> out;
  for (const auto& [id, key] : keys) out[id.first] = std::max(out[id.first], id.second);
  for (const auto& [id, state] : unusable) out[id.first] = std::max(out[id.first], id.second);
  return out;
}

bool VmSetBundle::Destroyed(const KeyId& id) const {
  auto it = unusable.find(id);
  return it != unusable.end() && it->second == "destroyed";
}

namespace {

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsPlainComponent(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

Status LocalKeyProvider::ParseKeysFile(std::string_view text, VmSetBundle* out) {
  std::istringstream in{std::string(text)};
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string guid_text, version_text, hex, extra;
    if (!(fields >> guid_text)) continue;  // blank or comment
    auto bad = [&](std::string_view what) {
      return Status::InvalidArgument("keys line " + std::to_string(line_no) + ": " +
                                     std::string(what));
    };
    if (!(fields >> version_text >> hex)) return bad("want '<key guid> <version> <hex DEK>'");
    if (fields >> extra) return bad("unexpected text after the key");
    auto guid = Uuid::Parse(guid_text);
    if (!guid.ok()) return bad(guid.status().message());
    if (*guid == Uuid::ClearTextKey()) return bad("the clear-text key has no key material");
    std::uint32_t version = 0;
    try {
      std::size_t used = 0;
      const unsigned long v = std::stoul(version_text, &used);
      if (used != version_text.size() || v > 0xffffffffUL) return bad("bad version");
      version = static_cast<std::uint32_t>(v);
    } catch (const std::exception&) {
      return bad("bad version '" + version_text + "'");
    }
    if (hex == "destroyed") {
      if (!out->unusable.emplace(KeyId{*guid, version}, "destroyed").second) {
        return bad("duplicate key version");
      }
      continue;
    }
    auto bytes = FromHex(hex);
    if (!bytes.ok() || bytes->empty()) return bad("DEK is not hex");
    SecureBuffer key(bytes->data(), bytes->size());
    std::fill(bytes->begin(), bytes->end(), std::uint8_t{0});
    if (!out->keys.emplace(KeyId{*guid, version}, std::move(key)).second) {
      return bad("duplicate key version");
    }
    auto& current = out->current_version[*guid];
    current = std::max(current, version);
  }
  return Status::OK();
}

Result<VmSetBundle> LocalKeyProvider::FetchVmSet(const std::string& vmset_name) {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Unavailable("key directory " + dir_ + " is not reachable");
  }
  if (!IsPlainComponent(vmset_name)) {
    return Status::InvalidArgument("bad VM set name '" + vmset_name + "'");
  }
  const std::string base = dir_ + "/" + vmset_name;
  if (::stat(base.c_str(), &st) != 0) {
    return Status::NotFound("VM set " + vmset_name + " is not known to " + Describe());
  }
  VmSetBundle bundle;
  CAFS_ASSIGN_OR_RETURN(std::string vmset_xml, ReadWholeFile(base + "/vmset.xml"));
  CAFS_ASSIGN_OR_RETURN(bundle.vmset, policy::VmSet::Parse(vmset_xml));
  if (bundle.vmset.name != vmset_name) {
    return Status::InvalidArgument(base + "/vmset.xml names VM set '" + bundle.vmset.name + "'");
  }
  CAFS_ASSIGN_OR_RETURN(std::string policy_xml, ReadWholeFile(base + "/policy.xml"));
  // Nothing rotates keys here: <rotation-period> is refused, not accepted and ignored.
  CAFS_ASSIGN_OR_RETURN(
      bundle.descriptor,
      policy::PolicyDescriptor::Parse(policy_xml, policy::PolicyDescriptor::KeyRotation::kNone));
  auto keys_text = ReadWholeFile(base + "/keys");
  if (keys_text.ok()) {
    CAFS_RETURN_IF_ERROR(ParseKeysFile(*keys_text, &bundle).WithContext(base + "/keys"));
  } else if (!keys_text.status().IsNotFound()) {
    return keys_text.status();
  }
  bundle.kps_locator = "local:" + vmset_name;
  bundle.servers = policy::ServersListedBy(bundle.vmset.servers, servers_);
  return bundle;
}

}  // namespace cafs::core
