// VM set identity: every VM set has a GUID minted when it is created (or, for a name that
// only holds KMIP clients' keys, when its first key is made), never changed and never reused.
// KEKs, keys and policies are bound to the GUID, not the name, so
//   - a rename (RenameVmSet) keeps every key and policy and changes no key record;
//   - a VM set deleted (TombstoneVmSet) leaves its GUID as a tombstone: a VM set created
//     later under the same name gets a new GUID and none of the old keys.
// The registry is one record per GUID ever minted (kind kVmSetGuid, catalog.h
// VmSetGuidRecord); a live name maps to exactly one live GUID.
//
// Store upgrade (UpgradeVmSetIdentity): a store written before VM set GUIDs (VM sets, KEKs
// and keys keyed by name, policies keyed by id alone) is upgraded in one transaction on the
// first start of a kpsd that knows them; docs/kps.md "VM set GUIDs".
//
// Threading: as the StoreTxn passed in (run inside Store::InTransaction).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kps/catalog.h"
#include "util/clock.h"

namespace cafs::kps {

// The live GUID of VM set name `name`. NotFound when no live VM set (or KMIP key holder) has
// that name, unless `mint`: then a fresh GUID is registered for it (at `now`).
Result<std::string> VmSetGuidOf(StoreTxn& txn, std::string_view name, bool mint = false,
                                std::int64_t now = 0);

// The name shown for VM set GUID `guid`: its current name; "(deleted VM set <guid>)" for a
// tombstone, "(unknown VM set <guid>)" for a GUID never registered. Neither placeholder is a
// valid VM set name, so no principal has it in scope.
Result<std::string> VmSetNameOf(StoreTxn& txn, std::string_view guid);

// Renames the live VM set `from` to `to` (which no live VM set holds: AlreadyExists), keeping
// its GUID: the VM set record, the registry and every scope that names it (tenant-admins'
// VM sets, key-admins' export rights, gateways' requested and approved scopes). Keys, KEKs and
// policies are bound to the GUID and do not change, except that a policy whose
// <policy-descriptor vmset="..."> names the old name gets the new one (canonical XML: the
// gateway refuses a descriptor naming another VM set). `read_version`: the VM set record's
// version the caller read (0 = do not check). Returns the renamed record.
Result<VmSetRecord> RenameVmSet(StoreTxn& txn, std::string_view from, std::string_view to,
                                std::uint64_t read_version, std::int64_t now);

// Marks the GUID of a deleted VM set as a tombstone (at `now`): it is never handed out again.
Status TombstoneVmSet(StoreTxn& txn, std::string_view guid, std::int64_t now);

// What UpgradeVmSetIdentity did.
struct VmSetUpgrade {
  std::size_t vmsets = 0;    // VM set records given a GUID
  std::size_t keks = 0;      // KEKs moved from the name to the GUID
  std::size_t keys = 0;      // keys bound to a GUID
  std::size_t policies = 0;  // policies moved to their per-VM-set id
  bool changed() const { return vmsets + keks + keys + policies > 0; }
};

// Upgrades a store written before VM set GUIDs, in `txn` (idempotent: a store already
// upgraded is left as is and nothing is returned changed). Every VM set record without a
// GUID gets one; every name that only KEKs or keys carry (KMIP clients' keys) gets one too;
// KEKs move to their GUID, keys and policies are bound to it, policies move to their
// per-VM-set store id. When something changed, an audit record (actor "kpsd", action
// "upgrade vmset-guids") lists the counts.
Result<VmSetUpgrade> UpgradeVmSetIdentity(StoreTxn& txn, std::int64_t now);
// The same in its own transaction (kpsd serve, before it listens); logs what it changed.
Status UpgradeStoreVmSetIdentity(Store& store, const Clock& clock);

}  // namespace cafs::kps
