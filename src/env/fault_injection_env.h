// FaultInjectionEnv: wraps another Env and injects the failures storage code must survive
// (after RocksDB's FaultInjectionTestFS and LevelDB's fault_injection_test):
//
//  (a) full disk: FailWritesAfter(n) lets n more bytes through (across all files), then
//      writes fail with ENOSPC. The write that crosses the limit stores its first bytes (up
//      to the limit) and then fails, like a real disk. SetWriteFault(pred) fails any write
//      the predicate selects, writing nothing.
//  (b) crash: every write/truncate through a file opened here is recorded in an undo log
//      per file (the bytes and size it replaced) until that file's next successful Sync().
//      DropUnsyncedData() rolls every file back to its state at its last Sync (or at open,
//      for never-synced files), exactly as a power cut that lost the page cache would.
//      Files are tracked by inode, so a file renamed, linked or removed after opening is
//      rolled back wherever it is.
//  (b') directory changes, once ModelDirectoryCrashes(stash_dir) was called: every create,
//      mkdir, mknod, symlink, link, rename and unlink/rmdir made through this Env (path-based
//      methods or Dir handles) is journalled until Sync of the directory it changed (of both
//      directories for a rename or link between two). DropUnsyncedData undoes the journalled
//      changes newest first — a created name is removed (a created directory with all it
//      holds), a removed name comes back, a rename is reversed, a replaced target restored —
//      as a power cut that lost the directory blocks would. Removed and replaced entries are
//      kept as hard links in `stash_dir` (same file system as the modelled directories; kept
//      out of every listing the caller makes) until their removal is durable. Without it
//      directory changes are durable at once (the default: existing users keep their model).
//      Attribute changes (chmod, chown, times) are not modelled.
//  (c) read errors: SetReadFault(pred) fails the reads it selects with EIO.
//  (c') SetNoWaitMiss(pred): File::ReadAtNoWait answers EAGAIN for the reads it selects, as
//      for data not in the page cache (ReadAt still reads them): tests of the blocking fallback.
//  (d) SetSyncFault(pred) fails File::Sync/SyncDir with EIO (the undo log is then kept:
//      the data is not durable); SetRenameFault(true) fails Rename with EIO.
//  (e) CrashAfter(n): the process "dies" after n more durable steps (a write, truncate, sync
//      or directory change): every later one fails with EIO and does nothing, so a test can
//      stop an operation at each of its steps in turn, then DropUnsyncedData() and restart.
//
// Counters (bytes_written, syncs, file_stats, nowait_misses) let tests assert what reached the
// target.
//
// Threading: safe from any thread. Call DropUnsyncedData when no I/O is in flight; file
// handles opened before it stay usable and see the rolled-back content.
// Ownership: `target` is not owned and must outlive this Env and all files opened here.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "env/env.h"

namespace cafs::env {

class FaultInjectionEnv final : public EnvWrapper {
 public:
  // path, offset, length of the I/O about to happen; true = inject the failure.
  using IoPredicate =
      std::function<bool(const std::string& path, std::uint64_t offset, std::uint64_t length)>;
  using PathPredicate = std::function<bool(const std::string& path)>;

  explicit FaultInjectionEnv(Env* target);
  ~FaultInjectionEnv() override;

  Result<std::unique_ptr<File>> OpenFile(const std::string& path,
                                         const OpenOptions& options) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::unique_ptr<Dir>> OpenDirectory(const std::string& path) override;

  // (b') Starts modelling directory changes; `stash_dir` is created if missing.
  Status ModelDirectoryCrashes(const std::string& stash_dir);
  // Journalled directory changes not yet durable (for tests of tests).
  std::size_t pending_directory_changes();
  // (e) Fail every durable step after `steps` more; ClearFaults() ends the "crash".
  void CrashAfter(std::uint64_t steps);
  bool crashed();

  // (a) ENOSPC after `bytes` more bytes; ClearWriteLimit() lifts it.
  void FailWritesAfter(std::uint64_t bytes);
  void ClearWriteLimit();
  void SetWriteFault(IoPredicate pred);
  // (c)
  void SetReadFault(IoPredicate pred);
  // (c')
  void SetNoWaitMiss(IoPredicate pred);
  // (d)
  void SetSyncFault(PathPredicate pred);
  void SetRenameFault(bool fail);
  // Removes every fault (keeps the undo logs).
  void ClearFaults();

  // (b) Rolls every file opened through this Env back to its last synced state.
  Status DropUnsyncedData();

  std::uint64_t bytes_written() const { return bytes_written_.load(); }
  std::uint64_t syncs() const { return syncs_.load(); }
  // File::Stat calls (fstat) on files opened here, and ReadAtNoWait calls answered EAGAIN.
  std::uint64_t file_stats() const { return file_stats_.load(); }
  std::uint64_t nowait_misses() const { return nowait_misses_.load(); }

  struct FileState;  // per-inode undo log (fault_injection_env.cc)
  struct DirChange;  // one journalled directory change (fault_injection_env.cc)
  class Journal;     // the directory journal (fault_injection_env.cc)

  // Used by the files and directories opened here (not for callers).
  Status BeforeWrite(const std::string& path, std::uint64_t offset, std::uint64_t length,
                     std::uint64_t* allowed);
  Status BeforeRead(const std::string& path, std::uint64_t offset, std::uint64_t length);
  // BeforeRead for ReadAtNoWait, which (c') may also answer EAGAIN.
  Status BeforeNoWaitRead(const std::string& path, std::uint64_t offset, std::uint64_t length);
  void CountStat() { file_stats_.fetch_add(1); }
  Status BeforeSync(const std::string& path);
  Status BeforeDirChange(const std::string& what, const std::string& path);
  void CountSync() { syncs_.fetch_add(1); }
  Journal* journal() { return journal_.get(); }
  // Wraps a file opened on the target: tracks its unsynced writes by inode. `reopen` opens a
  // read-write handle on the same file (for rolling back).
  Result<std::unique_ptr<File>> Track(std::unique_ptr<File> file, const OpenOptions& options,
                                      const std::function<Result<std::unique_ptr<File>>()>& reopen);

 private:
  Status StepLocked(const std::string& what, const std::string& path);  // (e); holds mu_

  std::unique_ptr<Journal> journal_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> states_;  // by "dev:ino"; guarded by mu_
  bool crash_armed_ = false;                                  // guarded by mu_
  bool crashed_ = false;                                      // guarded by mu_
  std::uint64_t crash_budget_ = 0;                            // guarded by mu_
  bool write_limited_ = false;                                // guarded by mu_
  std::uint64_t write_budget_ = 0;                            // guarded by mu_
  IoPredicate write_fault_;                                   // guarded by mu_
  IoPredicate read_fault_;                                    // guarded by mu_
  IoPredicate nowait_miss_;                                   // guarded by mu_
  PathPredicate sync_fault_;                                  // guarded by mu_
  bool rename_fault_ = false;                                 // guarded by mu_
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> syncs_{0};
  std::atomic<std::uint64_t> file_stats_{0};
  std::atomic<std::uint64_t> nowait_misses_{0};
};

}  // namespace cafs::env
