// PosixPool: a storage pool that is a directory on a mounted file system (local disk, RAID,
// NAS mount). Files are plain files below `root`; sparse files stay sparse.
//
// A pool that disappears (directory renamed or removed, file system unmounted, even lazily
// with `umount -l`, or another file system mounted over it): the pool pins the identity
// (device and inode number) of its root directory the first time it finds it
// (CheckAvailable, or the first file opened). From then on CheckAvailable fails with
// Unavailable when the root is missing or is another directory than the pinned one, and every
// file opened through the pool checks it too, so I/O on a file whose pool went away fails
// with EIO naming the pool instead of landing on a detached or wrong file system: Sync always
// checks (after syncing: a Sync that returns OK was durable in the pool), ReadAt/WriteAt at
// most every kIoCheckInterval. When the same directory comes back (renamed back, re-mounted
// with a bind mount of the same directory) the pool is available again. Another file system
// in its place stays refused until the process restarts (new pin): that is on purpose, the
// data of the pool is not there. Roots that are not POSIX paths (an Env such as MemEnv in
// tests) pin nothing and only check that the root is a directory.
//
// Write leases (write_lease.h): a file opened for writing holds an OFD write lock on the whole
// pool file (a descriptor of its own), shared by the handles of that path opened here; another
// process (or another PosixPool object) opening it for writing gets LeaseHeld (EBUSY). Roots
// that are not POSIX paths (MemEnv) take no lease.
//
// Ownership: the Env is not owned and must outlive the pool.
// Threading: every method is safe from many threads (the pin is guarded by a mutex).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

#include "pool/pool.h"
#include "pool/write_lease.h"

namespace cafs::pool {

class PosixPool final : public Pool {
 public:
  static constexpr std::chrono::milliseconds kIoCheckInterval{100};

  // `root` must be an absolute path; it need not exist yet (Open creates nothing).
  PosixPool(std::string name, std::string root, env::Env* env);

  const std::string& name() const override { return name_; }
  std::string location() const override { return root_; }
  std::string_view kind() const override { return "posix"; }
  // Everything: a directory on a POSIX file system (discard needs fallocate PUNCH_HOLE of the
  // file system below; where it lacks it PunchHole fails with EOPNOTSUPP).
  PoolCapabilities capabilities() const override { return {}; }

  Result<std::unique_ptr<env::File>> OpenFile(std::string_view rel_path,
                                              const env::OpenOptions& options) override;
  Status RemoveFile(std::string_view rel_path) override;
  Status Rename(std::string_view from, std::string_view to) override;
  Status CreateDirs(std::string_view rel_path) override;
  Status RemoveDir(std::string_view rel_path) override;
  Result<env::FileInfo> Stat(std::string_view rel_path) override;
  Result<std::vector<std::string>> ListDir(std::string_view rel_path) override;
  Status SyncDir(std::string_view rel_path) override;
  Result<PoolSpace> Space() override;
  Status CheckAvailable() override;

  // For the files opened here: CheckAvailable() as an errno-carrying EIO naming the pool, or
  // OK. With `throttled`, an OK result younger than kIoCheckInterval is reused.
  Status CheckForIo(bool throttled);

 private:
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
  };
  // root_/rel after validation; an empty rel means the root itself.
  Result<std::string> Resolve(std::string_view rel_path) const;
  // Whether root_ is a directory of the real file system (not a MemEnv path).
  bool IsPosixRoot() const;

  const std::string name_;
  const std::string root_;
  env::Env* const env_;
  std::mutex pin_mu_;
  std::optional<Identity> pinned_;           // guarded by pin_mu_
  std::atomic<std::int64_t> last_ok_ns_{0};  // steady-clock ns of the last OK check; 0: none
  LeaseTable leases_;
};

}  // namespace cafs::pool
