// File: an open file with positional (random-access) I/O, as the storage layers see it.
//
// Contract of every implementation:
//  - ReadAt returns fewer bytes than asked only at end of file (0 at or past it). Bytes of a
//    never-written range inside the file (a hole) read as zeros.
//  - WriteAt writes all of `data` or returns an error; after an error the range holds an
//    unspecified mix of old and new bytes (a prefix may have reached the file, as with a real
//    disk that filled up). Writing past the end extends the file; the gap reads as zeros.
//  - Sync makes every completed WriteAt/Truncate durable (fdatasync semantics: data and the
//    metadata needed to read it back, including the size).
//  - Errors carry the errno of the failed system call (Status::FromErrno).
//
// Threading: a File is safe for concurrent ReadAt/WriteAt/Size/Sync from many threads (no
// shared file offset). Concurrent writes to overlapping ranges leave an unspecified
// interleaving; callers that care (EncryptedFile) lock ranges themselves. Truncate concurrent
// with I/O to the affected range is the caller's problem.
//
// Ownership: the object owns the descriptor/handle and closes it on destruction (errors from
// close are logged, not returned: call Sync first when durability matters).
#pragma once

#include <time.h>

#include <cstdint>
#include <string>

#include "util/bytes.h"
#include "util/result.h"
#include "util/status.h"

namespace cafs::env {

// What lstat(2)/fstat(2) say about an entry or open file.
struct EntryStat {
  std::uint32_t mode = 0;  // st_mode: type bits and permission bits
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t nlink = 0;
  std::uint64_t size = 0;
  std::uint64_t allocated_bytes = 0;  // st_blocks * 512
  std::uint64_t dev = 0;              // with ino: identifies the inode
  std::uint64_t ino = 0;
  std::uint64_t rdev = 0;  // device nodes
  struct timespec atime {};
  struct timespec mtime {};
  struct timespec ctime {};

  bool is_directory() const;
  bool is_regular() const;
  bool is_symlink() const;
};

class File {
 public:
  virtual ~File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Reads up to out.size() bytes at `offset`; returns the number read (short only at EOF).
  virtual Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) = 0;
  // ReadAt that never waits for storage (preadv2 RWF_NOWAIT): all of `out` (short only at end
  // of file) when the page cache holds it, else errno EAGAIN (Status::FromErrno), having read
  // nothing useful; the caller then reads with ReadAt, from a thread that may wait
  // (NFS READ: docs/nfs.md "Threads"). Where the kernel or file system cannot tell (EOPNOTSUPP),
  // a blocking ReadAt. Default: ReadAt (implementations that never wait for storage, or do not
  // know how not to).
  virtual Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out);
  // Writes all of `data` at `offset` (see the error contract above).
  virtual Status WriteAt(std::uint64_t offset, ByteView data) = 0;
  // Sets the file size; growing leaves a hole.
  virtual Status Truncate(std::uint64_t size) = 0;
  // Makes completed writes and truncates durable.
  virtual Status Sync() = 0;
  // Current size in bytes.
  virtual Result<std::uint64_t> Size() = 0;
  // Deallocates [offset, offset+length) keeping the size; the range then reads as zeros.
  // NotSupported where the implementation or file system cannot.
  virtual Status PunchHole(std::uint64_t offset, std::uint64_t length);
  // Reserves space for [offset, offset+length) (may grow the file); NotSupported where the
  // implementation or file system cannot.
  virtual Status Allocate(std::uint64_t offset, std::uint64_t length);

  // The attributes of the open file (fstat), wherever it has been renamed to. NotSupported
  // where the implementation keeps none.
  virtual Result<EntryStat> Stat();
  // Sets atime (times[0]) and mtime (times[1]); tv_nsec may be UTIME_NOW or UTIME_OMIT;
  // nullptr = both now. Works on an attributes-only handle (OpenOptions::attributes_only).
  virtual Status SetTimes(const struct timespec times[2]);
  // chmod / chown (uid or gid (uint32_t)-1 keeps that one) of the open file, also through an
  // attributes-only handle. NotSupported where not implemented.
  virtual Status Chmod(std::uint32_t mode);
  virtual Status Chown(std::uint32_t uid, std::uint32_t gid);

  // The path the file was opened with (for messages).
  virtual const std::string& path() const = 0;

 protected:
  File() = default;
};

}  // namespace cafs::env
