#include "env/mem_env.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <shared_mutex>
#include <string>
#include <vector>

namespace cafs::env {

namespace {

// Largest file MemEnv accepts (memory is real); larger offsets fail with NoSpace.
constexpr std::uint64_t kMaxMemFileSize = std::uint64_t{1} << 34;
constexpr std::uint64_t kMemDev = 0x6d656d;  // "mem": the one device of every MemEnv

std::string Normalize(const std::string& path) {
  if (path.size() > 1 && path.back() == '/') return path.substr(0, path.size() - 1);
  return path;
}

std::string Parent(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Child(const std::string& dir, const std::string& name) {
  if (name == "." || name.empty()) return dir;
  return dir == "/" ? "/" + name : dir + "/" + name;
}

bool Under(const std::string& path, const std::string& dir) {
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0;
}

std::uint64_t NextIno() {
  static std::atomic<std::uint64_t> next{2};
  return next.fetch_add(1);
}

struct timespec Now() {
  struct timespec t {};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

}  // namespace

// One inode: a regular file's bytes, or a symlink's target, or a special file; and the
// attributes. Shared by every name (hard link) and every open handle.
struct MemEnv::FileData {
  FileData(std::uint32_t m) : mode(m), ino(NextIno()) { atime = mtime = ctime = Now(); }
  std::shared_mutex mu;
  std::vector<std::uint8_t> bytes;  // guarded by mu (regular files; a symlink's target)
  std::uint32_t mode;               // the rest guarded by MemEnv::mu_
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t nlink = 0;
  std::uint64_t rdev = 0;
  const std::uint64_t ino;
  struct timespec atime {
  }, mtime{}, ctime{};
};

struct MemEnv::DirData {
  explicit DirData(std::uint32_t m) : mode(m), ino(NextIno()) { mtime = ctime = atime = Now(); }
  std::uint32_t mode;
  std::uint32_t uid = 0, gid = 0;
  const std::uint64_t ino;
  struct timespec atime {
  }, mtime{}, ctime{};
};

namespace {

class MemFile final : public File {
 public:
  MemFile(MemEnv* env, std::shared_ptr<MemEnv::FileData> data, std::string path, bool read_only,
          bool attributes_only)
      : env_(env),
        data_(std::move(data)),
        path_(std::move(path)),
        read_only_(read_only || attributes_only),
        attributes_only_(attributes_only) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    if (attributes_only_) return Status::FromErrno(EBADF, "read from attributes-only " + path_);
    std::shared_lock lock(data_->mu);
    const auto& b = data_->bytes;
    if (offset >= b.size()) return std::size_t{0};
    const std::size_t n = std::min<std::size_t>(out.size(), b.size() - offset);
    std::memcpy(out.data(), b.data() + offset, n);
    return n;
  }

  Status WriteAt(std::uint64_t offset, ByteView data) override {
    CAFS_RETURN_IF_ERROR(CheckWritable());
    if (offset > kMaxMemFileSize || data.size() > kMaxMemFileSize - offset) {
      return Status::NoSpace("MemEnv file too large: " + path_);
    }
    std::unique_lock lock(data_->mu);
    auto& b = data_->bytes;
    const std::size_t end = static_cast<std::size_t>(offset) + data.size();
    if (b.size() < end) b.resize(end, 0);
    if (!data.empty()) std::memcpy(b.data() + offset, data.data(), data.size());
    return Status::OK();
  }

  Status Truncate(std::uint64_t size) override {
    CAFS_RETURN_IF_ERROR(CheckWritable());
    if (size > kMaxMemFileSize) return Status::NoSpace("MemEnv file too large: " + path_);
    std::unique_lock lock(data_->mu);
    data_->bytes.resize(static_cast<std::size_t>(size), 0);
    return Status::OK();
  }

  Status Sync() override {
    if (attributes_only_) return Status::FromErrno(EBADF, "sync of attributes-only " + path_);
    return Status::OK();
  }

  Result<std::uint64_t> Size() override {
    std::shared_lock lock(data_->mu);
    return static_cast<std::uint64_t>(data_->bytes.size());
  }

  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(CheckWritable());
    std::unique_lock lock(data_->mu);
    auto& b = data_->bytes;
    if (offset >= b.size()) return Status::OK();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(length, b.size() - offset));
    std::memset(b.data() + offset, 0, n);
    return Status::OK();
  }

  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(CheckWritable());
    if (offset > kMaxMemFileSize || length > kMaxMemFileSize - offset) {
      return Status::NoSpace("MemEnv file too large: " + path_);
    }
    std::unique_lock lock(data_->mu);
    auto& b = data_->bytes;
    const std::size_t end = static_cast<std::size_t>(offset + length);
    if (b.size() < end) b.resize(end, 0);
    return Status::OK();
  }

