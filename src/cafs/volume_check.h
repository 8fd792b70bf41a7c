// CheckVolume: the offline consistency check of a backing store and its pools (`cafsd fsck`),
// against the invariants of docs/redirectors.md ("Consistency and orphans"):
//   - every redirector `name##pool` decodes, names a configured pool, and its GUID is the
//     file GUID of a pool file in that pool (at its `path` line or anywhere else in the pool:
//     an open after a crash inside a rename repairs the line);
//   - no GUID is named by two redirectors;
//   - every pool file has a readable header, and its GUID is named by a redirector.
// What a crash can leave, and what this reports:
//   kOrphanPoolFile     a pool file no redirector names (an interrupted create or unlink):
//                       harmless, but counted in usage. Removable (remove_orphans).
//   kStaleTempFile      a `.cafs-new-<guid>` redirector of an interrupted create. Removable.
//                       (A `.cafs-new-replaced-<guid>` still linked to a redirector marks
//                       the replaced side of an interrupted rename: reported, never removed;
//                       the next lookup of that name finishes the rename.)
//   kOrphanLongName     a long name's side entry `.cafs-long-<hex>.name` without any
//                       redirector `.cafs-long-<hex>##pool` beside it (an interrupted create,
//                       rename or unlink of a long name). Removable.
//   kOrphanMirrorLog    a mirror log `.cafs-mirror-<guid>` of a file no redirector names (an
//                       unlink of a mirrored file interrupted before its log went). Removable.
// What no crash leaves (damage from outside: a lost disk, hand edits), reported, never touched:
//   kMissingPoolFile    a redirector whose data is in no file of its pool;
//   kBadRedirector      a redirector that does not decode, or names a pool not configured;
//   kMissingLongName    a long name's redirector whose side entry is missing or does not
//                       match (the file works by its name, but no listing shows it);
//   kDuplicateGuid      a second redirector naming a GUID already named in the same pool;
//   kBadPoolFile        a file in a pool without a readable CAFS header (not ours, or torn);
//   kUnreadable         a directory or pool that could not be listed (the walk went on).
//
// Owner marks (docs/redirectors.md "Pool paths"): a pool may be shared by several gateways,
// each keeping its files under `<its backing store id>/` (NewPoolPath). The check judges only
// the pool files under this backing store's own mark and files at name-derived paths of older
// gateways (top-level pool entries that are not an owner mark); another gateway's mark is never
// read, reported or removed. Until every gateway sharing a pool has upgraded its old files
// (upgrade_pool_paths), its name-derived files would look like this store's orphans: upgrade
// before sharing a pool.
//
// Datastore moves (datastore_move.h, docs/pools.md): the pool files a move exported to another
// gateway stay under this store's mark and are never judged (counted in `moved_out`); the
// pool files a move imported stay under the exporter's mark and are judged as this store's,
// each read at the path the move's journal names (counted in `adopted`). A move interrupted
// by a crash is finished first (RecoverDatastoreMoves), so the check may write.
//
// Run it only while no cafsd serves this backing store (`cafsd fsck` holds the
// BackingStoreLock that cafsd holds while serving): a create in progress looks like an orphan.
// Reads headers without keys (unauthenticated: only the GUID is used). Threading: one call at
// a time per backing store; `progress` is called on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "env/env.h"
#include "pool/pool_mapper.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::core {

struct CheckFinding {
  enum class Kind {
    kOrphanPoolFile,
    kStaleTempFile,
    kMissingPoolFile,
    kBadRedirector,
    kDuplicateGuid,
    kBadPoolFile,
    kUnreadable,
    kOrphanLongName,
    kMissingLongName,
    kOrphanMirrorLog,
  };
  Kind kind;
  std::string where;        // "backing:<rel path>" or "<pool>:<rel path>"
  std::string detail;       // the GUID, the decode error, ...
  std::uint64_t bytes = 0;  // allocated bytes of an orphan pool file
  bool removed = false;     // removed by this run (remove_orphans)
};

// Stable lower-case names for output ("orphan-pool-file", ...).
const char* CheckFindingName(CheckFinding::Kind kind);

struct CheckProgress {
  std::uint64_t redirectors = 0;  // redirectors read so far
  std::uint64_t pool_files = 0;   // pool file headers read so far
};

struct CheckOptions {
  // Remove kOrphanPoolFile, kStaleTempFile and kOrphanLongName entries.
  bool remove_orphans = false;
  // Move every pool file at a name-derived path of an older gateway to its GUID path
  // (Volume::MoveToNewPoolPath, crash-safe), after the check.
  bool upgrade_pool_paths = false;
  // Called every `progress_every` entries and once at the end of each phase.
  std::function<void(const CheckProgress&)> progress;
  std::uint64_t progress_every = 1000;
};

struct CheckReport {
  std::uint64_t redirectors = 0;
  std::uint64_t pool_files = 0;
  // Redirectors naming a pool path that is not their GUID path (files of older gateways, not
  // a finding), and how many of them upgrade_pool_paths moved.
  std::uint64_t legacy_pool_paths = 0;
  std::uint64_t upgraded = 0;
  std::uint64_t other_owners = 0;  // owner marks of other gateways seen (and left alone)
  // Datastore moves (datastore_move.h): pool files of this store's mark exported to another
  // gateway (never judged), and pool files under another's mark this store imported (judged).
  std::uint64_t moved_out = 0;
  std::uint64_t adopted = 0;
  std::vector<CheckFinding> findings;
  // Findings not removed by this run.
  std::size_t remaining() const;
};

// Errors (the check did not run): the backing root cannot be opened. Everything found below
// it is a finding, not an error. The backing store is read through `env` (directory handles,
// symlinks never followed), the pools through their own Env.
Result<CheckReport> CheckVolume(const std::string& backing_root, pool::PoolMapper& pools,
                                const CheckOptions& options = {},
                                env::Env* env = env::Env::Default());

}  // namespace cafs::core
