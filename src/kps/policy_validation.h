// ValidatePolicyXml: the one place uploaded policy descriptor XML is checked before the key &
// policy server stores it. Today: pugixml well-formedness (errors name the line and column)
// and a <vobj-list> or <policy>/<vmset> root; when src/policy lands this switches to its full
// parser (cafs::policy::PolicyDescriptor) without changing callers.
// Threading: free function, safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace cafs::kps {

struct PolicySummary {
  std::vector<std::string> key_ids;  // every <symkey> GUID named (may include clear-text)
};

// InvalidArgument "line L, column C: <what>" for bad XML.
Result<PolicySummary> ValidatePolicyXml(std::string_view xml);

}  // namespace cafs::kps
