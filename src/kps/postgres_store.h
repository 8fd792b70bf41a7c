// PostgresStore: the Store on a PostgreSQL server (libpq), so several kpsd share one state.
// Transactions are SERIALIZABLE-free: optimistic concurrency uses the version column
// (UPDATE ... WHERE version = $expected), READ COMMITTED is enough. Contract: store.h.
#pragma once

#include <memory>
#include <string>

#include "kps/store.h"

namespace cafs::kps {

// Connects with a libpq connection URI ("postgresql://user@/db?host=/tmp/sock").
// Errors: Unavailable when the server cannot be reached (message from libpq).
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri);

}  // namespace cafs::kps
