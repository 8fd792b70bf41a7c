#include "policy/vm_set.h"

#include <fmt/format.h>

#include <algorithm>

#include "policy/alert_destination.h"
#include "policy/time_zone.h"
#include "policy/vmset_path.h"
#include "policy/xml_reader.h"

namespace cafs::policy {

namespace {

using internal::XmlReader;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The value checks, one per element: Parse() reports them with the element's line, Validate()
// as they are. Each returns InvalidArgument with the message alone.

Status CheckName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.size() > 255) {
    return Status::InvalidArgument(
        fmt::format("<name> must be one path component (no '/', not . or ..), got '{}'", name));
  }
  return Status::OK();
}

Status CheckMountPoint(std::string_view mnt) {
  if (!IsCleanAbsolutePath(mnt)) {
    return Status::InvalidArgument(
        fmt::format("<mnt> must be an absolute path without empty, . "
                    "or .. components or a trailing '/', got '{}'",
                    mnt));
  }
  return Status::OK();
}

Status CheckServerId(std::string_view id, std::string_view text) {
  if (id.empty()) {
    return Status::InvalidArgument(fmt::format("<vmserv> has an empty server id in '{}'", text));
  }
  if (std::any_of(id.begin(), id.end(), IsBlank)) {
    return Status::InvalidArgument(
        fmt::format("<vmserv> server id '{}' contains white space "
                    "(separate ids with ',')",
                    id));
  }
  return Status::OK();
}

Status CheckRange(std::string_view tag, unsigned value, unsigned min, unsigned max) {
  if (value < min || value > max) {
    return Status::InvalidArgument(
        fmt::format("<{}> must be a number {}..{}, got '{}'", tag, min, max, value));
  }
  return Status::OK();
}

Status CheckTimeZone(std::string_view zone) {
  if (Status s = ValidateTimeZoneName(zone); !s.ok()) {
    return Status::InvalidArgument("<timezone>: " + s.message());
  }
  return Status::OK();
}

Status CheckAuditDestination(std::string_view dest) {
  if (auto d = AlertDestination::Parse(dest); !d.ok()) {
    return Status::InvalidArgument("<audit-dest> " + d.status().message());
  }
  return Status::OK();
}

}  // namespace

Result<VmSet> VmSet::Parse(std::string_view xml) {
  CAFS_ASSIGN_OR_RETURN(auto reader, XmlReader::Parse(xml, "vmset"));
  const XmlReader& r = *reader;
  const pugi::xml_node root = r.Root();
  if (std::string_view(root.name()) != "vmset") {
    return r.Error(root, fmt::format("root element must be <vmset>, got <{}>", root.name()));
  }
  CAFS_RETURN_IF_ERROR(r.NoAttributes(root));
  VmSet v;
  bool seen_name = false, seen_mnt = false, seen_pd = false, seen_position = false, seen_tz = false,
       seen_capacity = false, seen_id = false;
  CAFS_ASSIGN_OR_RETURN(const auto children, r.Children(root));
  for (const pugi::xml_node e : children) {
    const std::string_view tag = e.name();
    if (tag == "name") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_name));
      CAFS_ASSIGN_OR_RETURN(v.name, r.Text(e));
      if (Status s = CheckName(v.name); !s.ok()) return r.Error(e, s.message());
    } else if (tag == "mnt") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_mnt));
      CAFS_ASSIGN_OR_RETURN(v.mount_point, r.Text(e));
      if (Status s = CheckMountPoint(v.mount_point); !s.ok()) return r.Error(e, s.message());
    } else if (tag == "pd") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_pd));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto id = Uuid::Parse(text);
      if (!id.ok()) {
        return r.Error(e, fmt::format("<pd> must be a GUID such as "
                                      "45aa9e57-bf64-11df-8d3e-000c29abeb4d, got '{}'",
                                      text));
      }
      v.policy_descriptor = *id;
    } else if (tag == "vmserv") {
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      std::size_t pos = 0;
      for (;;) {
        std::size_t comma = text.find(',', pos);
        if (comma == std::string::npos) comma = text.size();
        std::string_view id = std::string_view(text).substr(pos, comma - pos);
        while (!id.empty() && IsBlank(id.front())) id.remove_prefix(1);
        while (!id.empty() && IsBlank(id.back())) id.remove_suffix(1);
        if (Status s = CheckServerId(id, text); !s.ok()) return r.Error(e, s.message());
        if (v.IsServerListed(id)) {
          return r.Error(e, fmt::format("<vmserv> lists server '{}' twice", id));
        }
        v.servers.emplace_back(id);
        if (comma == text.size()) break;
        pos = comma + 1;
      }
    } else if (tag == "position") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_position));
      CAFS_ASSIGN_OR_RETURN(v.position, r.Unsigned(e, 1, kMaxPosition));
    } else if (tag == "timezone") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_tz));
      CAFS_ASSIGN_OR_RETURN(v.time_zone, r.Text(e));
      if (Status s = CheckTimeZone(v.time_zone); !s.ok()) return r.Error(e, s.message());
    } else if (tag == "audit-dest") {
      CAFS_ASSIGN_OR_RETURN(std::string dest, r.Text(e));
      if (Status s = CheckAuditDestination(dest); !s.ok()) return r.Error(e, s.message());
      if (std::find(v.audit_destinations.begin(), v.audit_destinations.end(), dest) !=
          v.audit_destinations.end()) {
        return r.Error(e, fmt::format("duplicate <audit-dest> '{}'", dest));
      }
      v.audit_destinations.push_back(std::move(dest));
    } else if (tag == "capacity-threshold") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_capacity));
      CAFS_ASSIGN_OR_RETURN(v.capacity_threshold_percent, r.Unsigned(e, 1, 100));
    } else if (tag == "vmset-id") {
      CAFS_RETURN_IF_ERROR(r.Once(e, &seen_id));
      CAFS_ASSIGN_OR_RETURN(const std::string text, r.Text(e));
      auto id = Uuid::Parse(text);
      if (!id.ok() || id->IsNil()) {
        return r.Error(e, fmt::format("<vmset-id> must be a non-nil GUID, got '{}'", text));
      }
      v.id = *id;
    } else {
      return r.Error(e, fmt::format("unknown element <{}> in <vmset> (expected name, mnt, pd, "
                                    "vmserv, position, timezone, audit-dest, "
                                    "capacity-threshold or vmset-id)",
                                    tag));
    }
  }
  const char* missing = !seen_name          ? "name"
                        : !seen_mnt         ? "mnt"
                        : !seen_pd          ? "pd"
                        : v.servers.empty() ? "vmserv"
                                            : nullptr;
  if (missing != nullptr) return r.Error(root, fmt::format("<vmset> has no <{}>", missing));
  return v;
}

