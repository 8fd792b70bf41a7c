#include "env/posix_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>  // preadv2, RWF_NOWAIT
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <limits>
#include <string>

#include "util/logging.h"

namespace cafs::env {

namespace {

constexpr std::uint64_t kMaxOffset = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());

Status CheckRange(std::uint64_t offset, std::uint64_t length, const std::string& path) {
  if (offset > kMaxOffset || length > kMaxOffset - offset) {
    return Status::InvalidArgument("offset out of range for " + path);
  }
  return Status::OK();
}

// `open_with(flags)` retried on EINTR; O_NOATIME, refused with EPERM to a caller that neither
// owns the file nor has CAP_FOWNER, is dropped and the open retried once without it.
template <typename OpenWith>
int OpenRetrying(OpenWith open_with, int flags) {
  for (;;) {
    const int fd = open_with(flags);
    if (fd >= 0) return fd;
    if (errno == EINTR) continue;
    if (errno == EPERM && (flags & O_NOATIME) != 0) {
      flags &= ~O_NOATIME;
      continue;
    }
    return fd;
  }
}

// The names in an open directory stream without "." and ".."; closes `dir`.
Result<std::vector<std::string>> ReadNames(DIR* dir, const std::string& path) {
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return Status::FromErrno(err, "readdir " + path);
  return names;
}

EntryStat FromStat(const struct stat& st) {
  EntryStat e;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.nlink = st.st_nlink;
  e.size = static_cast<std::uint64_t>(st.st_size);
  e.allocated_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
  e.dev = st.st_dev;
  e.ino = st.st_ino;
  e.rdev = st.st_rdev;
  e.atime = st.st_atim;
  e.mtime = st.st_mtim;
  e.ctime = st.st_ctim;
  return e;
}

// utimensat on what an O_PATH (or any) descriptor refers to: through its /proc link, the
// only way for an O_PATH descriptor (futimens needs a readable or writable one).
Status SetTimesOfFd(int fd, const struct timespec times[2], const std::string& path) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  if (::utimensat(AT_FDCWD, link.c_str(), times, 0) != 0) {
    return Status::FromErrno(errno, "utimens " + path);
  }
  return Status::OK();
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (::close(fd_) != 0) {
      CAFS_LOG_WARN("close {}: {}", path_, Status::FromErrno(errno, "close").ToString());
    }
  }

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    CAFS_RETURN_IF_ERROR(CheckRange(offset, out.size(), path_));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "pread " + path_);
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out) override {
    if (!nowait_works_.load(std::memory_order_relaxed)) return ReadAt(offset, out);
    CAFS_RETURN_IF_ERROR(CheckRange(offset, out.size(), path_));
    std::size_t done = 0;
    while (done < out.size()) {
      struct iovec iov {
        out.data() + done, out.size() - done
      };
      const ssize_t n = ::preadv2(fd_, &iov, 1, static_cast<off_t>(offset + done), RWF_NOWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Status::FromErrno(EAGAIN, "not in the page cache: " + path_);
        if (errno == EOPNOTSUPP || errno == ENOSYS) {
          // This kernel or file system cannot read without waiting: read as ReadAt does,
          // from now on without asking again.
          nowait_works_.store(false, std::memory_order_relaxed);
          return ReadAt(offset, out);
        }
        return Status::FromErrno(errno, "preadv2 " + path_);
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status WriteAt(std::uint64_t offset, ByteView data) override {
    CAFS_RETURN_IF_ERROR(CheckRange(offset, data.size(), path_));
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "pwrite " + path_);
      }
      done += static_cast<std::size_t>(n);
    }
    return Status::OK();
  }

  Status Truncate(std::uint64_t size) override {
    CAFS_RETURN_IF_ERROR(CheckRange(size, 0, path_));
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "ftruncate " + path_);
    }
    return Status::OK();
  }

  Status Sync() override {
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "fdatasync " + path_);
    }
    return Status::OK();
  }

  Result<std::uint64_t> Size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, "fstat " + path_);
    return static_cast<std::uint64_t>(st.st_size);
  }

  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    return Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length, "punch hole");
  }

  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    return Fallocate(0, offset, length, "fallocate");
  }

  Result<EntryStat> Stat() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, "fstat " + path_);
    return FromStat(st);
  }

  Status SetTimes(const struct timespec times[2]) override {
    return SetTimesOfFd(fd_, times, path_);
  }

  Status Chmod(std::uint32_t mode) override {
    // Through the /proc link: fchmod refuses O_PATH descriptors.
    const std::string link = "/proc/self/fd/" + std::to_string(fd_);
    if (::chmod(link.c_str(), static_cast<mode_t>(mode & 07777)) != 0) {
      return Status::FromErrno(errno, "chmod " + path_);
    }
    return Status::OK();
  }

  Status Chown(std::uint32_t uid, std::uint32_t gid) override {
    if (::fchownat(fd_, "", static_cast<uid_t>(uid), static_cast<gid_t>(gid), AT_EMPTY_PATH) != 0) {
      return Status::FromErrno(errno, "chown " + path_);
    }
    return Status::OK();
  }

  const std::string& path() const override { return path_; }

 private:
  Status Fallocate(int mode, std::uint64_t offset, std::uint64_t length, const char* what) {
    CAFS_RETURN_IF_ERROR(CheckRange(offset, length, path_));
    if (length == 0) return Status::OK();
    while (::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
      if (errno == EINTR) continue;
      if (errno == EOPNOTSUPP) {
        return Status::NotSupported(std::string(what) + " not supported on " + path_);
      }
      return Status::FromErrno(errno, std::string(what) + " " + path_);
    }
    return Status::OK();
  }

  const int fd_;
  const std::string path_;
  std::atomic<bool> nowait_works_{true};  // false after EOPNOTSUPP from RWF_NOWAIT
};

