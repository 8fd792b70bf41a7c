// RadosPool: a storage pool in a RADOS pool of a Ceph cluster (librados, C API), the
// `[[pool]] kind = "rados"` plug-in. Only this folder includes Ceph headers; the core reaches
// it through the pool registry (pool_kinds.h, rados_pool_kind.h).
//
// Layout (docs/pools.md "rados"): a pool file of pool-relative path P is striped over objects
// of kObjectSize bytes in the configured RADOS pool and namespace:
//   object P            bytes [0, kObjectSize) of the file, and the xattr "cafs.size" (the
//                       file size, decimal text): the head; it exists for every file
//   object P//<i>       bytes [i*kObjectSize, (i+1)*kObjectSize), i >= 1 as 16 hex digits
// A valid pool path never contains "//", so data object names never collide with a file.
// Objects that do not exist, and bytes past an object's end, read as zeros (sparse). The path
// has no structure for RADOS: directories are virtual (CreateDirs/SyncDir/RemoveDir of an
// empty prefix are no-ops, ListDir lists the names below a prefix by listing the namespace).
//
// Durability: a RADOS write is acknowledged only once it is durable on every replica, so
// WriteAt/Truncate are durable when they return and File::Sync has nothing left to do. Order
// of the steps, so that a crash never shows stale bytes as file content: a write that extends
// the file records the new size before writing the data (a crash between leaves zeros, never
// old data, at the end); a truncate that shrinks removes the data before recording the size.
//
// Rename is not atomic in RADOS (no rename of an object): it copies the objects of `from` to
// `to` (head last), then removes `from` (head last). A crash during it leaves `from` intact and
// maybe `to` as well (capabilities().atomic_rename == false). A file open across a Rename of
// its path keeps using the old objects: callers close it first.
//
// Connection: made on first use (CheckAvailable or an I/O), retried on the next call when it
// fails; every librados operation is bounded by op_timeout_s (rados_osd_op_timeout,
// rados_mon_op_timeout, client_mount_timeout), after which it fails with ETIMEDOUT.
//
// Write leases (write_lease.h): a file opened for writing holds the exclusive RADOS lock
// kLeaseLock on its head object (rados_lock_exclusive), cookie = options.owner, for
// lease_s seconds, renewed every lease_s / 3 by a thread of the pool (started with the first
// lease). Writes check the lease first: once a renewal has failed for lease_s the lease is
// lost and writes fail with EIO (another gateway may hold it by then). A lock held under our
// own cookie by another client is our own predecessor that died (one gateway per backing store
// id): it is broken at once; a lock of another owner expires lease_s after its last renewal.
//
// Threading: every method, and every method of its files, is safe from many threads (the
// librados I/O context is thread-safe; the size of each open file is shared by the handles of
// that path in this process and guarded by a mutex).
// Ownership: files opened here must not outlive the pool.
#pragma once

#include <rados/librados.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pool/pool.h"
#include "pool/write_lease.h"

namespace cafs::pool {

struct RadosPoolOptions {
  std::string name;            // the CAFS pool name
  std::string conf;            // ceph.conf path; empty: librados' default search ($CEPH_CONF, ...)
  std::string user = "admin";  // cephx client id (client.<user>)
  std::string keyring;         // keyring path; empty: from the conf
  std::string rados_pool;      // the RADOS pool (must exist)
  std::string ns;              // RADOS namespace inside it; empty: the default namespace
  int op_timeout_s = 30;
  int lease_s = 30;   // duration of a write lease (renewed every lease_s / 3)
  std::string owner;  // cookie of the write leases; empty: a random one
};

class RadosPool final : public Pool {
 public:
  static constexpr std::uint64_t kObjectSize = 4ull << 20;
  static constexpr const char* kSizeXattr = "cafs.size";
  static constexpr const char* kLeaseLock = "cafs.lease";

  explicit RadosPool(RadosPoolOptions options);
  ~RadosPool() override;

  const std::string& name() const override { return options_.name; }
  std::string location() const override;
  std::string_view kind() const override { return "rados"; }
  PoolCapabilities capabilities() const override {
    return {.random_write = true,
            .sparse = true,
            .discard = true,
            .atomic_rename = false,
            .write_lease = true};
  }

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

  // The shared state of an open file (one per path and pool, whatever the number of handles).
  struct FileState {
    std::mutex mu;                       // held by every change of size (and its xattr)
    std::atomic<std::uint64_t> size{0};  // read without mu
  };

  // The I/O context, connecting first if needed; Unavailable naming the pool otherwise.
  Result<rados_ioctx_t> Io();
  // A librados return code as a Status naming the pool, the call and the object.
  Status Error(int rc, std::string_view what, const std::string& object) const;
  const RadosPoolOptions& options() const { return options_; }

 private:
  Status Connect();  // requires mu_
  // Size recorded in the head of `object`; NotFound when there is no head.
  Result<std::uint64_t> ReadSize(rados_ioctx_t io, const std::string& object);
  // Removes the data objects of indexes [first, last] (missing ones are fine).
  Status RemoveDataObjects(rados_ioctx_t io, const std::string& head, std::uint64_t first,
                           std::uint64_t last);
  // Names of the objects in the namespace that start with `prefix` (data objects excluded).
  Result<std::vector<std::string>> ListHeads(std::string_view prefix, std::size_t limit);
  std::shared_ptr<FileState> StateOf(const std::string& object, std::uint64_t size);
  void ForgetState(const std::string& object);
  // The write lease of `object` (rados_pool.cc "RadosLease"); starts the renewer.
  Result<std::unique_ptr<WriteLease>> TakeLease(rados_ioctx_t io, const std::string& object);
  void RenewLoop();

  const RadosPoolOptions options_;
  std::mutex mu_;
  rados_t cluster_ = nullptr;   // guarded by mu_ until io_ is set, constant afterwards
  rados_ioctx_t io_ = nullptr;  // idem
  std::mutex states_mu_;
  std::map<std::string, std::weak_ptr<FileState>> states_;  // guarded by states_mu_
  const std::string cookie_;                                // options_.owner, or a random id
  std::mutex renew_mu_;
  std::condition_variable renew_cv_;
  bool stopping_ = false;  // guarded by renew_mu_
  std::thread renewer_;    // started (under renew_mu_) by the first lease; joined by ~RadosPool
  LeaseTable leases_;
};

// The name of data object `index` (>= 1) of the file whose head is `head`.
std::string RadosDataObjectName(const std::string& head, std::uint64_t index);

}  // namespace cafs::pool
