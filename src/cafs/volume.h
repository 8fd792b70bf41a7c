// Volume: the CAFS namespace — the tree hypervisors see — kept in a backing-store directory,
// with the bytes of every file in a storage pool (seed: "CAFS Redirector Links";
// docs/redirectors.md is the reference for the on-disk layout and crash ordering).
//
//  - Directories are real directories of the backing store; symlinks, FIFOs, sockets and
//    device nodes are themselves there (no pool file).
//  - A file is a redirector entry `name##pool` (a small text file naming the pool file's
//    GUID and pool-relative path); its data is an EncryptedFile in that pool at the path the
//    redirector names: `<owner>/<2 hex>/<guid>` for files created now (NewPoolPath), the
//    Volume-relative path `<vmset>/<vm>/<name>` for files of older gateways. ReadDir shows
//    `name`; a lookup of `name` finds `name##<pool>`.
//  - Paths given to a Volume are Volume-relative, '/'-separated, without leading '/', already
//    split and checked by CheckName(): every component non-empty, not "." or ".."
//    (InvalidArgument) and at most NAME_MAX (255) bytes (ENAMETOOLONG). "" is the root. Names
//    are bytes: "##", '\n' and bytes that are not UTF-8 are fine (the redirector's content
//    carries no name).
//  - A file whose `name##pool` would exceed NAME_MAX, or whose name contains "##", is
//    `.cafs-long-<sha256 hex>##pool` with its name in the side entry `.cafs-long-<hex>.name`
//    (redirector.h NeedsLongName); a directory, symlink or special file whose name contains
//    "##" is `.cafs-long-<sha256 hex>` with the same side entry (PlainBackingName).
//  - The backing store is reached only through an env::Env (env/dir.h): walked with
//    env::Dir handles one component at a time, so a symlink inside the backing store is never
//    followed by the Volume, and every durable step of the namespace can be crash-tested
//    with FaultInjectionEnv (directory changes lost until their directory is synced).
//  - Policy is not the Volume's business: the Gateway decides pool, cipher and key
//    (Placement) and hands a KeyLookup for opening existing files.
//
// Open files: one shared OpenFile per redirector inode, however many handles use it, so all
// handles see the same size and cache; it stays valid after rename and unlink (POSIX).
//
// Errors: NotFound, AlreadyExists, InvalidArgument, errno-carrying IoError (ENOTDIR, EISDIR,
// ENOTEMPTY, ENAMETOOLONG, ...), Corruption/AuthFailed from the pool file header (EIO), and
// Unavailable-like IoError(EIO) "redirector names pool 'p' which is not configured / not
// reachable" for a missing pool.
//
// Threading: every method is safe from many threads. POSIX makes each backing-store step
// atomic; a rename racing another operation on the same names sees one order or the other.
// Ownership: `pools` and `env` are not owned and must outlive the Volume.
#pragma once

#include <sys/types.h>

#include <climits>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "cafs/attr.h"
#include "cafs/change_log.h"
#include "cafs/dirty_map.h"
#include "cafs/mirrored_file.h"
#include "cafs/redirector.h"
#include "env/env.h"
#include "format/encrypted_file.h"
#include "pool/pool_mapper.h"

namespace cafs::core {

// Where and how a new file is stored (decided by policy).
struct Placement {
  std::string pool;
  // Mirrored files (policy <replicas> N > 1): the pools of copies 2..N, none of them `pool`
  // (docs/redirectors.md "Mirrored files"). Empty: one copy.
  std::vector<std::string> replica_pools = {};
  format::CreateParams params;        // cipher, key GUID/version, sector size, VM set, locator
  const SecureBuffer* dek = nullptr;  // empty buffer for the clear-text key
};

// What opening an existing file needs from policy: the DEK for a (key GUID, version) found in
// a pool file header (the file's key, and the rekey target of a file caught mid-rekey, opened
// with it to resume, format/rekeyer.h), and the GUID of the VM set the path belongs to.
// With a non-nil `vm_set_id`, a pool file whose header names another VM set is refused with
// EIO before any key is looked up, and a writable open binds an unbound (nil) header to it
// (format EncryptedFile::BindVmSet; docs/gateway.md "VM set identity"). A plain callable
// converts to a KeyLookup with a nil `vm_set_id` (no check, no bind). Copyable value.
struct KeyLookup {
  using Find = std::function<Result<const SecureBuffer*>(const Uuid& key, std::uint32_t version)>;
  KeyLookup() = default;
  template <typename F>
  requires(!std::is_same_v<std::decay_t<F>, KeyLookup> && std::is_constructible_v<Find, F>)
      KeyLookup(F find, Uuid vm_set = {})  // NOLINT: implicit from a callable on purpose
      : find_(std::move(find)), vm_set_id(vm_set) {}
  Result<const SecureBuffer*> operator()(const Uuid& key, std::uint32_t version) const {
    if (!find_) return Status::NotFound("no keys");
    return find_(key, version);
  }

