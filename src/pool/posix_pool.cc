#include "pool/posix_pool.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace cafs::pool {

namespace {

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A file of the pool that refuses I/O once its pool has gone away (posix_pool.h).
class PoolFile final : public env::File {
 public:
  PoolFile(std::unique_ptr<env::File> file, PosixPool* pool)
      : file_(std::move(file)), pool_(pool) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->ReadAt(offset, out);
  }
  Status WriteAt(std::uint64_t offset, ByteView data) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->WriteAt(offset, data);
  }
  Status Truncate(std::uint64_t size) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->Truncate(size);
  }
  Status Sync() override {
    CAFS_RETURN_IF_ERROR(file_->Sync());
    // Synced, but into the pool? A detached or replaced root means the data is not there.
    return pool_->CheckForIo(false);
  }
  Result<std::uint64_t> Size() override { return file_->Size(); }
  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->PunchHole(offset, length);
  }
  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->Allocate(offset, length);
  }
  const std::string& path() const override { return file_->path(); }

 private:
  const std::unique_ptr<env::File> file_;
  PosixPool* const pool_;
};

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
  CAFS_RETURN_IF_ERROR(CheckForIo(false));
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<env::File> file, env_->OpenFile(path, options));
  return std::unique_ptr<env::File>(std::make_unique<PoolFile>(std::move(file), this));
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
  struct stat st {};
  if (::stat(root_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return Status::Unavailable("storage pool '" + name_ + "': " + root_ + " is not a directory");
    }
    std::lock_guard lock(pin_mu_);
    if (!pinned_) pinned_ = Identity{st.st_dev, st.st_ino};
    if (pinned_->dev != st.st_dev || pinned_->ino != st.st_ino) {
      return Status::Unavailable(
          "storage pool '" + name_ + "' is unavailable: " + root_ +
          " is no longer the pool's directory (unmounted or replaced; restart cafsd if the "
          "replacement is intended)");
    }
    return Status::OK();
  }
  const int err = errno;
  {
    std::lock_guard lock(pin_mu_);
    if (pinned_) {  // a POSIX root that went away
      return Status::Unavailable("storage pool '" + name_ + "' is unavailable: " + root_ + ": " +
                                 std::strerror(err));
    }
  }
  // Not a POSIX path (or not there yet): ask the Env.
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

Status PosixPool::CheckForIo(bool throttled) {
  const std::int64_t now = SteadyNowNs();
  const std::int64_t interval =
      std::chrono::duration_cast<std::chrono::nanoseconds>(kIoCheckInterval).count();
  const std::int64_t last = last_ok_ns_.load(std::memory_order_relaxed);
  if (throttled && last != 0 && now - last < interval) {
    return Status::OK();
  }
  Status s = CheckAvailable();
  if (!s.ok()) {
    last_ok_ns_.store(0, std::memory_order_relaxed);
    return Status::FromErrno(EIO, s.message());
  }
  last_ok_ns_.store(now, std::memory_order_relaxed);
  return Status::OK();
}

}  // namespace cafs::pool
