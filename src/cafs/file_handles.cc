#include "cafs/file_handles.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "cafs/redirector.h"
#include "crypto/mac.h"
#include "crypto/rng.h"

#ifndef AT_HANDLE_CONNECTABLE
#define AT_HANDLE_CONNECTABLE 0x002  // Linux 6.13: a handle that reconnects a file's path
#endif

namespace cafs::core {
namespace {

constexpr std::size_t kSecretSize = 32;
constexpr std::size_t kHeaderSize = 7;  // version, flags, handle_type (4), length
constexpr std::uint8_t kFlagConnectable = 0x01;

// An owned file descriptor closed on scope exit.
struct ScopedFd {
  explicit ScopedFd(int f) : fd(f) {}
  ~ScopedFd() {
    if (fd >= 0) ::close(fd);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int fd;
};

// A `struct file_handle` with room for the largest kernel handle.
struct KernelHandle {
  alignas(struct file_handle)
      std::array<std::uint8_t, sizeof(struct file_handle) + MAX_HANDLE_SZ> storage{};
  struct file_handle* fh = reinterpret_cast<struct file_handle*>(storage.data());
};

Status Stale(std::string_view why) { return Status::FromErrno(ESTALE, why); }

// Reads the secret, creating it once (a temp file linked into place, so a crash or a
// concurrent start never leaves a partial secret under the final name).
Result<SecureBuffer> LoadSecret(int root_fd, const std::string& root) {
  const std::string name(FileHandles::kSecretName);
  for (int attempt = 0; attempt < 2; ++attempt) {
    ScopedFd fd(::openat(root_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.fd >= 0) {
      SecureBuffer secret(kSecretSize);
      const ssize_t n = ::pread(fd.fd, secret.data(), kSecretSize, 0);
      if (n != static_cast<ssize_t>(kSecretSize)) {
        return Status::Corruption("file handle secret " + root + "/" + name + " is not " +
                                  std::to_string(kSecretSize) + " bytes");
      }
      return secret;
    }
    if (errno != ENOENT) return Status::FromErrno(errno, "open " + root + "/" + name);
    CAFS_ASSIGN_OR_RETURN(SecureBuffer fresh, crypto::RandomKey(kSecretSize));
    ScopedFd tmp(::openat(root_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    if (tmp.fd < 0) return Status::FromErrno(errno, "create file handle secret in " + root);
    if (::write(tmp.fd, fresh.data(), kSecretSize) != static_cast<ssize_t>(kSecretSize) ||
        ::fsync(tmp.fd) != 0) {
      return Status::FromErrno(errno, "write file handle secret in " + root);
    }
    const std::string proc = "/proc/self/fd/" + std::to_string(tmp.fd);
    if (::linkat(AT_FDCWD, proc.c_str(), root_fd, name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      if (errno == EEXIST) continue;  // another process won: read its secret
      return Status::FromErrno(errno, "link file handle secret " + root + "/" + name);
    }
    ::fsync(root_fd);
    return fresh;
  }
  return Status::Internal("file handle secret " + root + "/" + name + " keeps disappearing");
}

Result<crypto::Sha256Mac> MacOf(const SecureBuffer& secret, ByteView body) {
  return crypto::HmacSha256(secret.view(), body);
}

}  // namespace

Result<std::unique_ptr<FileHandles>> FileHandles::Open(const std::string& backing_root) {
  char real[PATH_MAX];
  if (::realpath(backing_root.c_str(), real) == nullptr) {
    return Status::FromErrno(errno, "backing store " + backing_root);
  }
  int root_fd = ::open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return Status::FromErrno(errno, "open backing store " + backing_root);
  auto secret = LoadSecret(root_fd, real);
  if (!secret.ok()) {
    ::close(root_fd);
    return secret.status();
  }
  std::unique_ptr<FileHandles> fh(new FileHandles(root_fd, real, std::move(*secret)));
  // Probe: the filesystem must export handles and we must be allowed to open them.
  auto root_handle = fh->HandleOf({});
  if (!root_handle.ok()) {
    if (root_handle.status().errno_value() == EOPNOTSUPP) {
      return Status::NotSupported("the backing store " + backing_root +
                                  " is on a filesystem without file handle support "
                                  "(name_to_handle_at); NFS needs ext4, xfs, btrfs or tmpfs");
    }
    return root_handle.status();
  }
  auto resolved = fh->Resolve(*root_handle);
  if (!resolved.ok()) {
    if (resolved.status().errno_value() == EPERM) {
      return Status::FromErrno(EPERM,
                               "open_by_handle_at needs CAP_DAC_READ_SEARCH: run the NFS "
                               "front-end as root");
    }
    return resolved.status();
  }
  return fh;
}

FileHandles::~FileHandles() { ::close(root_fd_); }

Result<Bytes> FileHandles::Encode(int dirfd, const char* name) const {
  KernelHandle buf;
  int mount_id = 0;
  const int at_flags = name[0] == '\0' ? AT_EMPTY_PATH : 0;
  std::uint8_t flags = kFlagConnectable;
  buf.fh->handle_bytes = kMaxKernelHandle;
  int rc = ::name_to_handle_at(dirfd, name, buf.fh, &mount_id, at_flags | AT_HANDLE_CONNECTABLE);
  if (rc != 0 && errno == EINVAL) {  // kernel before 6.13, or a directory: plain handle
    flags = 0;
    buf.fh->handle_bytes = kMaxKernelHandle;
    rc = ::name_to_handle_at(dirfd, name, buf.fh, &mount_id, at_flags);
  }
  if (rc != 0) {
    if (errno == EOVERFLOW) {
      return Status::NotSupported("the backing store's file handles are longer than " +
                                  std::to_string(kMaxKernelHandle) + " bytes");
    }
    return Status::FromErrno(errno, std::string("name_to_handle_at ") + name);
  }
  Bytes out(kHeaderSize);
  out[0] = kVersion;
  out[1] = flags;
  StoreLe32(&out[2], static_cast<std::uint32_t>(buf.fh->handle_type));
  out[6] = static_cast<std::uint8_t>(buf.fh->handle_bytes);
  out.insert(out.end(), buf.fh->f_handle, buf.fh->f_handle + buf.fh->handle_bytes);
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac, MacOf(secret_, out));
  out.insert(out.end(), mac.begin(), mac.begin() + kMacSize);
  return out;
}

Result<Bytes> FileHandles::HandleOf(const std::vector<std::string>& components,
                                    const std::vector<std::string>& pools) const {
  if (components.empty()) return Encode(root_fd_, "");
  ScopedFd dir(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
  for (std::size_t i = 0; i + 1 < components.size(); ++i) {
    const int next =
        ::openat(dir.fd, components[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return Status::FromErrno(errno == ELOOP ? ENOTDIR : errno, components[i]);
    ::close(dir.fd);
    dir.fd = next;
  }
  const std::string& name = components.back();
  struct stat st {};
  // A directory, symlink or special file is itself (a regular file without "##" is not ours).
  if (::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
    return Encode(dir.fd, name.c_str());
  }
  // A redirector `name##<pool>` (redirector.h, the one codec): the configured pools first
  // (one fstatat each), then a scan (a redirector naming a pool that is not configured is
  // still an entry).
  for (const std::string& pool : pools) {
    const std::string candidate = RedirectorBackingName(name, pool);
    if (::fstatat(dir.fd, candidate.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode)) {
      return Encode(dir.fd, candidate.c_str());
    }
  }
  const int dup = ::fcntl(dir.fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    return Status::FromErrno(errno, "list directory of " + name);
  }
  std::string found;
  while (struct dirent* e = ::readdir(d)) {
    if (IsRedirectorOf(e->d_name, name) &&
        ::fstatat(dir.fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  if (found.empty()) return Status::NotFound(name + " not found");
  return Encode(dir.fd, found.c_str());
}

Result<std::string> FileHandles::Resolve(ByteView handle) const {
  if (handle.size() < kHeaderSize + kMacSize || handle.size() > kMaxSize) {
    return Stale("file handle of " + std::to_string(handle.size()) + " bytes");
  }
  const std::size_t n = handle[6];
  if (handle[0] != kVersion || n > kMaxKernelHandle ||
      handle.size() != kHeaderSize + n + kMacSize) {
    return Stale("malformed file handle");
  }
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac, MacOf(secret_, handle.first(kHeaderSize + n)));
  if (!crypto::ConstantTimeEquals(ByteView(mac.data(), kMacSize), handle.last(kMacSize))) {
    return Stale("file handle MAC does not match (altered, forged or from another store)");
  }
  KernelHandle buf;
  buf.fh->handle_bytes = static_cast<unsigned>(n);
  buf.fh->handle_type = static_cast<int>(LoadLe32(&handle[2]));
  std::memcpy(buf.fh->f_handle, &handle[kHeaderSize], n);
  ScopedFd fd(::open_by_handle_at(root_fd_, buf.fh, O_PATH | O_CLOEXEC | O_NOFOLLOW));
  if (fd.fd < 0) {
    const int err = errno;
    if (err == ESTALE || err == ENOENT) return Stale("the file handle's entry was removed");
    return Status::FromErrno(err, "open_by_handle_at");
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return Status::FromErrno(errno, "fstat by handle");
  if (st.st_nlink == 0) return Stale("the file handle's entry was removed");
  char target[PATH_MAX + 1];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd.fd);
  const ssize_t len = ::readlink(proc.c_str(), target, PATH_MAX);
  if (len < 0) return Status::FromErrno(errno, "readlink " + proc);
  std::string path(target, static_cast<std::size_t>(len));
  if (path == root_path_) return std::string("/");
  if (path.size() <= root_path_.size() + 1 || path.compare(0, root_path_.size(), root_path_) != 0 ||
      path[root_path_.size()] != '/') {
    return Stale("the file handle names an entry outside the backing store");
  }
  std::string rel = path.substr(root_path_.size());  // "/a/b/name##pool"
  if (S_ISREG(st.st_mode)) {
    const std::size_t slash = rel.rfind('/');
    const std::string backing_name = rel.substr(slash + 1);
    const auto split = SplitRedirectorName(backing_name);
    if (!split) return Stale("the file handle names a regular file that is not a redirector");
    // A long name: the side entry beside it has the name (read relative to the root).
    auto name = CallerNameOf(*split, [&](const std::string& entry) -> Result<std::string> {
      const std::string at = rel.substr(1, slash) + entry;
      ScopedFd f(::openat(root_fd_, at.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (f.fd < 0) return Status::FromErrno(errno, "open " + at);
      std::string text(512, '\0');
      const ssize_t got = ::pread(f.fd, text.data(), text.size(), 0);
      if (got < 0) return Status::FromErrno(errno, "read " + at);
      text.resize(static_cast<std::size_t>(got));
      return text;
    });
    if (!name.ok()) return Stale("the file handle names a long name without its name entry");
    rel.resize(slash + 1);
    rel += *name;
  } else if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode) && !S_ISFIFO(st.st_mode) &&
             !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Stale("the file handle names an entry of unknown type");
  }  // a directory, symlink or special file is kept under its own name
  return rel;
}

}  // namespace cafs::core
