// Volume: the CAFS namespace — the tree hypervisors see — kept in a backing-store directory,
// with the bytes of every file in a storage pool (seed: "CAFS Redirector Links";
// docs/redirectors.md is the reference for the on-disk layout and crash ordering).
//
//  - Directories are real directories of the backing store; symlinks are plain symlinks.
//  - A file is a redirector entry `name##pool` (a small text file naming the pool file's
//    GUID and pool-relative path); its data is an EncryptedFile in that pool, normally at
//    `<pool root>/<vmset>/<vm>/<name>` (the Volume-relative path). ReadDir shows `name`;
//    a lookup of `name` finds `name##<pool>`.
//  - Paths given to a Volume are Volume-relative, '/'-separated, without leading '/', already
//    split and checked by CheckName(): every component non-empty, not "." or "..", without
//    "##" (InvalidArgument) and short enough that `name##pool` fits NAME_MAX
//    (ENAMETOOLONG). "" is the root.
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
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "cafs/attr.h"
#include "cafs/redirector.h"
#include "env/env.h"
#include "format/encrypted_file.h"
#include "pool/pool_mapper.h"

namespace cafs::core {

// Where and how a new file is stored (decided by policy).
struct Placement {
  std::string pool;
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
  const std::string& pool() const { return pool_; }
  ino_t backing_ino() const { return ino_; }
  env::File* redirector() const { return redirector_.get(); }

 private:
  const std::unique_ptr<format::EncryptedFile> file_;
  const std::string pool_;
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
  bool open = false;  // this Volume has the file open now (a handle uses it)
};

class Volume {
 public:
  static constexpr std::string_view kRedirectorSeparator = core::kRedirectorSeparator;

  // `backing_root` must be an existing directory (NotFound otherwise); it is reached through
  // `env` (the process's PosixEnv unless a test passes another).
  static Result<std::unique_ptr<Volume>> Open(std::string backing_root, pool::PoolMapper* pools,
                                              env::Env* env = env::Env::Default());
  ~Volume();

  // Checks one caller-supplied name component (rules above).
  Status CheckName(std::string_view name) const;
  // The longest name component CheckName accepts: `name##<longest pool>` fits NAME_MAX.
  std::size_t max_name_length() const {
    return NAME_MAX - kRedirectorSeparator.size() - longest_pool_name_;
  }
  // Splits and checks a Volume-relative path ("a/b/c"; "" is the root).
  Result<std::vector<std::string>> SplitPath(std::string_view rel) const;

  Result<Attr> GetAttr(const std::string& rel, const KeyLookup& keys);
  Result<std::vector<DirEntry>> ReadDir(const std::string& rel);
  Result<Attr> MakeDir(const std::string& rel, std::uint32_t mode, std::uint32_t uid,
                       std::uint32_t gid);
  Status RemoveDir(const std::string& rel);
  // Creates a new file (AlreadyExists if the name exists) and opens it.
  Result<std::shared_ptr<OpenFile>> CreateFile(const std::string& rel, std::uint32_t mode,
                                               std::uint32_t uid, std::uint32_t gid,
                                               const Placement& placement);
  Result<std::shared_ptr<OpenFile>> OpenExisting(const std::string& rel, const KeyLookup& keys);
  // Removes the redirector, then the pool file.
  Status Unlink(const std::string& rel);
  // The pool file of the file at `rel`, read from its redirector (no key needed): NotFound,
  // EISDIR for a directory, ELOOP for a symlink, EIO for a pool that is not configured.
  Result<FileLocation> Locate(const std::string& rel);
  // Removes the redirector of `rel` (directory synced) if it still names `guid`, leaving the
  // pool file in place: the first step of a shred (src/jobs/shred_job.h). NotFound when
  // `rel` has no redirector or one naming another file (the name was reused).
  Status DetachRedirector(const std::string& rel, const Uuid& guid);
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
  // Attributes of an open file: its redirector entry's (one fstat) with the logical size.
  Result<Attr> AttrOf(OpenFile& file);
  // Mode, owner and times of an open file, through its redirector descriptor (so they reach
  // the file itself after a rename or an unlink, never whatever now has its old name); then
  // AttrOf. `req.size` is not handled here (the caller truncates the EncryptedFile).
  // NotSupported when the file has no redirector descriptor.
  Result<Attr> SetAttrOf(OpenFile& file, const SetAttrRequest& req);
  Result<Attr> Symlink(const std::string& target, const std::string& rel, std::uint32_t uid,
                       std::uint32_t gid);
  Result<std::string> ReadLink(const std::string& rel);
  Result<FsStats> StatFs();
  // Bytes stored (allocated) under `<pool root>/<vmset>` per configured pool.
  Result<std::map<std::string, std::uint64_t>> PoolBytes(const std::string& vmset);

  const std::string& backing_root() const { return root_; }
  pool::PoolMapper& pools() { return *pools_; }

  // Test seam for crash consistency: called at the crash points of multi-step operations
  // (docs/redirectors.md "Operations and crash ordering"):
  //   "create:pool-file-created"   pool file with header synced, no redirector yet
  //   "create:redirector-written"  redirector synced under its hidden temporary name
  //   "unlink:redirector-removed"  redirector gone, pool file still there (also in step 4 of
  //                                a rename over a file of another pool)
  //   "rename:redirector-moved"    step 1 done (redirector under the new name)
  //   "rename:pool-file-moved"     step 2 done (pool file at the new path)
  //   "rename:redirector-updated"  step 3 done (line 3 rewritten)
  // A non-OK Status makes the operation return it at once, doing no clean-up: the on-disk
  // state is what a crash (kill -9) at that point leaves. Set before the Volume is shared.
  // (Crashes at every other durable step: open the Volume on a FaultInjectionEnv and use
  // its CrashAfter; docs/redirectors.md.)
  using CrashPointHook = std::function<Status(std::string_view point)>;
  void SetCrashPointHookForTest(CrashPointHook hook) { crash_point_ = std::move(hook); }

 private:
  struct Impl;
  Volume(std::string root, pool::PoolMapper* pools, std::unique_ptr<env::Dir> root_dir);

  const std::string root_;
  pool::PoolMapper* const pools_;
  const std::unique_ptr<env::Dir> root_dir_;
  std::size_t longest_pool_name_ = 0;
  CrashPointHook crash_point_;
  Status CrashPoint(std::string_view point) const {
    return crash_point_ ? crash_point_(point) : Status::OK();
  }
  std::mutex open_mu_;
  std::map<ino_t, std::weak_ptr<OpenFile>> open_files_;  // guarded by open_mu_
};

}  // namespace cafs::core
