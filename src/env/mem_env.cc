#include "env/mem_env.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <shared_mutex>
#include <string>
#include <vector>

namespace cafs::env {

namespace {

// Largest file MemEnv accepts (memory is real); larger offsets fail with NoSpace.
constexpr std::uint64_t kMaxMemFileSize = std::uint64_t{1} << 34;

std::string Normalize(const std::string& path) {
  if (path.size() > 1 && path.back() == '/') return path.substr(0, path.size() - 1);
  return path;
}

std::string Parent(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

struct MemEnv::FileData {
  std::shared_mutex mu;
  std::vector<std::uint8_t> bytes;  // guarded by mu
};

namespace {

class MemFile final : public File {
 public:
  MemFile(std::shared_ptr<MemEnv::FileData> data, std::string path, bool read_only)
      : data_(std::move(data)), path_(std::move(path)), read_only_(read_only) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
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

  Status Sync() override { return Status::OK(); }

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

  const std::string& path() const override { return path_; }

 private:
  Status CheckWritable() const {
    if (read_only_) return Status::FromErrno(EBADF, "write to read-only " + path_);
    return Status::OK();
  }

  std::shared_ptr<MemEnv::FileData> data_;
  const std::string path_;
  const bool read_only_;
};

}  // namespace

MemEnv::MemEnv() { dirs_.insert("/"); }
MemEnv::~MemEnv() = default;

bool MemEnv::ParentExistsLocked(const std::string& path) const {
  return dirs_.count(Parent(path)) != 0;
}

Result<std::unique_ptr<File>> MemEnv::OpenFile(const std::string& raw_path,
                                               const OpenOptions& options) {
  if (options.read_only && options.truncate) {
    return Status::InvalidArgument("open " + raw_path + ": truncate with read_only");
  }
  const std::string path = Normalize(raw_path);
  std::shared_ptr<FileData> data;
  {
    std::lock_guard lock(mu_);
    if (dirs_.count(path) != 0) return Status::FromErrno(EISDIR, "open " + path);
    auto it = files_.find(path);
    if (it == files_.end()) {
      if (!options.create) return Status::NotFound("open " + path + ": no such file");
      if (!ParentExistsLocked(path)) return Status::NotFound("open " + path + ": no parent");
      data = std::make_shared<FileData>();
      files_.emplace(path, data);
    } else {
      if (options.create && options.exclusive) {
        return Status::AlreadyExists("open " + path + ": file exists");
      }
      data = it->second;
    }
  }
  if (options.truncate) {
    std::unique_lock lock(data->mu);
    data->bytes.clear();
  }
  return std::unique_ptr<File>(new MemFile(std::move(data), path, options.read_only));
}

Status MemEnv::Rename(const std::string& raw_from, const std::string& raw_to) {
  const std::string from = Normalize(raw_from), to = Normalize(raw_to);
  std::lock_guard lock(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) {
    if (dirs_.count(from) != 0) return Status::NotSupported("MemEnv renames files only");
    return Status::NotFound("rename " + from + ": no such file");
  }
  if (!ParentExistsLocked(to)) return Status::NotFound("rename to " + to + ": no parent");
  if (dirs_.count(to) != 0) return Status::FromErrno(EISDIR, "rename to " + to);
  auto data = it->second;
  files_.erase(it);
  files_[to] = std::move(data);
  return Status::OK();
}

Status MemEnv::RemoveFile(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (files_.erase(path) == 0) return Status::NotFound("unlink " + path + ": no such file");
  return Status::OK();
}

Status MemEnv::CreateDir(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) != 0 || files_.count(path) != 0) {
    return Status::AlreadyExists("mkdir " + path + ": exists");
  }
  if (!ParentExistsLocked(path)) return Status::NotFound("mkdir " + path + ": no parent");
  dirs_.insert(path);
  return Status::OK();
}

Status MemEnv::RemoveDir(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) == 0) return Status::NotFound("rmdir " + path + ": no such directory");
  const std::string prefix = path == "/" ? "/" : path + "/";
  auto has_child = [&](const auto& names) {
    auto it = names.lower_bound(prefix);
    return it != names.end() && it->first.compare(0, prefix.size(), prefix) == 0;
  };
  auto dir_it = dirs_.upper_bound(prefix);
  const bool dir_child = dir_it != dirs_.end() && dir_it->compare(0, prefix.size(), prefix) == 0;
  if (dir_child || has_child(files_)) {
    return Status::FromErrno(ENOTEMPTY, "rmdir " + path);
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
  for (const auto& p : dirs_) consider(p);
  return names;
}

Result<FileInfo> MemEnv::Stat(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
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

Status MemEnv::SyncDir(const std::string& raw_path) {
  const std::string path = Normalize(raw_path);
  std::lock_guard lock(mu_);
  if (dirs_.count(path) == 0) return Status::NotFound("sync " + path + ": no such directory");
  return Status::OK();
}

Result<std::uint64_t> MemEnv::FreeSpace(const std::string&) { return kMaxMemFileSize; }

}  // namespace cafs::env
