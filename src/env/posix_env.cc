#include "env/posix_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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
  int fd;
  do {
    fd = ::open(path.c_str(), flags, kFileMode);
  } while (fd < 0 && errno == EINTR);
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

Result<std::uint64_t> PosixEnv::FreeSpace(const std::string& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) return Status::FromErrno(errno, "statvfs " + path);
  return static_cast<std::uint64_t>(vfs.f_bavail) * static_cast<std::uint64_t>(vfs.f_frsize);
}

}  // namespace cafs::env