std::string Child(const std::string& dir, const std::string& name) {
  if (name == ".") return dir;
  return dir == "/" ? "/" + name : dir + "/" + name;
}

class PosixDir final : public Dir {
 public:
  PosixDir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixDir() override { ::close(fd_); }

  int fd() const { return fd_; }
  const std::string& path() const override { return path_; }

  Result<std::unique_ptr<Dir>> OpenDir(const std::string& name) override {
    int fd;
    do {
      fd = ::openat(fd_, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int err = errno == ELOOP ? ENOTDIR : errno;  // a symlink where a directory is needed
      return Status::FromErrno(err, "open directory " + Child(path_, name));
    }
    return std::unique_ptr<Dir>(new PosixDir(fd, Child(path_, name)));
  }

  Result<std::unique_ptr<File>> OpenFile(const std::string& name,
                                         const OpenOptions& options) override {
    const std::string path = Child(path_, name);
    if (options.read_only && options.truncate) {
      return Status::InvalidArgument("open " + path + ": truncate with read_only");
    }
    int flags = O_CLOEXEC | O_NOFOLLOW;
    if (options.attributes_only) {
      flags |= O_PATH;
    } else {
      flags |= options.read_only ? O_RDONLY : O_RDWR;
      if (options.create) flags |= O_CREAT;
      if (options.create && options.exclusive) flags |= O_EXCL;
      if (options.truncate) flags |= O_TRUNC;
    }
    if (options.no_atime && !options.attributes_only) flags |= O_NOATIME;
    const mode_t mode = static_cast<mode_t>(options.mode & 07777);
    const int fd = OpenRetrying([&](int f) { return ::openat(fd_, name.c_str(), f, mode); }, flags);
    if (fd < 0) {
      if (errno == EEXIST) return Status::AlreadyExists("open " + path + ": file exists");
      return Status::FromErrno(errno, "open " + path);
    }
    auto file = std::unique_ptr<File>(new PosixFile(fd, path));
    // A new file gets exactly the mode asked for (the umask may have narrowed it); only an
    // exclusive create knows the file is new.
    if (options.create && options.exclusive && ::fchmod(fd, mode) != 0) {
      return Status::FromErrno(errno, "chmod " + path);
    }
    return file;
  }

  Status MakeDir(const std::string& name, std::uint32_t mode) override {
    const mode_t m = static_cast<mode_t>(mode & 07777);
    if (::mkdirat(fd_, name.c_str(), m) != 0) {
      if (errno == EEXIST) return Status::AlreadyExists("mkdir " + Child(path_, name) + ": exists");
      return Status::FromErrno(errno, "mkdir " + Child(path_, name));
    }
    // Exactly what mkdir(2) gives without a umask: the permission and sticky bits of `mode`,
    // the set-group-ID bit inherited from the parent.
    struct stat st {};
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno(errno, "stat " + Child(path_, name));
    }
    const mode_t want = static_cast<mode_t>((m & 01777) | (st.st_mode & S_ISGID));
    if ((st.st_mode & 07777) != want && ::fchmodat(fd_, name.c_str(), want, 0) != 0) {
      return Status::FromErrno(errno, "chmod " + Child(path_, name));
    }
    return Status::OK();
  }

