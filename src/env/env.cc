#include "env/env.h"

#include <sys/stat.h>

#include <string>

#include "env/posix_env.h"

namespace cafs::env {

Result<std::size_t> File::ReadAtNoWait(std::uint64_t offset, MutableByteView out) {
  return ReadAt(offset, out);
}

Status File::PunchHole(std::uint64_t, std::uint64_t) {
  return Status::NotSupported("punch hole not supported for " + path());
}

Status File::Allocate(std::uint64_t, std::uint64_t) {
  return Status::NotSupported("allocate not supported for " + path());
}

Result<EntryStat> File::Stat() { return Status::NotSupported("stat not supported for " + path()); }

Status File::SetTimes(const struct timespec*) {
  return Status::NotSupported("setting times not supported for " + path());
}

Status File::Chmod(std::uint32_t) {
  return Status::NotSupported("chmod not supported for " + path());
}

Status File::Chown(std::uint32_t, std::uint32_t) {
  return Status::NotSupported("chown not supported for " + path());
}

bool EntryStat::is_directory() const { return S_ISDIR(mode); }
bool EntryStat::is_regular() const { return S_ISREG(mode); }
bool EntryStat::is_symlink() const { return S_ISLNK(mode); }

Status Env::CreateDirs(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  auto info = Stat(path);
  if (info.ok()) {
    if (info->is_directory) return Status::OK();
    return Status::AlreadyExists(path + " exists and is not a directory");
  }
  const std::size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    CAFS_RETURN_IF_ERROR(CreateDirs(path.substr(0, slash)));
  }
  Status s = CreateDir(path);
  if (s.code() == Status::Code::kAlreadyExists) return Status::OK();  // lost a race: fine
  CAFS_RETURN_IF_ERROR(s);
  // The new entry is durable before anything is put inside it. (A parent we may write but
  // not read cannot be opened to sync: the entry is then as durable as the file system
  // makes it on its own, as before.)
  s = SyncDir(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
  if (s.code() == Status::Code::kPermissionDenied) return Status::OK();
  return s;
}

Status ReplaceFileAtomically(Env& env, const std::string& dir, const std::string& path,
                             ByteView data) {
  const std::string temp = path + ".new";
  {
    CAFS_ASSIGN_OR_RETURN(auto file, env.OpenFile(temp, {.create = true, .truncate = true}));
    CAFS_RETURN_IF_ERROR(file->WriteAt(0, data));
    CAFS_RETURN_IF_ERROR(file->Sync());
  }
  CAFS_RETURN_IF_ERROR(env.Rename(temp, path));
  return env.SyncDir(dir);
}

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: usable from static destructors
  return env;
}

Status ReadExactly(File& file, std::uint64_t offset, MutableByteView out) {
  CAFS_ASSIGN_OR_RETURN(std::size_t n, file.ReadAt(offset, out));
  if (n != out.size()) {
    return Status::Corruption("truncated: " + file.path() + " has " + std::to_string(offset + n) +
                              " bytes, needed " + std::to_string(offset + out.size()));
  }
  return Status::OK();
}

}  // namespace cafs::env
