// Nfs3OpenFiles: NFS is stateless, but opening a gateway file per READ/WRITE would read and
// check the pool file header every time. This bounded cache keeps gateway FileHandles open,
// keyed by NFS file handle: Acquire() returns the cached one or opens it; entries idle longer
// than `idle` are released by ReleaseIdle() (the program's timer calls it) and the least
// recently used one when the cache is full. Releasing syncs a file that was written
// (Gateway::Release), so data acknowledged UNSTABLE is durable at the latest then; a failed
// release sync is reported through `on_lost_write` (the program changes its write verifier so
// clients resend uncommitted data).
//
// Each entry also keeps the path it was opened at and the gateway's namespace generation at
// which that path was last known to be the handle's (Gateway::namespace_generation): while
// the generation is unchanged, READ/WRITE/COMMIT/GETATTR use the path without resolving the
// handle again.
//
// Ownership: a handle is released when it leaves the cache AND the last in-flight user drops
// its shared_ptr, never under a request. Threading: all methods are safe from many threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cafs/gateway.h"
#include "util/bytes.h"

namespace cafs::frontend::nfs {

class Nfs3OpenFiles {
 public:
  struct Entry {
    Entry(core::Gateway* gw, core::Caller caller, core::FileHandle h, std::string opened_path,
          std::uint64_t checked_generation, std::function<void()> on_lost_write)
        : gateway(gw),
          opener(std::move(caller)),
          handle(h),
          path(std::move(opened_path)),
          generation(checked_generation),
          lost(std::move(on_lost_write)) {}
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    core::Gateway* const gateway;
    const core::Caller opener;
    const core::FileHandle handle;
    const std::string path;                 // the gateway path it was opened at
    std::atomic<std::uint64_t> generation;  // when `path` was last seen to be current
    const std::function<void()> lost;
  };
  using EntryPtr = std::shared_ptr<Entry>;

  Nfs3OpenFiles(core::Gateway* gateway, std::size_t capacity, std::chrono::milliseconds idle,
                std::function<void()> on_lost_write);
  ~Nfs3OpenFiles();  // releases every entry (in-flight users keep theirs until they finish)

  // The cached handle for `fh`, or Gateway::Open(path) of it; `generation`: the gateway's
  // namespace generation read before `path` was resolved from `fh`.
  Result<EntryPtr> Acquire(const core::Caller& caller, ByteView fh, const std::string& path,
                           std::uint64_t generation);
  // Adds a handle the caller already opened at `path` (CREATE); replaces an older one.
  EntryPtr Adopt(const core::Caller& caller, ByteView fh, core::FileHandle handle,
                 const std::string& path, std::uint64_t generation);
  // The cached handle for `fh`, or null (COMMIT of a file no longer open has nothing to sync).
  EntryPtr Find(ByteView fh);
  // Drops `fh` (REMOVE, RENAME over it).
  void Evict(ByteView fh);
  void ReleaseIdle();
  std::size_t size() const;

 private:
  struct Slot {
    EntryPtr entry;
    std::chrono::steady_clock::time_point last_used;
  };
  EntryPtr Insert(std::string key, EntryPtr entry);

  core::Gateway* const gateway_;
  const std::size_t capacity_;
  const std::chrono::milliseconds idle_;
  const std::function<void()> on_lost_write_;
  mutable std::mutex mu_;
  std::map<std::string, Slot> slots_;  // guarded by mu_; key: the NFS handle bytes
};

}  // namespace cafs::frontend::nfs