  Result<EntryStat> Stat() override { return env_->StatOf(*data_); }
  Status SetTimes(const struct timespec times[2]) override {
    return env_->SetTimesOf(*data_, times);
  }
  Status Chmod(std::uint32_t mode) override { return env_->ChangeOf(*data_, mode, {}, {}); }
  Status Chown(std::uint32_t uid, std::uint32_t gid) override {
    return env_->ChangeOf(*data_, {}, uid, gid);
  }

  const std::string& path() const override { return path_; }

 private:
  Status CheckWritable() const {
    if (read_only_) return Status::FromErrno(EBADF, "write to read-only " + path_);
    return Status::OK();
  }

  MemEnv* const env_;
  std::shared_ptr<MemEnv::FileData> data_;
  const std::string path_;
  const bool read_only_;
  const bool attributes_only_;
};

void ApplyTimes(const struct timespec times[2], struct timespec* atime, struct timespec* mtime,
                struct timespec* ctime) {
  const struct timespec now = Now();
  auto set = [&](const struct timespec* t, struct timespec* out) {
    if (times == nullptr || t->tv_nsec == UTIME_NOW) {
      *out = now;
    } else if (t->tv_nsec != UTIME_OMIT) {
      *out = *t;
    }
  };
  set(times ? &times[0] : nullptr, atime);
  set(times ? &times[1] : nullptr, mtime);
  *ctime = now;
}

// A MemEnv directory handle: the path it was opened as (MemEnv keeps no inode table for
// directories' names; a renamed directory is reached under its new path only).
class MemDir final : public Dir {
 public:
  MemDir(MemEnv* env, std::string path) : env_(env), path_(std::move(path)) {}
  const std::string& path() const override { return path_; }

