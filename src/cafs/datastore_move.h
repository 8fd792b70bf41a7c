// Planned move of a datastore (one VM set's namespace) from one gateway's backing store to
// another's, the pools being shared (docs/pools.md "Moving a datastore to another gateway";
// the record: move_record.h). Both ends run offline, like `cafsd fsck`: the caller holds the
// BackingStoreLock of the store (no cafsd serves it, so no file of the set is open and no
// write lease is held).
//
//   export (gateway A)  1. the VM set's subtree read; refused while it holds crash residue of
//                          an interrupted create (run `cafsd fsck --remove-orphans` first) or
//                          a file with a name outside the set (a hard link), or a VM set
//                          name stored hashed (its side entry is in the backing root)
//                       2. the record written to `record_path` (atomically, synced; refused
//                          when the file exists)
//                       3. the journal `.cafs-move-<move id>` (the same bytes) written to A's
//                          backing root: THE COMMIT POINT. From here A's fsck never judges
//                          the record's GUIDs (moved out), whatever else happens
//                       4. the subtree and the files' mirror logs removed (backing entries
//                          only: the pool files stay), each directory synced
//                       5. the marker `.cafs-move-<move id>.done` made durable
//   import (gateway B)  1. the record read and checked (checksum; not exported by this store;
//                          not imported before; the VM set absent here; every pool configured
//                          and every pool file present with its GUID; not root: every entry
//                          ours and no device node, else the rebuild could never finish)
//                       2. the journal `.cafs-move-<move id>` written: THE COMMIT POINT. From
//                          here B's fsck judges the record's pool files as its own (adopted)
//                       3. the subtree rebuilt (entries, contents, mode, owner, times), each
//                          directory synced; the mirror logs written
//                       4. the `.done` marker made durable
// A crash at any step: before the commit point nothing changed (export: a record file may
// exist; it names a move A never committed — do not carry it: the command did not succeed);
// after it, RecoverDatastoreMoves (called by Volume::Open, CheckVolume and both commands)
// finishes the move from the journal: export removes what is left of the subtree, import
// removes what it had rebuilt and rebuilds it whole. Journals stay (fsck needs them).
//
// Errors are values; every change goes through `env` (FaultInjectionEnv crash-tests each step).
// Threading: one call at a time per backing store (the store lock).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "cafs/move_record.h"
#include "env/dir.h"
#include "env/env.h"
#include "pool/pool_mapper.h"
#include "util/result.h"

namespace cafs::core {

// The journal of move `id` in a backing root: `.cafs-move-<id>` (a regular file without "##":
// never listed by the Volume, never a redirector to fsck), and its marker `<journal>.done`.
inline constexpr std::string_view kMoveJournalPrefix = ".cafs-move-";
inline constexpr std::string_view kMoveDoneSuffix = ".done";
std::string MoveJournalName(const Uuid& move_id);

// Exports the VM set `vmset` (its caller-visible name) of the backing store at `backing_root`
// to `record_path` and removes it from the store (steps above). Returns the record.
// NotFound (no such VM set), AlreadyExists (`record_path` exists), FailedPrecondition
// (residue, a hard link leaving the set, a special entry too large), env errors.
Result<MoveRecord> ExportDatastore(const std::string& backing_root, const std::string& vmset,
                                   const std::string& record_path,
                                   env::Env* env = env::Env::Default());

// Imports the record at `record_path` into the backing store at `backing_root` (steps above).
// Corruption (a record that does not decode), InvalidArgument (exported by this store),
// AlreadyExists (imported already, or the VM set exists here), FailedPrecondition naming the
// pool or pool file that is not configured, not reachable or does not hold its GUID.
Result<MoveRecord> ImportDatastore(const std::string& backing_root, const std::string& record_path,
                                   pool::PoolMapper& pools, env::Env* env = env::Env::Default());

// Finishes every move whose journal has no `.done` marker (see above). Corruption for a
// journal that does not decode (the store is not served until it is fixed: its files could
// otherwise be judged orphans).
Status RecoverDatastoreMoves(const std::string& backing_root, env::Env* env = env::Env::Default());

// What the journals of a backing store (owner `owner`) say about pool files, for fsck:
struct MoveLedger {
  std::set<Uuid> moved_out;        // GUIDs this store exported: never its orphans
  std::vector<MovedFile> adopted;  // pool files this store imported (under another's mark)
};
Result<MoveLedger> LoadMoveLedger(env::Dir& root, const Uuid& owner);

}  // namespace cafs::core
