// WriteLease: "a pool file is open for writing by one gateway at a time" (issue 18, docs/pools.md
// "Write leases"). A kind that can (PoolCapabilities::write_lease) takes a lease held in the
// shared storage itself when a file is opened for writing, and keeps it while any handle of that
// file opened for writing through the same Pool object is open: one lease per (pool object,
// file), shared by the handles, released with the last one. The kind names the file by a key
// that a rename keeps where its rename keeps the open handles (posix: device and inode, so a
// copy made under a temporary name and renamed into place while open is still this gateway's;
// rados: the head object, whose rename is a copy that open handles do not follow). A second gateway
// (another Pool object, normally another process) opening the path for writing meanwhile gets
// LeaseHeld: errno EBUSY, the pool, the path and, where the kind can tell, the holder.
//
// How each kind holds it (a crashed holder never blocks the file for ever):
//   posix  an OFD write lock (fcntl F_OFD_SETLK) on the pool file: the kernel (or the NFS
//          server, for a pool on an NFS mount) drops it when the holder dies; no expiry needed.
//   rados  rados_lock_exclusive on the head object with a duration (lease_s), cookie = the
//          owner (the gateway's backing store id), renewed every lease_s / 3 in the background;
//          a holder that died is broken by its own successor (same owner) or expires.
//   s3     none (S3 has no compare-and-swap): write_lease = false.
//
// Ownership: the LeaseTable owns each lease and counts its users: Hold hands out a shared_ptr
// whose last copy gives the lease back to the table, which releases it (under the table's
// mutex, so a release and a new acquire of the same path never overlap). The table's state is
// shared with those shared_ptrs, so one may outlive the table (the lease is then released
// when it goes); the lease itself may need more of its pool (RadosLease: its I/O context).
// Threading: LeaseTable is safe from many threads; WriteLease::Check is safe from many threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace cafs::pool {

// The error of an open for writing whose lease another gateway holds: EBUSY, naming the pool,
// the path and the holder (empty: not known). The front-ends return EBUSY and the gateway logs
// and audits it (docs/gateway.md).
Status LeaseHeld(std::string_view pool, std::string_view path, std::string_view holder);
// Whether `s` is such an error.
bool IsLeaseHeld(const Status& s);

class WriteLease {
 public:
  virtual ~WriteLease() = default;  // releases the lease (best effort: errors are logged)
  // OK while the lease is held; EIO naming the path once it was lost (a renewal failed for
  // longer than the lease lasts): writes through the file must stop, the file be reopened.
  virtual Status Check() const = 0;
};

// The leases a Pool object holds, by file key, shared by the handles of a file.
class LeaseTable {
 public:
  LeaseTable() = default;
  LeaseTable(const LeaseTable&) = delete;
  LeaseTable& operator=(const LeaseTable&) = delete;

  using Acquire = std::function<Result<std::unique_ptr<WriteLease>>()>;
  // The held lease of the file `key` names (write_lease.h: the kind's file key), or a new one
  // from `acquire` (called with the table locked, so two threads opening the same file never
  // both acquire).
  Result<std::shared_ptr<WriteLease>> Hold(const std::string& key, const Acquire& acquire);
  // Calls `fn` for every held lease, with the table locked (for a renewer: no lease is
  // released meanwhile).
  void ForEach(const std::function<void(WriteLease&)>& fn);

 private:
  struct Entry {
    std::unique_ptr<WriteLease> lease;
    int users = 0;
  };
  struct State {
    std::mutex mu;
    std::map<std::string, Entry> leases;  // guarded by mu
  };
  static void Release(State& state, const std::string& path);

  const std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace cafs::pool
