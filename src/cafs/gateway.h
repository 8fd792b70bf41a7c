// Gateway: the CAFS core API that front-ends (FUSE, NFS) call — caller identity, policy on
// every operation, audit, keys — over a Volume (namespace + pools + EncryptedFile).
// docs/gateway.md is the reference.
//
// Paths are gateway paths: absolute, '/'-separated, the gateway's root being the mount point
// "/" (FUSE: the mount point; NFS: the export root). The VM set is the component at
// `GatewayOptions::position` (1: "/my_vmset/windows_xp/osdisk1.vmdk" is VM set "my_vmset",
// VM "windows_xp", policy path "windows_xp/osdisk1.vmdk"), via policy::ResolveVmSetPath.
// Paths above the VM set level (the root) hold only VM set directories; they are not
// governed by a VM set and are open to every caller for lookup and listing.
//
// Policy on every operation: each call below VM set level fetches the VM set from the
// PolicyCache and asks its Evaluator (with the injected Clock) whether `caller` may access
// the path now; a denial returns PermissionDenied (EACCES) and is always audited singly, even
// at audit level none (the seed: a denied server generates an audit record; docs/policy.md).
// Handle operations (Read/Write/...) re-check the handle's path, so an access window that
// closes also closes open files. Each handle remembers its last allowed decision and reuses
// it while the PolicyCache serves the same entry, for the same server, within the same UTC
// minute (windows open and close on whole minutes), so the data path does not evaluate the
// policy per request; a denial is never cached (docs/performance.md "Decision cache").
//
// Audit (docs/audit.md): allowed metadata operations (lookup, create, open, remove, rename,
// mkdir, rmdir, setattr, symlink, link, mknod) one record each when the matched vobj's level is
// all_records; reads and writes aggregated per (server, file, op) per interval through an
// AccessAggregator (all_records only); errors that mean a key or data problem (AuthFailed,
// Corruption, a missing pool) always, singly. GetAttr/ReadDir/ReadLink are checked but not
// audited (kernels call them constantly).
//
// New files get the pool, cipher, sector size and key (current version) of the first
// matching vobj; the clear-text key stores plain data (cipher none) still behind the header.
//
// Errors: every method returns Status/Result whose errno_value() is what the front-end
// returns (EACCES, ENOENT, EEXIST, EINVAL for "##"/".." names, ENAMETOOLONG, EIO for wrong
// keys and damaged pool files, EAGAIN for a key server that cannot be reached for an
// uncached VM set, EXDEV for hard links and renames across VM sets or vobjs, EBADF for an unknown
// handle).
//
// Handles: 64-bit ids from a counter (never pointers, never reused while the process lives).
// Threading: every method is safe from many threads at once; handle ops on one handle may
// run in parallel (EncryptedFile serializes overlapping ranges). Lock order: handles_mu_,
// then capacity_mu_; neither is held while calling the Volume, the cache or the audit log.
// Ownership: the PolicyCache, Volume, AuditLog and Clock are not owned and must outlive the
// Gateway.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "audit/access_aggregator.h"
#include "audit/audit_log.h"
#include "cafs/alert_sink.h"
#include "cafs/attr.h"
#include "cafs/file_handles.h"
#include "cafs/key_inventory.h"
#include "cafs/policy_cache.h"
#include "cafs/unlink_shredder.h"
#include "cafs/volume.h"
#include "util/clock.h"

