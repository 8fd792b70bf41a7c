// Pool: a storage pool (seed: "Storage pools"), the place where CAFS keeps the bytes of the
// VM files that policy sends there. The storage pool mapper (PoolMapper) makes every pool
// look the same whatever backs it; this interface is what a plug-in implements (a POSIX
// directory: PosixPool; a RADOS pool of a Ceph cluster: RadosPool, src/pool/rados/). Plug-ins
// are registered by `kind` in a PoolRegistry (pool_registry.h); the contract of every call,
// per kind, is docs/pools.md.
//
// Paths given to a Pool are relative to the pool root, '/'-separated, e.g.
// "my_vmset/windows_xp/osdisk1.vmdk". They must be normalized: not empty, not absolute, no
// empty, "." or ".." components (InvalidArgument otherwise) — a hostile name can never leave
// the pool.
//
// A Pool makes no assumption about the structure of a path: a plug-in without directories
// (RADOS) maps the whole path to an object name; CreateDirs/RemoveDir/SyncDir are then no-ops
// and ListDir lists the names below a prefix ("virtual directories").
//
// Threading: every method is safe from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "env/env.h"
#include "util/result.h"

namespace cafs::pool {

struct PoolSpace {
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;  // available to CAFS
  // Percentage of the pool in use, 0..100.
  double UsedPercent() const {
    if (total_bytes == 0) return 0.0;
    return 100.0 * static_cast<double>(total_bytes - free_bytes) / static_cast<double>(total_bytes);
  }
};

// What a pool kind can do; callers (placement, migration, mirroring, the front-ends) consult
// these instead of trying and failing. docs/pools.md "Capabilities".
struct PoolCapabilities {
  bool random_write = true;   // WriteAt at any offset of an existing file (not append-only)
  bool sparse = true;         // holes cost no space and read as zeros
  bool discard = true;        // File::PunchHole deallocates
  bool atomic_rename = true;  // Rename is atomic (a crash leaves one name, never both)
  // OpenFile for writing takes a write lease held in the shared storage: a second gateway
  // opening the file for writing meanwhile gets LeaseHeld (EBUSY; write_lease.h).
  bool write_lease = true;
};

class Pool {
 public:
  virtual ~Pool() = default;

  virtual const std::string& name() const = 0;
  // A human description of where the bytes live (e.g. the root directory), for messages.
  virtual std::string location() const = 0;
  // The registered kind ("posix", "rados") and what it can do (constant for the pool's life).
  virtual std::string_view kind() const = 0;
  virtual PoolCapabilities capabilities() const = 0;

  // Opening for writing (not options.read_only) takes the file's write lease where
  // capabilities().write_lease: LeaseHeld (EBUSY) when another gateway holds it; the lease is
  // kept until the last handle of the path opened for writing here is closed (write_lease.h).
  virtual Result<std::unique_ptr<env::File>> OpenFile(std::string_view rel_path,
                                                      const env::OpenOptions& options) = 0;
  virtual Status RemoveFile(std::string_view rel_path) = 0;
  // Replaces `to` with `from`. Atomic within the pool when capabilities().atomic_rename;
  // otherwise a crash during it can leave both names (docs/pools.md).
  virtual Status Rename(std::string_view from, std::string_view to) = 0;
  // Creates the directory and its missing parents (OK if present).
  virtual Status CreateDirs(std::string_view rel_path) = 0;
  virtual Status RemoveDir(std::string_view rel_path) = 0;
  virtual Result<env::FileInfo> Stat(std::string_view rel_path) = 0;
  virtual Result<std::vector<std::string>> ListDir(std::string_view rel_path) = 0;
  // Makes directory entries (creates, renames, removes) durable.
  virtual Status SyncDir(std::string_view rel_path) = 0;
  // Capacity of the pool. Unavailable if the pool's storage cannot be reached.
  virtual Result<PoolSpace> Space() = 0;
  // OK if the pool's storage is reachable now; Unavailable with the reason otherwise (a
  // directory that disappeared, an unmounted file system).
  virtual Status CheckAvailable() = 0;
};

// Checks a pool-relative path (rules above). Returns it unchanged when valid.
Result<std::string> ValidateRelativePath(std::string_view rel_path);

}  // namespace cafs::pool
