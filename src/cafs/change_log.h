// Change tracking for DR replicas (docs/replicas.md "Change log"): which chunks of a pool file
// changed since its last replica, kept across restarts so an incremental replica copies only
// those chunks and never reads unchanged data.
//
//  - FileChanges: the change state of one pool file (by file GUID), shared by every open
//    writable descriptor of it and by the replica that copies it. In memory: a bitmap of
//    chunks (pool-file offsets, header included; chunk k = [k*chunk, (k+1)*chunk)) changed
//    since the replica `base()`. On disk: the change log `<backing root>/.cafs-changes-<GUID>`
//    (a regular file without "##": the Volume hides it, fsck ignores it), byte table in
//    docs/replicas.md, always replaced whole (env::ReplaceFileAtomically).
//  - Crash safety, the rule: before the first change after the log was last written "clean"
//    reaches the pool file, the log is rewritten "active" (synced). It is written "clean"
//    with the bitmap when the last writable descriptor closes and when a replica commits with
//    the file closed. A log found "active" at load is a crash (or a kill) with writes that may
//    be anywhere: every chunk counts as changed (the next replica of the file is full). A
//    missing or unreadable log has no base: full as well.
//  - ChangeTrackingFile: the env::File decorator on a writable pool file (Volume's open,
//    create and migration paths) that feeds FileChanges: BeginChange before the inner write,
//    truncate or punch (log active; copy-before-write of a running replica's chunks), Mark
//    after it (also when it failed: some bytes may have landed).
//  - The point in time (a replica cut, FileChanges::CutOver): every change of the file passes
//    a gate (BeginChange..EndChange); CutOver closes the gate of every file of a VM at once,
//    waits for changes in flight, takes the bitmaps, installs a ReplicaSnapshot per file and
//    reopens: the write pause is that wait (at most one in-flight pool-file write per writer,
//    no I/O by the cut itself). After it, a write to a chunk the replica has not copied yet
//    first copies the chunk's old bytes to the replica (copy-before-write: ext4 has no
//    reflinks), so the replica holds every file exactly as it was at the cut.
//
// Threading: all methods are safe from many threads. Lock order: a FileChanges' gate (the cut
// holds the gates of several files in GUID order), then its mu_, then a ReplicaSnapshot's mu_.
// Ownership: ChangeTracker hands out shared_ptr<FileChanges>; it keeps weak references only.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "env/env.h"
#include "env/file.h"
#include "env/file_wrapper.h"
#include "util/uuid.h"

namespace cafs::core {

inline constexpr std::string_view kChangeLogPrefix = ".cafs-changes-";
inline constexpr std::uint64_t kDefaultChangeChunk = 64 * 1024;

// A set of chunk indices (a growable bitmap). Not thread-safe: its owner locks.
class ChunkSet {
 public:
  void Add(std::uint64_t k);
  void AddRange(std::uint64_t offset, std::uint64_t length, std::uint64_t chunk);
  bool Contains(std::uint64_t k) const;
  void Remove(std::uint64_t k);
  void Merge(const ChunkSet& other);
  // The lowest member >= from, or nullopt.
  std::optional<std::uint64_t> Next(std::uint64_t from) const;
  std::uint64_t Count() const;
  void Clear() { words_.clear(); }
  // Serialized as a bitmap of ceil(bits/8) bytes (bit k = byte k/8, bit k%8) and back.
  std::vector<std::uint8_t> ToBitmap() const;
  static ChunkSet FromBitmap(ByteView bitmap);
  std::uint64_t BitCount() const { return words_.size() * 64; }

 private:
  std::vector<std::uint64_t> words_;
};

// One file's replica being copied (copy-before-write target; cafs/replicator.h drives it):
// the chunks still to copy and where a chunk's bytes go.
class ReplicaSnapshot {
 public:
  // Receives the bytes of chunk `k` as they were at the cut (the last chunk may be short).
  using Sink = std::function<Status(std::uint64_t k, ByteView bytes)>;
  ReplicaSnapshot(ChunkSet pending, std::uint64_t size_at_cut, std::uint64_t chunk, Sink sink)
      : pending_(std::move(pending)), size_(size_at_cut), chunk_(chunk), sink_(std::move(sink)) {}

  // Copies chunk k from `src` to the sink if it is still pending (then it is not any more).
  // Errors are also kept (status()): the replica fails, the writer that triggered it does not.
  Status CopyIfPending(env::File& src, std::uint64_t k);
  // The chunks of [offset, offset + length) below the size at the cut, copied if pending.
  void CopyRange(env::File& src, std::uint64_t offset, std::uint64_t length);
  // The lowest pending chunk at or after `from`.
  std::optional<std::uint64_t> NextPending(std::uint64_t from) const;
  std::uint64_t size_at_cut() const { return size_; }
  std::uint64_t chunk_bytes() const { return chunk_; }
  Status status() const;