  Result<std::unique_ptr<Dir>> OpenDir(const std::string& name) override {
    return env_->OpenDirectoryNoFollow(Child(path_, name));
  }
  Result<std::unique_ptr<File>> OpenFile(const std::string& name,
                                         const OpenOptions& options) override {
    return env_->OpenAt(Child(path_, name), options, /*follow=*/false);
  }
  Status MakeDir(const std::string& name, std::uint32_t mode) override {
    return env_->MakeDirAt(Child(path_, name), mode);
  }
  Status MakeNode(const std::string& name, std::uint32_t mode, std::uint64_t dev) override {
    return env_->MakeNodeAt(Child(path_, name), mode, dev, "");
  }
  Status Symlink(const std::string& target, const std::string& name) override {
    return env_->MakeNodeAt(Child(path_, name), S_IFLNK | 0777, 0, target);
  }
  Result<std::string> ReadLink(const std::string& name) override {
    return env_->ReadLinkAt(Child(path_, name));
  }
  Status Link(const std::string& name, Dir& to_dir, const std::string& to_name) override {
    CAFS_ASSIGN_OR_RETURN(MemDir * to, Same(to_dir));
    return env_->LinkAt(Child(path_, name), Child(to->path_, to_name));
  }
  Status Rename(const std::string& name, Dir& to_dir, const std::string& to_name,
                RenameMode mode) override {
    CAFS_ASSIGN_OR_RETURN(MemDir * to, Same(to_dir));
    return env_->RenameAt(Child(path_, name), Child(to->path_, to_name), mode);
  }
  Status Unlink(const std::string& name) override { return env_->RemoveFile(Child(path_, name)); }
  Status RemoveDir(const std::string& name) override { return env_->RemoveDir(Child(path_, name)); }
  Result<EntryStat> Stat(const std::string& name) override {
    return env_->StatAt(Child(path_, name));
  }
  Status Chmod(const std::string& name, std::uint32_t mode) override {
    return env_->ChangeAt(Child(path_, name), mode, std::nullopt, std::nullopt, nullptr, false);
  }
  Status Chown(const std::string& name, std::uint32_t uid, std::uint32_t gid) override {
    return env_->ChangeAt(Child(path_, name), std::nullopt, uid, gid, nullptr, false);
  }
  Status SetTimes(const std::string& name, const struct timespec times[2]) override {
    return env_->ChangeAt(Child(path_, name), std::nullopt, std::nullopt, std::nullopt, times,
                          true);
  }
  Result<std::vector<std::string>> List() override { return env_->ListDir(path_); }
  Status Sync() override { return env_->SyncDir(path_); }
  Result<SpaceInfo> Space() override {
    return SpaceInfo{kMaxMemFileSize, kMaxMemFileSize, 1u << 20, 1u << 20, 65000};
  }

 private:
  Result<MemDir*> Same(Dir& other) {
    auto* d = dynamic_cast<MemDir*>(&other);
    if (d == nullptr || d->env_ != env_) {
      return Status::InvalidArgument("directory of another Env");
    }
    return d;
  }

  MemEnv* const env_;
  const std::string path_;
};

}  // namespace

MemEnv::MemEnv() { dirs_.emplace("/", std::make_shared<DirData>(0755)); }
MemEnv::~MemEnv() = default;

bool MemEnv::ParentExistsLocked(const std::string& path) const {
  return dirs_.count(Parent(path)) != 0;
}

Result<std::unique_ptr<File>> MemEnv::OpenFile(const std::string& raw_path,
                                               const OpenOptions& options) {
  return OpenAt(Normalize(raw_path), options, /*follow=*/true);
}

Result<std::unique_ptr<File>> MemEnv::OpenAt(const std::string& raw_path,
                                             const OpenOptions& options, bool follow) {
  if (options.read_only && options.truncate) {
    return Status::InvalidArgument("open " + raw_path + ": truncate with read_only");
  }
  std::string path = Normalize(raw_path);
  std::shared_ptr<FileData> data;
  {
    std::lock_guard lock(mu_);
    for (int hops = 0;; ++hops) {
      if (dirs_.count(path) != 0) {
        if (options.attributes_only) return Status::NotSupported("MemEnv: O_PATH of a directory");
        return Status::FromErrno(EISDIR, "open " + path);
      }
      auto it = files_.find(path);
      if (it == files_.end()) {
        if (!options.create || options.attributes_only) {
          return Status::NotFound("open " + path + ": no such file");
        }
        if (!ParentExistsLocked(path)) return Status::NotFound("open " + path + ": no parent");
        data = std::make_shared<FileData>(S_IFREG | (options.mode & 07777));
        data->nlink = 1;
        files_.emplace(path, data);
        break;
      }
      if (options.create && options.exclusive) {
        return Status::AlreadyExists("open " + path + ": file exists");
      }
      data = it->second;
      if (S_ISLNK(data->mode) && !options.attributes_only) {
        if (!follow || hops > 8) return Status::FromErrno(ELOOP, "open " + path);
        std::shared_lock bytes_lock(data->mu);
        std::string target(data->bytes.begin(), data->bytes.end());
        path = target.rfind('/', 0) == 0 ? target : Child(Parent(path), target);
        continue;
      }
      break;
    }
  }
  if (options.truncate) {
    std::unique_lock lock(data->mu);
    data->bytes.clear();
  }
  return std::unique_ptr<File>(
      new MemFile(this, std::move(data), path, options.read_only, options.attributes_only));
}

