// Key inventory of a gateway: which key versions the pool files of each VM set are encrypted
// under, with file counts, bytes and the dependent files, as kpsd needs it to refuse the
// crypto-shred of a version that files still use (docs/gateway.md "Key inventory",
// kps/key_inventory.h for kpsd's side).
//
// TakeKeyInventory walks `<backing root>/<vmset>` for every VM set named (VM sets at
// position 1, as Gateway::Usage), decodes each redirector and reads its pool file's header
// without the key: the file depends on (key GUID, version), and, while a deep rekey runs, on
// the rekey target too. The clear-text key is not a key and is not listed. A redirector or
// header that cannot be read is counted in `unreadable` (the file may depend on any
// version: kpsd is told so and treats the VM set as not fully known).
//
// Threading: reads only; safe beside a serving gateway (a file created during the walk may
// be missed: the next inventory has it; kpsd's rule accounts for that, see kps side).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pool/pool_mapper.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::core {

// Dependent files listed per key version; the counts stay exact (kps::kMaxListedFiles).
inline constexpr std::size_t kInventoryListedFiles = 1000;

struct KeyVersionUse {
  Uuid key;
  std::uint32_t version = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;  // pool file sizes (header included)
  struct File {
    std::string guid;
    std::string path;  // gateway path, "/my_vmset/vm1/osdisk1"
  };
  std::vector<File> listed;  // at most kInventoryListedFiles
};

struct VmSetKeyInventory {
  std::string vmset;
  // The newest version of each key the gateway had been told of before the walk (from its
  // PolicyCache); nullopt when the VM set was not cached.
  std::optional<std::map<Uuid, std::uint32_t>> known;
  std::vector<KeyVersionUse> keys;  // ordered by (key, version)
  std::uint64_t unreadable = 0;
};

// The inventory of `vmset` (known left empty: the caller fills it, before walking).
VmSetKeyInventory TakeKeyInventory(const std::string& backing_root, pool::PoolMapper& pools,
                                   const std::string& vmset);

}  // namespace cafs::core
