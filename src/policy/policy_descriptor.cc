#include "policy/policy_descriptor.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "policy/pool_name.h"
#include "policy/xml_reader.h"
#include "pool/pool_name.h"

namespace cafs::policy {

Result<unsigned> ParseRotationPeriod(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("must be a number of days such as '90 days' (1..{} days), got '{}'",
                    VirtualObject::kMaxRotationPeriodDays, text));
  };
  std::size_t i = 0;
  unsigned long long n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 5) {
    n = n * 10 + static_cast<unsigned>(text[i] - '0');
    ++i;
  }
  if (i == 0) return bad();
  const std::string_view unit = text.substr(i);
  if (unit != " days" && unit != " day" && unit != "d") return bad();
  if (n < 1 || n > VirtualObject::kMaxRotationPeriodDays) return bad();
  return static_cast<unsigned>(n);
}

namespace {

using internal::XmlReader;

// A <storepol> or <replica-pool>: a pool name (policy/pool_name.h, the one rule).
Result<std::string> PoolName(const XmlReader& r, pugi::xml_node e) {
  CAFS_ASSIGN_OR_RETURN(std::string pool, r.Text(e));
  if (!IsStoragePoolName(pool)) {
    return r.Error(e, fmt::format("<{}> must be a pool name of 1..{} letters, digits, '_', '-' and "
                                  "'.', got '{}'",
                                  e.name(), pool::kMaxPoolNameBytes, pool));
  }
  return pool;
}

Result<VirtualObject> ParseVobj(const XmlReader& r, pugi::xml_node node,
                                PolicyDescriptor::KeyRotation rotation) {
  CAFS_RETURN_IF_ERROR(r.NoAttributes(node));
  VirtualObject v;
  bool seen_glob = false, seen_key = false, seen_pool = false, seen_access = false,
       seen_audit = false, seen_cipher = false, seen_sector = false, seen_replicas = false,
       seen_capacity = false, seen_rotation = false, seen_shred = false;
  pugi::xml_node cipher_node, rotation_node, replicas_node;
  std::vector<pugi::xml_node> replica_pool_nodes;
  CAFS_ASSIGN_OR_RETURN(const auto children, r.Children(node));
  for (const pugi::xml_node e : children) {
    const std::string_view tag = e.name();
    if (tag == "vglob") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_glob));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto g = Vglob::Parse(text);
      if (!g.ok()) return r.Error(e, g.status().message());
      v.vglob = std::move(g).value();
    } else if (tag == "symkey") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_key));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto id = Uuid::Parse(text);
      if (!id.ok()) {
        return r.Error(e, fmt::format("<symkey> must be a key GUID (or the clear-text key "
                                      "01010101-0101-0101-0101-010101010101), got '{}'",
                                      text));
      }
      v.symkey = *id;
    } else if (tag == "storepol") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_pool));
      CAFS_ASSIGN_OR_RETURN(v.storage_pool, PoolName(r, e));
    } else if (tag == "replica-pool") {
      CAFS_ASSIGN_OR_RETURN(std::string pool, PoolName(r, e));
      if (std::find(v.replica_pools.begin(), v.replica_pools.end(), pool) !=
          v.replica_pools.end()) {
        return r.Error(e, fmt::format("<replica-pool> {} is named twice: each copy needs its "
                                      "own pool",
                                      pool));
      }
      v.replica_pools.push_back(std::move(pool));
      replica_pool_nodes.push_back(e);
    } else if (tag == "access") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_access));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto s = AccessSchedule::Parse(text);
      if (!s.ok()) return r.Error(e, "<access> " + s.status().message());
      v.access = std::move(s).value();
    } else if (tag == "audit") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_audit));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto a = ParseAuditLevel(text);
      if (!a.ok()) return r.Error(e, a.status().message());
      v.audit = *a;
    } else if (tag == "cipher") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_cipher));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto c = crypto::ParseCipherName(text);
      if (!c.ok()) {
        return r.Error(e, fmt::format("<cipher> must be none, aes-128-xts, aes-256-xts, "
                                      "aes-128-cbc-essiv or aes-256-cbc-essiv, got '{}'",
                                      text));
      }
      v.cipher = *c;
      cipher_node = e;
    } else if (tag == "sector-size") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_sector));
      CAFS_ASSIGN_OR_RETURN(v.sector_size, r.Unsigned(e, 512, 4096));
      if (!crypto::IsSupportedSectorSize(v.sector_size)) {
        return r.Error(e,
                       fmt::format("<sector-size> must be 512 or 4096, got '{}'", v.sector_size));
      }
    } else if (tag == "replicas") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_replicas));
      CAFS_ASSIGN_OR_RETURN(v.replicas, r.Unsigned(e, 1, VirtualObject::kMaxReplicas));
      replicas_node = e;
    } else if (tag == "capacity-threshold") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_capacity));
      CAFS_ASSIGN_OR_RETURN(v.capacity_threshold_percent, r.Unsigned(e, 1, 100));
    } else if (tag == "rotation-period") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_rotation));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto days = ParseRotationPeriod(text);
      if (!days.ok()) return r.Error(e, "<rotation-period> " + days.status().message());
      v.rotation_period_days = *days;
      rotation_node = e;
      if (rotation == PolicyDescriptor::KeyRotation::kNone) {
        return r.Error(e,
                       "<rotation-period> is carried out by kpsd, but this gateway uses local "
                       "keys ([local_keys]), where nothing rotates keys: remove the element, "
                       "or serve the VM set from kpsd");
      }
    } else if (tag == "shred-on-free") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_shred));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      if (text != "yes" && text != "no") {
        return r.Error(e, fmt::format("<shred-on-free> must be yes or no, got '{}'", text));
      }
      v.shred_on_free = text == "yes";
    } else {
      return r.Error(e, fmt::format("unknown element <{}> in <vobj> (expected vglob, symkey, "
                                    "storepol, access, audit, cipher, sector-size, replicas, "
                                    "replica-pool, capacity-threshold, rotation-period or "
                                    "shred-on-free)",
                                    tag));
    }
  }
  const char* missing = !seen_glob     ? "vglob"
                        : !seen_key    ? "symkey"
                        : !seen_pool   ? "storepol"
                        : !seen_access ? "access"
                        : !seen_audit  ? "audit"
                                       : nullptr;
  if (missing != nullptr) return r.Error(node, fmt::format("<vobj> has no <{}>", missing));
  if (v.IsClearText() && seen_rotation) {
    return r.Error(rotation_node,
                   "<rotation-period> needs a key to rotate, but <symkey> is the clear-text key");
  }
  // Where copies 2..N live: exactly replicas - 1 other pools (no copy promised and not made).
  if (v.replica_pools.size() + 1 != v.replicas) {
    const pugi::xml_node at = replicas_node ? replicas_node : replica_pool_nodes.front();
    return r.Error(at, fmt::format("<replicas> {} needs {} <replica-pool> element(s) naming the "
                                   "pools of copies 2..{}, got {}",
                                   v.replicas, v.replicas - 1, v.replicas, v.replica_pools.size()));
  }
  for (std::size_t i = 0; i < v.replica_pools.size(); ++i) {
    if (v.replica_pools[i] == v.storage_pool) {
      return r.Error(replica_pool_nodes[i],
                     fmt::format("<replica-pool> {} is the <storepol>: each copy needs its own "
                                 "pool",
                                 v.storage_pool));
    }
  }
  if (v.IsClearText()) {
    if (seen_cipher && v.cipher != crypto::CipherId::kNone) {
      return r.Error(cipher_node, fmt::format("<cipher> {} needs a key, but <symkey> is the "
                                              "clear-text key",
                                              crypto::CipherName(v.cipher)));
    }
    v.cipher = crypto::CipherId::kNone;
  } else if (!seen_cipher) {
    v.cipher = VirtualObject::kDefaultCipher;
  } else if (v.cipher == crypto::CipherId::kNone) {
    return r.Error(cipher_node,
                   "<cipher> none needs the clear-text <symkey> "
                   "01010101-0101-0101-0101-010101010101");
  }
  return v;
}

