// FileMigration: moves one file's pool file to another pool while the file stays in use
// (read and written through FUSE and NFS): issue 15 item 1, docs/migration.md. Ciphertext and
// header are copied as they are (never decrypted: no key is needed), the redirector keeps its
// inode (NFS handles and open files stay valid).
//
// Steps (docs/migration.md "State machine"):
//   Start    Volume::BeginMigration (checks; target path by the Volume's one rule for new pool
//            files; the file's writes now reach a DirtyMap), space check, the copy created at
//            `<dir>/.cafs-migrate-<GUID>` in the target pool.
//   copy     first pass over the whole pool file, `budget` bytes per Step (all-zero chunks
//            stay holes);
//   dirty    passes over the chunks written meanwhile, until at most `small_rest_bytes` are
//            dirty (or after `max_passes`);
//   switch   Volume::CommitMigration: the file's I/O stopped (a short write barrier), the last
//            dirty chunks copied, size set, copy synced, then placed, the redirector renamed
//            to the target pool (the commit point) and line 3 rewritten; the open file goes on
//            with the target pool file;
//   cleanup  the old pool file removed (GUID-checked) and its directory synced.
// Until the commit point the source is the only authoritative copy; after it the target.
// Nothing of the copy is durable before the switch syncs it: a crash before the commit point
// rolls back (Recover removes the copy, a new Start copies again), one after it rolls forward
// (Recover rewrites line 3 if needed and removes the old copy).
//
// Threading: Step is serialized by the object's mutex (the first lock of the lock order:
// FileMigration::mu_ -> Volume::open_mu_ (briefly) -> EncryptedFile range locks (all) ->
// EncryptedFile::header_mu_); the file's foreground I/O runs in parallel except during the
// switch. Ownership: `volume` is not owned and must outlive the object. Destroying an object
// that did not finish abandons the migration: the copy is removed, the source stays.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "cafs/volume.h"

namespace cafs::core {

struct MigrationOptions {
  std::uint64_t chunk_bytes = 1 << 20;       // dirty-map granularity and unit of copy
  std::uint64_t small_rest_bytes = 8 << 20;  // switch when at most this much is dirty
  unsigned max_passes = 8;                   // ... or after this many dirty passes
};

enum class MigrationPhase { kCopy, kDirty, kDone };
std::string_view MigrationPhaseName(MigrationPhase p);

struct MigrationProgress {
  MigrationPhase phase = MigrationPhase::kCopy;
  std::uint64_t bytes_copied = 0;  // this object, all passes
  std::uint64_t bytes_total = 0;   // the pool file's size
  unsigned pass = 0;               // 0: first pass; 1..: dirty passes
  std::string warning;             // done, but something to tell (old copy not removed)
  bool finished() const { return phase == MigrationPhase::kDone; }
};

// What a crash left of a migration (Recover).
enum class MigrationOutcome { kNotCommitted, kCommitted };

class FileMigration {
 public:
  // Errors: Volume::BeginMigration's; NoSpace when the target pool has less free space than
  // the pool file holds; the target pool's I/O errors.
  static Result<std::unique_ptr<FileMigration>> Start(Volume& volume, const std::string& rel,
                                                      const std::string& to_pool,
                                                      MigrationOptions options = {});
  ~FileMigration();
  FileMigration(const FileMigration&) = delete;
  FileMigration& operator=(const FileMigration&) = delete;

  // Copies about `budget` bytes (the switch copies what is dirty regardless). Errors: I/O of
  // either pool (ENOSPC: the target is full; the file stays where it was); FailedPrecondition
  // when the file was renamed or removed meanwhile (the migration is over: destroy it). After
  // another error a later Step retries.
  Result<MigrationProgress> Step(std::uint64_t budget);
  MigrationProgress progress() const;
  const MigrationTicket& ticket() const { return ticket_; }

  // After a restart: finishes (roll forward) or undoes (roll back) what a migration of the
  // file `rel` (GUID `guid`) from `from_pool`/`from_path` to `to_pool`/`to_path` left, by
  // what the redirector says: committed -> line 3 set, old copy removed; not committed ->
  // the copy (temporary or placed) removed. NotFound when the file is gone or replaced.
  static Result<MigrationOutcome> Recover(Volume& volume, const std::string& rel, const Uuid& guid,
                                          const std::string& from_pool,
                                          const std::string& from_path, const std::string& to_pool,
                                          const std::string& to_path);

 private:
  FileMigration(Volume& volume, MigrationTicket ticket, MigrationOptions options);
  // Copies chunk `k` of the source to the copy; `fresh`: the copy has nothing there yet.
  Result<std::uint64_t> CopyChunk(std::uint64_t k, bool fresh);
  // Every dirty chunk, the size, a sync: the final pass (inside the switch).
  Status FinalPass();
  Status Cleanup();

  Volume& volume_;
  const MigrationTicket ticket_;
  const MigrationOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<env::File> source_;  // guarded by mu_ (read-only; the file's own fd writes)
  std::unique_ptr<env::File> copy_;    // guarded by mu_
  std::vector<std::uint8_t> buf_;      // guarded by mu_
  std::uint64_t offset_ = 0;           // first pass cursor, guarded by mu_
  std::uint64_t cursor_ = 0;           // chunk cursor of a dirty pass, guarded by mu_
  MigrationProgress progress_;         // guarded by mu_
};

}  // namespace cafs::core
