// PosixPool: a storage pool that is a directory on a mounted file system (local disk, RAID,
// NAS mount). Files are plain files below `root`; sparse files stay sparse.
//
// Ownership: the Env is not owned and must outlive the pool.
#pragma once

#include "pool/pool.h"

namespace cafs::pool {

class PosixPool final : public Pool {
 public:
  // `root` must be an absolute path; it need not exist yet (Open creates nothing).
  PosixPool(std::string name, std::string root, env::Env* env);

  const std::string& name() const override { return name_; }
  std::string location() const override { return root_; }

  Result<std::unique_ptr<env::File>> OpenFile(std::string_view rel_path,
                                              const env::OpenOptions& options) override;
  Status RemoveFile(std::string_view rel_path) override;
  Status Rename(std::string_view from, std::string_view to) override;
  Status CreateDirs(std::string_view rel_path) override;
  Status RemoveDir(std::string_view rel_path) override;
  Result<env::FileInfo> Stat(std::string_view rel_path) override;
  Result<std::vector<std::string>> ListDir(std::string_view rel_path) override;
  Status SyncDir(std::string_view rel_path) override;
  Result<PoolSpace> Space() override;
  Status CheckAvailable() override;

 private:
  // root_/rel after validation; an empty rel means the root itself.
  Result<std::string> Resolve(std::string_view rel_path) const;

  const std::string name_;
  const std::string root_;
  env::Env* const env_;
};

}  // namespace cafs::pool