 private:
  Find find_;

 public:
  Uuid vm_set_id;
};

// A file open in the Volume, shared by every handle on it.
// It owns `redirector`, a handle of its redirector entry (attributes-only is enough; null:
// none), so attributes and mtime updates reach the entry wherever it has been renamed to,
// without a path walk (Volume::AttrOf, Volume::TouchOpen).
class OpenFile {
 public:
  OpenFile(std::unique_ptr<format::EncryptedFile> file, std::string pool, ino_t ino,
           std::unique_ptr<env::File> redirector)
      : file_(std::move(file)),
        pool_(std::move(pool)),
        ino_(ino),
        redirector_(std::move(redirector)) {}
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  format::EncryptedFile& file() { return *file_; }
  // The pool the data is in now (a migration moves it: Volume::CommitMigration).
  std::string pool() const {
    std::lock_guard lock(pool_mu_);
    return pool_;
  }
  ino_t backing_ino() const { return ino_; }
  env::File* redirector() const { return redirector_.get(); }

 private:
  friend class Volume;  // CommitMigration switches pool_
  const std::unique_ptr<format::EncryptedFile> file_;
  mutable std::mutex pool_mu_;
  std::string pool_;  // guarded by pool_mu_
  const ino_t ino_;
  const std::unique_ptr<env::File> redirector_;
};

// A pool file being shredded is renamed to `<dir>/.cafs-shred-<file GUID>` (src/jobs/
// shred_job.h) until the shred job removes it; `cafsd fsck` reports it and never removes it.
inline constexpr std::string_view kShredClaimPrefix = ".cafs-shred-";

// Where the data of a file is (Volume::Locate): for jobs that work on pool files.
struct FileLocation {
  std::string pool;
  std::string pool_path;  // the pool file that holds `guid` (the redirector's, or the derived one)
  Uuid guid;
  bool open = false;          // this Volume has the file open now (a handle uses it)
  std::string recorded_path;  // the redirector's line 3 (differs from pool_path after a crash)
  ino_t ino = 0;              // the redirector's inode
  std::vector<ReplicaLocation> replicas = {};  // a mirrored file's other copies
  std::uint32_t mode = 0, uid = 0, gid = 0;    // the name's permission bits (07777) and owner
  std::uint64_t nlink = 1;                     // the file's names (hard links)
};

// A migration of one file to another pool, registered with the Volume (BeginMigration) until
// EndMigration: cafs/migrator.h drives it, docs/migration.md has the steps and crash table.
struct MigrationTicket {
  std::string rel;
  ino_t ino = 0;  // the redirector's inode: it stays across the switch
  Uuid guid;
  std::string from_pool, from_path;  // the redirector's pool and its line 3
  std::string to_pool, to_path;      // the target pool and the path the file gets there
  std::string to_temp;               // where the copy is made: CopyTargetPath(to, to_path, guid)
  // Fed by every write of the open file (DirtyTrackingFile) from BeginMigration on.
  std::shared_ptr<DirtyMap> dirty;
};

// A copy being made by a migration is named `<dir>/.cafs-migrate-<file GUID>` in the target
// pool until it is complete; `cafsd fsck` reports it as an orphan (removable).
inline constexpr std::string_view kMigrateTempPrefix = ".cafs-migrate-";
std::string MigrationTempPath(const std::string& to_path, const Uuid& guid);
// Where a copy of a pool file (a migration's target, a restored file) is made in pool `to`
// before it is placed at `to_path`: MigrationTempPath, renamed into place when complete, in a
// pool whose Rename is atomic; `to_path` itself otherwise (rados, s3: a Rename there is a
// copy and a remove, and a pool file opened before it does not follow it). docs/migration.md
// "Pool kinds".
std::string CopyTargetPath(const pool::Pool& to, const std::string& to_path, const Uuid& guid);

class Volume {
 public:
  static constexpr std::string_view kRedirectorSeparator = core::kRedirectorSeparator;