namespace cafs::core {

// Who is calling. FUSE: `server_id` is this host's configured server id, matched against
// <vmserv>. NFS: `address` is the client's address and `server_id` is empty; the caller is
// the registered servers that hold the address in the VM set's bundle (VmSetBundle::servers,
// policy/server_registry.h), never the address itself. Audit records name the server id(s)
// and the address (docs/gateway.md "Audit").
struct Caller {
  std::string server_id;
  std::uint32_t uid = 0;     // owner given to created entries
  std::uint32_t gid = 0;     // their group, unless the directory is set-group-ID
  std::string address = {};  // NFS: the client's address; empty for FUSE (default: no warning
                             // for aggregate initializations that stop at gid)
};

using FileHandle = std::uint64_t;

struct OpenResult {
  FileHandle handle = 0;
  Attr attr;
};

struct GatewayOptions {
  unsigned position = 1;  // component of the VM set name below "/"
  std::chrono::milliseconds aggregate_interval{std::chrono::seconds(10)};
  // Where denials, data errors and capacity alerts also go, per the VM set's <audit-dest>
  // (alert_sink.h; docs/gateway.md "Alerts"). Not owned; must outlive the Gateway. nullptr:
  // only the audit log (and so kpsd) and the gateway's log.
  AlertSink* alerts = nullptr;
  // How an unlink of a file under <shred-on-free>yes</shred-on-free> shreds what it frees
  // (unlink_shredder.h). Not owned; must outlive the Gateway. nullptr: such an unlink is
  // refused (EOPNOTSUPP), never done without the shred the policy asks for.
  UnlinkShredder* unlink_shredder = nullptr;
  // Tick resyncs open mirrored files itself (Volume::ResyncOpenFiles). cafsd turns it off:
  // there a resync job does it (jobs/resync_job.h ResyncTrigger), closed files too.
  bool resync_in_tick = true;
};

// Bytes stored by one VM set in one pool (billing).
struct UsageRecord {
  std::string vmset;
  std::string pool;
  std::uint64_t bytes = 0;
};

struct PoolStatus {
  std::string pool;
  pool::PoolSpace space;
  unsigned threshold_percent = 80;
  bool available = true;
  std::string error;
};

class Gateway {
 private:
  struct HandleState;

 public:
  Gateway(PolicyCache* cache, Volume* volume, audit::AuditLog* audit, const Clock* clock,
          GatewayOptions options);
  ~Gateway();

  // Whether `name` may be one component of a gateway path (Volume::CheckName, the one rule):
  // InvalidArgument (EINVAL) for "", ".", "..", '/' or NUL; ENAMETOOLONG
  // beyond Volume::max_name_length() (NAME_MAX: long names are hashed). Any other bytes are fine
  // (names are bytes, not text). For front-ends whose protocol sends single components (NFS): a '/'
  // in one must not become a path.
  Status CheckName(std::string_view name) const { return volume_->CheckName(name); }

  // Name resolution and attributes.
  Result<Attr> Lookup(const Caller& caller, std::string_view path);   // audited "lookup"
  Result<Attr> GetAttr(const Caller& caller, std::string_view path);  // not audited
  Result<Attr> SetAttr(const Caller& caller, std::string_view path, const SetAttrRequest& req);
  Result<std::vector<DirEntry>> ReadDir(const Caller& caller, std::string_view path);
  // ReadDir (every entry) with the attributes (as GetAttr answers them) and, with `handles`,
  // the persistent handles (HandleOf) of the entries [first, first + limit) (a reply's page;
  // the others carry NotFound), from one pass over the directory (Volume::ReadDirPlus,
  // FileHandles::HandlesIn): no path walk per entry. The directory is checked as "readdir";
  // each governed entry is still decided by the policy for its own path (in memory, as
  // GetAttr does: a denied entry carries PermissionDenied and its denial is audited).
  struct DirEntryPlus {
    DirEntry entry;
    Result<Attr> attr;
    Result<Bytes> handle;  // NotFound("not asked") without `handles`
  };
  Result<std::vector<DirEntryPlus>> ReadDirPlus(const Caller& caller, std::string_view path,
                                                bool handles, std::size_t first, std::size_t limit);

