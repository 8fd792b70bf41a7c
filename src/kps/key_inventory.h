// Key inventory: which key versions the files of each gateway use, and the one rule that
// decides whether a key version may be destroyed (crypto-shred) while files may still
// depend on it (docs/kps.md "Shallow rekey and crypto-shred", docs/kps-api.md "Inventory").
//
// Each gateway pushes an inventory (POST /v1/inventory, stored per gateway under object kind
// kInventory): per VM set, the key versions its pool files are encrypted under with file
// counts, bytes and the dependent files (GUID and gateway path, at most kMaxListedFiles per
// version), plus `known`: for each key GUID the newest version the gateway had been told of
// when it took the inventory (null: the VM set was not in its cache, so it cannot create a
// file under an old version either) and `unreadable`, the files whose header it could not
// read (any version may be theirs: the VM set counts as not reported).
//
// FindKeyDependents answers, for key `key` (one version or all), inside the caller's
// transaction: every gateway that is not revoked and whose approved scope names the key's VM
// set must have reported an inventory that covers the VM set and was taken after it knew the
// key's newest version ("not reported since the last rotation": `stale`), and lists the
// files that still use a version to be destroyed (`files`), also from a stale or partly
// unreadable inventory (what it lists is a dependent all the same, so a refusal names both
// the files and why the list may be incomplete). Keyring::DestroyKey and
// DestroyKek refuse unless both are empty, or force is given.
//
// Threading: pure functions over a StoreTxn (as the transaction passed in).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kps/objects.h"
#include "kps/store.h"

namespace cafs::kps {

// Dependent files listed per key version in one inventory; the counts stay exact.
inline constexpr std::size_t kMaxListedFiles = 1000;

// InvalidArgument naming the field when `body` is not an inventory (docs/kps-api.md).
Status CheckInventory(const nlohmann::json& body);

struct KeyDependents {
  struct File {
    std::string gateway;
    std::uint32_t version = 0;
    std::string guid;
    std::string path;
  };
  std::vector<std::string> stale;  // why a gateway's inventory cannot be trusted, one each
  std::vector<File> files;         // listed dependent files (bounded per gateway and version)
  std::uint64_t file_count = 0;    // exact count of dependent files over all gateways
  std::uint64_t bytes = 0;

  bool clear() const { return stale.empty() && file_count == 0; }
  // "key K version 1 is still used by 2 files (...): gw1 GUID /path, ...; gateway gw2 has not
  // reported ... " - the refusal's text, also the warning of a forced destroy.
  std::string Describe(const KeyRecord& key) const;
};

// The dependents of `key`'s version `number` (nullopt: every version). See the header.
Result<KeyDependents> FindKeyDependents(StoreTxn& txn, const KeyRecord& key,
                                        std::optional<std::uint32_t> number);

}  // namespace cafs::kps
