#include "cafs/file_handles.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

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

// Directories walked up from an entry at most (a path longer than PATH_MAX: BackingComponents).
constexpr std::size_t kMaxWalkDepth = 65536;

Result<std::string> NameIn(int dirfd, const struct stat& st) {
  const int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    return Status::FromErrno(errno, "list a directory above a file handle's entry");
  }
  std::string found;
  while (struct dirent* e = ::readdir(d)) {
    struct stat est {};
    if (e->d_ino == st.st_ino && std::strcmp(e->d_name, "..") != 0 &&
        std::strcmp(e->d_name, ".") != 0 &&
        ::fstatat(dirfd, e->d_name, &est, AT_SYMLINK_NOFOLLOW) == 0 && est.st_ino == st.st_ino &&
        est.st_dev == st.st_dev) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  if (found.empty()) return Stale("the file handle's entry moved out of its directory");
  return found;
}

Result<std::vector<std::string>> WalkUp(int root_fd, int dirfd) {
  struct stat root {};
  if (::fstat(root_fd, &root) != 0) return Status::FromErrno(errno, "fstat backing root");
  std::vector<std::string> up;  // leaf first
  ScopedFd cur(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (std::size_t depth = 0;; ++depth) {
    struct stat st {};
    if (cur.fd < 0 || ::fstat(cur.fd, &st) != 0) {
      return Status::FromErrno(errno, "walk up from a file handle's entry");
    }
    if (st.st_ino == root.st_ino && st.st_dev == root.st_dev) break;
    if (depth >= kMaxWalkDepth) return Stale("the file handle's entry is too deep");
    ScopedFd parent(::openat(cur.fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat pst {};
    if (parent.fd < 0 || ::fstat(parent.fd, &pst) != 0) {
      return Status::FromErrno(errno, "walk up from a file handle's entry");
    }
    if (pst.st_ino == st.st_ino && pst.st_dev == st.st_dev) {
      return Stale("the file handle names an entry outside the backing store");
    }
    CAFS_ASSIGN_OR_RETURN(std::string name, NameIn(parent.fd, st));
    up.push_back(std::move(name));
    std::swap(cur.fd, parent.fd);
  }
  return std::vector<std::string>(up.rbegin(), up.rend());
}

Result<std::unique_ptr<ScopedFd>> OpenParentOf(int root_fd, const KernelHandle& kh) {
  // The generic layout of a connectable handle (FILEID_INO32_GEN_PARENT, ext4, xfs):
  // inode, generation, parent inode, parent generation (32 bits each); the parent's own
  // handle is FILEID_INO32_GEN with the last two.
  constexpr int kInoGen = 1, kInoGenParent = 2;
  if ((kh.fh->handle_type & 0xffff) != kInoGenParent || kh.fh->handle_bytes != 16) {
    return Stale("a path longer than PATH_MAX, and the file handle carries no parent");
  }
  KernelHandle parent;
  parent.fh->handle_type = kInoGen;
  parent.fh->handle_bytes = 8;
  std::memcpy(parent.fh->f_handle, kh.fh->f_handle + 8, 8);
  auto fd = std::make_unique<ScopedFd>(
      ::open_by_handle_at(root_fd, parent.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd->fd < 0) return Stale("the directory the file handle was made in is gone");
  return fd;
}

Result<std::vector<std::string>> BackingComponents(int root_fd, const std::string& root_path,
                                                   int fd, const struct stat& st,
                                                   const KernelHandle& kh) {
  // The kernel's path of the entry, when it fits /proc's readlink (PATH_MAX).
  std::string target(PATH_MAX + 1, '\0');
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t len = ::readlink(proc.c_str(), target.data(), target.size());
  if (len >= 0 && static_cast<std::size_t>(len) < target.size()) {
    target.resize(static_cast<std::size_t>(len));
    if (target == root_path) return std::vector<std::string>{};
    if (target.size() <= root_path.size() + 1 ||
        target.compare(0, root_path.size(), root_path) != 0 || target[root_path.size()] != '/') {
      return Stale("the file handle names an entry outside the backing store");
    }
    std::vector<std::string> out;
    for (std::size_t pos = root_path.size() + 1; pos <= target.size();) {
      std::size_t slash = target.find('/', pos);
      if (slash == std::string::npos) slash = target.size();
      out.push_back(target.substr(pos, slash - pos));
      pos = slash + 1;
    }
    return out;
  }
  if (len >= 0 || errno != ENAMETOOLONG) return Status::FromErrno(len >= 0 ? EIO : errno, proc);
  // Longer than PATH_MAX: walked up through ".." from the entry's directory (a directory is
  // its own start; a file's is the parent its connectable kernel handle carries).
  if (S_ISDIR(st.st_mode)) return WalkUp(root_fd, fd);
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<ScopedFd> parent, OpenParentOf(root_fd, kh));
  CAFS_ASSIGN_OR_RETURN(std::string name, NameIn(parent->fd, st));
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> out, WalkUp(root_fd, parent->fd));
  out.push_back(std::move(name));
  return out;
}

Result<std::string> CallerPathOf(int root_fd, const std::vector<std::string>& backing,
                                 bool regular) {
  // Walked down from the root with directory descriptors (no path length limit): each
  // component's caller name (CallerNameOfEntry: a stem's side entry is beside it).
  ScopedFd dir(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  std::string out;
  for (std::size_t i = 0; i < backing.size(); ++i) {
    const bool last = i + 1 == backing.size();
    auto name = CallerNameOfEntry(
        backing[i], last && regular, [&](const std::string& entry) -> Result<std::string> {
          ScopedFd f(::openat(dir.fd, entry.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
          if (f.fd < 0) return Status::FromErrno(errno, "open " + entry);
          std::string text(512, '\0');
          const ssize_t got = ::pread(f.fd, text.data(), text.size(), 0);
          if (got < 0) return Status::FromErrno(errno, "read " + entry);
          text.resize(static_cast<std::size_t>(got));
          return text;
        });
    if (!name.ok()) {
      if (name.status().IsNotFound() && last && regular && !SplitRedirectorName(backing[i])) {
        return Stale("the file handle names a regular file that is not a redirector");
      }
      return Stale("the file handle names a hashed name without its name entry");
    }
    out += "/" + *name;
    if (last) break;
    const int next =
        ::openat(dir.fd, backing[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return Stale("the file handle's directory moved while it was resolved");
    ::close(dir.fd);
    dir.fd = next;
  }
  return out;
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
  CAFS_ASSIGN_OR_RETURN(const int fd, OpenDirFd(components, components.size() - 1));
  ScopedFd dir(fd);
  return HandleIn(dir.fd, components.back(), pools);
}

std::vector<Result<Bytes>> FileHandles::HandlesIn(const std::vector<std::string>& dir_components,
                                                  const std::vector<std::string>& names,
                                                  const std::vector<std::string>& pools) const {
  auto fd = OpenDirFd(dir_components, dir_components.size());
  ScopedFd dir(fd.ok() ? *fd : -1);
  std::vector<Result<Bytes>> out;
  out.reserve(names.size());
  for (const std::string& name : names) {
    out.push_back(fd.ok() ? HandleIn(dir.fd, name, pools) : Result<Bytes>(fd.status()));
  }
  return out;
}

Result<int> FileHandles::OpenDirFd(const std::vector<std::string>& components,
                                   std::size_t n) const {
  ScopedFd dir(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
  for (std::size_t i = 0; i < n; ++i) {
    const std::string backing = PlainBackingName(components[i]);
    const int next =
        ::openat(dir.fd, backing.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return Status::FromErrno(errno == ELOOP ? ENOTDIR : errno, components[i]);
    ::close(dir.fd);
    dir.fd = next;
  }
  const int fd = dir.fd;
  dir.fd = -1;
  return fd;
}

Result<Bytes> FileHandles::HandleIn(int dir_fd, const std::string& name,
                                    const std::vector<std::string>& pools) const {
  struct stat st {};
  // A directory, symlink or special file is itself or its stem (PlainBackingName; a regular
  // file without "##" is not ours).
  if (const std::string plain = PlainBackingName(name);
      ::fstatat(dir_fd, plain.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
    return Encode(dir_fd, plain.c_str());
  }
  // A redirector `name##<pool>` (redirector.h, the one codec): the configured pools first
  // (one fstatat each), then a scan (a redirector naming a pool that is not configured is
  // still an entry).
  for (const std::string& pool : pools) {
    const std::string candidate = RedirectorBackingName(name, pool);
    if (::fstatat(dir_fd, candidate.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode)) {
      return Encode(dir_fd, candidate.c_str());
    }
  }
  const int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    return Status::FromErrno(errno, "list directory of " + name);
  }
  std::string found;
  while (struct dirent* e = ::readdir(d)) {
    if (IsRedirectorOf(e->d_name, name) &&
        ::fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  if (found.empty()) return Status::NotFound(name + " not found");
  return Encode(dir_fd, found.c_str());
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
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode) &&
      !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode) &&
      !S_ISBLK(st.st_mode)) {
    return Stale("the file handle names an entry of unknown type");
  }
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> backing,
                        BackingComponents(root_fd_, root_path_, fd.fd, st, buf));
  if (backing.empty()) return std::string("/");
  return CallerPathOf(root_fd_, backing, S_ISREG(st.st_mode));
}

}  // namespace cafs::core
