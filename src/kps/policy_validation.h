// ValidatePolicyXml / ParseVmSetXml: the one place uploaded XML is checked before the key &
// policy server stores it, with the real policy model of src/policy:
//   - policy descriptors: cafs::policy::PolicyDescriptor::Parse (the seed's <vobj-list>, or
//     the <policy-descriptor guid=... vmset=...> wrapper), so every vglob, key GUID, pool,
//     access window, audit level and extension is checked as the gateway will read it;
//   - VM sets: cafs::policy::VmSet::Parse (the seed's <vmset>).
// Errors are InvalidArgument and name the line: "policy line N: ..." / "vmset line N: ...".
// Threading: free functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kps/objects.h"
#include "util/result.h"

namespace cafs::kps {

struct PolicySummary {
  std::vector<std::string> key_ids;  // every <symkey> GUID named, in order, without duplicates
                                     // (may include the clear-text GUID)
  std::optional<std::string> guid;   // <policy-descriptor guid=...>
  std::string vmset;                 // <policy-descriptor vmset=...> ("" when absent)
};

Result<PolicySummary> ValidatePolicyXml(std::string_view xml);

// A VmSetRecord from the seed's <vmset> XML (name, mnt, pd, vmserv, position).
Result<VmSetRecord> ParseVmSetXml(std::string_view xml);

}  // namespace cafs::kps