// <replica vm=... interval=... keep=... pool=.../> (replica_schedule.h): attributes only.
Result<ReplicaSchedule> ParseReplicaSchedule(const XmlReader& r, pugi::xml_node e) {
  CAFS_ASSIGN_OR_RETURN(const auto children, r.Children(e));
  if (!children.empty()) {
    return r.Error(e, "<replica> takes attributes only (vm, interval, keep, pool)");
  }
  ReplicaSchedule s;
  s.vms = Vglob::Parse("*").value();
  bool seen_vm = false, seen_interval = false, seen_keep = false, seen_pool = false;
  for (const pugi::xml_attribute a : e.attributes()) {
    const std::string_view name = a.name();
    const std::string_view value = a.value();
    bool* seen = name == "vm"         ? &seen_vm
                 : name == "interval" ? &seen_interval
                 : name == "keep"     ? &seen_keep
                 : name == "pool"     ? &seen_pool
                                      : nullptr;
    if (seen == nullptr) {
      return r.Error(e, fmt::format("unknown attribute '{}' of <replica> (expected vm, interval, "
                                    "keep or pool)",
                                    name));
    }
    if (std::exchange(*seen, true)) {
      return r.Error(e, fmt::format("duplicate attribute '{}' of <replica>", name));
    }
    if (name == "vm") {
      auto g = Vglob::Parse(value);
      if (!g.ok()) return r.Error(e, "<replica vm> must be a vglob: " + g.status().message());
      s.vms = std::move(g).value();
    } else if (name == "interval") {
      auto i = ParseReplicaInterval(value);
      if (!i.ok()) return r.Error(e, "<replica interval> " + i.status().message());
      s.interval = *i;
    } else if (name == "keep") {
      unsigned long long k = 0;
      const bool digits =
          !value.empty() && value.size() <= 4 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits) k = std::stoull(std::string(value));
      if (!digits || k < 1 || k > ReplicaSchedule::kMaxKeep) {
        return r.Error(e, fmt::format("<replica keep> must be a number of replicas 1..{}, got "
                                      "'{}'",
                                      ReplicaSchedule::kMaxKeep, value));
      }
      s.keep = static_cast<unsigned>(k);
    } else {
      if (!IsStoragePoolName(value)) {
        return r.Error(e, fmt::format("<replica pool> must be a pool name of letters, digits, "
                                      "'_', '-' and '.', got '{}'",
                                      value));
      }
      s.pool = std::string(value);
    }
  }
  if (!seen_interval) return r.Error(e, "<replica> has no interval (such as interval=\"1h\")");
  if (!seen_pool) return r.Error(e, "<replica> has no pool (the DR pool)");
  return s;
}