Status MemEnv::Rename(const std::string& from, const std::string& to) {
  return RenameAt(Normalize(from), Normalize(to), RenameMode::kReplace);
}

Status MemEnv::RenameAt(const std::string& raw_from, const std::string& raw_to, RenameMode mode) {
  const std::string from = Normalize(raw_from), to = Normalize(raw_to);
  std::lock_guard lock(mu_);
  const bool from_file = files_.count(from) != 0;
  const bool from_dir = dirs_.count(from) != 0;
  if (!from_file && !from_dir) return Status::NotFound("rename " + from + ": no such file");
  if (!ParentExistsLocked(to)) return Status::NotFound("rename to " + to + ": no parent");
  const bool to_file = files_.count(to) != 0;
  const bool to_dir = dirs_.count(to) != 0;
  if (from == to) return Status::OK();
  if (mode == RenameMode::kNoReplace && (to_file || to_dir)) {
    return Status::AlreadyExists("rename to " + to + ": exists");
  }
  if (mode == RenameMode::kExchange) {
    if (!to_file && !to_dir) return Status::NotFound("exchange with " + to + ": no such file");
    if (!from_file || !to_file) return Status::NotSupported("MemEnv exchanges files only");
    std::swap(files_[from], files_[to]);
    return Status::OK();
  }
  if (from_file) {
    if (to_dir) return Status::FromErrno(EISDIR, "rename to " + to);
    auto data = files_[from];
    files_.erase(from);
    if (auto old = files_.find(to); old != files_.end()) old->second->nlink--;
    files_[to] = std::move(data);
    return Status::OK();
  }
  // A directory: onto nothing or an empty directory; never into itself.
  if (to_file) return Status::FromErrno(ENOTDIR, "rename to " + to);
  if (Under(to, from)) return Status::InvalidArgument("rename " + from + " into itself");
  if (to_dir) {
    for (const auto& [p, d] : dirs_) {
      if (Under(p, to)) return Status::FromErrno(ENOTEMPTY, "rename to " + to);
    }
    for (const auto& [p, d] : files_) {
      if (Under(p, to)) return Status::FromErrno(ENOTEMPTY, "rename to " + to);
    }
    dirs_.erase(to);
  }
  auto move_prefix = [&](auto& map) {
    std::vector<std::string> moving;
    for (const auto& [p, d] : map) {
      if (p == from || Under(p, from)) moving.push_back(p);
    }
    for (const auto& p : moving) {
      auto node = map.extract(p);
      node.key() = to + p.substr(from.size());
      map.insert(std::move(node));
    }
  };
  move_prefix(dirs_);
  move_prefix(files_);
  return Status::OK();
}

Status MemEnv::LinkAt(const std::string& raw_from, const std::string& raw_to) {
  const std::string from = Normalize(raw_from), to = Normalize(raw_to);
  std::lock_guard lock(mu_);
  if (dirs_.count(from) != 0) return Status::FromErrno(EPERM, "link of directory " + from);
  auto it = files_.find(from);
  if (it == files_.end()) return Status::NotFound("link " + from + ": no such file");
  if (!ParentExistsLocked(to)) return Status::NotFound("link to " + to + ": no parent");
  if (files_.count(to) != 0 || dirs_.count(to) != 0) {
    return Status::AlreadyExists("link to " + to + ": exists");
  }
  it->second->nlink++;
  it->second->ctime = Now();
  files_[to] = it->second;
  return Status::OK();
}

Status MemEnv::RemoveFile(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) != 0) return Status::FromErrno(EISDIR, "unlink " + path);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("unlink " + path + ": no such file");
  it->second->nlink--;
  files_.erase(it);
  return Status::OK();
}

