#include "kps/policy_validation.h"

#include <algorithm>

#include "policy/policy_descriptor.h"
#include "policy/vm_set.h"

namespace cafs::kps {

Result<PolicySummary> ValidatePolicyXml(std::string_view xml) {
  if (xml.empty()) return Status::InvalidArgument("policy XML is empty");
  CAFS_ASSIGN_OR_RETURN(policy::PolicyDescriptor pd, policy::PolicyDescriptor::Parse(xml));
  PolicySummary out;
  for (const auto& o : pd.objects) {
    std::string id = o.symkey.ToString();
    if (std::find(out.key_ids.begin(), out.key_ids.end(), id) == out.key_ids.end()) {
      out.key_ids.push_back(std::move(id));
    }
  }
  if (pd.guid) out.guid = pd.guid->ToString();
  out.vmset = pd.vmset_name;
  return out;
}

Result<VmSetRecord> ParseVmSetXml(std::string_view xml) {
  if (xml.empty()) return Status::InvalidArgument("vmset XML is empty");
  CAFS_ASSIGN_OR_RETURN(policy::VmSet v, policy::VmSet::Parse(xml));
  VmSetRecord r;
  r.name = v.name;
  r.mount_point = v.mount_point;
  r.position = static_cast<int>(v.position);
  r.servers = v.servers;
  r.policy_id = v.policy_descriptor.ToString();
  return r;
}

}  // namespace cafs::kps
