// Attributes and directory entries as the gateway core reports them to front-ends (FUSE,
// NFS). Plain values; times are struct timespec.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>

#include "util/result.h"

namespace cafs::core {

// kFifo .. kBlockDevice: special files, kept in the backing store as themselves (no pool
// file, no key; docs/redirectors.md).
enum class FileType : std::uint8_t {
  kRegular,
  kDirectory,
  kSymlink,
  kFifo,
  kSocket,
  kCharDevice,
  kBlockDevice,
};

struct Attr {
  FileType type = FileType::kRegular;
  std::uint32_t mode = 0;  // permission bits only (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t nlink = 1;
  std::uint64_t size = 0;       // logical size (files: plaintext size; symlinks: target length)
  std::uint64_t allocated = 0;  // bytes really used (pool file for files, sparse files less)
  // The backing-store inode of the entry (the redirector for files): stable across renames
  // and restarts while the entry exists; NFS may build file handles on it.
  std::uint64_t backing_ino = 0;
  std::uint64_t rdev = 0;  // device nodes: the device (dev_t, makedev(major, minor))
  struct timespec atime {};
  struct timespec mtime {};
  struct timespec ctime {};
};

struct DirEntry {
  std::string name;  // as callers see it ("osdisk1.vmdk", never "osdisk1.vmdk##pool")
  FileType type = FileType::kRegular;
};

// A directory entry with its attributes, or why they could not be read (READDIRPLUS).
struct DirEntryAttr {
  DirEntry entry;
  Result<Attr> attr;
};

// What SetAttr changes; unset fields stay. A time with tv_nsec == UTIME_NOW means "now".
struct SetAttrRequest {
  std::optional<std::uint32_t> mode;
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  std::optional<std::uint64_t> size;
  std::optional<struct timespec> atime;
  std::optional<struct timespec> mtime;
};

struct FsStats {
  std::uint64_t block_size = 4096;
  std::uint64_t total_bytes = 0;  // sum over the pools (where the data lives)
  std::uint64_t free_bytes = 0;
  std::uint64_t total_inodes = 0;  // of the backing store (where the names live)
  std::uint64_t free_inodes = 0;
  std::uint32_t name_max = 0;  // longest name a caller may use (NAME_MAX: the backing store's)
  std::uint64_t link_max = 0;  // most names of one file (LINK_MAX of the backing store)
};

}  // namespace cafs::core
