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
// Threading: safe from any thread (one mutex for the namespace, one per file's bytes).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>

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

  struct FileData;  // the bytes of one file (mem_env.cc)

 private:
  bool ParentExistsLocked(const std::string& path) const;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileData>> files_;  // guarded by mu_
  std::set<std::string> dirs_;                              // guarded by mu_
};

}  // namespace cafs::env