Status ParseVobjList(const XmlReader& r, pugi::xml_node list, PolicyDescriptor* d,
                     PolicyDescriptor::KeyRotation rotation) {
  CAFS_RETURN_IF_ERROR(r.NoAttributes(list));
  CAFS_ASSIGN_OR_RETURN(const auto children, r.Children(list));
  for (const pugi::xml_node e : children) {
    if (std::string_view(e.name()) != "vobj") {
      return r.Error(e,
                     fmt::format("unknown element <{}> in <vobj-list> (expected vobj)", e.name()));
    }
    CAFS_ASSIGN_OR_RETURN(VirtualObject v, ParseVobj(r, e, rotation));
    d->objects.push_back(std::move(v));
  }
  if (d->objects.empty()) return r.Error(list, "<vobj-list> has no <vobj>");
  return Status::OK();
}

}  // namespace

Result<PolicyDescriptor> PolicyDescriptor::Parse(std::string_view xml, KeyRotation rotation) {
  CAFS_ASSIGN_OR_RETURN(auto reader, XmlReader::Parse(xml, "policy"));
  const XmlReader& r = *reader;
  const pugi::xml_node root = r.Root();
  const std::string_view root_name = root.name();
  PolicyDescriptor d;
  if (root_name == "vobj-list") {
    CAFS_RETURN_IF_ERROR(ParseVobjList(r, root, &d, rotation));
    return d;
  }
  if (root_name != "policy-descriptor") {
    return r.Error(root, fmt::format("root element must be <vobj-list> or <policy-descriptor>, "
                                     "got <{}>",
                                     root_name));
  }
  bool seen_guid = false, seen_vmset = false;
  for (const pugi::xml_attribute a : root.attributes()) {
    const std::string_view name = a.name();
    if ((name == "guid" && std::exchange(seen_guid, true)) ||
        (name == "vmset" && std::exchange(seen_vmset, true))) {
      return r.Error(root, fmt::format("duplicate attribute '{}' of <policy-descriptor>", name));
    }
    if (name == "guid") {
      auto id = Uuid::Parse(a.value());
      if (!id.ok()) {
        return r.Error(root,
                       fmt::format("<policy-descriptor guid> must be a GUID, got '{}'", a.value()));
      }
      d.guid = *id;
    } else if (name == "vmset") {
      d.vmset_name = a.value();
      if (d.vmset_name.empty() || d.vmset_name.find('/') != std::string::npos ||
          d.vmset_name == "." || d.vmset_name == ".." ||
          std::any_of(d.vmset_name.begin(), d.vmset_name.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; })) {
        return r.Error(root, fmt::format("<policy-descriptor vmset> must be a VM set name, got "
                                         "'{}'",
                                         a.value()));
      }
    } else {
      return r.Error(root, fmt::format("unknown attribute '{}' of <policy-descriptor> "
                                       "(expected guid or vmset)",
                                       name));
    }
  }
  CAFS_ASSIGN_OR_RETURN(const auto children, r.Children(root));
  bool seen_list = false;
  for (const pugi::xml_node e : children) {
    const std::string_view tag = e.name();
    if (tag == "replica") {
      if (!seen_list) return r.Error(e, "<replica> must follow the <vobj-list>");
      CAFS_ASSIGN_OR_RETURN(ReplicaSchedule s, ParseReplicaSchedule(r, e));
      d.replica_schedules.push_back(std::move(s));
      continue;
    }
    if (tag != "vobj-list") {
      return r.Error(e, fmt::format("unknown element <{}> in <policy-descriptor> (expected "
                                    "vobj-list or replica)",
                                    tag));
    }
    CAFS_RETURN_IF_ERROR(r.Once(e, &seen_list));
    CAFS_RETURN_IF_ERROR(ParseVobjList(r, e, &d, rotation));
  }
  if (!seen_list) return r.Error(root, "<policy-descriptor> has no <vobj-list>");
  return d;
}