  Status MakeNode(const std::string& name, std::uint32_t mode, std::uint64_t dev) override {
    if (::mknodat(fd_, name.c_str(), static_cast<mode_t>(mode), static_cast<dev_t>(dev)) != 0) {
      if (errno == EEXIST) return Status::AlreadyExists("mknod " + Child(path_, name) + ": exists");
      return Status::FromErrno(errno, "mknod " + Child(path_, name));
    }
    const mode_t perm = static_cast<mode_t>(mode & 07777);
    if (::fchmodat(fd_, name.c_str(), perm, 0) != 0) {
      return Status::FromErrno(errno, "chmod " + Child(path_, name));
    }
    return Status::OK();
  }

  Status Symlink(const std::string& target, const std::string& name) override {
    if (::symlinkat(target.c_str(), fd_, name.c_str()) != 0) {
      if (errno == EEXIST)
        return Status::AlreadyExists("symlink " + Child(path_, name) + ": exists");
      return Status::FromErrno(errno, "symlink " + Child(path_, name));
    }
    return Status::OK();
  }

  Result<std::string> ReadLink(const std::string& name) override {
    std::string buf(256, '\0');
    for (;;) {
      const ssize_t n = ::readlinkat(fd_, name.c_str(), buf.data(), buf.size());
      if (n < 0) return Status::FromErrno(errno, "readlink " + Child(path_, name));
      if (static_cast<std::size_t>(n) < buf.size()) {
        buf.resize(static_cast<std::size_t>(n));
        return buf;
      }
      buf.resize(buf.size() * 2);  // maybe truncated: larger buffer
    }
  }

  Status Link(const std::string& name, Dir& to_dir, const std::string& to_name) override {
    CAFS_ASSIGN_OR_RETURN(PosixDir * to, Same(to_dir));
    if (::linkat(fd_, name.c_str(), to->fd_, to_name.c_str(), 0) != 0) {
      const std::string what = "link " + Child(path_, name) + " -> " + Child(to->path_, to_name);
      if (errno == EEXIST) return Status::AlreadyExists(what + ": exists");
      return Status::FromErrno(errno, what);
    }
    return Status::OK();
  }

  Status Rename(const std::string& name, Dir& to_dir, const std::string& to_name,
                RenameMode mode) override {
    CAFS_ASSIGN_OR_RETURN(PosixDir * to, Same(to_dir));
    unsigned flags = 0;
    if (mode == RenameMode::kNoReplace) flags = RENAME_NOREPLACE;
    if (mode == RenameMode::kExchange) flags = RENAME_EXCHANGE;
    if (::renameat2(fd_, name.c_str(), to->fd_, to_name.c_str(), flags) != 0) {
      const std::string what = "rename " + Child(path_, name) + " -> " + Child(to->path_, to_name);
      if (errno == EEXIST) return Status::AlreadyExists(what + ": exists");
      return Status::FromErrno(errno, what);
    }
    return Status::OK();
  }

  Status Unlink(const std::string& name) override {
    if (::unlinkat(fd_, name.c_str(), 0) != 0) {
      return Status::FromErrno(errno, "unlink " + Child(path_, name));
    }
    return Status::OK();
  }

  Status RemoveDir(const std::string& name) override {
    if (::unlinkat(fd_, name.c_str(), AT_REMOVEDIR) != 0) {
      return Status::FromErrno(errno, "rmdir " + Child(path_, name));
    }
    return Status::OK();
  }

