// PolicyDescriptor: the seed's <vobj-list> — an ordered list of virtual objects that map the
// files of a VM set to a key, a storage pool, an access window and an audit level.
//
//   <policy-descriptor guid="45aa9e57-..." vmset="my_vmset">   optional wrapper (extension)
//     <vobj-list>
//       <vobj>
//         <vglob>*osdisk*</vglob>                  required, see vglob.h
//         <symkey>062b9056-...</symkey>            required; 01010101-0101-0101-0101-010101010101
//                                                  is the clear-text key (no encryption)
//         <storepol>mirrored_pool_A</storepol>     required, storage pool name
//         <access>Mon-Fri(9am-5pm)</access>        required, see access_schedule.h
//         <audit>all_records</audit>               required: none | denials | all_records
//         <cipher>aes-256-xts</cipher>             extension, default aes-256-xts (none when
//                                                  the key is the clear-text key)
//         <sector-size>4096</sector-size>          extension, 512 or 4096 (default)
//         <replicas>2</replicas>                   extension, default 1: copies of each file
//         <replica-pool>mirrored_pool_B</replica-pool>  extension, one per copy 2..N (exactly
//                                                  replicas - 1 of them, distinct, not storepol)
//         <capacity-threshold>80</capacity-threshold>  extension, percent, default: the VM set's
//         <rotation-period>90 days</rotation-period>   extension, 1..3650 days: kpsd rotates the
//                                                  key when its active version is that old and
//                                                  asks the gateways for a deep rekey (kpsd
//                                                  evaluates it; the gateway does not use it)
//         <shred-on-free>yes</shred-on-free>       extension, yes | no (default): every unlink
//                                                  of a file's last name and every truncate
//                                                  down shreds what it frees (docs/jobs.md)
//       </vobj>
//       ...
//     </vobj-list>
//     <replica vm="*" interval="1h" keep="3" pool="dr_pool"/>  extension, repeatable: scheduled
//                                                  DR replicas (replica_schedule.h)
//   </policy-descriptor>
//
// Match(): the first virtual object, in document order, whose vglob matches wins; hc_default
// matches everything. Errors are InvalidArgument "policy line N: ..."; docs/policy.md is the
// reference.
//
// Threading: a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/cipher_id.h"
#include "policy/access_schedule.h"
#include "policy/audit_level.h"
#include "policy/replica_schedule.h"
#include "policy/vglob.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::policy {

struct VirtualObject {
  static constexpr crypto::CipherId kDefaultCipher = crypto::CipherId::kAes256Xts;
  static constexpr std::uint32_t kDefaultSectorSize = 4096;
  static constexpr unsigned kMaxReplicas = 16;
  // What the gateway implements: N copies in N pools (mirroring, docs/policy.md); Parse()
  // refuses <replicas> N without exactly N - 1 <replica-pool> elements.
  static constexpr unsigned kMaxImplementedReplicas = kMaxReplicas;

  Vglob vglob;
  Uuid symkey = Uuid::ClearTextKey();
  std::string storage_pool;
  AccessSchedule access;
  AuditLevel audit = AuditLevel::kNone;
  crypto::CipherId cipher = crypto::CipherId::kNone;  // kNone exactly when IsClearText()
  std::uint32_t sector_size = kDefaultSectorSize;
  unsigned replicas = 1;
  std::vector<std::string> replica_pools;              // copies 2..N: replicas - 1 pools
  std::optional<unsigned> capacity_threshold_percent;  // unset: the VM set's threshold
  static constexpr unsigned kMaxRotationPeriodDays = 3650;
  std::optional<unsigned> rotation_period_days;  // unset: no scheduled rotation of symkey
  bool shred_on_free = false;                    // <shred-on-free>yes</shred-on-free>

  bool IsClearText() const { return symkey == Uuid::ClearTextKey(); }
  bool operator==(const VirtualObject&) const = default;
};

// The value of <rotation-period>: "N days" (or "N day", "Nd"), N in 1..kMaxRotationPeriodDays.
// InvalidArgument "must be a number of days such as '90 days' ..." otherwise.
Result<unsigned> ParseRotationPeriod(std::string_view text);

struct PolicyDescriptor {
  std::optional<Uuid> guid;            // <policy-descriptor guid=...>
  std::string vmset_name;              // <policy-descriptor vmset=...>; empty when not given
  std::vector<VirtualObject> objects;  // at least one, document order
  // <replica> elements, document order (only inside the <policy-descriptor> wrapper).
  std::vector<ReplicaSchedule> replica_schedules;

  // Who acts on <rotation-period>: kpsd (kByKps, the default: the gateway parses it and leaves
  // it to kpsd), or nobody (kNone: a gateway on local keys, where nothing rotates keys, refuses
  // it as "policy line N: <rotation-period> ..." instead of accepting and ignoring it).
  enum class KeyRotation { kByKps, kNone };

  static Result<PolicyDescriptor> Parse(std::string_view xml,
                                        KeyRotation rotation = KeyRotation::kByKps);
  // Canonical XML: the <policy-descriptor> wrapper only when guid, vmset_name or a replica
  // schedule is set;
  // extensions only when they differ from their defaults. Parse(ToXml()) == *this.
  std::string ToXml() const;

  // The first virtual object matching `path_within_vmset` ("windows_xp/osdisk1.vmdk").
  // NotFound when none matches (the descriptor has no hc_default).
  Result<const VirtualObject*> Match(std::string_view path_within_vmset) const;
  // Index form of Match().
  Result<std::size_t> MatchIndex(std::string_view path_within_vmset) const;
  // Every storage pool the descriptor names (each vobj's <storepol>, then its <replica-pool>
  // elements, then the DR pools of the <replica> schedules), in document order, without
  // duplicates: the one list that kpsd checks against the VM set's allow list at upload and
  // the gateway checks again on every fetch.
  std::vector<std::string> Pools() const;
  // The first <replica> whose vm glob matches `vm_name`; nullptr when none does.
  const ReplicaSchedule* ReplicaScheduleFor(std::string_view vm_name) const;

  bool operator==(const PolicyDescriptor&) const = default;
};

}  // namespace cafs::policy
