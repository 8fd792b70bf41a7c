// Mirrored storage (policy <replicas> N > 1, docs/redirectors.md "Mirrored files"): one file's
// N copies in N pools, kept identical; the anchors are dm-mirror / dm-raid1 with a dirty
// region log and `mdadm` write-intent bitmaps.
//
//  - MirrorSet: the copies of one file (copy 0 is the primary: the pool of the redirector's
//    backing name). Every write, truncate, punch and allocate goes to every copy in sync; a
//    Sync syncs every one of them, so an acknowledged fsync/COMMIT is on every healthy copy.
//    Reads come from the first copy in sync; a read error on one copy retries the next.
//  - A copy that fails (EIO, ENOSPC, a pool that vanished: any error of a write, sync,
//    truncate, or a failed pool probe at Sync) becomes **stale**: no more I/O goes to it, the
//    file stays available on the others (degraded), the failure is reported once to the
//    event callback (the Volume audits and alerts it), and the chunks written from then on
//    are recorded in the copy's DirtyMap. The map is persisted in the **mirror log**
//    (MirrorLog, `.cafs-mirror-<file GUID>` in the backing store's root) BEFORE the write
//    that newly dirties a chunk is issued (write-intent, as md bitmaps do): after a crash the
//    log names every chunk a stale copy may miss. A write that cannot persist the log fails
//    (EIO) rather than leave a divergence nobody knows of.
//  - Crash while healthy: the log is also written once when an open file is first written
//    (`open` flag) and removed when it is closed after a clean sync of every copy; a log that
//    still has the flag after a restart makes every non-primary in-sync copy stale with every
//    chunk dirty (full resync: a write may have reached one copy and not the other).
//  - Resync (BeginResync / ResyncStep): a fresh handle of the returned copy is installed, the
//    copy then receives every new write ("resyncing"), and the chunks of its map are copied
//    from an in-sync copy one at a time, each under the exclusive chunk lock of that chunk
//    only (chunk_locks_: every read and write holds the shared lock of the chunks it touches,
//    so no write can interleave with the copy of its chunk and the copy never overwrites newer
//    data, while I/O on the other chunks goes on). At the end of each ResyncStep the copy is
//    synced and the chunks it copied are cleared from the log (a restart resumes where the
//    last step ended). When none is left: under the whole-file I/O lock (briefly) the copy is
//    truncated to the source's size and synced, marked in sync and the log saved (or removed
//    when every copy is in sync). A crash leaves the log of the last step: the resync goes on
//    from there (a crash while the file was written: a full resync, as above). Ciphertext
//    only: no key is needed.
//
// Threading: every method is safe from many threads. Lock order: resync_mu_ (a resync's
// driver) -> io_mu_ (shared for I/O and
// a resync chunk, exclusive for a handle swap and the end of a resync) -> chunk_locks_ (one
// range per thread) -> state_mu_ (health, maps, the log).
// Ownership: the set owns its copies' handles and its log; MirroredFile shares the set.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cafs/dirty_map.h"
#include "env/dir.h"
#include "env/env.h"
#include "env/file.h"
#include "format/range_lock.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::core {

// Granularity of the dirty map of a stale copy (pool-file bytes, header included).
inline constexpr std::uint64_t kMirrorChunkBytes = 1 << 20;
// The mirror log of file G in the backing store's root: `.cafs-mirror-G` (a regular file
// without "##": never listed; `.cafs-mirror-G.new` while it is replaced).
inline constexpr std::string_view kMirrorLogPrefix = ".cafs-mirror-";

enum class ReplicaHealth { kInSync, kStale, kResyncing };
// "in-sync", "stale", "resyncing".
std::string_view ReplicaHealthName(ReplicaHealth health);

// What cafsd shows of one copy.
struct ReplicaStatus {
  std::string pool;
  std::string pool_path;
  ReplicaHealth health = ReplicaHealth::kInSync;
  std::uint64_t dirty_bytes = 0;    // chunks it misses, times the chunk size
  std::string error;                // why it went stale (empty when in sync)
  std::int64_t stale_since_ms = 0;  // Unix ms it first went stale (0: in sync, or unknown)
};

// The content of a mirror log (byte table in docs/redirectors.md "Mirror log").
struct MirrorLogRecord {
  Uuid guid;
  bool open = false;  // written since opened and not closed cleanly
  std::uint64_t chunk_bytes = kMirrorChunkBytes;
  struct Copy {
    bool stale = false;
    std::vector<std::uint64_t> words;  // DirtyMap::Words
    std::int64_t stale_since_ms = 0;   // Unix ms it went stale (version 1 logs: 0)
  };
  std::vector<Copy> copies;  // in redirector order: primary first
};
std::string EncodeMirrorLog(const MirrorLogRecord& record);
// Corruption for a bad magic, version, length or checksum.
Result<MirrorLogRecord> DecodeMirrorLog(ByteView bytes);

