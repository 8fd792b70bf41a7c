// FuseFrontend: the gateway core served through libfuse3's low-level API (multi-threaded
// session loop, allow_other, 1 MiB writes). Thin by design (STYLE.md): every callback turns
// the kernel's request into one Gateway call and replies; ToFuseErrno() is the one place a
// Status becomes an errno, and an exception thrown below a callback ends in one place too
// (`Guarded` in fuse_frontend.cc: logged, answered EIO; it never reaches libfuse). Inode numbers
// come from an InodeTable (never pointers); the caller of every operation is `server_id` (this
// host's registered virtualization server id).
//
// Ownership: the Gateway is not owned and must outlive the front-end.
// Threading: Run() blocks in the session loop (worker threads call the Gateway concurrently);
// RequestStop() may be called from any thread or a signal handler's helper thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cafs/gateway.h"
#include "frontend/fuse/inode_table.h"

struct fuse_session;

namespace cafs::frontend {

struct FuseOptions {
  std::string mountpoint;
  std::string server_id;
  bool allow_other = false;  // needs root or user_allow_other in /etc/fuse.conf
  bool debug = false;
  unsigned max_idle_threads = 16;
  double attr_timeout_s = 1.0;
  // The kernel's FUSE writeback cache (FUSE_CAP_WRITEBACK_CACHE): write() returns once the
  // data is in the page cache; the kernel sends it to the Gateway (merged up to max_write)
  // in the background, at fsync and at close, so policy, audit and encryption apply when the
  // data reaches the gateway, at the latest before fsync/close return. A write the policy
  // refuses by then (window closed) fails that fsync/close. docs/performance.md.
  bool writeback_cache = true;
  // Read-ahead of the mount in KiB, set through /sys/class/bdi/<dev>/read_ahead_kb at the
  // first open (the kernel caps FUSE's own negotiation at 128 KiB): fewer, larger READ
  // requests for sequential reads. Needs root; skipped silently otherwise. 0: kernel default.
  unsigned read_ahead_kb = 1024;
};

// The errno (positive) a front-end returns for `s`; 0 for OK.
int ToFuseErrno(const Status& s);

class FuseFrontend {
 public:
  // Creates the session and mounts it. Errors: IoError naming the mount point.
  static Result<std::unique_ptr<FuseFrontend>> Mount(core::Gateway* gateway, FuseOptions options);
  ~FuseFrontend();  // unmounts

  // Serves requests until SIGINT/SIGTERM/SIGHUP, RequestStop() or an unmount.
  Status Run();
  // Makes Run() return (unmounts lazily so a busy mount does not block).
  void RequestStop();

  // For the callbacks (fuse_req_userdata).
  struct Ops;

 private:
  FuseFrontend(core::Gateway* gateway, FuseOptions options);

  core::Gateway* const gateway_;
  const FuseOptions options_;
  InodeTable inodes_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  std::once_flag read_ahead_once_;
  void TuneReadAhead();
  std::atomic<std::uint64_t> next_dir_{1};
  std::mutex dirs_mu_;
  // An open directory: the listing taken at opendir, served by offset. A readdir at offset 0
  // (the first read, rewinddir, seekdir(0)) lists the directory again if a name changed since
  // (namespace_gen_): POSIX wants entries added or removed before opendir/rewinddir to show.
  struct OpenDirectory {
    std::vector<core::DirEntry> entries;
    std::uint64_t generation = 0;  // namespace_gen_ when `entries` was listed
  };
  // Bumped before and after every request that adds, removes or renames a name: an open
  // directory's listing older than the last change is taken again at offset 0.
  std::atomic<std::uint64_t> namespace_gen_{0};
  std::unordered_map<std::uint64_t, OpenDirectory> dirs_;  // guarded by dirs_mu_
};

}  // namespace cafs::frontend