  // Directories, links.
  Result<Attr> MakeDir(const Caller& caller, std::string_view path, std::uint32_t mode);
  Status RemoveDir(const Caller& caller, std::string_view path);
  // The directory of a configured VM set, made on demand (a hypervisor mounts a new, empty
  // datastore before it writes): `path` names a VM set directory (at GatewayOptions::position);
  // when it does not exist and the VM set is known to the key server and `caller` may
  // access it, it is made with mode 0755, owned by the caller, and audited as "mkdir". OK if
  // it exists. NotFound for a VM set the key server does not know, InvalidArgument for a
  // path that is not at VM set level, PermissionDenied as the policy says.
  Status MakeVmSetDir(const Caller& caller, std::string_view path);
  Result<Attr> Symlink(const Caller& caller, std::string_view target, std::string_view path);
  Result<std::string> ReadLink(const Caller& caller, std::string_view path);
  // A second name for a file, symlink or special file (Volume::Link), audited "link" under
  // the new name; the new name's attributes (nlink counts both). EXDEV across VM sets and
  // when the new name would be governed by another vobj (its access window, server list and
  // audit level would apply to the file: docs/redirectors.md "Hard links").
  Result<Attr> Link(const Caller& caller, std::string_view existing, std::string_view new_path);
  // A FIFO, socket or device node (`mode` with its S_IF* type), audited "mknod"; EPERM for a
  // device node unless the caller is root (uid 0).
  Result<Attr> MakeNode(const Caller& caller, std::string_view path, std::uint32_t mode,
                        std::uint64_t rdev);
  // Under <shred-on-free>yes</shred-on-free> (the matched vobj) the file's last name goes
  // through GatewayOptions::unlink_shredder, audited "shred" (every level); truncates down of
  // such a file clear what they free (EncryptedFile::SetShredFreed), audited "shred" with
  // the bytes freed.
  Status Unlink(const Caller& caller, std::string_view path);
  // `no_replace`: RENAME_NOREPLACE. Exchange is not offered (front-ends return EINVAL).
  // EXDEV, as for Link, when the new name would be governed by another vobj than the old
  // one: for a file, its new name; for a directory, any regular file below it (`mv` then
  // copies and unlinks, reading under the old rules and writing under the new ones).
  Status Rename(const Caller& caller, std::string_view from, std::string_view to, bool no_replace);

  // Files. Create: `exclusive` -> AlreadyExists if present; otherwise an existing file is
  // opened and truncated to 0.
  Result<OpenResult> Create(const Caller& caller, std::string_view path, std::uint32_t mode,
                            bool exclusive);
  Result<OpenResult> Open(const Caller& caller, std::string_view path, bool truncate);
  Result<std::size_t> Read(const Caller& caller, FileHandle fh, std::uint64_t offset,
                           MutableByteView out);
  Status Write(const Caller& caller, FileHandle fh, std::uint64_t offset, ByteView data);

  // One request's policy decision on an open handle, carried through the calls of that
  // request (NFS READ/WRITE/COMMIT/GETATTR: one decision per request, not one per call). Made
  // by Access, the handle check every FileHandle method above makes (a denial is audited under
  // `op` and returns PermissionDenied). A Grant is a value of one request: front-ends must not
  // keep it across requests. Each request calls Access again, which consults the PolicyCache
  // again, so a policy refresh, a closed access window or a changed server list between two
  // requests applies to the second (docs/performance.md "One decision per request").
  // Holds the handle's state: usable after a concurrent Release. Immutable; safe to read from
  // several threads.
  class Grant {
   public:
    Grant() = default;

   private:
    friend class Gateway;
    std::shared_ptr<HandleState> h_;
    std::string server_;  // the server id(s) the caller was identified as (audit records)
  };
  Result<Grant> Access(const Caller& caller, FileHandle fh, std::string_view op);
  // `wait` kNever: errno EAGAIN (not audited) when the data is not in the page cache
  // (format::EncryptedFile::Read); read again with kMay from a thread that may wait.
  Result<std::size_t> Read(const Caller& caller, const Grant& grant, std::uint64_t offset,
                           MutableByteView out,
                           format::EncryptedFile::Wait wait = format::EncryptedFile::Wait::kMay);
  Status Write(const Caller& caller, const Grant& grant, std::uint64_t offset, ByteView data);
  Status Fsync(const Caller& caller, const Grant& grant);
  // The open file's attributes (Volume::AttrOf: one fstat of its redirector descriptor, with
  // the logical size), without another policy decision.
  Result<Attr> AttrOf(const Grant& grant);
  // `attr` (fetched earlier in the same request) with the file's current logical size: the
  // post-op attributes of a write that did not touch the times (an UNSTABLE WRITE), no fstat.
  Attr WithCurrentSize(const Grant& grant, Attr attr);

