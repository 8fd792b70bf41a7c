// PosixEnv: Env on POSIX system calls (Linux). Files use pread/pwrite (no shared offset),
// O_CLOEXEC, EINTR retry loops, fdatasync for File::Sync, fallocate for PunchHole/Allocate.
// Every failure keeps its errno (Status::FromErrno) and names the call and the path.
// Threading: stateless apart from the descriptors; safe from any thread.
#pragma once

#include "env/env.h"

namespace cafs::env {

class PosixEnv final : public Env {
 public:
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
};

}  // namespace cafs::env
