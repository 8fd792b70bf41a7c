// ReplicaSchedule: the policy extension that makes DR replicas at an interval (issue 15
// item 4; docs/policy.md "DR replicas", docs/replicas.md "Schedule"). A child of the
// <policy-descriptor> wrapper, after <vobj-list>, repeatable:
//
//   <replica vm="*" interval="1h" keep="3" pool="dr_pool"/>
//
//   vm        optional, a vglob over the VM's name (the directory under the VM set), default
//             "*" (every VM of the set); the first <replica> whose vm matches a VM wins
//   interval  required, "<N>s|m|h|d" (seconds, minutes, hours, days), 10 s .. 366 days: a
//             replica of each matching VM is started once this long after the last one began
//   keep      optional, 1..1000, default 3: replicas kept in the DR pool (retention)
//   pool      required, the DR pool (a pool name; kpsd checks it is on the VM set's pool
//             allow list; the gateway fails the replica when it has no such pool)
//
// Threading: a plain value; free functions safe from any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "policy/vglob.h"
#include "util/result.h"

namespace cafs::policy {

struct ReplicaSchedule {
  static constexpr std::chrono::seconds kMinInterval{10};
  static constexpr std::chrono::seconds kMaxInterval{366LL * 24 * 3600};
  static constexpr unsigned kDefaultKeep = 3;
  static constexpr unsigned kMaxKeep = 1000;

  Vglob vms;  // over the VM name; "*" when the element has no vm
  std::chrono::seconds interval{0};
  unsigned keep = kDefaultKeep;
  std::string pool;

  bool operator==(const ReplicaSchedule&) const = default;
};

// "<N>s", "<N>m", "<N>h" or "<N>d" within [kMinInterval, kMaxInterval]; InvalidArgument
// "must be a duration such as '1h' ..." otherwise.
Result<std::chrono::seconds> ParseReplicaInterval(std::string_view text);
// The shortest text ParseReplicaInterval reads back as `interval` ("90m" -> "90m", 3600 s ->
// "1h").
std::string ReplicaIntervalText(std::chrono::seconds interval);

}  // namespace cafs::policy
