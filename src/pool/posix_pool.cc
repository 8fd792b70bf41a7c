#include "pool/posix_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

// The write lease of a posix pool file: an OFD write lock on the whole file, on a descriptor
// of its own (write_lease.h). The kernel drops it with the descriptor, also when the process
// dies; on an NFS mount the lock is the NFS server's (NLM or NFSv4 locks).
class OfdLease final : public WriteLease {
 public:
  explicit OfdLease(int fd) : fd_(fd) {}
  ~OfdLease() override { ::close(fd_); }
  Status Check() const override { return Status::OK(); }  // held as long as the descriptor

 private:
  const int fd_;
};

// The write lease of the pool file at `path` (pool-relative `rel`, for messages), held in
// `table` under the file's identity (device, inode), not its name: a lease follows its file
// through a rename (a migration's copy is made under a temporary name and renamed into place
// while the gateway keeps it open), and two names of one file share one lease. Keyed by name,
// the renamed file's second open took a second OFD lock that conflicted with the first, and the
// gateway refused itself (EBUSY).
Result<std::shared_ptr<WriteLease>> HoldOfdLease(LeaseTable& table, const std::string& pool,
                                                 const std::string& rel, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::FromErrno(errno, "storage pool '" + pool + "': lease of " + rel);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "storage pool '" + pool + "': lease of " + rel);
  }
  const std::string key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  auto held = table.Hold(key, [&]() -> Result<std::unique_ptr<WriteLease>> {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file, whatever its size
    if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
      const int err = errno;
      if (err == EAGAIN || err == EACCES) return LeaseHeld(pool, rel, "");
      return Status::FromErrno(err, "storage pool '" + pool + "': lease of " + rel);
    }
    auto lease = std::make_unique<OfdLease>(fd);
    fd = -1;  // the lease owns it now
    return std::unique_ptr<WriteLease>(std::move(lease));
  });
  if (fd >= 0) ::close(fd);  // already held here (shared), or refused
  return held;
}

// A file of the pool that refuses I/O once its pool has gone away (posix_pool.h), holding the
// write lease of its path when open for writing.
class PoolFile final : public env::File {
 public:
  PoolFile(std::unique_ptr<env::File> file, PosixPool* pool, std::shared_ptr<WriteLease> lease)
      : file_(std::move(file)), pool_(pool), lease_(std::move(lease)) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->ReadAt(offset, out);
  }
  Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out) override {
    CAFS_RETURN_IF_ERROR(pool_->CheckForIo(true));
    return file_->ReadAtNoWait(offset, out);
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
  const std::shared_ptr<WriteLease> lease_;  // null when read-only or not a POSIX root
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
  const bool leased = !options.read_only && IsPosixRoot();
  env::OpenOptions opts = options;
  if (leased) opts.truncate = false;  // not before the lease is ours: below
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<env::File> file, env_->OpenFile(path, opts));
  std::shared_ptr<WriteLease> lease;
  if (leased) {
    // After the open (which may have created the file): the lock needs the file.
    CAFS_ASSIGN_OR_RETURN(lease, HoldOfdLease(leases_, name_, std::string(rel_path), path));
    if (options.truncate) CAFS_RETURN_IF_ERROR(file->Truncate(0));
  }
  return std::unique_ptr<env::File>(
      std::make_unique<PoolFile>(std::move(file), this, std::move(lease)));
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

bool PosixPool::IsPosixRoot() const {
  struct stat st {};
  return ::stat(root_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
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