  // `backing_root` must be an existing directory (NotFound otherwise); it is reached through
  // `env` (the process's PosixEnv unless a test passes another). Mints the store's id
  // (backing_store_id.h) when it has none.
  static Result<std::unique_ptr<Volume>> Open(std::string backing_root, pool::PoolMapper* pools,
                                              env::Env* env = env::Env::Default());
  ~Volume();

  // The id of this backing store (`.cafs-id`, minted by Open when missing): the owner mark of
  // its pool files.
  const Uuid& owner() const { return owner_; }
  // The pool-relative path a new pool file of file `guid` gets in any pool: the one rule,
  // core::NewPoolPath(owner(), guid) (redirector.h). Existing files are found by their
  // redirector's line 3, never by this nor by their name.
  std::string NewPoolPath(const Uuid& guid) const { return core::NewPoolPath(owner_, guid); }

  // Checks one caller-supplied name component (rules above).
  Status CheckName(std::string_view name) const;
  // The longest name component CheckName accepts: the backing store's NAME_MAX (a file
  // whose `name##pool` would not fit is stored under a long-name stem, redirector.h).
  static constexpr std::size_t max_name_length() { return kBackingNameMax; }
  // Splits and checks a Volume-relative path ("a/b/c"; "" is the root).
  Result<std::vector<std::string>> SplitPath(std::string_view rel) const;

  Result<Attr> GetAttr(const std::string& rel, const KeyLookup& keys);
  // The type of `rel` from the backing store alone (a file's redirector: kRegular; no pool
  // file is opened, no key needed). NotFound, ENOTDIR as GetAttr.
  Result<FileType> EntryType(const std::string& rel);
  Result<std::vector<DirEntry>> ReadDir(const std::string& rel);
  Result<Attr> MakeDir(const std::string& rel, std::uint32_t mode, std::uint32_t uid,
                       std::uint32_t gid);
  Status RemoveDir(const std::string& rel);
  // Creates a new file (AlreadyExists if the name exists) and opens it.
  Result<std::shared_ptr<OpenFile>> CreateFile(const std::string& rel, std::uint32_t mode,
                                               std::uint32_t uid, std::uint32_t gid,
                                               const Placement& placement);
  Result<std::shared_ptr<OpenFile>> OpenExisting(const std::string& rel, const KeyLookup& keys);
  // A redirector `rel` (a new name: AlreadyExists otherwise) for the complete pool file
  // `r.pool_path` of file `r.guid` in `pool`, made by a DR restore (cafs/replicator.h) and
  // synced: the pool file must be durable at its path first. Mode and owner as given.
  Status PlaceRestoredFile(const std::string& rel, const std::string& pool, const Redirector& r,
                           std::uint32_t mode, std::uint32_t uid, std::uint32_t gid);
  // Removes the name; for a file whose last name it was (the redirector's link count), the
  // pool file too.
  Status Unlink(const std::string& rel);
  // The pool file of the file at `rel`, read from its redirector (no key needed): NotFound,
  // EISDIR for a directory, ELOOP for a symlink, EIO for a pool that is not configured.
  Result<FileLocation> Locate(const std::string& rel);
  // Removes the redirector of `rel` (directory synced) if it still names `guid`, leaving the
  // pool file in place: the first step of a shred (src/jobs/shred_job.h). NotFound when
  // `rel` has no redirector or one naming another file (the name was reused).
  Status DetachRedirector(const std::string& rel, const Uuid& guid);
  // Removes the mirror log of file `guid` (`.cafs-mirror-<GUID>`, directory synced; OK when
  // there is none): for a mirrored file whose redirector is gone (DetachRedirector) and that
  // is not open any more, once its copies are shredded (src/jobs/shred_job.h).
  Status RemoveMirrorLog(const Uuid& guid);
  // Whether this Volume has the file `guid` open now (a handle uses it), whatever its names:
  // a shred of a file unlinked while open waits for its last close (jobs/shred_job.h).
  bool IsOpen(const Uuid& guid);
  // Moves the pool file of the file at `rel` to its GUID path (NewPoolPath) if its redirector
  // names another (a name-derived path of an older gateway): pool file renamed, both pool
  // directories synced, then line 3 rewritten in place. A crash in between leaves line 3
  // naming the old path and the file at the new one: the next open finds it there and
  // repairs line 3. For `cafsd fsck --upgrade-pool-paths` (and migration). OK when already
  // there.
  Status MoveToNewPoolPath(const std::string& rel);
  // Atomic rename of a file, symlink or directory, also across VM directories.
  // `no_replace`: AlreadyExists when `to` exists (RENAME_NOREPLACE).
  Status Rename(const std::string& from, const std::string& to, bool no_replace);
  Result<Attr> SetAttr(const std::string& rel, const SetAttrRequest& request,
                       const KeyLookup& keys);
  // Marks a file modified (mtime/ctime = now) after writes through a handle.
  Status Touch(const std::string& rel);
  // The same for an open file, through its redirector descriptor (no path walk; right after
  // renames).
  Status TouchOpen(const OpenFile& file);
  // ReadDir (every entry) with the attributes (as GetAttr gives them) of the entries
  // [first, first + limit), from one open of the directory: no path walk per entry. An entry
  // whose attributes cannot be read carries the error; one outside the range NotFound.
  Result<std::vector<DirEntryAttr>> ReadDirPlus(const std::string& rel, const KeyLookup& keys,
                                                std::size_t first, std::size_t limit);
  // Attributes of an open file: its redirector entry's (one fstat) with the logical size.
  Result<Attr> AttrOf(OpenFile& file);
  // Sets a file's logical size in `a` and what it reports as allocated (the size rounded up to
  // 4 KiB): the one rule every attribute of a regular file goes through.
  static void SetLogicalSize(Attr& a, std::uint64_t size) {
    a.size = size;
    a.allocated = (size + 4095) / 4096 * 4096;
  }
  // Mode, owner and times of an open file, through its redirector descriptor (so they reach
  // the file itself after a rename or an unlink, never whatever now has its old name); then
  // AttrOf. `req.size` is not handled here (the caller truncates the EncryptedFile).
  // NotSupported when the file has no redirector descriptor.
  Result<Attr> SetAttrOf(OpenFile& file, const SetAttrRequest& req);
  Result<Attr> Symlink(const std::string& target, const std::string& rel, std::uint32_t uid,
                       std::uint32_t gid);
  Result<std::string> ReadLink(const std::string& rel);
  // A second name `to` for the file, symlink or special file `from` (link(2)): the same
  // backing entry hard-linked (`to##pool` for a file: same GUID, same pool file), `to`'s
  // directory synced. The file's pool file goes with its last name (Unlink, Rename over it).
  // AlreadyExists, EPERM for a directory, NotFound.
  Status Link(const std::string& from, const std::string& to);
  // A FIFO, socket or device node (`mode` with its S_IF* type; `rdev` for devices) kept in
  // the backing store as itself (no pool file), owned by uid/gid. Whether the caller may
  // make a device is the Gateway's check (root only); the kernel checks cafsd's.
  Result<Attr> MakeNode(const std::string& rel, std::uint32_t mode, std::uint64_t rdev,
                        std::uint32_t uid, std::uint32_t gid);
  Result<FsStats> StatFs();
  // Bytes stored (allocated) by the files of VM set `vmset` per configured pool: the pool
  // files its redirectors name (each GUID once, however many links name it).
  Result<std::map<std::string, std::uint64_t>> PoolBytes(const std::string& vmset);

