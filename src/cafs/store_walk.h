// Read-only walks of a backing store and its pools, for reports made beside the data path
// (`cafsd fsck`: volume_check.h; the key inventory: key_inventory.h). Nothing here writes, so
// these reads go straight to the file system (std::filesystem for the backing store, the
// Pool interface for pool files); the Volume stays the only writer.
//
// Threading: free functions, safe from any thread; `visit` is called on the calling thread.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "cafs/redirector.h"
#include "env/dir.h"
#include "format/header.h"
#include "pool/pool.h"
#include "util/result.h"

namespace cafs::core {

// Visits every regular file under `dir` (depth first, symlinks not followed). A directory
// that cannot be listed is passed to `unreadable` with the error; the walk goes on.
void WalkRegularFiles(
    const std::filesystem::path& dir,
    const std::function<void(const std::filesystem::path&)>& visit,
    const std::function<void(const std::filesystem::path&, const std::error_code&)>& unreadable);

// The largest backing-store file of ours (a redirector, a long name's side entry, a mirror log
// is a few hundred bytes): anything larger is not one of ours.
inline constexpr std::uint64_t kMaxBackingEntrySize = 64 * 1024;

// The bytes of the small backing-store file `name` in `dir` (read without touching its access
// time): Corruption when larger than kMaxBackingEntrySize, the errno of a failed open or read.
Result<std::string> ReadBackingEntry(env::Dir& dir, const std::string& name);

// Reads and decodes the redirector file at `path` (Corruption when larger than a redirector
// can be, DecodeRedirector's errors, the errno of a failed read).
Result<Redirector> ReadRedirectorFile(const std::filesystem::path& path);

// The caller-visible name of the redirector file at `path` (its backing name split, and for a
// long name the side entry beside it read: redirector.h CallerNameOf). NotFound for a regular
// file that is not a redirector.
Result<std::string> CallerNameOfFile(const std::filesystem::path& path);

// The caller-visible path ("/vs/vm/disk") of the redirector file at `path` below the backing
// root `root`: every directory's name as the caller knows it (a directory stored under its
// stem: the side entry beside it, redirector.h CallerNameOfEntry), then CallerNameOfFile.
// Errors: a side entry that is missing or does not match, a path not below `root`.
Result<std::string> CallerPathOfFile(const std::filesystem::path& root,
                                     const std::filesystem::path& path);

// The header of pool file `rel` in `pool`, parsed without the key (unauthenticated: GUIDs,
// key id and version, rekey target).
Result<format::Header> ReadPoolFileHeader(pool::Pool& pool, const std::string& rel);

}  // namespace cafs::core
