// ValidatePolicyXml / ParseVmSetXml: the one place uploaded XML is checked before the key &
// policy server stores it, with the real policy model of src/policy:
//   - policy descriptors: cafs::policy::PolicyDescriptor::Parse (the seed's <vobj-list>, or
//     the <policy-descriptor guid=... vmset=...> wrapper), so every vglob, key GUID, pool,
//     access window, audit level and extension is checked as the gateway will read it;
//   - VM sets: cafs::policy::VmSet::Parse (the seed's <vmset>).
// Errors are InvalidArgument and name the line: "policy line N: ..." / "vmset line N: ...".
// Threading: free functions, safe from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kps/objects.h"
#include "policy/vm_set.h"
#include "util/result.h"

namespace cafs::kps {

struct PolicySummary {
  std::vector<std::string> key_ids;  // every <symkey> GUID named, in order, without duplicates
                                     // (may include the clear-text GUID)
  // Every storage pool named (<storepol>, <replica-pool>, <replica pool=...>), in order, without
  // duplicates: each must be on the VM set's allow list (pool_registry.h).
  std::vector<std::string> pools;
  std::optional<std::string> guid;  // <policy-descriptor guid=...>
  std::string vmset;                // <policy-descriptor vmset=...> ("" when absent)
  // <rotation-period> per key GUID, in days (the shortest when several vobjs name the key);
  // kpsd's rekey triggers evaluate it (rekey_triggers.h).
  std::map<std::string, unsigned> rotation_days = {};
};

Result<PolicySummary> ValidatePolicyXml(std::string_view xml);

// A VmSetRecord from the seed's <vmset> XML: every element VmSet::Parse accepts (name, mnt,
// pd, vmserv, position, timezone, audit-dest, capacity-threshold) is kept.
Result<VmSetRecord> ParseVmSetXml(std::string_view xml);

// The VM set model of a record and back: the one mapping between kpsd's record and the
// policy model (a record without a policy has the nil GUID as `policy_descriptor`).
// RecordFromVmSet(VmSetFromRecord(r)) == r for every record ValidateVmSetRecord accepts.
VmSetRecord RecordFromVmSet(const policy::VmSet& v);
Result<policy::VmSet> VmSetFromRecord(const VmSetRecord& r);

// Whether `r` holds only values the VM set XML could give (VmSet::Validate, and a
// <timezone> this host's zoneinfo knows): what a JSON (non-XML) write is checked with, so
// both forms store the same things. InvalidArgument names the field.
Status ValidateVmSetRecord(const VmSetRecord& r);

}  // namespace cafs::kps
