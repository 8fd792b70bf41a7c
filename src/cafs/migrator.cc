#include "cafs/migrator.h"

#include <algorithm>

#include "util/bytes.h"
#include "util/logging.h"

namespace cafs::core {
namespace {

bool AllZero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

std::string ParentOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Removes a migration's temporary copy (its name carries the GUID: ours whatever it holds).
Status RemoveTemp(pool::Pool& pool, const std::string& temp) {
  Status s = pool.RemoveFile(temp);
  if (s.IsNotFound()) return Status::OK();
  if (s.ok()) s = pool.SyncDir(ParentOf(temp));
  return s;
}

}  // namespace

std::string_view MigrationPhaseName(MigrationPhase p) {
  switch (p) {
    case MigrationPhase::kCopy:
      return "copy";
    case MigrationPhase::kDirty:
      return "dirty";
    case MigrationPhase::kDone:
      return "done";
  }
  return "?";
}

FileMigration::FileMigration(Volume& volume, MigrationTicket ticket, MigrationOptions options)
    : volume_(volume), ticket_(std::move(ticket)), options_(options) {}

Result<std::unique_ptr<FileMigration>> FileMigration::Start(Volume& volume, const std::string& rel,
                                                            const std::string& to_pool,
                                                            MigrationOptions options) {
  options.chunk_bytes = std::max<std::uint64_t>(options.chunk_bytes, 4096);
  CAFS_ASSIGN_OR_RETURN(MigrationTicket t,
                        volume.BeginMigration(rel, to_pool, options.chunk_bytes));
  // From here the destructor ends the migration (EndMigration, copy removed).
  std::unique_ptr<FileMigration> m(new FileMigration(volume, std::move(t), options));
  const MigrationTicket& tk = m->ticket_;
  CAFS_ASSIGN_OR_RETURN(pool::Pool * from, volume.pools().Find(tk.from_pool));
  CAFS_ASSIGN_OR_RETURN(pool::Pool * to, volume.pools().Find(tk.to_pool));
  CAFS_ASSIGN_OR_RETURN(m->source_, from->OpenFile(tk.from_path, env::OpenOptions::ReadOnly()));
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, m->source_->Size());
  std::uint64_t needed = size;  // a pool without sparse files stores every byte
  if (auto st = from->Stat(tk.from_path); st.ok() && to->capabilities().sparse) {
    needed = std::min(size, st->allocated_bytes);
  }
  if (auto space = to->Space(); space.ok() && space->free_bytes < needed) {
    return Status::NoSpace("/" + rel + ": pool " + tk.to_pool + " has " +
                           std::to_string(space->free_bytes) + " bytes free, the file needs " +
                           std::to_string(needed));
  }
  CAFS_RETURN_IF_ERROR(RemoveTemp(*to, tk.to_temp));  // a crashed attempt's
  const std::string parent = ParentOf(tk.to_path);
  if (!parent.empty()) CAFS_RETURN_IF_ERROR(to->CreateDirs(parent));
  CAFS_ASSIGN_OR_RETURN(m->copy_, to->OpenFile(tk.to_temp, env::OpenOptions::CreateNew()));
  m->buf_.resize(static_cast<std::size_t>(options.chunk_bytes));
  m->progress_.bytes_total = size;
  return m;
}

FileMigration::~FileMigration() {
  std::lock_guard lock(mu_);
  const bool done = progress_.finished();
  copy_.reset();
  source_.reset();
  volume_.EndMigration(ticket_);
  if (done) return;
  if (ticket_.to_temp == ticket_.to_path) {  // made in place: it may be what the name says now
    if (auto loc = volume_.Locate(ticket_.rel); !loc.ok() || loc->pool == ticket_.to_pool) return;
  }
  if (auto to = volume_.pools().Find(ticket_.to_pool); to.ok()) {
    if (Status s = RemoveTemp(**to, ticket_.to_temp); !s.ok()) {
      CAFS_LOG_WARN("migrate /{}: copy {} in pool {} not removed: {}", ticket_.rel, ticket_.to_temp,
                    ticket_.to_pool, s.ToString());
    }
  }
}

MigrationProgress FileMigration::progress() const {
  std::lock_guard lock(mu_);
  return progress_;
}

Result<std::uint64_t> FileMigration::CopyChunk(std::uint64_t k, bool fresh) {
  const std::uint64_t off = k * options_.chunk_bytes;
  CAFS_ASSIGN_OR_RETURN(std::size_t n, source_->ReadAt(off, MutableByteView(buf_)));
  if (n > 0 && !(fresh && AllZero(buf_.data(), n))) {  // a fresh copy keeps holes as holes
    CAFS_RETURN_IF_ERROR(copy_->WriteAt(off, ByteView(buf_.data(), n)));
  }
  if (n < buf_.size()) {  // the source ends in this chunk (or before): so does the copy
    CAFS_ASSIGN_OR_RETURN(std::uint64_t copy_size, copy_->Size());
    if (copy_size > off + n) CAFS_RETURN_IF_ERROR(copy_->Truncate(off + n));
  }
  progress_.bytes_copied += n;
  return static_cast<std::uint64_t>(n);
}