Status MemEnv::CreateDir(const std::string& raw_path) { return MakeDirAt(raw_path, 0700); }

Status MemEnv::MakeDirAt(const std::string& raw_path, std::uint32_t mode) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) != 0 || files_.count(path) != 0) {
    return Status::AlreadyExists("mkdir " + path + ": exists");
  }
  auto parent = dirs_.find(Parent(path));
  if (parent == dirs_.end()) return Status::NotFound("mkdir " + path + ": no parent");
  // As mkdir(2): the set-group-ID bit (and the group) come from a set-group-ID parent.
  const std::uint32_t sgid = parent->second->mode & S_ISGID;
  auto dir = std::make_shared<DirData>(S_IFDIR | (mode & 01777) | sgid);
  if (sgid != 0) dir->gid = parent->second->gid;
  dirs_.emplace(path, std::move(dir));
  return Status::OK();
}

Status MemEnv::MakeNodeAt(const std::string& raw_path, std::uint32_t mode, std::uint64_t dev,
                          const std::string& link_target) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) != 0 || files_.count(path) != 0) {
    return Status::AlreadyExists("mknod " + path + ": exists");
  }
  if (!ParentExistsLocked(path)) return Status::NotFound("mknod " + path + ": no parent");
  if (S_ISDIR(mode)) return Status::InvalidArgument("mknod of a directory " + path);
  auto data = std::make_shared<FileData>(S_ISLNK(mode) ? (S_IFLNK | 0777) : mode);
  data->nlink = 1;
  data->rdev = dev;
  data->bytes.assign(link_target.begin(), link_target.end());
  files_.emplace(path, std::move(data));
  return Status::OK();
}

Result<std::string> MemEnv::ReadLinkAt(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("readlink " + path + ": no such file");
  if (!S_ISLNK(it->second->mode)) return Status::FromErrno(EINVAL, "readlink " + path);
  std::shared_lock bytes_lock(it->second->mu);
  return std::string(it->second->bytes.begin(), it->second->bytes.end());
}

Status MemEnv::RemoveDir(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (files_.count(path) != 0) return Status::FromErrno(ENOTDIR, "rmdir " + path);
  if (dirs_.count(path) == 0) return Status::NotFound("rmdir " + path + ": no such directory");
  for (const auto& [p, d] : dirs_) {
    if (Under(p, path)) return Status::FromErrno(ENOTEMPTY, "rmdir " + path);
  }
  for (const auto& [p, d] : files_) {
    if (Under(p, path)) return Status::FromErrno(ENOTEMPTY, "rmdir " + path);
  }
  dirs_.erase(path);
  return Status::OK();
}

Result<std::vector<std::string>> MemEnv::ListDir(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) == 0) return Status::NotFound("opendir " + path + ": no such directory");
  std::vector<std::string> names;
  auto consider = [&](const std::string& p) {
    if (p != "/" && p != path && Parent(p) == path)
      names.push_back(p.substr(p.find_last_of('/') + 1));
  };
  for (const auto& [p, data] : files_) consider(p);
  for (const auto& [p, data] : dirs_) consider(p);
  return names;
}

Result<FileInfo> MemEnv::Stat(const std::string& raw_path) {
  std::string path = Normalize(raw_path);
  std::shared_ptr<FileData> data;
  {
    std::lock_guard lock(mu_);
    if (dirs_.count(path) != 0) return FileInfo{.is_directory = true};
    auto it = files_.find(path);
    if (it == files_.end()) return Status::NotFound("stat " + path + ": no such file");
    data = it->second;
  }
  std::shared_lock lock(data->mu);
  FileInfo info;
  info.size = data->bytes.size();
  info.allocated_bytes = info.size;
  return info;
}

