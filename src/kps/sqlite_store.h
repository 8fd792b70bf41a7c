// SqliteStore: the embedded default Store, one SQLite file (WAL, synchronous=FULL,
// secure_delete=ON, busy timeout 5 s). Schema in docs/kps.md. Contract: store.h.
#pragma once

#include <memory>
#include <string>

#include "kps/store.h"

namespace cafs::kps {

// Opens (creating if needed) the database at `path`. Errors keep SQLite's message.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace cafs::kps