  // --- Migration between pools (cafs/migrator.h drives these; docs/migration.md) ---
  // Registers a migration of the file `rel` to `to_pool`: checks (EISDIR, ELOOP, NotFound,
  // EIO for an unknown or unreachable pool, InvalidArgument for the pool it is in, EBUSY when
  // a migration of it is registered already), picks the target path (NewPoolPath: taken in
  // `to_pool` is AlreadyExists) and makes every write of the file reach `dirty` from now on (the
  // open file's pool file decorated; a later open decorates too).
  Result<MigrationTicket> BeginMigration(const std::string& rel, const std::string& to_pool,
                                         std::uint64_t chunk_bytes);
  // The switch, with the file's I/O stopped if it is open (EncryptedFile::WithIoStopped):
  // `final_pass` (the caller copies what is still dirty and syncs the copy at t.to_temp),
  // then t.to_temp renamed to t.to_path and synced, the redirector renamed `name##from` ->
  // `name##to` (same inode) and its directory synced (the commit point), line 3 rewritten if
  // the path changed; the open file then reads and writes the target pool file. Before the
  // commit point nothing of the source changed (errors: the copy stays at t.to_temp);
  // FailedPrecondition when the file was renamed, removed or replaced since BeginMigration.
  // An error after the redirector was renamed (its directory sync failed and the rename could
  // not be undone) leaves the open file on the target: not reported as moved, the old copy
  // stays, and a restart goes by what the disk kept (MigrationTicket's job recovers).
  Status CommitMigration(const MigrationTicket& t, const std::function<Status()>& final_pass);
  // Unregisters the migration; if it did not commit, the open file's writes stop being tracked.
  void EndMigration(const MigrationTicket& t);
  // Removes a pool file if it holds `guid` (a migration's old copy or its stale target), and
  // syncs its directory. OK when there is none.
  Status RemovePoolCopy(const std::string& pool, const std::string& path, const Uuid& guid);
  // Rewrites line 3 of the redirector of `rel` (if it still names `guid`) to `path` (in place,
  // same inode, synced). A migration's roll-forward after a crash.
  Status RecordPoolPath(const std::string& rel, const Uuid& guid, const std::string& path);

