#include "pool/posix_pool.h"

#include <sys/statvfs.h>

namespace cafs::pool {

namespace {
std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}
}  // namespace

PosixPool::PosixPool(std::string name, std::string root, env::Env* env)
    : name_(std::move(name)), root_(WithoutTrailingSlashes(std::move(root))), env_(env) {}

Result<std::string> PosixPool::Resolve(std::string_view rel_path) const {
  if (rel_path.empty()) return root_;
  CAFS_ASSIGN_OR_RETURN(std::string rel, ValidateRelativePath(rel_path));
  return root_ + "/" + rel;
}

Result<std::unique_ptr<env::File>> PosixPool::OpenFile(std::string_view rel_path,
                                                       const env::OpenOptions& options) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->OpenFile(path, options);
}

Status PosixPool::RemoveFile(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->RemoveFile(path);
}

Status PosixPool::Rename(std::string_view from, std::string_view to) {
  CAFS_ASSIGN_OR_RETURN(std::string src, Resolve(from));
  CAFS_ASSIGN_OR_RETURN(std::string dst, Resolve(to));
  return env_->Rename(src, dst);
}

Status PosixPool::CreateDirs(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->CreateDirs(path);
}

Status PosixPool::RemoveDir(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->RemoveDir(path);
}

Result<env::FileInfo> PosixPool::Stat(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->Stat(path);
}

Result<std::vector<std::string>> PosixPool::ListDir(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->ListDir(path);
}

Status PosixPool::SyncDir(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string path, Resolve(rel_path));
  return env_->SyncDir(path);
}

Result<PoolSpace> PosixPool::Space() {
  struct statvfs vfs {};
  if (::statvfs(root_.c_str(), &vfs) != 0) {
    return Status::Unavailable("storage pool '" + name_ + "' at " + root_ + ": " +
                               Status::FromErrno(errno, "statvfs").ToString());
  }
  PoolSpace space;
  space.total_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  space.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return space;
}

Status PosixPool::CheckAvailable() {
  auto info = env_->Stat(root_);
  if (!info.ok()) {
    return Status::Unavailable("storage pool '" + name_ + "' is unavailable: " + root_ + ": " +
                               info.status().message());
  }
  if (!info->is_directory) {
    return Status::Unavailable("storage pool '" + name_ + "': " + root_ + " is not a directory");
  }
  return Status::OK();
}

}  // namespace cafs::pool
