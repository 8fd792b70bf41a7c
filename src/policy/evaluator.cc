#include "policy/evaluator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "policy/vmset_path.h"

namespace cafs::policy {

struct Evaluator::State {
  VmSet vmset;
  PolicyDescriptor descriptor;
  TimeZone zone;
  ServerRegistry servers;
};

Result<Evaluator> Evaluator::Create(VmSet vmset, PolicyDescriptor descriptor,
                                    std::string_view zoneinfo_dir, ServerRegistry servers) {
  if (descriptor.guid && *descriptor.guid != vmset.policy_descriptor) {
    return Status::FailedPrecondition(
        fmt::format("policy descriptor {} is not the one of VM set {} ({})",
                    descriptor.guid->ToString(), vmset.name, vmset.policy_descriptor.ToString()));
  }
  if (!descriptor.vmset_name.empty() && descriptor.vmset_name != vmset.name) {
    return Status::FailedPrecondition(fmt::format("policy descriptor is for VM set {}, not {}",
                                                  descriptor.vmset_name, vmset.name));
  }
  auto zone = TimeZone::Load(vmset.time_zone, zoneinfo_dir);
  if (!zone.ok()) return zone.status().WithContext("VM set " + vmset.name);
  auto state = std::make_shared<State>(
      State{std::move(vmset), std::move(descriptor), std::move(zone).value(), std::move(servers)});
  return Evaluator(std::move(state));
}

const VmSet& Evaluator::vmset() const { return state_->vmset; }
const PolicyDescriptor& Evaluator::descriptor() const { return state_->descriptor; }
const TimeZone& Evaluator::time_zone() const { return state_->zone; }
const ServerRegistry& Evaluator::servers() const { return state_->servers; }

Result<Decision> Evaluator::Evaluate(std::string_view server_id, std::string_view path_within_vmset,
                                     Clock::TimePoint now) const {
  return Evaluate(Requester{std::string(server_id), {}}, path_within_vmset, now);
}

Result<Decision> Evaluator::Evaluate(const Requester& who, std::string_view path_within_vmset,
                                     Clock::TimePoint now) const {
  const State& s = *state_;
  CAFS_ASSIGN_OR_RETURN(const std::string path, NormalizePathWithinVmSet(path_within_vmset));
  auto index = s.descriptor.MatchIndex(path);
  if (!index.ok()) return index.status().WithContext("VM set " + s.vmset.name);
  Decision d;
  d.vobj_index = *index;
  d.vobj = &s.descriptor.objects[d.vobj_index];
  d.audit = d.vobj->audit;
  if (who.address.empty()) {
    d.server = who.server_id;
    if (!s.vmset.IsServerListed(who.server_id)) {
      d.reason = fmt::format("server {} is not a listed virtualization server of VM set {}",
                             who.server_id, s.vmset.name);
      return d;
    }
  } else {
    // An NFS client: its ids are the registered servers at its address; the address itself
    // is never compared with <vmserv>.
    const std::vector<std::string> ids = s.servers.IdsAt(who.address);
    std::vector<std::string> listed;
    for (const std::string& id : ids) {
      if (s.vmset.IsServerListed(id)) listed.push_back(id);
    }
    d.server = fmt::format("{}", fmt::join(listed.empty() ? ids : listed, ","));
    if (ids.empty()) {
      d.reason = fmt::format(
          "client {} is not a registered address of a listed virtualization server of VM set {}",
          who.address, s.vmset.name);
      return d;
    }
    if (listed.empty()) {
      d.reason =
          fmt::format("server {} (client {}) is not a listed virtualization server of VM set {}",
                      d.server, who.address, s.vmset.name);
      return d;
    }
  }
  const AccessSchedule& access = d.vobj->access;
  switch (access.kind()) {
    case AccessSchedule::Kind::kAlways:
      break;
    case AccessSchedule::Kind::kNever:
      d.reason = fmt::format("access to '{}' is never allowed (vobj {} {})", path, d.vobj_index + 1,
                             d.vobj->vglob.pattern());
      return d;
    case AccessSchedule::Kind::kWindows: {
      const LocalTime local = s.zone.ToLocal(now);
      if (!access.IsOpen(local)) {
        d.reason =
            fmt::format("outside access window {} ({})", access.ToString(), local.ToString());
        return d;
      }
      break;
    }
  }
  d.allowed = true;
  d.reason = fmt::format("allowed by vobj {} ({})", d.vobj_index + 1, d.vobj->vglob.pattern());
  return d;
}

}  // namespace cafs::policy
