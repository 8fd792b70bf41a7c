// PosixEnv: Env on POSIX system calls (Linux). Files use pread/pwrite (no shared offset),
// O_CLOEXEC, EINTR retry loops, fdatasync for File::Sync, fallocate for PunchHole/Allocate.
// Every failure keeps its errno (Status::FromErrno) and names the call and the path.
// Dir (OpenDirectory): openat/mkdirat/renameat2/linkat/... on the directory's descriptor,
// O_NOFOLLOW everywhere; what it creates gets exactly the mode the caller passes (chmod after
// create, so the process umask does not narrow it).
// Modes: files the path-based methods create are 0600 and directories 0700 (kFileMode, kDirMode;
// the umask can only narrow them), owner = the process. What it stores is private to the service:
// pool files hold clear-text policies' data in plain bytes, and the modes callers see live
// elsewhere (the backing store's redirectors, docs/redirectors.md). Existing files and
// directories keep their modes.
// Threading: stateless apart from the descriptors; safe from any thread.
#pragma once

#include <sys/types.h>

#include "env/env.h"

namespace cafs::env {

class PosixEnv final : public Env {
 public:
  static constexpr mode_t kFileMode = 0600;
  static constexpr mode_t kDirMode = 0700;

  Result<std::unique_ptr<File>> OpenFile(const std::string& path,
                                         const OpenOptions& options) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::uint64_t> FreeSpace(const std::string& path) override;
  Result<std::unique_ptr<Dir>> OpenDirectory(const std::string& path) override;
};

}  // namespace cafs::env
