// VmSet: the seed's <vmset> description received from the key & policy server: which VM set
// lives where, which policy descriptor governs it and which virtualization servers may use it.
//
//   <?xml version="1.0" encoding="ISO-8859-1"?>
//   <vmset>
//     <name>my_vmset</name>                      required, one path component
//     <mnt>/nfs</mnt>                            required, absolute mount point
//     <pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>   required, policy descriptor GUID
//     <vmserv>755083456</vmserv>                 one or more; repeated and/or comma-separated
//     <position>1</position>                     extension, default 1 (see vmset_path.h)
//     <timezone>Europe/Berlin</timezone>         extension, default UTC (see time_zone.h)
//     <audit-dest>syslog</audit-dest>            extension, repeatable (alert_destination.h)
//     <capacity-threshold>80</capacity-threshold>  extension, percent 1..100, default 80
//     <vmset-id>5c0f...</vmset-id>               extension, the VM set's GUID (see `id`)
//   </vmset>
//
// Unknown elements, attributes, duplicates of singletons and malformed values are errors
// (InvalidArgument, "vmset line N: ..."): a typo must not silently weaken policy.
// docs/policy.md is the reference.
//
// Threading: a plain value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "util/uuid.h"

namespace cafs::policy {

struct VmSet {
  static constexpr unsigned kDefaultPosition = 1;
  static constexpr unsigned kMaxPosition = 64;
  static constexpr unsigned kDefaultCapacityThreshold = 80;

  std::string name;
  std::string mount_point;
  Uuid policy_descriptor;
  std::vector<std::string> servers;  // virtualization server ids, opaque strings, no duplicates
  unsigned position = kDefaultPosition;
  std::string time_zone = "UTC";
  std::vector<std::string> audit_destinations;  // empty: the gateway's default destination
  unsigned capacity_threshold_percent = kDefaultCapacityThreshold;
  // The VM set's GUID, written into every pool file header it creates (docs/format.md
  // vm_set_id) and checked on open. kpsd mints it (its JSON "guid"); with local keys it is
  // <vmset-id>; nil = unknown (files are created unbound and not checked).
  Uuid id;

  static Result<VmSet> Parse(std::string_view xml);
  // Whether every field holds a value Parse() accepts (the same checks and messages, without
  // a line): for a VmSet built from another form, e.g. kpsd's JSON. Required elements are not
  // required here (kpsd keeps VM sets before their policy or servers are known): an empty
  // `mount_point` is allowed, every other field must be valid.
  Status Validate() const;
  // Canonical XML (UTF-8 declaration, one <vmserv> per server, extensions only when they differ
  // from their defaults). Parse(ToXml()) == *this.
  std::string ToXml() const;

  // Whether `server_id` is listed in <vmserv> (ASCII case-insensitive: host names are).
  bool IsServerListed(std::string_view server_id) const;

  bool operator==(const VmSet&) const = default;
};

// The rules for one <vmserv> id, shared with the server registry (server_registry.h):
// InvalidArgument when `id` is empty or holds white space; ids compare ASCII
// case-insensitively (host names do).
Status ValidateServerId(std::string_view id);
bool SameServerId(std::string_view a, std::string_view b);

}  // namespace cafs::policy
