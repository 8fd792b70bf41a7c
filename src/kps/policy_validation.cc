#include "kps/policy_validation.h"

#include <algorithm>

#include "policy/policy_descriptor.h"
#include "policy/time_zone.h"
#include "policy/vm_set.h"

namespace cafs::kps {
Result<PolicySummary> ValidatePolicyXml(std::string_view xml) {
  if (xml.empty()) return Status::InvalidArgument("policy XML is empty");
  CAFS_ASSIGN_OR_RETURN(policy::PolicyDescriptor pd, policy::PolicyDescriptor::Parse(xml));
  PolicySummary out;
  for (const auto& o : pd.objects) {
    const std::string id = o.symkey.ToString();
    if (std::find(out.key_ids.begin(), out.key_ids.end(), id) == out.key_ids.end()) {
      out.key_ids.push_back(id);
    }
    if (o.rotation_period_days) {
      auto [it, fresh] = out.rotation_days.emplace(id, *o.rotation_period_days);
      if (!fresh) it->second = std::min(it->second, *o.rotation_period_days);
    }
  }
  // Every pool the policy names (copies 2..N too) must be allowed to the VM set.
  out.pools = pd.Pools();
  if (pd.guid) out.guid = pd.guid->ToString();
  out.vmset = pd.vmset_name;
  return out;
}

Result<VmSetRecord> ParseVmSetXml(std::string_view xml) {
  if (xml.empty()) return Status::InvalidArgument("vmset XML is empty");
  CAFS_ASSIGN_OR_RETURN(policy::VmSet v, policy::VmSet::Parse(xml));
  VmSetRecord r = RecordFromVmSet(v);
  CAFS_RETURN_IF_ERROR(ValidateVmSetRecord(r));
  return r;
}

VmSetRecord RecordFromVmSet(const policy::VmSet& v) {
  VmSetRecord r;
  r.name = v.name;
  r.mount_point = v.mount_point;
  r.position = static_cast<int>(v.position);
  r.servers = v.servers;
  if (!v.policy_descriptor.IsNil()) r.policy_id = v.policy_descriptor.ToString();
  r.time_zone = v.time_zone;
  r.audit_destinations = v.audit_destinations;
  r.capacity_threshold = v.capacity_threshold_percent;
  if (!v.id.IsNil()) r.guid = v.id.ToString();
  return r;
}

Result<policy::VmSet> VmSetFromRecord(const VmSetRecord& r) {
  policy::VmSet v;
  v.name = r.name;
  v.mount_point = r.mount_point;
  if (r.position < 0) return Status::InvalidArgument("vmset position must be 1..64");
  // 0: a record written before positions were kept; the default applies.
  if (r.position > 0) v.position = static_cast<unsigned>(r.position);
  v.servers = r.servers;
  if (!r.policy_id.empty()) {
    auto id = Uuid::Parse(r.policy_id);
    if (!id.ok()) return Status::InvalidArgument("vmset policy_id is not a GUID: " + r.policy_id);
    v.policy_descriptor = *id;
  }
  v.time_zone = r.time_zone;
  if (!r.guid.empty()) {
    auto id = Uuid::Parse(r.guid);
    if (!id.ok()) return Status::InvalidArgument("vmset guid is not a GUID: " + r.guid);
    v.id = *id;
  }
  v.audit_destinations = r.audit_destinations;
  v.capacity_threshold_percent = r.capacity_threshold;
  CAFS_RETURN_IF_ERROR(v.Validate());
  return v;
}

Status ValidateVmSetRecord(const VmSetRecord& r) {
  CAFS_ASSIGN_OR_RETURN(const policy::VmSet v, VmSetFromRecord(r));
  // A zone the gateway cannot load would deny every access of the VM set: refuse it here,
  // where the administrator sees the error (kpsd and gateways read the same tzdata).
  if (auto zone = policy::TimeZone::Load(v.time_zone); !zone.ok()) {
    return Status::InvalidArgument("<timezone>: " + zone.status().message());
  }
  return Status::OK();
}

}  // namespace cafs::kps