Status FileMigration::FinalPass() {
  std::uint64_t from = 0;
  while (auto k = ticket_.dirty->TakeNext(from)) {
    CAFS_RETURN_IF_ERROR(CopyChunk(*k, false).status());
    from = *k + 1;
  }
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, source_->Size());
  CAFS_ASSIGN_OR_RETURN(std::uint64_t copy_size, copy_->Size());
  if (copy_size != size) CAFS_RETURN_IF_ERROR(copy_->Truncate(size));
  progress_.bytes_total = size;
  return copy_->Sync();
}

Status FileMigration::Cleanup() {
  return volume_.RemovePoolCopy(ticket_.from_pool, ticket_.from_path, ticket_.guid);
}

Result<MigrationProgress> FileMigration::Step(std::uint64_t budget) {
  std::lock_guard lock(mu_);
  if (progress_.finished()) return progress_;
  budget = std::max<std::uint64_t>(budget, 1);
  const std::uint64_t chunk = options_.chunk_bytes;
  std::uint64_t done = 0;
  if (progress_.phase == MigrationPhase::kCopy) {
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, source_->Size());
    while (done < budget && offset_ < size) {
      CAFS_ASSIGN_OR_RETURN(std::uint64_t n, CopyChunk(offset_ / chunk, true));
      done += n;
      offset_ += chunk;
    }
    progress_.bytes_total = std::max(progress_.bytes_total, size);
    if (offset_ < size) return progress_;
    // The first pass is over: the copy has the source's size (holes where it skipped zeros).
    CAFS_ASSIGN_OR_RETURN(std::uint64_t copy_size, copy_->Size());
    if (copy_size != size) CAFS_RETURN_IF_ERROR(copy_->Truncate(size));
    progress_.phase = MigrationPhase::kDirty;
    progress_.pass = 1;
    cursor_ = 0;
  }
  const std::uint64_t rest = ticket_.dirty->DirtyChunks() * chunk;
  if (rest > options_.small_rest_bytes && progress_.pass <= options_.max_passes) {
    while (done < budget) {
      auto k = ticket_.dirty->TakeNext(cursor_);
      if (!k) {  // this pass is over; the next starts at the front
        ++progress_.pass;
        cursor_ = 0;
        break;
      }
      CAFS_ASSIGN_OR_RETURN(std::uint64_t n, CopyChunk(*k, false));
      done += std::max<std::uint64_t>(n, 1);
      cursor_ = *k + 1;
    }
    return progress_;
  }
  // The switch: a short write barrier around the last pass and the commit.
  CAFS_RETURN_IF_ERROR(volume_.CommitMigration(ticket_, [this] { return FinalPass(); }));
  progress_.phase = MigrationPhase::kDone;
  copy_.reset();
  source_.reset();
  if (Status s = Cleanup(); !s.ok()) {
    progress_.warning = "moved; the old copy " + ticket_.from_path + " in pool " +
                        ticket_.from_pool +
                        " is left (remove it with `cafsd fsck --remove-orphans`): " + s.ToString();
    CAFS_LOG_WARN("migrate /{}: {}", ticket_.rel, progress_.warning);
  }
  return progress_;
}

Result<MigrationOutcome> FileMigration::Recover(Volume& volume, const std::string& rel,
                                                const Uuid& guid, const std::string& from_pool,
                                                const std::string& from_path,
                                                const std::string& to_pool,
                                                const std::string& to_path) {
  CAFS_ASSIGN_OR_RETURN(FileLocation loc, volume.Locate(rel));
  if (loc.guid != guid) return Status::NotFound("/" + rel + " was replaced by another file");
  CAFS_ASSIGN_OR_RETURN(pool::Pool * to, volume.pools().Find(to_pool));
  CAFS_RETURN_IF_ERROR(RemoveTemp(*to, MigrationTempPath(to_path, guid)));
  if (loc.pool == to_pool) {  // committed: roll forward
    if (loc.recorded_path != loc.pool_path) {
      CAFS_RETURN_IF_ERROR(volume.RecordPoolPath(rel, guid, loc.pool_path));
    }
    CAFS_RETURN_IF_ERROR(volume.RemovePoolCopy(from_pool, from_path, guid));
    return MigrationOutcome::kCommitted;
  }
  if (loc.pool == from_pool) {  // not committed: roll back (a placed copy is an orphan)
    CAFS_RETURN_IF_ERROR(volume.RemovePoolCopy(to_pool, to_path, guid));
    return MigrationOutcome::kNotCommitted;
  }
  return Status::FailedPrecondition("/" + rel + " is in pool " + loc.pool + " now, neither " +
                                    from_pool + " nor " + to_pool);
}

}  // namespace cafs::core
