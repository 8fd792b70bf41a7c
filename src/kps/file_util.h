// Small file helpers for the key & policy server's data directory.
// Threading: free functions, safe from any thread (no shared state).
#pragma once

#include <sys/types.h>

#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace cafs::kps {

// Reads a whole file. NotFound if absent; other errno kept.
Result<std::string> ReadFile(const std::string& path);

// Writes `data` to `path` atomically (write to a temp file with `mode`, fsync, rename, fsync
// the directory). With `exclusive`, fails with AlreadyExists if `path` exists.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode, bool exclusive);

// fsync of a directory (after names in it changed).
Status SyncDir(const std::string& dir);

// True if `path` exists.
bool FileExists(const std::string& path);

}  // namespace cafs::kps
