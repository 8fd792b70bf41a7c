// fuse_passthrough_bench: a minimal FUSE pass-through file system, the "FUSE ceiling" of
// bench/run-fuse-bench.sh. Every request is forwarded to a directory with one syscall
// (pread/pwrite on the fd kept in the file handle), no caching in user space, so its figures
// are what the kernel's FUSE transport plus libfuse3 cost on this machine; CAFS adds policy,
// audit and XTS on top of the same transport.
//
// It runs with the same FUSE settings as cafsd's front-end (src/frontend/fuse): libfuse3,
// multi-threaded loop, max_write = max_read = 1 MiB, page cache used (no direct_io), attr and
// entry timeouts 1 s, kernel writeback cache off. --writeback turns the writeback cache on
// (for comparison only).
//
// Usage: fuse_passthrough_bench SOURCE_DIR MOUNTPOINT [--writeback] [-d]
// Runs in the foreground until SIGINT/SIGTERM or fusermount3 -u.
//
// Written for this benchmark against libfuse3's high-level API (fuse.h); not libfuse's
// example code.
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_source;  // set once in main() before the loop starts
bool g_writeback = false;
constexpr unsigned kMaxIo = 1u << 20;

std::string Real(const char* path) { return g_source + path; }

int Fd(const fuse_file_info* fi) { return static_cast<int>(fi->fh); }

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->max_write = kMaxIo;
  conn->max_read = kMaxIo;
  if (g_writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  } else {
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  }
  cfg->use_ino = 1;
  cfg->attr_timeout = 1.0;
  cfg->entry_timeout = 1.0;
  cfg->negative_timeout = 1.0;
  cfg->direct_io = 0;
  cfg->kernel_cache = 0;
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  const int rc = fi != nullptr ? fstat(Fd(fi), st) : lstat(Real(path).c_str(), st);
  return rc == 0 ? 0 : -errno;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  DIR* dir = opendir(Real(path).c_str());
  if (dir == nullptr) return -errno;
  while (dirent* e = readdir(dir)) {
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  closedir(dir);
  return 0;
}

int MkDir(const char* path, mode_t mode) {
  return mkdir(Real(path).c_str(), mode) == 0 ? 0 : -errno;
}
int RmDir(const char* path) { return rmdir(Real(path).c_str()) == 0 ? 0 : -errno; }
int Unlink(const char* path) { return unlink(Real(path).c_str()) == 0 ? 0 : -errno; }
int Rename(const char* from, const char* to, unsigned int flags) {
  if (flags != 0) return -EINVAL;
  return rename(Real(from).c_str(), Real(to).c_str()) == 0 ? 0 : -errno;
}
int Chmod(const char* path, mode_t mode, fuse_file_info*) {
  return chmod(Real(path).c_str(), mode) == 0 ? 0 : -errno;
}
int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  const int rc = fi != nullptr ? ftruncate(Fd(fi), size) : truncate(Real(path).c_str(), size);
  return rc == 0 ? 0 : -errno;
}
int Utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
  const int rc = fi != nullptr ? futimens(Fd(fi), tv)
                               : utimensat(AT_FDCWD, Real(path).c_str(), tv, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

int Open(const char* path, fuse_file_info* fi) {
  const int fd = open(Real(path).c_str(), fi->flags & ~O_DIRECT);
  if (fd < 0) return -errno;
  fi->fh = static_cast<std::uint64_t>(fd);
  return 0;
}
int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  const int fd = open(Real(path).c_str(), (fi->flags & ~O_DIRECT) | O_CREAT, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<std::uint64_t>(fd);
  return 0;
}
int Read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  const ssize_t n = pread(Fd(fi), buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}
int Write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  const ssize_t n = pwrite(Fd(fi), buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}
int Release(const char*, fuse_file_info* fi) {
  close(Fd(fi));
  return 0;
}
int Fsync(const char*, int datasync, fuse_file_info* fi) {
  const int rc = datasync != 0 ? fdatasync(Fd(fi)) : fsync(Fd(fi));
  return rc == 0 ? 0 : -errno;
}
int Fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  if (mode != 0) return -EOPNOTSUPP;
  return -posix_fallocate(Fd(fi), off, len);
}
int StatFs(const char* path, struct statvfs* sv) {
  return statvfs(Real(path).c_str(), sv) == 0 ? 0 : -errno;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  bool debug = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--writeback") {
      g_writeback = true;
    } else if (a == "-d") {
      debug = true;
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: %s SOURCE_DIR MOUNTPOINT [--writeback] [-d]\n", argv[0]);
      return 0;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "usage: %s SOURCE_DIR MOUNTPOINT [--writeback] [-d]\n", argv[0]);
    return 2;
  }
  char resolved[PATH_MAX];
  if (realpath(positional[0].c_str(), resolved) == nullptr) {
    std::fprintf(stderr, "%s: %s\n", positional[0].c_str(), std::strerror(errno));
    return 2;
  }
  g_source = resolved;

  static const fuse_operations kOps = [] {
    fuse_operations ops{};
    ops.init = &Init;
    ops.getattr = &GetAttr;
    ops.readdir = &ReadDir;
    ops.mkdir = &MkDir;
    ops.rmdir = &RmDir;
    ops.unlink = &Unlink;
    ops.rename = &Rename;
    ops.chmod = &Chmod;
    ops.truncate = &Truncate;
    ops.utimens = &Utimens;
    ops.open = &Open;
    ops.create = &Create;
    ops.read = &Read;
    ops.write = &Write;
    ops.release = &Release;
    ops.fsync = &Fsync;
    ops.fallocate = &Fallocate;
    ops.statfs = &StatFs;
    return ops;
  }();

  std::vector<std::string> args = {argv[0],
                                   positional[1],
                                   "-f",
                                   "-o",
                                   "fsname=fusebench,subtype=passthrough,default_permissions",
                                   "-o",
                                   "max_read=" + std::to_string(kMaxIo)};
  if (debug) args.push_back("-d");
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  // fuse_main: parses the options, mounts, installs SIGINT/SIGTERM handlers, runs the
  // multi-threaded loop (no -s) and unmounts on exit.
  return fuse_main(static_cast<int>(cargv.size()), cargv.data(), &kOps, nullptr);
}