  // Every writable pool file opened or created from now on (and a migration's target) is
  // decorated with `tracker`'s ChangeTrackingFile (DR replicas, cafs/change_log.h). Set
  // before the Volume is shared; not owned, must outlive the Volume.
  void SetChangeTracker(ChangeTracker* tracker) { changes_ = tracker; }
  ChangeTracker* change_tracker() const { return changes_; }
  // --- Mirrored files (cafs/mirrored_file.h; docs/redirectors.md "Mirrored files") ---
  // The state of each copy of the file `rel` (one entry for a file with one copy): from the
  // open file's MirrorSet, else from its mirror log; a pool unreachable now says so in
  // `error`. NotFound, EISDIR, ELOOP as Locate.
  Result<std::vector<ReplicaStatus>> Replicas(const std::string& rel);
  // Resyncs the stale copies of the mirrored file `rel` whose pools are reachable again, online
  // (the file may be open and written meanwhile): each copy reopened (its header's GUID
  // checked; a missing or foreign pool file is recreated and copied whole), then its dirty
  // chunks copied from an in-sync copy, `step_bytes` at a time; `progress(bytes so far)`
  // after each step, false cancels (Status Cancelled-like FailedPrecondition, the log kept).
  // Returns the bytes copied (0: nothing was stale). InvalidArgument for a file with one
  // copy; EIO naming the pools still unreachable (after resyncing the others).
  Result<std::uint64_t> ResyncFile(
      const std::string& rel, std::uint64_t step_bytes,
      const std::function<bool(std::uint64_t)>& progress = [](std::uint64_t) { return true; });
  // The resync of `rel` in bounded steps (the resync job, jobs/resync_job.h): the file's
  // MirrorSet (the open file's, else a new one from its copies and mirror log: the caller
  // keeps it between steps), then ResyncStep until done. InvalidArgument for a file with one
  // copy; errors as Locate.
  Result<std::shared_ptr<MirrorSet>> MirrorSetOf(const std::string& rel);
  // One step of ResyncFile on `set`: goes on with the copy being resynced, else begins the
  // next stale copy whose pool answers (reopened as ResyncFile says); at most about `budget`
  // bytes copied (`*copied`). True when no copy is stale any more; EIO naming the pools of
  // the stale copies when none of them answers. Steps on one set are serialized.
  Result<bool> ResyncStep(MirrorSet& set, const std::string& rel, std::uint64_t budget,
                          std::uint64_t* copied);
  // Every mirror log of the backing store (a log that does not decode is skipped with a
  // warning): the files with a stale copy, or written and not closed cleanly.
  Result<std::vector<MirrorLogRecord>> MirrorLogs();
  // The online resync of open files: every open mirrored file with a stale copy whose pool
  // answers again is resynced (as ResyncFile) while it stays in use. Errors are logged. Returns
  // the bytes copied. The Gateway calls it from its periodic Tick.
  std::uint64_t ResyncOpenFiles(std::uint64_t step_bytes);
  // Where a copy's failure and its resync are reported (the Gateway audits and alerts):
  // `rel` is the file's path when its copies were opened. Set before the Volume is shared.
  // Null: no sink (the Gateway clears its own when it goes).
  using ReplicaEventSink = std::function<void(const std::string& rel, const ReplicaEvent& event)>;
  void SetReplicaEventSink(ReplicaEventSink sink) {
    std::lock_guard lock(sink_mu_);
    replica_events_ = std::move(sink);
  }

  const std::string& backing_root() const { return root_; }
  pool::PoolMapper& pools() { return *pools_; }

