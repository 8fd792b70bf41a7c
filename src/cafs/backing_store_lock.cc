#include "cafs/backing_store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace cafs::core {

Result<std::unique_ptr<BackingStoreLock>> BackingStoreLock::Acquire(
    const std::string& backing_root) {
  const std::string path = backing_root + "/" + kFileName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder(32, '\0');
    const ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::FailedPrecondition("backing store " + backing_root + " is in use by pid " +
                                        (holder.empty() ? std::string("?") : holder) +
                                        " (another cafsd or cafsd fsck)");
    }
    return Status::FromErrno(err, "lock " + path);
  }
  // The pid is only for messages: the lock is held whether or not writing it works.
  const std::string pid = std::to_string(::getpid()) + "\n";
  const bool pid_written = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) ==
                                                          static_cast<ssize_t>(pid.size());
  (void)pid_written;
  return std::unique_ptr<BackingStoreLock>(new BackingStoreLock(fd));
}

BackingStoreLock::~BackingStoreLock() { ::close(fd_); }

}  // namespace cafs::core
