// BackingStoreId: the id of a backing store (one gateway's namespace), minted once and kept in
// `<backing root>/.cafs-id`. It is the owner mark of every pool file the store creates
// (NewPoolPath in redirector.h: `<id>/<2 hex>/<guid>`), so gateways sharing a pool never
// collide and `cafsd fsck` judges only its own pool files (docs/redirectors.md "Pool paths").
//
// File format (text, 2 lines, each ending in '\n'):
//   CAFS-ID 1
//   <id: lower-case 8-4-4-4-12 UUID>
//
// Crash safety: minted under a hidden temporary name `.cafs-id.<random uuid>` (written,
// fdatasync'ed), then `renameat2(RENAME_NOREPLACE)` to `.cafs-id` and the root synced. A crash
// leaves the old state (no id: the next open mints one; nothing names an id before it is
// durable) or a stray temporary file (a regular file without "##": never listed). Two
// openers racing: the loser's rename fails with EEXIST and it reads the winner's id.
//
// Threading: free functions; `root` is used from the calling thread only.
#pragma once

#include <optional>
#include <string_view>

#include "env/dir.h"
#include "env/env.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::core {

inline constexpr std::string_view kBackingStoreIdName = ".cafs-id";

// The id in `root`'s `.cafs-id`, nullopt when there is none yet. Corruption for a file that
// does not decode.
Result<std::optional<Uuid>> ReadBackingStoreId(env::Dir& root);
// The id in `root`, minted (durably, see above) when there is none.
Result<Uuid> LoadOrMintBackingStoreId(env::Dir& root);

}  // namespace cafs::core
