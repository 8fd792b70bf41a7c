// DirtyMap and DirtyTrackingFile: which byte ranges of a pool file changed since a migration
// copied them (docs/migration.md "Dirty map"; the dirty log of LVM pvmove / dm-mirror).
//
// The map is over pool-file offsets (header included), at chunk granularity: bit k covers
// [k * chunk, (k + 1) * chunk). DirtyTrackingFile is an env::File decorator that marks every
// range it writes, truncates, punches or allocates AFTER the inner operation returned (also
// when it failed: some bytes may have landed). The copier clears a chunk's bit BEFORE it reads
// the chunk; so for any write, either the copier's read saw it, or its mark came after the
// clear and the chunk is copied again. No lock is shared with the writers: the order of
// "write, then mark" against "clear, then read" is enough (pwrite/pread visibility).
//
// Threading: every method of both classes is safe from many threads.
// Ownership: a DirtyTrackingFile owns its inner file and shares the map (shared_ptr), which
// outlives the open file if the migration keeps it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "env/file.h"
#include "env/file_wrapper.h"

namespace cafs::core {

class DirtyMap {
 public:
  explicit DirtyMap(std::uint64_t chunk_bytes) : chunk_(chunk_bytes) {}
  DirtyMap(const DirtyMap&) = delete;
  DirtyMap& operator=(const DirtyMap&) = delete;

  std::uint64_t chunk_bytes() const { return chunk_; }
  // Marks [offset, offset + length) (length 0: nothing). True when a chunk was not marked yet.
  bool Mark(std::uint64_t offset, std::uint64_t length);
  // The lowest dirty chunk at or after `from`, its bit cleared; nullopt when none is dirty.
  std::optional<std::uint64_t> TakeNext(std::uint64_t from);
  // Number of dirty chunks.
  std::uint64_t DirtyChunks() const;
  void MarkAll(std::uint64_t size) { Mark(0, size); }
  // The lowest dirty chunk at or after `from`, its bit kept; nullopt when none is.
  std::optional<std::uint64_t> Next(std::uint64_t from) const;
  // The bitmap (bit k of word k/64), for a persistent copy (cafs/mirrored_file.h), and back.
  std::vector<std::uint64_t> Words() const;
  void SetWords(std::vector<std::uint64_t> words);

 private:
  const std::uint64_t chunk_;
  mutable std::mutex mu_;
  std::vector<std::uint64_t> words_;  // guarded by mu_; bit k of word k/64
  std::uint64_t count_ = 0;           // guarded by mu_
};

class DirtyTrackingFile final : public env::FileWrapper {
 public:
  DirtyTrackingFile(std::unique_ptr<env::File> inner, std::shared_ptr<DirtyMap> map)
      : FileWrapper(std::move(inner)), map_(std::move(map)) {}

  // The decorated file, given back (the decorator is then empty: do not use it again).
  std::unique_ptr<env::File> Release() { return std::move(inner_); }
  const std::shared_ptr<DirtyMap>& map() const { return map_; }

  Status WriteAt(std::uint64_t offset, ByteView data) override;
  Status Truncate(std::uint64_t size) override;
  Status PunchHole(std::uint64_t offset, std::uint64_t length) override;
  Status Allocate(std::uint64_t offset, std::uint64_t length) override;

 private:
  const std::shared_ptr<DirtyMap> map_;
};

}  // namespace cafs::core
