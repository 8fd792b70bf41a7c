// Dir: an open directory, and the `*at` operations relative to it (openat, mkdirat,
// renameat2, linkat, ...). The namespace (core::Volume) keeps its tree in a backing-store
// directory and walks it one component at a time through Dirs, never by absolute path, so:
//  - a symlink inside the tree is never followed (every call here is "no follow");
//  - a path longer than PATH_MAX still works (each call sees one name);
//  - every change of a directory goes through the Env, so FaultInjectionEnv can lose it on a
//    simulated crash until Sync() of that directory (docs/env.md "Directories").
//
// Names: every `name` argument is one component (no '/'), except that "." names the
// directory itself where the method says so. Errors keep the errno of the failed call
// (Status::FromErrno): NotFound (ENOENT), AlreadyExists (EEXIST), ENOTDIR, EISDIR, ENOTEMPTY,
// ELOOP (a symlink where OpenDir/OpenFile needed something else), EXDEV, ...
//
// Durability: a change (create, mkdir, mknod, symlink, link, rename, unlink, rmdir) is
// durable once Sync() of the directory holding the name has returned OK; a rename or link
// between two directories needs both synced. Attribute changes (chmod, chown, times) are
// durable with the next Sync of the entry's directory as well (FaultInjectionEnv does not
// model losing them).
//
// Threading: a Dir is safe for concurrent use from many threads (no shared state beyond the
// descriptor). Two Dirs on the same directory see each other's changes at once.
// Ownership: the caller owns a Dir returned by Env::OpenDirectory or Dir::OpenDir; it must
// not outlive its Env. Rename and Link take the other directory by reference (not owned);
// it must be a Dir of the same Env (InvalidArgument otherwise).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "env/file.h"
#include "util/result.h"
#include "util/status.h"

namespace cafs::env {

struct OpenOptions;

// What a rename does to an existing target.
enum class RenameMode {
  kReplace,    // rename(2): replaces `to` atomically (a directory only by an empty directory)
  kNoReplace,  // RENAME_NOREPLACE: AlreadyExists if `to` exists
  kExchange,   // RENAME_EXCHANGE: both names must exist; they swap atomically
};

// Space of the file system holding a directory (statvfs).
struct SpaceInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;  // available to an unprivileged user
  std::uint64_t total_inodes = 0;
  std::uint64_t free_inodes = 0;
  std::uint64_t link_max = 0;  // most names (hard links) one entry may have: pathconf LINK_MAX
};

class Dir {
 public:
  virtual ~Dir() = default;
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;

  // The path the directory was opened as (for messages; it may have been renamed since).
  virtual const std::string& path() const = 0;

  // The subdirectory `name` ("." = this directory again: a second handle). A symlink or a
  // non-directory is ENOTDIR.
  virtual Result<std::unique_ptr<Dir>> OpenDir(const std::string& name) = 0;
  // The file `name`, never through a symlink (ELOOP). With options.create the new file gets
  // options.mode (the process umask applies only in PosixEnv's path-based OpenFile).
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& name,
                                                 const OpenOptions& options) = 0;
  // A new directory with exactly the permission and sticky bits of `mode` (no umask) and the
  // set-group-ID bit inherited from this directory, as mkdir(2). AlreadyExists if it exists.
  virtual Status MakeDir(const std::string& name, std::uint32_t mode) = 0;
  // A special file (mknod(2): FIFO, socket, device; `mode` includes the type bits).
  virtual Status MakeNode(const std::string& name, std::uint32_t mode, std::uint64_t dev) = 0;
  virtual Status Symlink(const std::string& target, const std::string& name) = 0;
  virtual Result<std::string> ReadLink(const std::string& name) = 0;
  // A second name `to_name` in `to_dir` for the entry `name` (linkat(2), no follow).
  virtual Status Link(const std::string& name, Dir& to_dir, const std::string& to_name) = 0;
  // Moves `name` to `to_name` in `to_dir` (renameat2(2)).
  virtual Status Rename(const std::string& name, Dir& to_dir, const std::string& to_name,
                        RenameMode mode) = 0;
  // Removes a non-directory name (unlinkat). EISDIR for a directory.
  virtual Status Unlink(const std::string& name) = 0;
  // Removes an empty directory (unlinkat AT_REMOVEDIR): ENOTEMPTY, ENOTDIR.
  virtual Status RemoveDir(const std::string& name) = 0;

  // lstat of `name` ("." = this directory).
  virtual Result<EntryStat> Stat(const std::string& name) = 0;
  // chmod of `name` ("." = this directory); EOPNOTSUPP-like NotSupported for a symlink.
  virtual Status Chmod(const std::string& name, std::uint32_t mode) = 0;
  // lchown; uid/gid (uid_t)-1 keeps that one.
  virtual Status Chown(const std::string& name, std::uint32_t uid, std::uint32_t gid) = 0;
  // utimensat(AT_SYMLINK_NOFOLLOW): times[0] = atime, times[1] = mtime; tv_nsec may be
  // UTIME_NOW or UTIME_OMIT; nullptr = both now.
  virtual Status SetTimes(const std::string& name, const struct timespec times[2]) = 0;

  // Names in this directory without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> List() = 0;
  // Makes the changes of this directory's entries durable (fsync of the directory).
  virtual Status Sync() = 0;
  virtual Result<SpaceInfo> Space() = 0;

 protected:
  Dir() = default;
};

}  // namespace cafs::env