Result<EntryStat> MemEnv::StatAt(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::shared_ptr<FileData> data;
  {
    std::lock_guard lock(mu_);
    if (auto d = dirs_.find(path); d != dirs_.end()) {
      EntryStat e;
      e.mode = d->second->mode;
      e.uid = d->second->uid;
      e.gid = d->second->gid;
      e.nlink = 2;
      e.dev = kMemDev;
      e.ino = d->second->ino;
      e.atime = d->second->atime;
      e.mtime = d->second->mtime;
      e.ctime = d->second->ctime;
      return e;
    }
    auto it = files_.find(path);
    if (it == files_.end()) return Status::NotFound("stat " + path + ": no such file");
    data = it->second;
  }
  return StatOf(*data);
}

Result<EntryStat> MemEnv::StatOf(FileData& data) {
  EntryStat e;
  {
    std::lock_guard lock(mu_);
    e.mode = data.mode;
    e.uid = data.uid;
    e.gid = data.gid;
    e.nlink = data.nlink;
    e.dev = kMemDev;
    e.ino = data.ino;
    e.rdev = data.rdev;
    e.atime = data.atime;
    e.mtime = data.mtime;
    e.ctime = data.ctime;
  }
  std::shared_lock lock(data.mu);
  e.size = data.bytes.size();
  e.allocated_bytes = e.size;
  return e;
}

Status MemEnv::ChangeOf(FileData& data, std::optional<std::uint32_t> mode,
                        std::optional<std::uint32_t> uid, std::optional<std::uint32_t> gid) {
  std::lock_guard lock(mu_);
  const std::uint32_t keep = static_cast<std::uint32_t>(-1);
  if (mode) data.mode = (data.mode & ~07777u) | (*mode & 07777);
  if (uid && *uid != keep) data.uid = *uid;
  if (gid && *gid != keep) data.gid = *gid;
  data.ctime = Now();
  return Status::OK();
}

Status MemEnv::SetTimesOf(FileData& data, const struct timespec times[2]) {
  std::lock_guard lock(mu_);
  ApplyTimes(times, &data.atime, &data.mtime, &data.ctime);
  return Status::OK();
}

Status MemEnv::ChangeAt(const std::string& raw_path, std::optional<std::uint32_t> mode,
                        std::optional<std::uint32_t> uid, std::optional<std::uint32_t> gid,
                        const struct timespec times[2], bool set_times) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  auto apply = [&](auto& node) -> Status {
    if (mode) {
      if (S_ISLNK(node.mode)) return Status::NotSupported("chmod of a symlink " + path);
      node.mode = (node.mode & ~07777u) | (*mode & 07777);
    }
    if (uid && *uid != static_cast<std::uint32_t>(-1)) node.uid = *uid;
    if (gid && *gid != static_cast<std::uint32_t>(-1)) node.gid = *gid;
    if (set_times) {
      ApplyTimes(times, &node.atime, &node.mtime, &node.ctime);
    } else {
      node.ctime = Now();
    }
    return Status::OK();
  };
  if (auto d = dirs_.find(path); d != dirs_.end()) return apply(*d->second);
  if (auto f = files_.find(path); f != files_.end()) return apply(*f->second);
  return Status::NotFound("change " + path + ": no such file");
}

Status MemEnv::SyncDir(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) == 0) return Status::NotFound("sync " + path + ": no such directory");
  return Status::OK();
}

Result<std::uint64_t> MemEnv::FreeSpace(const std::string&) { return kMaxMemFileSize; }

Result<std::unique_ptr<Dir>> MemEnv::OpenDirectory(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) == 0) {
    if (files_.count(path) != 0) return Status::FromErrno(ENOTDIR, "open directory " + path);
    return Status::NotFound("open directory " + path + ": no such directory");
  }
  return std::unique_ptr<Dir>(new MemDir(this, path));
}

Result<std::unique_ptr<Dir>> MemEnv::OpenDirectoryNoFollow(const std::string& path) {
  // MemEnv directories are never symlinks; a symlink named here is ENOTDIR like in PosixDir.
  return OpenDirectory(path);
}

}  // namespace cafs::env