  // mode 0 of fallocate: makes [offset, offset+length) part of the file (raises the size;
  // the new range is a hole).
  Status Allocate(const Caller& caller, FileHandle fh, std::uint64_t offset, std::uint64_t length);
  Status Fsync(const Caller& caller, FileHandle fh);
  // Forgets the handle; a handle that wrote is synced first (close makes the logical size
  // durable, so the next opener sees it). EBADF if unknown.
  Status Release(const Caller& caller, FileHandle fh);
  // `op`: the operation the caller is about to do with the attributes (a denial is audited
  // under that name: NFS READ/WRITE fetch attributes first).
  Result<Attr> GetAttrByHandle(const Caller& caller, FileHandle fh,
                               std::string_view op = "getattr");
  Result<Attr> SetAttrByHandle(const Caller& caller, FileHandle fh, const SetAttrRequest& req);

  Result<FsStats> StatFs(const Caller& caller);

  // Usage and capacity (ARCHITECTURE.md §4.6).
  Result<std::vector<UsageRecord>> Usage();
  // The key inventory (key_inventory.h) of the VM sets Usage() reports on, each with the key
  // versions its cached entry knew before its walk (docs/gateway.md "Key inventory").
  std::vector<VmSetKeyInventory> KeyInventory();
  // For each cached VM set, the newest version of each key it has been told of: when this
  // changes (a rotation or destroy reached the gateway), the inventory is due again.
  std::map<std::string, std::map<Uuid, std::uint32_t>> KnownKeyVersions() const;
  // Pool space with thresholds; a pool that crosses its threshold upward gets one alert
  // audit record + a warning log line (again only after it fell below).
  std::vector<PoolStatus> CheckCapacity();
  // Periodic work: flushes audit aggregates whose interval ended (all when `force`), checks
  // capacity, resyncs open mirrored files whose failed pool is back (not when `force`).
  // cafsd calls it every aggregate interval and with force at shutdown.
  void Tick(bool force = false);

  std::size_t open_handles() const;
  // Policy decisions taken so far: every evaluation (or denial) of a path and every reuse of a
  // handle's cached decision. Counts what a request costs (tests, docs/performance.md).
  std::uint64_t policy_decisions() const {
    return policy_decisions_.load(std::memory_order_relaxed);
  }

  // Persistent file handles (NFS; src/cafs/file_handles.h, docs/nfs.md "File handles"): the
  // handle of the entry at `path` (no policy check: handles only name entries, every
  // operation on the path they resolve to is checked), and the current path of a handle
  // (ESTALE for a removed entry or a bad handle). The first call sets the handles up over
  // the backing store; it fails (EPERM without CAP_DAC_READ_SEARCH, ENOTSUP on a filesystem
  // without handles) and keeps failing when they cannot work.
  Result<Bytes> HandleOf(std::string_view path);
  Result<std::string> PathOfHandle(ByteView handle);
  // Grows on every rename, unlink and rmdir through this gateway: a front-end that cached the
  // path of a persistent handle may keep using it while this value is unchanged (names only
  // move through the gateway), and must resolve the handle again (PathOfHandle) once it grew.
  std::uint64_t namespace_generation() const {
    return namespace_generation_.load(std::memory_order_acquire);
  }

 private:
  struct Context;  // a resolved, policy-checked path

  // The VM sets usage and inventory report on: the cached ones, and (position 1) every
  // directory at the top of the backing store.
  std::set<std::string> ServedVmSets();