 private:
  mutable std::mutex mu_;  // held while a chunk is copied (writer and copier never interleave)
  ChunkSet pending_;       // guarded by mu_
  const std::uint64_t size_;
  const std::uint64_t chunk_;
  const Sink sink_;
  Status failed_;  // guarded by mu_; the first error
};

// The changes of one file since a replica taken at a cut.
struct ChangeCut {
  Uuid base;                // the replica the changes are relative to (nil: none)
  bool everything = false;  // the log was active at load (a crash) or missing: copy it all
  ChunkSet chunks;          // changed chunks since `base` (when !everything)
};

class FileChanges {
 public:
  // Loads the log of `guid` below `root` (missing: no base; active: everything changed).
  static Result<std::shared_ptr<FileChanges>> Load(env::Env* env, const std::string& root,
                                                   const Uuid& guid, std::uint64_t chunk);

  const Uuid& guid() const { return guid_; }
  std::uint64_t chunk_bytes() const { return chunk_; }
  Uuid base() const;

  // The write path (ChangeTrackingFile). BeginChange enters the gate (waits while a cut
  // runs), makes the log active on disk if it is not (an error is returned: the change must
  // not happen untracked) and copies the running replica's pending chunks of the range
  // [offset, offset + length) from `inner`. EndChange marks the range and leaves the gate;
  // it must follow every successful BeginChange.
  Status BeginChange(env::File& inner, std::uint64_t offset, std::uint64_t length);
  void EndChange(std::uint64_t offset, std::uint64_t length);
  // A writable descriptor opened / closed (the last close writes the log clean).
  void Opened();
  void Closed();

  // The cut (see the header comment): called with the gate closed (CloseGate) by the
  // replicator for every file of the VM; returns the changes since base() and starts a fresh
  // set. The snapshot receives the copy-before-writes until the replica ends.
  // `make` builds the snapshot from the cut (null: none). EBUSY while a replica of the file
  // runs (a snapshot is installed).
  using MakeSnapshot = std::function<std::shared_ptr<ReplicaSnapshot>(const ChangeCut&)>;
  Result<ChangeCut> CutOver(const MakeSnapshot& make);
  // The replica ended: committed -> base() becomes `replica` and the log is written (clean if
  // no descriptor is open); abandoned -> the cut's chunks count as changed again.
  Status Commit(const Uuid& replica);
  void Abandon(const ChangeCut& cut);

  // The gate: Close waits for changes in flight and holds off new ones until Open.
  void CloseGate();
  void OpenGate();

 private:
  FileChanges(env::Env* env, std::string root, Uuid guid, std::uint64_t chunk)
      : env_(env), root_(std::move(root)), guid_(guid), chunk_(chunk) {}
  // Writes the log (state active or clean) with the current bitmap. Caller holds mu_.
  Status PersistLocked(bool active);
  std::string LogPath() const;

  env::Env* const env_;
  const std::string root_;
  const Uuid guid_;
  const std::uint64_t chunk_;

  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_closed_ = false;  // guarded by gate_mu_
  unsigned in_flight_ = 0;    // guarded by gate_mu_

  mutable std::mutex mu_;
  Uuid base_;                                  // guarded by mu_
  bool everything_ = false;                    // guarded by mu_
  ChunkSet changed_;                           // guarded by mu_
  bool active_on_disk_ = false;                // guarded by mu_
  unsigned open_ = 0;                          // guarded by mu_
  std::shared_ptr<ReplicaSnapshot> snapshot_;  // guarded by mu_
};

// The registry of FileChanges by file GUID (one per Volume). Not owned by the Volume.
class ChangeTracker {
 public:
  ChangeTracker(env::Env* env, std::string backing_root,
                std::uint64_t chunk_bytes = kDefaultChangeChunk)
      : env_(env), root_(std::move(backing_root)), chunk_(chunk_bytes) {}

  // The shared change state of file `guid` (its log loaded on first use).
  Result<std::shared_ptr<FileChanges>> Acquire(const Uuid& guid);
  // `file` (a writable pool file of `guid`) decorated with a ChangeTrackingFile.
  Result<std::unique_ptr<env::File>> Wrap(const Uuid& guid, std::unique_ptr<env::File> file);
  // Removes the log of a removed file (OK when there is none).
  Status Forget(const Uuid& guid);
  std::uint64_t chunk_bytes() const { return chunk_; }

 private:
  env::Env* const env_;
  const std::string root_;
  const std::uint64_t chunk_;
  std::mutex mu_;
  std::map<Uuid, std::weak_ptr<FileChanges>> files_;  // guarded by mu_
};

class ChangeTrackingFile final : public env::FileWrapper {
 public:
  ChangeTrackingFile(std::unique_ptr<env::File> inner, std::shared_ptr<FileChanges> changes);
  ~ChangeTrackingFile() override;

  Status WriteAt(std::uint64_t offset, ByteView data) override;
  Status Truncate(std::uint64_t size) override;
  Status PunchHole(std::uint64_t offset, std::uint64_t length) override;
  Status Allocate(std::uint64_t offset, std::uint64_t length) override;

 private:
  // Runs `op` between BeginChange and EndChange of [offset, offset + length).
  Status Change(std::uint64_t offset, std::uint64_t length, const std::function<Status()>& op);

  const std::shared_ptr<FileChanges> changes_;
};

}  // namespace cafs::core