  Result<EntryStat> Stat(const std::string& name) override {
    struct stat st {};
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno(errno, "stat " + Child(path_, name));
    }
    return FromStat(st);
  }

  Status Chmod(const std::string& name, std::uint32_t mode) override {
    if (::fchmodat(fd_, name.c_str(), static_cast<mode_t>(mode & 07777), 0) != 0) {
      return Status::FromErrno(errno, "chmod " + Child(path_, name));
    }
    return Status::OK();
  }

  Status Chown(const std::string& name, std::uint32_t uid, std::uint32_t gid) override {
    if (::fchownat(fd_, name.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid),
                   AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno(errno, "chown " + Child(path_, name));
    }
    return Status::OK();
  }

  Status SetTimes(const std::string& name, const struct timespec times[2]) override {
    if (::utimensat(fd_, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno(errno, "utimens " + Child(path_, name));
    }
    return Status::OK();
  }

  Result<std::vector<std::string>> List() override {
    const int dup = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // own offset
    DIR* dir = dup < 0 ? nullptr : ::fdopendir(dup);                         // owns `dup`
    if (dir == nullptr) {
      Status s = Status::FromErrno(errno, "opendir " + path_);
      if (dup >= 0) ::close(dup);
      return s;
    }
    return ReadNames(dir, path_);
  }

  Status Sync() override {
    while (::fsync(fd_) != 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "fsync directory " + path_);
    }
    return Status::OK();
  }

  Result<SpaceInfo> Space() override {
    struct statvfs vfs {};
    if (::fstatvfs(fd_, &vfs) != 0) return Status::FromErrno(errno, "statvfs " + path_);
    SpaceInfo s;
    s.total_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    s.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    s.total_inodes = vfs.f_files;
    s.free_inodes = vfs.f_favail;
    errno = 0;
    const long link_max = ::fpathconf(fd_, _PC_LINK_MAX);  // -1 and errno 0: no limit
    if (link_max < 0 && errno != 0) return Status::FromErrno(errno, "pathconf " + path_);
    s.link_max = link_max < 0 ? UINT64_MAX : static_cast<std::uint64_t>(link_max);
    return s;
  }

 private:
  static Result<PosixDir*> Same(Dir& other) {
    auto* d = dynamic_cast<PosixDir*>(&other);
    if (d == nullptr) return Status::InvalidArgument("directory of another Env");
    return d;
  }

  const int fd_;
  const std::string path_;
};

}  // namespace

Result<std::unique_ptr<File>> PosixEnv::OpenFile(const std::string& path,
                                                 const OpenOptions& options) {
  if (options.read_only && options.truncate) {
    return Status::InvalidArgument("open " + path + ": truncate with read_only");
  }
  int flags = O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
  if (options.create) flags |= O_CREAT;
  if (options.create && options.exclusive) flags |= O_EXCL;
  if (options.truncate) flags |= O_TRUNC;
  if (options.no_atime) flags |= O_NOATIME;
  const int fd = OpenRetrying([&](int f) { return ::open(path.c_str(), f, kFileMode); }, flags);
  if (fd < 0) {
    if (errno == EEXIST) return Status::AlreadyExists("open " + path + ": file exists");
    return Status::FromErrno(errno, "open " + path);
  }
  return std::unique_ptr<File>(new PosixFile(fd, path));
}

Status PosixEnv::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::FromErrno(errno, "rename " + from + " -> " + to);
  }
  return Status::OK();
}

Status PosixEnv::RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "unlink " + path);
  return Status::OK();
}

Status PosixEnv::CreateDir(const std::string& path) {
  if (::mkdir(path.c_str(), kDirMode) != 0) {
    if (errno == EEXIST) return Status::AlreadyExists("mkdir " + path + ": exists");
    return Status::FromErrno(errno, "mkdir " + path);
  }
  return Status::OK();
}

Status PosixEnv::RemoveDir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return Status::FromErrno(errno, "rmdir " + path);
  return Status::OK();
}

Result<std::vector<std::string>> PosixEnv::ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Status::FromErrno(errno, "opendir " + path);
  return ReadNames(dir, path);
}

Result<FileInfo> PosixEnv::Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  FileInfo info;
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.allocated_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
  info.is_directory = S_ISDIR(st.st_mode);
  return info;
}

Status PosixEnv::SyncDir(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + path);
  Status s;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      s = Status::FromErrno(errno, "fsync directory " + path);
      break;
    }
  }
  ::close(fd);
  return s;
}

Result<std::unique_ptr<Dir>> PosixEnv::OpenDirectory(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + path);
  return std::unique_ptr<Dir>(new PosixDir(fd, path));
}

Result<std::uint64_t> PosixEnv::FreeSpace(const std::string& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) return Status::FromErrno(errno, "statvfs " + path);
  return static_cast<std::uint64_t>(vfs.f_bavail) * static_cast<std::uint64_t>(vfs.f_frsize);
}

}  // namespace cafs::env