// The persistent mirror log of one file, in the backing store's root (through the Env seam).
// `dir` is not owned and must outlive the log. Threading: the caller serializes (MirrorSet
// calls it under its state_mu_).
class MirrorLog {
 public:
  MirrorLog(env::Dir* dir, const Uuid& guid);
  // nullopt when there is none.
  Result<std::optional<MirrorLogRecord>> Load();
  // Written under `<name>.new`, synced, renamed over `<name>`, the directory synced.
  Status Save(const MirrorLogRecord& record);
  // Unlinked and the directory synced; OK when there is none.
  Status Remove();
  static std::string NameFor(const Uuid& guid);
  // The GUIDs of the mirror logs in `dir` (names `.cafs-mirror-<GUID>`; a `.new` left by a
  // crash is not one). The directory's listing error.
  static Result<std::vector<Uuid>> List(env::Dir& dir);

 private:
  env::Dir* const dir_;
  const Uuid guid_;
  const std::string name_;
};

// A copy's failure or return, for the Volume to audit and alert.
struct ReplicaEvent {
  enum class Kind { kFailed, kResynced };
  Kind kind = Kind::kFailed;
  Uuid guid;
  std::string pool;
  std::string pool_path;
  std::string detail;  // the error, or what the resync copied
};
using ReplicaEventFn = std::function<void(const ReplicaEvent&)>;

class MirrorSet {
 public:
  struct Copy {
    std::string pool;
    std::string pool_path;
    std::unique_ptr<env::File> file;     // null: could not be opened (stale)
    std::function<Status()> probe = {};  // the pool's CheckAvailable; called at Sync
    std::string error = {};              // why `file` is null
  };
  // `copies[0]` is the primary. Loads the log: copies it calls stale stay stale, a copy
  // without a handle becomes stale with every chunk dirty, a log left `open` by a crash
  // makes every copy but the first in-sync one stale and fully dirty. IoError(EIO) when no
  // in-sync copy has a handle.
  static Result<std::shared_ptr<MirrorSet>> Open(const Uuid& guid, std::vector<Copy> copies,
                                                 std::unique_ptr<MirrorLog> log,
                                                 ReplicaEventFn events);
  // Syncs every in-sync copy and removes the log when all are in sync (clean close).
  ~MirrorSet();
  MirrorSet(const MirrorSet&) = delete;
  MirrorSet& operator=(const MirrorSet&) = delete;

  const Uuid& guid() const { return guid_; }
  std::vector<ReplicaStatus> Replicas() const;
  bool Degraded() const;

