// MemEnv: an Env kept entirely in memory, for tests (after LevelDB's helpers/memenv).
//
// - A file is a byte vector shared by every handle open on it; RemoveFile unlinks the name
//   but open handles keep working (POSIX semantics). Sync is a no-op (memory is "durable";
//   use FaultInjectionEnv on top to model crashes).
// - Directories are explicit: "/" exists; creating a file or directory needs its parent.
//   Paths are normalized only by dropping a trailing '/'.
// - Holes are real zero bytes (a file written at 1 GiB holds 1 GiB of memory): keep test
//   files small. allocated_bytes in FileInfo equals size.
// - FreeSpace reports a fixed large number.
// - Dir handles (OpenDirectory) support every Dir operation: modes, owners (any uid/gid is
//   accepted: no permission checks), times, hard links (nlink), symlinks (readlink; the
//   path-based OpenFile follows them, Dir::OpenFile does not), special files (no I/O),
//   renames of files and directories (RENAME_EXCHANGE of files only). A Dir handle names its
//   path: after its directory is renamed it must be opened again.
// Threading: safe from any thread (one mutex for the namespace, one per file's bytes).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "env/env.h"

namespace cafs::env {

class MemEnv final : public Env {
 public:
  MemEnv();
  ~MemEnv() override;

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

  struct FileData;  // one inode that is not a directory (mem_env.cc)
  struct DirData;   // a directory's attributes

  // Used by MemEnv's Dir and File handles (mem_env.cc), not by callers.
  Result<std::unique_ptr<Dir>> OpenDirectoryNoFollow(const std::string& path);
  Result<std::unique_ptr<File>> OpenAt(const std::string& path, const OpenOptions& options,
                                       bool follow);
  Status MakeDirAt(const std::string& path, std::uint32_t mode);
  Status MakeNodeAt(const std::string& path, std::uint32_t mode, std::uint64_t dev,
                    const std::string& link_target);
  Result<std::string> ReadLinkAt(const std::string& path);
  Status LinkAt(const std::string& from, const std::string& to);
  Status RenameAt(const std::string& from, const std::string& to, RenameMode mode);
  Result<EntryStat> StatAt(const std::string& path);
  Result<EntryStat> StatOf(FileData& data);
  Status SetTimesOf(FileData& data, const struct timespec times[2]);
  Status ChangeOf(FileData& data, std::optional<std::uint32_t> mode,
                  std::optional<std::uint32_t> uid, std::optional<std::uint32_t> gid);
  Status ChangeAt(const std::string& path, std::optional<std::uint32_t> mode,
                  std::optional<std::uint32_t> uid, std::optional<std::uint32_t> gid,
                  const struct timespec times[2], bool set_times);

 private:
  bool ParentExistsLocked(const std::string& path) const;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileData>> files_;  // guarded by mu_
  std::map<std::string, std::shared_ptr<DirData>> dirs_;    // guarded by mu_
};

}  // namespace cafs::env
