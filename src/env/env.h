// Env: the operating-system seam of CAFS storage code (files and directories), after
// LevelDB's Env and RocksDB's FileSystem. Storage code never calls open/pread/rename itself:
// it takes an Env, so tests run it on MemEnv (in memory) or FaultInjectionEnv (full disks,
// I/O errors, crashes that drop unsynced data) without root.
//
// Implementations: PosixEnv (posix_env.h), MemEnv (mem_env.h), FaultInjectionEnv
// (fault_injection_env.h); EnvWrapper forwards everything so a test can override one method.
//
// Paths are plain strings interpreted by the implementation (POSIX paths for PosixEnv);
// the Env does not resolve them against a root.
//
// Two ways to name things: path-based methods (OpenFile, Rename, ... below: the pools, the
// audit log) and directory handles (OpenDirectory, then env::Dir's `*at` operations, dir.h:
// the namespace, which must not follow symlinks, must handle paths longer than PATH_MAX and
// needs RENAME_NOREPLACE, hard links and special files). Both reach the same files.
//
// Threading: every method of every Env here is safe to call from many threads at once.
// Ownership: OpenFile returns a File the caller owns, OpenDirectory a Dir the caller owns;
// neither may outlive its Env.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "env/dir.h"
#include "env/file.h"
#include "util/result.h"
#include "util/status.h"

namespace cafs::env {

struct OpenOptions {
  bool create = false;     // create the file if missing (O_CREAT)
  bool exclusive = false;  // with create: fail with AlreadyExists if it exists (O_EXCL)
  bool read_only = false;  // open for reading only; writes then fail
  bool truncate = false;   // truncate to 0 on open (O_TRUNC; not with read_only)
  // Dir::OpenFile only: a handle for Stat/SetTimes alone (O_PATH): no read or write access is
  // needed (a file of mode 0000 can be opened); ReadAt/WriteAt/Sync fail with EBADF.
  bool attributes_only = false;
  // Reading does not update the file's access time (O_NOATIME where the caller may use it;
  // silently a plain open where it may not). For CAFS's own metadata reads (redirectors):
  // the access time a client sees is the redirector's, and an internal read of it — the key
  // inventory, a lookup — is not an access by the client (a utime-set atime older than the
  // mtime would otherwise be reset by the backing filesystem's relatime rule).
  bool no_atime = false;
  // Mode of a file created by Dir::OpenFile (exactly this, & 07777; no umask).
  std::uint32_t mode = 0600;

  static OpenOptions CreateNew() { return {.create = true, .exclusive = true}; }
  static OpenOptions ReadWrite() { return {}; }
  static OpenOptions ReadOnly() { return {.read_only = true}; }
  static OpenOptions AttributesOnly() { return {.read_only = true, .attributes_only = true}; }
  static OpenOptions Metadata() { return {.read_only = true, .no_atime = true}; }
};

struct FileInfo {
  std::uint64_t size = 0;             // bytes
  std::uint64_t allocated_bytes = 0;  // space really used (st_blocks * 512; sparse files less)
  bool is_directory = false;
};

class Env {
 public:
  virtual ~Env() = default;

  // Errors: NotFound (missing and !create), AlreadyExists (exclusive), PermissionDenied,
  // IoError with errno.
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path,
                                                 const OpenOptions& options) = 0;
  // Atomically replaces `to` with `from` (rename(2)); durable after SyncDir of the parent(s).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file (not a directory). NotFound if missing.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Creates one directory level. AlreadyExists if it exists.
  virtual Status CreateDir(const std::string& path) = 0;
  // Creates the directory and missing parents; OK if it exists. Each level it creates is
  // durable on return (its parent is synced).
  virtual Status CreateDirs(const std::string& path);
  // Removes an empty directory.
  virtual Status RemoveDir(const std::string& path) = 0;
  // Names in a directory, without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // NotFound if missing.
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  bool Exists(const std::string& path) { return Stat(path).ok(); }
  // Makes the directory's entries durable (creates, renames, removes in it).
  virtual Status SyncDir(const std::string& path) = 0;
  // Bytes available to an unprivileged user on the file system holding `path`.
  virtual Result<std::uint64_t> FreeSpace(const std::string& path) = 0;
  // The existing directory `path` as a handle for `*at` operations (dir.h). A symlink as the
  // last component is followed here (the caller names its root); Dir never follows one.
  virtual Result<std::unique_ptr<Dir>> OpenDirectory(const std::string& path) = 0;

  // The process-wide PosixEnv (never destroyed).
  static Env* Default();
};

// Forwards every call to `target` (not owned; must outlive the wrapper). Subclass and
// override what a test needs to change.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Result<std::unique_ptr<File>> OpenFile(const std::string& path,
                                         const OpenOptions& options) override {
    return target_->OpenFile(path, options);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return target_->Rename(from, to);
  }
  Status RemoveFile(const std::string& path) override { return target_->RemoveFile(path); }
  Status CreateDir(const std::string& path) override { return target_->CreateDir(path); }
  Status RemoveDir(const std::string& path) override { return target_->RemoveDir(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return target_->ListDir(path);
  }
  Result<FileInfo> Stat(const std::string& path) override { return target_->Stat(path); }
  Status SyncDir(const std::string& path) override { return target_->SyncDir(path); }
  Result<std::uint64_t> FreeSpace(const std::string& path) override {
    return target_->FreeSpace(path);
  }
  Result<std::unique_ptr<Dir>> OpenDirectory(const std::string& path) override {
    return target_->OpenDirectory(path);
  }

 private:
  Env* target_;
};

// Reads exactly out.size() bytes at `offset`; Corruption ("truncated") if the file ends first.
Status ReadExactly(File& file, std::uint64_t offset, MutableByteView out);

// Replaces the file `path` by `data` so that a crash at any instant leaves the old or the new
// content whole: `path + ".new"` written and synced, renamed over `path`, the directory
// `dir` (which holds `path`) synced. The one place for that sequence (job records, change
// logs).
Status ReplaceFileAtomically(Env& env, const std::string& dir, const std::string& path,
                             ByteView data);

}  // namespace cafs::env
