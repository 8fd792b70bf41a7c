#include "cafs/volume.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <set>
#include <sstream>

#include "cafs/redirector.h"
#include "format/header_codec.h"
#include "format/header_layout.h"
#include "util/logging.h"

namespace cafs::core {

namespace {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

Status Errno(std::string_view what, const std::string& rel) {
  return Status::FromErrno(errno, std::string(what) + " /" + rel);
}

Status PoolTrouble(std::string_view msg) { return Status::FromErrno(EIO, msg); }

std::string JoinRel(const std::vector<std::string>& comps, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += comps[i];
  }
  return out;
}

std::string ParentRel(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

FileType TypeOf(mode_t mode) {
  if (S_ISDIR(mode)) return FileType::kDirectory;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  return FileType::kRegular;
}

Attr AttrFromStat(const struct stat& st) {
  Attr a;
  a.type = TypeOf(st.st_mode);
  a.mode = static_cast<std::uint32_t>(st.st_mode & 07777);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.nlink = static_cast<std::uint32_t>(st.st_nlink);
  a.size = static_cast<std::uint64_t>(st.st_size);
  a.allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  a.backing_ino = st.st_ino;
  a.atime = st.st_atim;
  a.mtime = st.st_mtim;
  a.ctime = st.st_ctim;
  return a;
}

// Writes a redirector's content in one pwrite at offset 0 and syncs it, so that a crash
// (kill -9) leaves the old or the new content, never an empty or mixed file: a shorter new
// content is padded with '\n' to the old length (blank lines are ignored by the reader)
// and trimmed only after the sync.
Status WriteRedirector(int fd, std::string_view data, const std::string& rel) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("stat redirector", rel);
  std::string padded(data);
  if (static_cast<std::size_t>(st.st_size) > padded.size()) {
    padded.resize(static_cast<std::size_t>(st.st_size), '\n');
  }
  std::size_t done = 0;
  while (done < padded.size()) {
    ssize_t n = ::pwrite(fd, padded.data() + done, padded.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write redirector", rel);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd) != 0) return Errno("sync redirector", rel);
  if (padded.size() > data.size()) (void)::ftruncate(fd, static_cast<off_t>(data.size()));
  return Status::OK();
}

}  // namespace

// What a name in a backing-store directory is.
struct Volume::Impl {
  enum class Kind { kNone, kDirectory, kSymlink, kRedirector };
  struct Entry {
    Kind kind = Kind::kNone;
    std::string backing_name;  // "osdisk1.vmdk##mirrored_pool_A" or the plain name
    std::string pool;          // redirectors: the pool name
    struct stat st {};
  };

  // Opens the directory `comps[0..n)` below the root without following symlinks.
  static Result<Fd> OpenDir(const Volume& v, const std::vector<std::string>& comps, std::size_t n) {
    Fd fd(::fcntl(v.root_fd_, F_DUPFD_CLOEXEC, 0));
    if (fd.get() < 0) return Errno("dup", "");
    for (std::size_t i = 0; i < n; ++i) {
      int next =
          ::openat(fd.get(), comps[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) {
        if (errno == ELOOP) errno = ENOTDIR;  // a symlink where a directory is needed
        // A file where a directory is needed: its backing name is "name##pool".
        if (errno == ENOENT && IsRedirector(v, fd.get(), comps[i])) errno = ENOTDIR;
        return Errno("open directory", JoinRel(comps, i + 1));
      }
      fd = Fd(next);
    }
    return fd;
  }

  // Whether `name` in `dirfd` is a file (a redirector to a configured pool).
  static bool IsRedirector(const Volume& v, int dirfd, const std::string& name) {
    const int saved = errno;
    auto e = Find(v, dirfd, name, name);
    errno = saved;
    return e.ok() && e->kind == Kind::kRedirector;
  }

  static Result<Entry> Find(const Volume& v, int dirfd, const std::string& name,
                            const std::string& rel) {
    Entry e;
    if (::fstatat(dirfd, name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(e.st.st_mode)) e.kind = Kind::kDirectory;
      if (S_ISLNK(e.st.st_mode)) e.kind = Kind::kSymlink;
      if (e.kind != Kind::kNone) {
        e.backing_name = name;
        return e;
      }
    }
    // Redirectors to configured pools: one fstatat each.
    for (const auto& pool : v.pools_->names()) {
      std::string candidate = RedirectorBackingName(name, pool);
      if (::fstatat(dirfd, candidate.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISREG(e.st.st_mode)) {
        e.kind = Kind::kRedirector;
        e.backing_name = std::move(candidate);
        e.pool = pool;
        return e;
      }
    }
    // A redirector naming a pool that is not configured (clear error later, but visible).
    const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR* dir = dup < 0 ? nullptr : ::fdopendir(dup);  // owns `dup` from here
    if (dir == nullptr) {
      Status s = Errno("list", rel);
      if (dup >= 0) ::close(dup);
      return s;
    }
    while (struct dirent* d = ::readdir(dir)) {
      // "a###p" is "a#" in pool "p", never "a" (redirector.h: the last "##" splits).
      if (IsRedirectorOf(d->d_name, name) &&
          ::fstatat(dirfd, d->d_name, &e.st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(e.st.st_mode)) {
        e.kind = Kind::kRedirector;
        e.backing_name = d->d_name;
        e.pool = std::string(SplitRedirectorName(e.backing_name)->pool);
        break;
      }
    }
    ::closedir(dir);
    if (e.kind == Kind::kNone) return Status::NotFound("no such file /" + rel);
    return e;
  }

  static Result<Redirector> ReadRedirector(int dirfd, const Entry& e, const std::string& rel) {
    Fd fd(::openat(dirfd, e.backing_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return Errno("open redirector", rel);
    char buf[2 * PATH_MAX];
    ssize_t n = ::pread(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) return Errno("read redirector", rel);
    auto r = DecodeRedirector(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!r.ok()) return r.status().WithContext("/" + rel);
    return r;
  }

  static Result<pool::Pool*> PoolOf(const Volume& v, const Entry& e, const std::string& rel) {
    auto p = v.pools_->Find(e.pool);
    if (!p.ok()) {
      return PoolTrouble("/" + rel + ": redirector names pool '" + e.pool +
                         "' which is not configured");
    }
    Status avail = (*p)->CheckAvailable();
    if (!avail.ok()) {
      return PoolTrouble("/" + rel + ": pool '" + e.pool +
                         "' is not reachable: " + avail.message());
    }
    return *p;
  }

  // Opens the pool file of a redirector and checks that its header carries the redirector's
  // GUID. A stale recorded path (crash during rename, directory renamed) falls back to the
  // path derived from `rel` and repairs the redirector.
  static Result<std::unique_ptr<env::File>> OpenPoolFile(const Volume& v, int dirfd, const Entry& e,
                                                         const std::string& rel, bool read_only,
                                                         format::Header* hdr) {
    CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, PoolOf(v, e, rel));
    CAFS_ASSIGN_OR_RETURN(Redirector r, ReadRedirector(dirfd, e, rel));
    auto try_path = [&](const std::string& path) -> Result<std::unique_ptr<env::File>> {
      env::OpenOptions opts =
          read_only ? env::OpenOptions::ReadOnly() : env::OpenOptions::ReadWrite();
      CAFS_ASSIGN_OR_RETURN(auto file, pool->OpenFile(path, opts));
      CAFS_ASSIGN_OR_RETURN(*hdr, ReadHeader(*file));
      if (hdr->file_guid != r.guid) {
        return Status::Corruption("pool file " + path + " holds file " + hdr->file_guid.ToString() +
                                  ", not " + r.guid.ToString());
      }
      return file;
    };
    auto first = try_path(r.pool_path);
    if (first.ok() || (!first.status().IsNotFound() && !first.status().IsCorruption()) ||
        r.pool_path == rel) {
      if (!first.ok()) return first.status().WithContext("/" + rel + " (pool " + e.pool + ")");
      return first;
    }
    auto second = try_path(rel);
    if (!second.ok()) {
      return PoolTrouble("/" + rel + ": pool file missing in pool " + e.pool + " (" +
                         first.status().message() + ")");
    }
    // Repair the redirector to the path the data really has.
    Fd fd(::openat(dirfd, e.backing_name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() >= 0) {
      Status s = WriteRedirector(fd.get(), EncodeRedirector({r.guid, rel}), rel);
      if (!s.ok()) CAFS_LOG_WARN("repairing redirector /{}: {}", rel, s.ToString());
    }
    return second;
  }

  static Result<std::unique_ptr<format::EncryptedFile>> OpenEncrypted(const Volume& v, int dirfd,
                                                                      const Entry& e,
                                                                      const std::string& rel,
                                                                      bool read_only,
                                                                      const KeyLookup& keys) {
    format::Header hdr;
    CAFS_ASSIGN_OR_RETURN(auto file, OpenPoolFile(v, dirfd, e, rel, read_only, &hdr));
    auto dek = keys(hdr.key_guid, hdr.key_version);
    if (!dek.ok()) {
      return Status::AuthFailed("/" + rel + ": " + dek.status().message());
    }
    format::OpenParams params;
    params.expected_key_guid = hdr.key_guid;
    params.read_only = read_only;
    if (hdr.rekey.state == format::kRekeyInProgress) {  // a deep rekey to resume (rekeyer.h)
      auto target = keys(hdr.rekey.target_key_guid, hdr.rekey.target_key_version);
      if (!target.ok()) {
        return Status::AuthFailed("/" + rel + ": rekey target: " + target.status().message());
      }
      params.rekey_target_dek = *target;
    }
    auto ef = format::EncryptedFile::Open(std::move(file), **dek, params);
    if (!ef.ok()) return ef.status().WithContext("/" + rel);
    return ef;
  }

  // The file GUID in the header of a pool file; nil if unreadable.
  static Uuid PoolFileGuid(pool::Pool& pool, const std::string& path) {
    auto file = pool.OpenFile(path, env::OpenOptions::ReadOnly());
    if (!file.ok()) return Uuid();
    auto hdr = ReadHeader(**file);
    return hdr.ok() ? hdr->file_guid : Uuid();
  }

  // The header of a pool file, parsed without the key (GUIDs, key id, sizes).
  static Result<format::Header> ReadHeader(env::File& file) {
    std::vector<std::uint8_t> raw(format::kHeaderSize);
    CAFS_ASSIGN_OR_RETURN(std::size_t got, file.ReadAt(0, raw));
    raw.resize(got);
    return format::ParseHeaderUnverified(raw);
  }
};

Volume::Volume(std::string root, pool::PoolMapper* pools, int root_fd)
    : root_(std::move(root)), pools_(pools), root_fd_(root_fd) {
  for (const auto& name : pools_->names()) {
    longest_pool_name_ = std::max(longest_pool_name_, name.size());
  }
}

Volume::~Volume() { ::close(root_fd_); }

Result<std::unique_ptr<Volume>> Volume::Open(std::string backing_root, pool::PoolMapper* pools) {
  int fd = ::open(backing_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open backing store " + backing_root);
  return std::unique_ptr<Volume>(new Volume(std::move(backing_root), pools, fd));
}

Status Volume::CheckName(std::string_view name) const {
  if (name.empty() || name == "." || name == "..") {
    return Status::InvalidArgument("bad name '" + std::string(name) + "'");
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("name contains '/' or NUL");
  }
  // A newline would end the redirector's `path` line early and let a name smuggle in a line
  // of its own (another file's pool path, which unlink would then remove).
  if (name.find('\n') != std::string_view::npos) {
    return Status::InvalidArgument("name contains a newline");
  }
  if (name.find(kRedirectorSeparator) != std::string_view::npos) {
    return Status::InvalidArgument("name '" + std::string(name) +
                                   "' contains \"##\", reserved for redirector entries");
  }
  if (name.size() > max_name_length()) {
    return Status::FromErrno(ENAMETOOLONG, "name of " + std::to_string(name.size()) +
                                               " bytes is too long (at most " +
                                               std::to_string(max_name_length()) + ")");
  }
  return Status::OK();
}

Result<std::vector<std::string>> Volume::SplitPath(std::string_view rel) const {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= rel.size() && !rel.empty()) {
    std::size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string_view comp = rel.substr(pos, slash - pos);
    CAFS_RETURN_IF_ERROR(CheckName(comp));
    out.emplace_back(comp);
    pos = slash + 1;
  }
  return out;
}

Result<Attr> Volume::GetAttr(const std::string& rel, const KeyLookup& keys) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) {
    struct stat st {};
    if (::fstat(root_fd_, &st) != 0) return Errno("stat", rel);
    return AttrFromStat(st);
  }
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  Attr a = AttrFromStat(e.st);
  if (e.kind != Impl::Kind::kRedirector) return a;
  {
    std::lock_guard lock(open_mu_);
    auto it = open_files_.find(e.st.st_ino);
    if (it != open_files_.end()) {
      if (auto of = it->second.lock()) {
        a.size = of->file().Size();
        a.allocated = (a.size + 4095) / 4096 * 4096;
        return a;
      }
    }
  }
  CAFS_ASSIGN_OR_RETURN(auto ef, Impl::OpenEncrypted(*this, dir.get(), e, rel, true, keys));
  a.size = ef->Size();
  a.allocated = (a.size + 4095) / 4096 * 4096;
  if (auto pool = pools_->Find(e.pool); pool.ok()) {
    auto r = Impl::ReadRedirector(dir.get(), e, rel);
    if (r.ok()) {
      if (auto info = (*pool)->Stat(r->pool_path); info.ok()) a.allocated = info->allocated_bytes;
    }
  }
  return a;
}

Result<std::vector<DirEntry>> Volume::ReadDir(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  CAFS_ASSIGN_OR_RETURN(Fd dirfd, Impl::OpenDir(*this, comps, comps.size()));
  const int dup = ::fcntl(dirfd.get(), F_DUPFD_CLOEXEC, 0);
  DIR* dir = dup < 0 ? nullptr : ::fdopendir(dup);  // owns `dup` from here
  if (dir == nullptr) {
    Status s = Errno("list", rel);
    if (dup >= 0) ::close(dup);
    return s;
  }
  std::vector<DirEntry> out;
  std::set<std::string> seen;
  while (struct dirent* d = ::readdir(dir)) {
    std::string name(d->d_name);
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      const auto split = SplitRedirectorName(name);
      if (!split) continue;  // not ours: hidden
      name.resize(split->name.size());
    } else if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
      continue;
    }
    if (!seen.insert(name).second) continue;  // crash residue: show a name once
    out.push_back({std::move(name), TypeOf(st.st_mode)});
  }
  ::closedir(dir);
  return out;
}

Result<Attr> Volume::MakeDir(const std::string& rel, std::uint32_t mode, std::uint32_t uid,
                             std::uint32_t gid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, dir.get(), comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  if (::mkdirat(dir.get(), comps.back().c_str(), static_cast<mode_t>(mode & 07777)) != 0) {
    return Errno("mkdir", rel);
  }
  if (::fchownat(dir.get(), comps.back().c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
      geteuid() == 0) {
    return Errno("chown", rel);
  }
  struct stat st {};
  if (::fstatat(dir.get(), comps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("stat", rel);
  }
  // Exactly the caller's mode, as mkdir(2) gives it (permission and sticky bits, set-group-ID
  // inherited from the parent): cafsd's own umask must not take bits away.
  const mode_t want = static_cast<mode_t>(mode & 01777) | (st.st_mode & S_ISGID);
  if ((st.st_mode & 07777) != want) {
    if (::fchmodat(dir.get(), comps.back().c_str(), want, 0) != 0) return Errno("chmod", rel);
    st.st_mode = (st.st_mode & ~static_cast<mode_t>(07777)) | want;
  }
  return AttrFromStat(st);
}

Status Volume::RemoveDir(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EBUSY, "cannot remove /");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (::unlinkat(dir.get(), comps.back().c_str(), AT_REMOVEDIR) != 0) {
    if (errno == ENOENT && Impl::IsRedirector(*this, dir.get(), comps.back())) errno = ENOTDIR;
    return Errno("rmdir", rel);
  }
  // The mirrored pool directories go too when empty (best effort; they are created lazily).
  for (const auto& name : pools_->names()) {
    if (auto pool = pools_->Find(name); pool.ok()) (void)(*pool)->RemoveDir(rel);
  }
  return Status::OK();
}

Result<std::shared_ptr<OpenFile>> Volume::CreateFile(const std::string& rel, std::uint32_t mode,
                                                     std::uint32_t uid, std::uint32_t gid,
                                                     const Placement& placement) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, dir.get(), comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  auto pool_or = pools_->Find(placement.pool);
  if (!pool_or.ok()) {
    return PoolTrouble("/" + rel + ": policy names pool '" + placement.pool +
                       "' which is not configured on this gateway");
  }
  pool::Pool* pool = *pool_or;
  if (Status avail = pool->CheckAvailable(); !avail.ok()) {
    return PoolTrouble("/" + rel + ": pool '" + placement.pool +
                       "' is not reachable: " + avail.message());
  }
  // 1. The pool file (with its header), so a redirector never exists without data.
  const std::string parent = ParentRel(rel);
  if (!parent.empty()) CAFS_RETURN_IF_ERROR(pool->CreateDirs(parent));
  format::CreateParams params = placement.params;
  if (params.file_guid.IsNil()) params.file_guid = Uuid::Random();
  std::string pool_path = rel;
  auto file = pool->OpenFile(pool_path, env::OpenOptions::CreateNew());
  if (!file.ok() && file.status().code() == Status::Code::kAlreadyExists) {
    // An orphan of a crash (or data a stale redirector still names): keep it, use a new name.
    pool_path = rel + "#" + params.file_guid.ToString();
    file = pool->OpenFile(pool_path, env::OpenOptions::CreateNew());
  }
  if (!file.ok()) return file.status().WithContext("creating /" + rel + " in pool " + pool->name());
  static const SecureBuffer kNoKey;
  auto ef = format::EncryptedFile::Create(std::move(*file), params,
                                          placement.dek ? *placement.dek : kNoKey);
  if (!ef.ok()) {
    (void)pool->RemoveFile(pool_path);
    return ef.status().WithContext("/" + rel);
  }
  if (!parent.empty()) (void)pool->SyncDir(parent);
  CAFS_RETURN_IF_ERROR(CrashPoint("create:pool-file-created"));
  // 2. The redirector: written and synced under a hidden temporary name (a regular file
  // without "##"), then renamed into place, so a crash never leaves an empty redirector.
  const std::string backing_name = RedirectorBackingName(comps.back(), placement.pool);
  const std::string temp_name = std::string(kRedirectorTempPrefix) + params.file_guid.ToString();
  Fd rfd(::openat(dir.get(), temp_name.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  static_cast<mode_t>(mode & 07777)));
  if (rfd.get() < 0) {
    Status s = Errno("create redirector", rel);
    (void)pool->RemoveFile(pool_path);
    return s;
  }
  Status w = WriteRedirector(rfd.get(), EncodeRedirector({params.file_guid, pool_path}), rel);
  if (w.ok() && ::fchown(rfd.get(), uid, gid) != 0 && geteuid() == 0) w = Errno("chown", rel);
  if (w.ok() && ::fchmod(rfd.get(), static_cast<mode_t>(mode & 07777)) != 0) {
    w = Errno("chmod", rel);
  }
  CAFS_RETURN_IF_ERROR(w.ok() ? CrashPoint("create:redirector-written") : Status::OK());
  bool placed = false;
  if (w.ok()) {
    placed = ::renameat2(dir.get(), temp_name.c_str(), dir.get(), backing_name.c_str(),
                         RENAME_NOREPLACE) == 0;
    if (!placed) {
      w = errno == EEXIST ? Status::AlreadyExists("/" + rel + " exists")
                          : Errno("create redirector", rel);
    }
  }
  if (w.ok() && ::fsync(dir.get()) != 0) w = Errno("sync directory of", rel);
  if (!w.ok()) {
    (void)::unlinkat(dir.get(), placed ? backing_name.c_str() : temp_name.c_str(), 0);
    (void)pool->RemoveFile(pool_path);
    return w;
  }
  struct stat st {};
  if (::fstat(rfd.get(), &st) != 0) return Errno("stat", rel);
  auto of = std::make_shared<OpenFile>(std::move(*ef), placement.pool, st.st_ino, rfd.release());
  std::lock_guard lock(open_mu_);
  open_files_[st.st_ino] = of;
  return of;
}

Result<std::shared_ptr<OpenFile>> Volume::OpenExisting(const std::string& rel,
                                                       const KeyLookup& keys) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  if (e.kind == Impl::Kind::kDirectory) return Status::FromErrno(EISDIR, "/" + rel);
  if (e.kind == Impl::Kind::kSymlink) return Status::FromErrno(ELOOP, "/" + rel + " is a symlink");
  std::lock_guard lock(open_mu_);
  auto it = open_files_.find(e.st.st_ino);
  if (it != open_files_.end()) {
    if (auto of = it->second.lock()) return of;
  }
  CAFS_ASSIGN_OR_RETURN(auto ef, Impl::OpenEncrypted(*this, dir.get(), e, rel, false, keys));
  Fd attr_fd(::openat(dir.get(), e.backing_name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (attr_fd.get() >= 0 && (::fstat(attr_fd.get(), &st) != 0 || st.st_ino != e.st.st_ino)) {
    attr_fd = Fd();  // replaced since Find: attributes fall back to path lookups
  }
  auto of = std::make_shared<OpenFile>(std::move(ef), e.pool, e.st.st_ino, attr_fd.release());
  open_files_[e.st.st_ino] = of;
  // Forget dead entries now and then.
  for (auto i = open_files_.begin(); i != open_files_.end();) {
    i = i->second.expired() ? open_files_.erase(i) : std::next(i);
  }
  return of;
}

Status Volume::Unlink(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  if (e.kind == Impl::Kind::kDirectory) return Status::FromErrno(EISDIR, "/" + rel);
  if (e.kind == Impl::Kind::kSymlink) {
    if (::unlinkat(dir.get(), e.backing_name.c_str(), 0) != 0) return Errno("unlink", rel);
    return Status::OK();
  }
  auto redirector = Impl::ReadRedirector(dir.get(), e, rel);
  if (::unlinkat(dir.get(), e.backing_name.c_str(), 0) != 0) return Errno("unlink", rel);
  (void)::fsync(dir.get());
  CAFS_RETURN_IF_ERROR(CrashPoint("unlink:redirector-removed"));
  auto pool = pools_->Find(e.pool);
  if (!pool.ok() || !redirector.ok()) return Status::OK();  // the data is unreachable anyway
  // Only a pool file that holds this file's GUID is removed (never another file's data).
  Status s = Status::NotFound("no pool file");
  for (const std::string& path : {redirector->pool_path, rel}) {
    if (Impl::PoolFileGuid(**pool, path) == redirector->guid) {
      s = (*pool)->RemoveFile(path);
      break;
    }
  }
  if (!s.ok() && !s.IsNotFound()) {
    CAFS_LOG_WARN("unlink /{}: redirector removed, pool file left behind: {}", rel, s.ToString());
  }
  return Status::OK();
}

Result<FileLocation> Volume::Locate(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  if (e.kind == Impl::Kind::kDirectory) return Status::FromErrno(EISDIR, "/" + rel);
  if (e.kind == Impl::Kind::kSymlink) return Status::FromErrno(ELOOP, "/" + rel + " is a symlink");
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, Impl::PoolOf(*this, e, rel));
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(dir.get(), e, rel));
  FileLocation loc{e.pool, r.pool_path, r.guid, false};
  if (Impl::PoolFileGuid(*pool, r.pool_path) != r.guid &&
      Impl::PoolFileGuid(*pool, rel) == r.guid) {
    loc.pool_path = rel;  // a stale recorded path (OpenPoolFile's fallback)
  }
  std::lock_guard lock(open_mu_);
  auto it = open_files_.find(e.st.st_ino);
  loc.open = it != open_files_.end() && !it->second.expired();
  return loc;
}

Status Volume::DetachRedirector(const std::string& rel, const Uuid& guid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  if (e.kind != Impl::Kind::kRedirector) return Status::NotFound("/" + rel + " is not a file");
  auto r = Impl::ReadRedirector(dir.get(), e, rel);
  if (!r.ok() || r->guid != guid) {
    return Status::NotFound("/" + rel + " no longer names file " + guid.ToString());
  }
  if (::unlinkat(dir.get(), e.backing_name.c_str(), 0) != 0) return Errno("unlink", rel);
  if (::fsync(dir.get()) != 0) return Errno("sync directory of", rel);
  return Status::OK();
}

Status Volume::Rename(const std::string& from, const std::string& to, bool no_replace) {
  CAFS_ASSIGN_OR_RETURN(auto fc, SplitPath(from));
  CAFS_ASSIGN_OR_RETURN(auto tc, SplitPath(to));
  if (fc.empty() || tc.empty()) return Status::FromErrno(EBUSY, "cannot rename /");
  if (to.size() > from.size() && to.compare(0, from.size(), from) == 0 && to[from.size()] == '/') {
    return Status::InvalidArgument("cannot move /" + from + " into itself");
  }
  CAFS_ASSIGN_OR_RETURN(Fd fdir, Impl::OpenDir(*this, fc, fc.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Fd tdir, Impl::OpenDir(*this, tc, tc.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry src, Impl::Find(*this, fdir.get(), fc.back(), from));
  auto dst = Impl::Find(*this, tdir.get(), tc.back(), to);
  if (dst.ok()) {
    if (from == to) return Status::OK();
    if (no_replace) return Status::AlreadyExists("/" + to + " exists");
    const bool src_dir = src.kind == Impl::Kind::kDirectory;
    const bool dst_dir = dst->kind == Impl::Kind::kDirectory;
    if (dst_dir && !src_dir) return Status::FromErrno(EISDIR, "/" + to + " is a directory");
    if (!dst_dir && src_dir) return Status::FromErrno(ENOTDIR, "/" + to + " is not a directory");
  } else if (!dst.status().IsNotFound()) {
    return dst.status();
  }
  const unsigned flags = no_replace ? RENAME_NOREPLACE : 0;
  if (src.kind != Impl::Kind::kRedirector) {
    const std::string& new_name = tc.back();
    // A different-kind target (redirector) cannot be replaced by rename(2) of another name.
    if (dst.ok() && dst->backing_name != new_name) {
      CAFS_RETURN_IF_ERROR(Unlink(to));
    }
    if (::renameat2(fdir.get(), src.backing_name.c_str(), tdir.get(), new_name.c_str(), flags) !=
        0) {
      return Errno("rename", from);
    }
    (void)::fsync(tdir.get());
    if (src.kind == Impl::Kind::kDirectory) {
      // Mirror in the pools; redirectors below keep their old pool paths until they are
      // next opened (the GUID-checked fallback repairs them).
      for (const auto& name : pools_->names()) {
        auto pool = pools_->Find(name);
        if (!pool.ok() || !(*pool)->Stat(from).ok()) continue;
        const std::string parent = ParentRel(to);
        if (!parent.empty()) (void)(*pool)->CreateDirs(parent);
        Status s = (*pool)->Rename(from, to);
        if (!s.ok()) CAFS_LOG_WARN("rename /{} in pool {}: {}", from, name, s.ToString());
      }
    }
    return Status::OK();
  }
  // A file: 1. rename the redirector (atomic: the name switches, the data is still where the
  // redirector says); 2. move the pool file; 3. record the new pool path in the redirector;
  // 4. drop a replaced target that lived in another pool. docs/redirectors.md "Crashes".
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(fdir.get(), src, from));
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, Impl::PoolOf(*this, src, from));
  std::optional<Impl::Entry> replaced;
  std::optional<Redirector> replaced_r;
  const std::string new_name = RedirectorBackingName(tc.back(), src.pool);
  if (dst.ok()) {
    if (dst->kind == Impl::Kind::kRedirector && dst->backing_name != new_name) {
      replaced = *dst;
      auto rr = Impl::ReadRedirector(tdir.get(), *dst, to);
      if (rr.ok()) replaced_r = *rr;
    } else if (dst->kind == Impl::Kind::kSymlink) {
      if (::unlinkat(tdir.get(), dst->backing_name.c_str(), 0) != 0) return Errno("unlink", to);
    }
  }
  std::string old_dst_pool_path;
  if (dst.ok() && dst->kind == Impl::Kind::kRedirector && dst->backing_name == new_name) {
    auto rr = Impl::ReadRedirector(tdir.get(), *dst, to);
    if (rr.ok()) old_dst_pool_path = rr->pool_path;
  }
  if (::renameat2(fdir.get(), src.backing_name.c_str(), tdir.get(), new_name.c_str(), flags) != 0) {
    return Errno("rename", from);
  }
  (void)::fsync(tdir.get());
  if (fdir.get() != tdir.get()) (void)::fsync(fdir.get());
  CAFS_RETURN_IF_ERROR(CrashPoint("rename:redirector-moved"));
  std::string new_pool_path = to;
  if (!old_dst_pool_path.empty() && old_dst_pool_path != to) {
    (void)pool->RemoveFile(old_dst_pool_path);  // replaced file's data at another path
  }
  if (r.pool_path != to) {
    const std::string parent = ParentRel(to);
    if (!parent.empty()) CAFS_RETURN_IF_ERROR(pool->CreateDirs(parent));
    Status moved = pool->Rename(r.pool_path, to);
    if (!moved.ok()) {
      CAFS_LOG_WARN("rename /{}: pool file stays at {}: {}", to, r.pool_path, moved.ToString());
      new_pool_path = r.pool_path;
    } else {
      if (!parent.empty()) (void)pool->SyncDir(parent);
      CAFS_RETURN_IF_ERROR(CrashPoint("rename:pool-file-moved"));
    }
  }
  if (new_pool_path != r.pool_path) {
    Fd rfd(::openat(tdir.get(), new_name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (rfd.get() < 0) return Errno("open redirector", to);
    CAFS_RETURN_IF_ERROR(WriteRedirector(rfd.get(), EncodeRedirector({r.guid, new_pool_path}), to));
    CAFS_RETURN_IF_ERROR(CrashPoint("rename:redirector-updated"));
  }
  if (replaced) {
    if (::unlinkat(tdir.get(), replaced->backing_name.c_str(), 0) == 0) {
      if (auto other = pools_->Find(replaced->pool); other.ok() && replaced_r) {
        if (replaced_r->pool_path != to || replaced->pool != src.pool) {
          (void)(*other)->RemoveFile(replaced_r->pool_path);
        }
      }
    }
  }
  return Status::OK();
}

Result<Attr> Volume::SetAttr(const std::string& rel, const SetAttrRequest& req,
                             const KeyLookup& keys) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  Fd dir;
  std::string name = ".";
  if (!comps.empty()) {
    CAFS_ASSIGN_OR_RETURN(dir, Impl::OpenDir(*this, comps, comps.size() - 1));
    CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
    name = e.backing_name;
    if (req.size && e.kind != Impl::Kind::kRedirector) {
      return Status::FromErrno(e.kind == Impl::Kind::kDirectory ? EISDIR : EINVAL,
                               "truncate /" + rel);
    }
    if (req.mode && e.kind == Impl::Kind::kSymlink) {
      // Linux has no symlink modes: ignore, as chmod on a link's target is the kernel's job.
    } else if (req.mode && ::fchmodat(dir.get(), name.c_str(),
                                      static_cast<mode_t>(*req.mode & 07777), 0) != 0) {
      return Errno("chmod", rel);
    }
  } else {
    dir = Fd(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
    if (req.mode && ::fchmod(root_fd_, static_cast<mode_t>(*req.mode & 07777)) != 0) {
      return Errno("chmod", rel);
    }
  }
  if (req.uid || req.gid) {
    const uid_t uid = req.uid ? *req.uid : static_cast<uid_t>(-1);
    const gid_t gid = req.gid ? *req.gid : static_cast<gid_t>(-1);
    if (::fchownat(dir.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("chown", rel);
    }
  }
  if (req.size) {
    CAFS_ASSIGN_OR_RETURN(auto of, OpenExisting(rel, keys));
    CAFS_RETURN_IF_ERROR(of->file().Truncate(*req.size));
    CAFS_RETURN_IF_ERROR(of->file().Sync());
  }
  if (req.atime || req.mtime || req.size) {
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = 0;
    times[1].tv_nsec = req.size ? UTIME_NOW : UTIME_OMIT;
    if (req.atime) times[0] = *req.atime;
    if (req.mtime) times[1] = *req.mtime;
    if (::utimensat(dir.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("utimens", rel);
    }
  }
  return GetAttr(rel, keys);
}

OpenFile::~OpenFile() {
  if (redirector_fd_ >= 0) ::close(redirector_fd_);
}

Status Volume::TouchOpen(const OpenFile& file) {
  if (file.redirector_fd() < 0) return Status::NotSupported("no redirector descriptor");
  // An O_PATH descriptor: utimensat through its /proc magic link reaches the inode itself.
  const std::string link = "/proc/self/fd/" + std::to_string(file.redirector_fd());
  if (::utimensat(AT_FDCWD, link.c_str(), nullptr, 0) != 0) {
    return Status::FromErrno(errno, "utimens of an open file");
  }
  return Status::OK();
}

Result<Attr> Volume::AttrOf(OpenFile& file) {
  struct stat st {};
  if (file.redirector_fd() < 0) return Status::NotSupported("no redirector descriptor");
  if (::fstat(file.redirector_fd(), &st) != 0) {
    return Status::FromErrno(errno, "stat of an open file");
  }
  Attr a = AttrFromStat(st);
  a.size = file.file().Size();
  a.allocated = (a.size + 4095) / 4096 * 4096;
  return a;
}

Result<Attr> Volume::SetAttrOf(OpenFile& file, const SetAttrRequest& req) {
  const int fd = file.redirector_fd();
  if (fd < 0) return Status::NotSupported("no redirector descriptor");
  // O_PATH descriptors: chmod and utimensat through the /proc magic link, chown by AT_EMPTY_PATH.
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  if (req.mode && ::chmod(link.c_str(), static_cast<mode_t>(*req.mode & 07777)) != 0) {
    return Status::FromErrno(errno, "chmod of an open file");
  }
  if (req.uid || req.gid) {
    const uid_t uid = req.uid ? *req.uid : static_cast<uid_t>(-1);
    const gid_t gid = req.gid ? *req.gid : static_cast<gid_t>(-1);
    if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0) {
      return Status::FromErrno(errno, "chown of an open file");
    }
  }
  if (req.atime || req.mtime) {
    struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (req.atime) times[0] = *req.atime;
    if (req.mtime) times[1] = *req.mtime;
    if (::utimensat(AT_FDCWD, link.c_str(), times, 0) != 0) {
      return Status::FromErrno(errno, "utimens of an open file");
    }
  }
  return AttrOf(file);
}

Status Volume::Touch(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::OK();
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  if (::utimensat(dir.get(), e.backing_name.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("utimens", rel);
  }
  return Status::OK();
}

Result<Attr> Volume::Symlink(const std::string& target, const std::string& rel, std::uint32_t uid,
                             std::uint32_t gid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  if (target.empty() || target.size() >= PATH_MAX) {
    return Status::FromErrno(target.empty() ? ENOENT : ENAMETOOLONG, "symlink target");
  }
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, dir.get(), comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  if (::symlinkat(target.c_str(), dir.get(), comps.back().c_str()) != 0) {
    return Errno("symlink", rel);
  }
  if (::fchownat(dir.get(), comps.back().c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
      geteuid() == 0) {
    return Errno("chown", rel);
  }
  struct stat st {};
  if (::fstatat(dir.get(), comps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("stat", rel);
  }
  return AttrFromStat(st);
}

Result<std::string> Volume::ReadLink(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::InvalidArgument("/ is not a symlink");
  CAFS_ASSIGN_OR_RETURN(Fd dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, dir.get(), comps.back(), rel));
  if (e.kind != Impl::Kind::kSymlink)
    return Status::InvalidArgument("/" + rel + " is not a symlink");
  std::string buf(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(dir.get(), e.backing_name.c_str(), buf.data(), buf.size());
  if (n < 0) return Errno("readlink", rel);
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

Result<FsStats> Volume::StatFs() {
  FsStats out;
  struct statvfs sv {};
  if (::fstatvfs(root_fd_, &sv) != 0) return Errno("statfs", "");
  out.total_inodes = sv.f_files;
  out.free_inodes = sv.f_favail;
  out.name_max = static_cast<std::uint32_t>(max_name_length());
  for (const auto& name : pools_->names()) {
    auto pool = pools_->Find(name);
    if (!pool.ok()) continue;
    auto space = (*pool)->Space();
    if (!space.ok()) continue;  // an unreachable pool contributes nothing
    out.total_bytes += space->total_bytes;
    out.free_bytes += space->free_bytes;
  }
  if (out.total_bytes == 0) {  // no reachable pool: report the backing store
    out.total_bytes = static_cast<std::uint64_t>(sv.f_blocks) * sv.f_frsize;
    out.free_bytes = static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
  }
  return out;
}

Result<std::map<std::string, std::uint64_t>> Volume::PoolBytes(const std::string& vmset) {
  CAFS_RETURN_IF_ERROR(CheckName(vmset));
  std::map<std::string, std::uint64_t> out;
  for (const auto& name : pools_->names()) {
    auto pool = pools_->Find(name);
    if (!pool.ok()) continue;
    std::uint64_t total = 0;
    std::vector<std::string> todo{vmset};
    while (!todo.empty()) {
      std::string dir = std::move(todo.back());
      todo.pop_back();
      auto names = (*pool)->ListDir(dir);
      if (!names.ok()) continue;
      for (const auto& n : *names) {
        std::string child = dir + "/" + n;
        auto info = (*pool)->Stat(child);
        if (!info.ok()) continue;
        if (info->is_directory) {
          todo.push_back(std::move(child));
        } else {
          total += info->allocated_bytes;
        }
      }
    }
    out[name] = total;
  }
  return out;
}

}  // namespace cafs::core