  Result<Context> Check(const Caller& caller, std::string_view path, std::string_view op,
                        bool audit_allowed);
  Result<Context> CheckAt(const Caller& caller, std::string_view path, std::string_view op,
                          bool audit_allowed, Clock::TimePoint now);
  Result<std::shared_ptr<HandleState>> FindHandle(FileHandle fh);
  // `server` (optional): set to the server id(s) `caller` was identified as (audit records).
  Result<std::shared_ptr<HandleState>> CheckHandle(const Caller& caller, FileHandle fh,
                                                   std::string_view op,
                                                   std::string* server = nullptr);
  // The one rule for new names of a file (link and rename; docs/redirectors.md "Hard
  // links"): a file keeps the vobj it was created under, since its pool and key never change
  // with its name and its access window, server list and audit level must not either. EXDEV
  // when `dst` is governed by another vobj than `src` (`type` not a directory), or when any
  // regular file below directory `src` would be at its path under `dst` (also EXDEV when the
  // directory holds more than kMaxRenameWalk entries in all). Both in one VM set.
  Status KeepsItsVobj(const Context& src, const Context& dst, FileType type) const;
  static constexpr std::size_t kMaxRenameWalk = 10000;
  void AuditOp(const Caller& caller, const Context& ctx, std::string_view op,
               const Status& outcome);
  // A truncate of `file` to `size` (then synced), shredding what it frees when the matched
  // vobj says so: the one place every truncate of the Gateway goes through. Audits "shred"
  // (always, with the bytes freed) for a shredding truncate down.
  Status TruncateFile(const Caller& caller, const Context& ctx, OpenFile& file, std::uint64_t size);
  static bool ShredsOnFree(const Context& ctx);
  void Append(audit::AuditRecord record);
  // A record about `caller` in `ctx`: time, server id(s) and client address, VM set, VM, file.
  audit::AuditRecord RecordFor(const Caller& caller, const Context& ctx, std::string_view op) const;
  // `text` about VM set `vs` to its <audit-dest> destinations (options_.alerts).
  void SendAlert(const CachedVmSet& vs, AlertKind kind, std::string text);
  KeyLookup KeysOf(const Context& ctx) const;
  // The group of a new entry: the caller's, or its directory's when that directory is
  // set-group-ID (as mkdir(2), open(2) and symlink(2) give it on Linux).
  std::uint32_t GroupFor(const Caller& caller, const Context& ctx) const;
  Result<Placement> PlacementFor(const Context& ctx) const;
  // Audits and alerts once per transition of a copy (in sync -> failed -> resynced): a
  // failure of a copy already reported failed (a flapping pool, a resync that failed again, a
  // reopen of a degraded file) is only logged.
  void OnReplicaEvent(const std::string& rel, const ReplicaEvent& ev);
  std::mutex failed_copies_mu_;  // a leaf lock
  // (file GUID, pool) of the copies reported failed and not resynced since.
  std::set<std::pair<Uuid, std::string>> failed_copies_;  // guarded by failed_copies_mu_
  FileHandle AddHandle(std::shared_ptr<HandleState> state);
  // Sets the mtime of a file written through `h` (through its open descriptor when it can).
  void TouchWritten(HandleState& h);
  std::int64_t NowMs() const;

  PolicyCache* const cache_;
  Volume* const volume_;
  audit::AuditLog* const audit_;
  const Clock* const clock_;
  const GatewayOptions options_;
  audit::AccessAggregator aggregator_;

  std::atomic<FileHandle> next_handle_{1};
  std::atomic<std::uint64_t> policy_decisions_{0};
  std::atomic<std::uint64_t> namespace_generation_{0};
  mutable std::shared_mutex handles_mu_;
  std::unordered_map<FileHandle, std::shared_ptr<HandleState>> handles_;  // guarded

  std::mutex capacity_mu_;
  std::map<std::string, bool> over_threshold_;  // guarded by capacity_mu_

  Result<const FileHandles*> Handles();
  std::once_flag file_handles_once_;
  Result<std::unique_ptr<FileHandles>> file_handles_{Status::Internal("not set up")};
};

}  // namespace cafs::core