std::string PolicyDescriptor::ToXml() const {
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node parent = doc;
  if (guid || !vmset_name.empty() || !replica_schedules.empty()) {
    parent = doc.append_child("policy-descriptor");
    if (guid) parent.append_attribute("guid") = guid->ToString().c_str();
    if (!vmset_name.empty()) parent.append_attribute("vmset") = vmset_name.c_str();
  }
  pugi::xml_node list = parent.append_child("vobj-list");
  for (const VirtualObject& v : objects) {
    pugi::xml_node o = list.append_child("vobj");
    auto add = [&](const char* tag, const std::string& text) {
      o.append_child(tag).text().set(text.c_str());
    };
    add("vglob", v.vglob.pattern());
    add("symkey", v.symkey.ToString());
    add("storepol", v.storage_pool);
    add("access", v.access.ToString());
    add("audit", std::string(AuditLevelName(v.audit)));
    if (!v.IsClearText() && v.cipher != VirtualObject::kDefaultCipher) {
      add("cipher", std::string(crypto::CipherName(v.cipher)));
    }
    if (v.sector_size != VirtualObject::kDefaultSectorSize) {
      add("sector-size", std::to_string(v.sector_size));
    }
    if (v.replicas != 1) add("replicas", std::to_string(v.replicas));
    for (const std::string& pool : v.replica_pools) add("replica-pool", pool);
    if (v.capacity_threshold_percent) {
      add("capacity-threshold", std::to_string(*v.capacity_threshold_percent));
    }
    if (v.rotation_period_days) {
      add("rotation-period", std::to_string(*v.rotation_period_days) + " days");
    }
    if (v.shred_on_free) add("shred-on-free", "yes");
  }
  for (const ReplicaSchedule& rs : replica_schedules) {
    pugi::xml_node e = parent.append_child("replica");
    if (rs.vms.pattern() != "*") e.append_attribute("vm") = rs.vms.pattern().c_str();
    e.append_attribute("interval") = ReplicaIntervalText(rs.interval).c_str();
    if (rs.keep != ReplicaSchedule::kDefaultKeep) e.append_attribute("keep") = rs.keep;
    e.append_attribute("pool") = rs.pool.c_str();
  }
  return internal::SaveXml(doc);
}

const ReplicaSchedule* PolicyDescriptor::ReplicaScheduleFor(std::string_view vm_name) const {
  for (const ReplicaSchedule& s : replica_schedules) {
    if (s.vms.Matches(vm_name)) return &s;
  }
  return nullptr;
}

Result<std::size_t> PolicyDescriptor::MatchIndex(std::string_view path_within_vmset) const {
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (objects[i].vglob.Matches(path_within_vmset)) return i;
  }
  return Status::NotFound(
      fmt::format("no virtual object matches '{}' and the policy descriptor "
                  "has no hc_default catch-all",
                  path_within_vmset));
}

std::vector<std::string> PolicyDescriptor::Pools() const {
  std::vector<std::string> out;
  const auto add = [&out](const std::string& pool) {
    if (std::find(out.begin(), out.end(), pool) == out.end()) out.push_back(pool);
  };
  for (const VirtualObject& o : objects) {
    add(o.storage_pool);
    for (const std::string& pool : o.replica_pools) add(pool);
  }
  // The DR pools the <replica> schedules send the VM set's ciphertext to.
  for (const ReplicaSchedule& s : replica_schedules) add(s.pool);
  return out;
}

Result<const VirtualObject*> PolicyDescriptor::Match(std::string_view path_within_vmset) const {
  CAFS_ASSIGN_OR_RETURN(const std::size_t i, MatchIndex(path_within_vmset));
  return &objects[i];
}

}  // namespace cafs::policy