Status VmSet::Validate() const {
  CAFS_RETURN_IF_ERROR(CheckName(name));
  if (!mount_point.empty()) CAFS_RETURN_IF_ERROR(CheckMountPoint(mount_point));
  for (std::size_t i = 0; i < servers.size(); ++i) {
    CAFS_RETURN_IF_ERROR(CheckServerId(servers[i], servers[i]));
    for (std::size_t k = 0; k < i; ++k) {
      if (EqualsIgnoreCase(servers[k], servers[i])) {
        return Status::InvalidArgument(fmt::format("<vmserv> lists server '{}' twice", servers[i]));
      }
    }
  }
  CAFS_RETURN_IF_ERROR(CheckRange("position", position, 1, kMaxPosition));
  CAFS_RETURN_IF_ERROR(CheckTimeZone(time_zone));
  for (auto it = audit_destinations.begin(); it != audit_destinations.end(); ++it) {
    CAFS_RETURN_IF_ERROR(CheckAuditDestination(*it));
    if (std::find(audit_destinations.begin(), it, *it) != it) {
      return Status::InvalidArgument(fmt::format("duplicate <audit-dest> '{}'", *it));
    }
  }
  return CheckRange("capacity-threshold", capacity_threshold_percent, 1, 100);
}

std::string VmSet::ToXml() const {
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node root = doc.append_child("vmset");
  auto add = [&](const char* tag, const std::string& text) {
    root.append_child(tag).text().set(text.c_str());
  };
  add("name", name);
  add("mnt", mount_point);
  add("pd", policy_descriptor.ToString());
  for (const std::string& s : servers) add("vmserv", s);
  if (position != kDefaultPosition) add("position", std::to_string(position));
  if (time_zone != "UTC") add("timezone", time_zone);
  for (const std::string& d : audit_destinations) add("audit-dest", d);
  if (capacity_threshold_percent != kDefaultCapacityThreshold) {
    add("capacity-threshold", std::to_string(capacity_threshold_percent));
  }
  if (!id.IsNil()) add("vmset-id", id.ToString());
  return internal::SaveXml(doc);
}

bool VmSet::IsServerListed(std::string_view server_id) const {
  return std::any_of(servers.begin(), servers.end(),
                     [&](const std::string& s) { return EqualsIgnoreCase(s, server_id); });
}

Status ValidateServerId(std::string_view id) { return CheckServerId(id, id); }

bool SameServerId(std::string_view a, std::string_view b) { return EqualsIgnoreCase(a, b); }

}  // namespace cafs::policy