  // env::File semantics (file.h), over the copies.
  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out);
  // From the in-sync copy ReadAt would read, without waiting for storage (errno EAGAIN, not a
  // failure of that copy).
  Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out);
  Status WriteAt(std::uint64_t offset, ByteView data);
  Status Truncate(std::uint64_t size);
  Status Sync();
  Result<std::uint64_t> Size();
  Status PunchHole(std::uint64_t offset, std::uint64_t length);
  Status Allocate(std::uint64_t offset, std::uint64_t length);
  Result<env::EntryStat> Stat();
  const std::string& path() const { return primary_path_; }

  // Resync of stale copy `index` (its pool reachable again): `fresh` is a new read-write
  // handle of its pool file (GUID checked by the caller; `whole`: a new, empty file, every
  // chunk is copied). FailedPrecondition when the copy is not stale. From now on it receives
  // every write.
  Status BeginResync(std::size_t index, std::unique_ptr<env::File> fresh, bool whole);
  // Copies up to `budget` bytes of the resyncing copy's dirty chunks (at least one chunk),
  // then syncs the copy and saves the log without those chunks; true when the copy is in sync
  // again (log saved). An error of the copy makes it stale again (the chunks not saved as
  // copied stay dirty); an error of the source is returned. `*copied` gets the bytes copied.
  Result<bool> ResyncStep(std::size_t index, std::uint64_t budget, std::uint64_t* copied);
  std::size_t copies() const { return copies_.size(); }
  // Index of stale copies (candidates for a resync).
  std::vector<std::size_t> StaleCopies() const;
  // Held by whoever drives a resync of this set (Volume::ResyncStep) across BeginResync and
  // ResyncStep, so two drivers (a job and `cafsd replicas --resync`) never step one copy at
  // once. Taken before every other lock of the set.
  std::mutex& resync_mu() { return resync_mu_; }
  // Index of the copy being resynced (BeginResync done, not in sync yet), if any.
  std::optional<std::size_t> ResyncingCopy() const;

 private:
  // ReadAt (`wait`) or ReadAtNoWait from the first in-sync copy; a copy that fails otherwise is
  // marked failed and the next one read.
  Result<std::size_t> ReadFromCopy(std::uint64_t offset, MutableByteView out, bool wait);
  struct Slot {
    std::string pool;
    std::string pool_path;
    std::unique_ptr<env::File> file;  // swapped only under io_mu_ exclusive
    std::function<Status()> probe;
    ReplicaHealth health = ReplicaHealth::kInSync;  // guarded by state_mu_
    std::string error;                              // guarded by state_mu_
    DirtyMap dirty{kMirrorChunkBytes};
    std::uint64_t resync_cursor = 0;  // next chunk; guarded by state_mu_
    std::uint64_t resync_chunks = 0;  // chunks this resync copied; guarded by state_mu_
    std::int64_t stale_since_ms = 0;  // guarded by state_mu_
  };
  MirrorSet(const Uuid& guid, std::unique_ptr<MirrorLog> log, ReplicaEventFn events);

  // The copies that receive I/O now (in sync or resyncing), under state_mu_.
  std::vector<std::size_t> Targets() const;
  // The first in-sync copy other than `except`, or nullopt.
  std::optional<std::size_t> Source(std::size_t except) const;
  // Records [offset, offset + length) as missing in every stale copy; saves the log first
  // when a chunk is newly dirty (write-intent). The error when the log cannot be saved.
  Status MarkStale(std::uint64_t offset, std::uint64_t length);
  // Copy `i` failed with `why`: stale, [offset, offset + length) dirty (all of the file when
  // length is ~0), log saved, event sent (once per failure).
  Status Fail(std::size_t i, const Status& why, std::uint64_t offset, std::uint64_t length);
  // Runs `op` on every target; copies that fail are Failed with the range. The first error
  // when no copy succeeded.
  Status ForAll(const std::function<Status(env::File&)>& op, std::uint64_t offset,
                std::uint64_t length);
  // ForAll for an operation a copy may not support (punch, allocate): NotSupported is
  // returned, not held against the copy.
  Status ForAllOptional(const std::function<Status(env::File&)>& op, std::uint64_t offset,
                        std::uint64_t length);
  // The handle of the first in-sync copy (EIO when none is left). Caller holds io_mu_ (the
  // handle stays valid while it does).
  Result<env::File*> SourceFile() const;
  // The shared lock of the chunks [offset, offset + length) touch (at least one).
  format::RangeLock::Guard LockChunks(std::uint64_t offset, std::uint64_t length,
                                      format::RangeLock::Mode mode);
  // Size() for a caller that holds io_mu_.
  Result<std::uint64_t> SizeLocked();
  MirrorLogRecord RecordLocked() const;   // holds state_mu_
  std::uint64_t KnownSizeLocked() const;  // the largest copy's size; holds state_mu_
  Status SaveLocked();                    // holds state_mu_
  Status MarkOpen();

  const Uuid guid_;
  std::string primary_path_;
  std::vector<std::unique_ptr<Slot>> copies_;
  const std::unique_ptr<MirrorLog> log_;
  const ReplicaEventFn events_;
  std::mutex resync_mu_;  // see resync_mu()
  mutable std::shared_mutex io_mu_;
  format::RangeLock chunk_locks_;  // over chunk numbers (kMirrorChunkBytes); under io_mu_
  mutable std::mutex state_mu_;
  bool open_marked_ = false;  // guarded by state_mu_: the log carries `open`
};

// The env::File an EncryptedFile writes through: a handle on a shared MirrorSet (the Volume
// keeps one set per open redirector inode, so a resync and the open file use the same one).
class MirroredFile final : public env::File {
 public:
  explicit MirroredFile(std::shared_ptr<MirrorSet> set) : set_(std::move(set)) {}
  const std::shared_ptr<MirrorSet>& set() const { return set_; }

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    return set_->ReadAt(offset, out);
  }
  Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out) override {
    return set_->ReadAtNoWait(offset, out);
  }
  Status WriteAt(std::uint64_t offset, ByteView data) override {
    return set_->WriteAt(offset, data);
  }
  Status Truncate(std::uint64_t size) override { return set_->Truncate(size); }
  Status Sync() override { return set_->Sync(); }
  Result<std::uint64_t> Size() override { return set_->Size(); }
  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    return set_->PunchHole(offset, length);
  }
  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    return set_->Allocate(offset, length);
  }
  Result<env::EntryStat> Stat() override { return set_->Stat(); }
  const std::string& path() const override { return set_->path(); }

 private:
  const std::shared_ptr<MirrorSet> set_;
};

}  // namespace cafs::core