  // Test seam for crash consistency: called at the crash points of multi-step operations
  // (docs/redirectors.md "Operations and crash ordering"):
  //   "create:pool-file-created"   pool file with header synced, no redirector yet
  //   "create:redirector-written"  redirector synced under its hidden temporary name
  //   "unlink:redirector-removed"  redirector gone, pool file still there (also in step 4 of
  //                                a rename over a file of another pool)
  //   "upgrade:pool-file-moved"    MoveToNewPoolPath: pool file at its GUID path, line 3 old
  //   "rename:redirector-moved"    step 1 done (redirector under the new name; a replaced
  //                                target's pool file not removed yet)
  //   "migrate:target-placed"      the complete copy at its path in the target pool
  //   "migrate:redirector-switched" the commit point (redirector names the target pool)
  //   "migrate:redirector-updated" line 3 names the target path
  // A non-OK Status makes the operation return it at once, doing no clean-up: the on-disk
  // state is what a crash (kill -9) at that point leaves. Set before the Volume is shared.
  // (Crashes at every other durable step: open the Volume on a FaultInjectionEnv and use
  // its CrashAfter; docs/redirectors.md.)
  using CrashPointHook = std::function<Status(std::string_view point)>;
  void SetCrashPointHookForTest(CrashPointHook hook) { crash_point_ = std::move(hook); }

 private:
  struct Impl;
  Volume(std::string root, pool::PoolMapper* pools, std::unique_ptr<env::Dir> root_dir, Uuid owner);

  const std::string root_;
  pool::PoolMapper* const pools_;
  const std::unique_ptr<env::Dir> root_dir_;
  const Uuid owner_;
  // Held while a long name's side entry is written until its redirector is named, and while
  // DropLongName decides that a side entry names nothing (docs/redirectors.md "Long names").
  // Never held with open_mu_ nor across another operation's lock.
  mutable std::mutex long_names_mu_;
  CrashPointHook crash_point_;
  ChangeTracker* changes_ = nullptr;
  Status CrashPoint(std::string_view point) const {
    return crash_point_ ? crash_point_(point) : Status::OK();
  }
  // A registered migration (BeginMigration .. EndMigration), by redirector inode.
  struct Migration {
    std::shared_ptr<DirtyMap> dirty;
    bool switching = false;  // CommitMigration runs: an open of the file waits
    bool aborted = false;    // renamed or removed meanwhile: the commit refuses
    bool committed = false;
  };
  // Rename/Unlink of a file being migrated: waits out a switch, then aborts the migration.
  // True when a migration was registered (the caller looks the name up again: a switch may
  // have renamed the redirector).
  bool AbortMigrationOf(ino_t ino);
  // The step of CommitMigration that changes the backing store and the target pool.
  // `*switched`: the redirector names the target pool now (also when a later step, or the
  // sync of the switch itself, failed: then the open file must follow it all the same).
  Status SwitchRedirector(const MigrationTicket& t, bool* switched);

  // The copies of the mirrored file `r` (redirector entry `e`): the live MirrorSet of its
  // inode, or a new one (registered in mirrors_). Holds open_mu_.
  Result<std::shared_ptr<MirrorSet>> MirrorSetLocked(ino_t ino, const std::string& primary_pool,
                                                     const Redirector& r, const std::string& rel);
  mutable std::mutex sink_mu_;       // a leaf lock
  ReplicaEventSink replica_events_;  // guarded by sink_mu_
  // The MirrorSet's event callback for a file opened as `rel`: the sink set at event time.
  ReplicaEventFn ReplicaEventsFor(const std::string& rel) const;
  // Resyncs the stale copies of `set` (ResyncFile's work; `rel` names it in messages).
  Result<std::uint64_t> ResyncSet(MirrorSet& set, const std::string& rel, std::uint64_t step_bytes,
                                  const std::function<bool(std::uint64_t)>& progress);

  // Lock order: a migration's own mutex (cafs/migrator.h), then open_mu_; open_mu_ is never
  // held while an EncryptedFile's I/O is stopped (CommitMigration takes it before and after).
  std::mutex open_mu_;
  std::condition_variable migration_cv_;                    // a switch ended; with open_mu_
  std::map<ino_t, std::weak_ptr<OpenFile>> open_files_;     // guarded by open_mu_
  std::map<ino_t, std::shared_ptr<Migration>> migrations_;  // guarded by open_mu_
  std::map<ino_t, std::weak_ptr<MirrorSet>> mirrors_;       // guarded by open_mu_
  // Redirectors renamed by migrations so far (OpenExisting looks again when it changed).
  std::uint64_t switches_ = 0;  // guarded by open_mu_
};

}  // namespace cafs::core
