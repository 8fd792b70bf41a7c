#include "cafs/mirrored_file.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "crypto/mac.h"
#include "util/bytes.h"
#include "util/logging.h"

namespace cafs::core {
namespace {

constexpr char kLogMagic[8] = {'C', 'A', 'F', 'S', 'M', 'L', 'O', 'G'};
constexpr std::uint32_t kLogVersion = 2;  // 1: no stale_since (read as 0)
constexpr std::uint32_t kLogFlagOpen = 1;
constexpr std::size_t kLogFixed = 44;  // magic .. copy count
constexpr std::size_t kLogDigest = 32;
constexpr std::uint64_t kWholeFile = std::numeric_limits<std::uint64_t>::max();

void PutLe32(std::string* out, std::uint32_t v) {
  std::uint8_t b[4];
  StoreLe32(b, v);
  out->append(reinterpret_cast<const char*>(b), 4);
}
void PutLe64(std::string* out, std::uint64_t v) {
  std::uint8_t b[8];
  StoreLe64(b, v);
  out->append(reinterpret_cast<const char*>(b), 8);
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view ReplicaHealthName(ReplicaHealth health) {
  switch (health) {
    case ReplicaHealth::kInSync:
      return "in-sync";
    case ReplicaHealth::kStale:
      return "stale";
    case ReplicaHealth::kResyncing:
      return "resyncing";
  }
  return "?";
}

std::string EncodeMirrorLog(const MirrorLogRecord& record) {
  std::string out(kLogMagic, sizeof kLogMagic);
  PutLe32(&out, kLogVersion);
  PutLe32(&out, record.open ? kLogFlagOpen : 0);
  out.append(reinterpret_cast<const char*>(record.guid.bytes().data()), Uuid::kSize);
  PutLe64(&out, record.chunk_bytes);
  PutLe32(&out, static_cast<std::uint32_t>(record.copies.size()));
  for (const MirrorLogRecord::Copy& c : record.copies) {
    out.push_back(c.stale ? '\1' : '\0');
    out.append(3, '\0');
    PutLe32(&out, static_cast<std::uint32_t>(c.words.size()));
    PutLe64(&out, static_cast<std::uint64_t>(c.stale_since_ms));
    for (std::uint64_t w : c.words) PutLe64(&out, w);
  }
  const crypto::Sha256Mac digest = crypto::Sha256(AsBytes(out));
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

Result<MirrorLogRecord> DecodeMirrorLog(ByteView bytes) {
  if (bytes.size() < kLogFixed + kLogDigest || std::memcmp(bytes.data(), kLogMagic, 8) != 0) {
    return Status::Corruption("mirror log: bad magic or too short");
  }
  const ByteView body = bytes.subspan(0, bytes.size() - kLogDigest);
  const crypto::Sha256Mac digest = crypto::Sha256(body);
  if (std::memcmp(digest.data(), bytes.data() + body.size(), kLogDigest) != 0) {
    return Status::Corruption("mirror log: checksum mismatch");
  }
  const std::uint8_t* p = body.data();
  const std::uint32_t version = LoadLe32(p + 8);
  if (version != 1 && version != kLogVersion) {
    return Status::Corruption("mirror log: unknown version");
  }
  const std::size_t copy_fixed = version == 1 ? 8 : 16;
  MirrorLogRecord r;
  r.open = (LoadLe32(p + 12) & kLogFlagOpen) != 0;
  CAFS_ASSIGN_OR_RETURN(r.guid, Uuid::FromBytes(p + 16, Uuid::kSize));
  r.chunk_bytes = LoadLe64(p + 32);
  if (r.chunk_bytes == 0) return Status::Corruption("mirror log: chunk size 0");
  const std::uint32_t n = LoadLe32(p + 40);
  std::size_t at = kLogFixed;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (body.size() - at < copy_fixed) {
      return Status::Corruption("mirror log: truncated copy entry");
    }
    MirrorLogRecord::Copy c;
    c.stale = p[at] != 0;
    const std::uint32_t words = LoadLe32(p + at + 4);
    if (version >= 2) c.stale_since_ms = static_cast<std::int64_t>(LoadLe64(p + at + 8));
    at += copy_fixed;
    if ((body.size() - at) / 8 < words) return Status::Corruption("mirror log: truncated bitmap");
    for (std::uint32_t k = 0; k < words; ++k, at += 8) c.words.push_back(LoadLe64(p + at));
    r.copies.push_back(std::move(c));
  }
  if (at != body.size()) return Status::Corruption("mirror log: trailing bytes");
  return r;
}

MirrorLog::MirrorLog(env::Dir* dir, const Uuid& guid)
    : dir_(dir), guid_(guid), name_(NameFor(guid)) {}

Result<std::vector<Uuid>> MirrorLog::List(env::Dir& dir) {
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> names, dir.List());
  std::vector<Uuid> out;
  for (const std::string& name : names) {
    if (name.rfind(kMirrorLogPrefix, 0) != 0) continue;
    auto guid = Uuid::Parse(std::string_view(name).substr(kMirrorLogPrefix.size()));
    if (guid.ok()) out.push_back(*guid);
  }
  return out;
}

std::string MirrorLog::NameFor(const Uuid& guid) {
  return std::string(kMirrorLogPrefix) + guid.ToString();
}

Result<std::optional<MirrorLogRecord>> MirrorLog::Load() {
  auto file = dir_->OpenFile(name_, env::OpenOptions::ReadOnly());
  if (!file.ok()) {
    if (file.status().IsNotFound()) return std::optional<MirrorLogRecord>();
    return file.status().WithContext("mirror log " + name_);
  }
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, (*file)->Size());
  Bytes buf(static_cast<std::size_t>(size));
  CAFS_ASSIGN_OR_RETURN(std::size_t got, (*file)->ReadAt(0, MutableByteView(buf)));
  buf.resize(got);
  auto r = DecodeMirrorLog(buf);
  if (!r.ok()) return r.status().WithContext(name_);
  if (r->guid != guid_) return Status::Corruption(name_ + ": names another file");
  return std::optional<MirrorLogRecord>(std::move(*r));
}

Status MirrorLog::Save(const MirrorLogRecord& record) {
  const std::string temp = name_ + ".new";
  env::OpenOptions opts = env::OpenOptions::ReadWrite();
  opts.create = true;
  opts.truncate = true;
  CAFS_ASSIGN_OR_RETURN(auto file, dir_->OpenFile(temp, opts));
  const std::string bytes = EncodeMirrorLog(record);
  CAFS_RETURN_IF_ERROR(file->WriteAt(0, AsBytes(bytes)));
  CAFS_RETURN_IF_ERROR(file->Sync());
  CAFS_RETURN_IF_ERROR(dir_->Rename(temp, *dir_, name_, env::RenameMode::kReplace));
  return dir_->Sync();
}

Status MirrorLog::Remove() {
  Status s = dir_->Unlink(name_);
  if (!s.ok() && !s.IsNotFound()) return s;
  return dir_->Sync();
}

// --- MirrorSet ---

MirrorSet::MirrorSet(const Uuid& guid, std::unique_ptr<MirrorLog> log, ReplicaEventFn events)
    : guid_(guid), log_(std::move(log)), events_(std::move(events)) {}

Result<std::shared_ptr<MirrorSet>> MirrorSet::Open(const Uuid& guid, std::vector<Copy> copies,
                                                   std::unique_ptr<MirrorLog> log,
                                                   ReplicaEventFn events) {
  std::shared_ptr<MirrorSet> set(new MirrorSet(guid, std::move(log), std::move(events)));
  CAFS_ASSIGN_OR_RETURN(std::optional<MirrorLogRecord> record, set->log_->Load());
  if (record && record->copies.size() != copies.size()) {
    return Status::Corruption(MirrorLog::NameFor(guid) + ": names " +
                              std::to_string(record->copies.size()) + " copies, the redirector " +
                              std::to_string(copies.size()));
  }
  bool changed = false;
  // The copies that go stale in this Open: a new degradation each, reported once below. A
  // copy the log already calls stale was reported when it went stale (maybe before a
  // restart): the same degradation, not reported again.
  std::vector<bool> newly_stale(copies.size(), false);
  for (std::size_t i = 0; i < copies.size(); ++i) {
    auto slot = std::make_unique<Slot>();
    slot->pool = std::move(copies[i].pool);
    slot->pool_path = std::move(copies[i].pool_path);
    slot->file = std::move(copies[i].file);
    slot->probe = std::move(copies[i].probe);
    if (record && record->copies[i].stale) {
      slot->health = ReplicaHealth::kStale;
      slot->error = "stale (mirror log)";
      slot->dirty.SetWords(record->copies[i].words);
      slot->stale_since_ms = record->copies[i].stale_since_ms;
    }
    if (!slot->file && slot->health == ReplicaHealth::kInSync) {
      slot->health = ReplicaHealth::kStale;
      slot->error = copies[i].error;
      slot->stale_since_ms = NowMs();
      changed = true;
      newly_stale[i] = true;
    }
    set->copies_.push_back(std::move(slot));
  }
  auto source = set->Source(set->copies_.size());
  if (!source) {
    return Status::FromErrno(EIO, "no in-sync copy of file " + guid.ToString() + " is reachable");
  }
  set->primary_path_ = set->copies_[*source]->pool_path;
  // Unknown sizes: the missing copies miss every chunk of the source's size.
  if (changed) {
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, set->copies_[*source]->file->Size());
    for (auto& slot : set->copies_) {
      if (slot->health == ReplicaHealth::kStale && !slot->file) {
        slot->dirty.SetWords({});
        slot->dirty.MarkAll(std::max<std::uint64_t>(size, 1));
      }
    }
  }
  if (record && record->open) {  // a crash while written: copies may differ anywhere
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, set->copies_[*source]->file->Size());
    for (std::size_t i = 0; i < set->copies_.size(); ++i) {
      Slot& slot = *set->copies_[i];
      if (i == *source || slot.health != ReplicaHealth::kInSync) continue;
      slot.health = ReplicaHealth::kStale;
      slot.error = "the gateway stopped while the file was written: full resync";
      slot.stale_since_ms = NowMs();
      slot.dirty.MarkAll(std::max<std::uint64_t>(size, 1));
      changed = true;
      newly_stale[i] = true;
    }
  }
  if (changed) {
    std::lock_guard lock(set->state_mu_);
    CAFS_RETURN_IF_ERROR(set->SaveLocked());  // durable before it is reported
    for (std::size_t i = 0; i < set->copies_.size(); ++i) {
      const Slot& slot = *set->copies_[i];
      if (!newly_stale[i] || !set->events_) continue;
      set->events_({ReplicaEvent::Kind::kFailed, guid, slot.pool, slot.pool_path, slot.error});
    }
  }
  return set;
}

MirrorSet::~MirrorSet() {
  std::unique_lock io(io_mu_);
  std::lock_guard lock(state_mu_);
  if (!open_marked_) return;
  // A clean close: every copy that receives writes synced; the log loses its `open` flag
  // (and goes when every copy is in sync).
  bool all_in_sync = true;
  for (const auto& slot : copies_) {
    if (slot->health == ReplicaHealth::kStale) {
      all_in_sync = false;
      continue;
    }
    if (slot->health != ReplicaHealth::kInSync || !slot->file->Sync().ok()) return;
  }
  open_marked_ = false;
  Status s = all_in_sync ? log_->Remove() : SaveLocked();
  if (!s.ok()) CAFS_LOG_WARN("mirror log of {}: {}", guid_.ToString(), s.ToString());
}

std::vector<ReplicaStatus> MirrorSet::Replicas() const {
  std::lock_guard lock(state_mu_);
  std::vector<ReplicaStatus> out;
  for (const auto& slot : copies_) {
    const bool in_sync = slot->health == ReplicaHealth::kInSync;
    out.push_back({slot->pool, slot->pool_path, slot->health,
                   in_sync ? 0 : slot->dirty.DirtyChunks() * slot->dirty.chunk_bytes(), slot->error,
                   in_sync ? 0 : slot->stale_since_ms});
  }
  return out;
}

bool MirrorSet::Degraded() const {
  std::lock_guard lock(state_mu_);
  return std::any_of(copies_.begin(), copies_.end(),
                     [](const auto& s) { return s->health != ReplicaHealth::kInSync; });
}

std::vector<std::size_t> MirrorSet::StaleCopies() const {
  std::lock_guard lock(state_mu_);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < copies_.size(); ++i) {
    if (copies_[i]->health == ReplicaHealth::kStale) out.push_back(i);
  }
  return out;
}

std::vector<std::size_t> MirrorSet::Targets() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < copies_.size(); ++i) {
    if (copies_[i]->health != ReplicaHealth::kStale) out.push_back(i);
  }
  return out;
}

std::optional<std::size_t> MirrorSet::Source(std::size_t except) const {
  for (std::size_t i = 0; i < copies_.size(); ++i) {
    if (i != except && copies_[i]->health == ReplicaHealth::kInSync && copies_[i]->file) return i;
  }
  return std::nullopt;
}

std::uint64_t MirrorSet::KnownSizeLocked() const {
  std::uint64_t size = 0;
  for (const auto& slot : copies_) {
    if (!slot->file) continue;
    if (auto n = slot->file->Size(); n.ok()) size = std::max(size, *n);
  }
  return size;
}

MirrorLogRecord MirrorSet::RecordLocked() const {
  MirrorLogRecord r;
  r.guid = guid_;
  r.open = open_marked_;
  r.chunk_bytes = kMirrorChunkBytes;
  for (const auto& slot : copies_) {
    MirrorLogRecord::Copy c;
    c.stale = slot->health != ReplicaHealth::kInSync;
    if (c.stale) {
      c.words = slot->dirty.Words();
      c.stale_since_ms = slot->stale_since_ms;
    }
    r.copies.push_back(std::move(c));
  }
  return r;
}

Status MirrorSet::SaveLocked() {
  Status s = log_->Save(RecordLocked());
  if (!s.ok()) {
    return Status::FromErrno(
        EIO, "mirror log of " + guid_.ToString() + " could not be written: " + s.ToString());
  }
  return s;
}

Status MirrorSet::MarkOpen() {
  std::lock_guard lock(state_mu_);
  if (open_marked_) return Status::OK();
  open_marked_ = true;
  Status s = SaveLocked();
  if (!s.ok()) open_marked_ = false;
  return s;
}

Status MirrorSet::MarkStale(std::uint64_t offset, std::uint64_t length) {
  std::lock_guard lock(state_mu_);
  bool added = false;
  for (auto& slot : copies_) {
    if (slot->health == ReplicaHealth::kStale && slot->dirty.Mark(offset, length)) added = true;
  }
  return added ? SaveLocked() : Status::OK();
}

Status MirrorSet::Fail(std::size_t i, const Status& why, std::uint64_t offset,
                       std::uint64_t length) {
  Slot& slot = *copies_[i];
  bool first = false;
  Status saved;
  {
    std::lock_guard lock(state_mu_);
    if (length == kWholeFile) {
      slot.dirty.MarkAll(std::max<std::uint64_t>(KnownSizeLocked(), 1));
    } else {
      slot.dirty.Mark(offset, std::max<std::uint64_t>(length, 1));
    }
    if (slot.health != ReplicaHealth::kStale) {
      // Only an in-sync copy going stale is a new degradation (reported once). A resync
      // that fails leaves the copy stale as it was since stale_since_ms, which the log
      // kept across restarts: logged, not reported again (its job reports the failure).
      first = slot.health == ReplicaHealth::kInSync;
      if (first) slot.stale_since_ms = NowMs();
      if (!first) {
        CAFS_LOG_WARN("mirror {}: resync of the copy in pool {} failed, stale since {} ms: {}",
                      guid_.ToString(), slot.pool, slot.stale_since_ms, why.ToString());
      }
      slot.health = ReplicaHealth::kStale;
      slot.error = why.ToString();
    }
    saved = SaveLocked();
  }
  if (first) {
    CAFS_LOG_WARN("mirror {}: copy in pool {} failed, file degraded: {}", guid_.ToString(),
                  slot.pool, why.ToString());
    if (events_) {
      events_({ReplicaEvent::Kind::kFailed, guid_, slot.pool, slot.pool_path, why.ToString()});
    }
  }
  return saved;
}

Status MirrorSet::ForAll(const std::function<Status(env::File&)>& op, std::uint64_t offset,
                         std::uint64_t length) {
  CAFS_RETURN_IF_ERROR(MarkStale(offset, length));
  std::vector<std::size_t> targets;
  {
    std::lock_guard lock(state_mu_);
    targets = Targets();
  }
  std::size_t done = 0;
  Status first_error;
  Status log_error;
  for (std::size_t i : targets) {
    Status s = op(*copies_[i]->file);
    if (s.ok()) {
      ++done;
      continue;
    }
    if (first_error.ok()) first_error = s;
    if (Status f = Fail(i, s, offset, length); !f.ok() && log_error.ok()) log_error = f;
  }
  if (done == 0) return first_error.ok() ? Status::FromErrno(EIO, "no copy to write") : first_error;
  return log_error;
}

format::RangeLock::Guard MirrorSet::LockChunks(std::uint64_t offset, std::uint64_t length,
                                               format::RangeLock::Mode mode) {
  const std::uint64_t first = offset / kMirrorChunkBytes;
  const std::uint64_t span = std::max<std::uint64_t>(length, 1) - 1;
  const std::uint64_t last =
      span > kWholeFile - offset ? kWholeFile : (offset + span) / kMirrorChunkBytes;
  return chunk_locks_.Lock(first, last, mode);
}

Result<std::size_t> MirrorSet::ReadAt(std::uint64_t offset, MutableByteView out) {
  return ReadFromCopy(offset, out, /*wait=*/true);
}

Result<std::size_t> MirrorSet::ReadAtNoWait(std::uint64_t offset, MutableByteView out) {
  return ReadFromCopy(offset, out, /*wait=*/false);
}

Result<std::size_t> MirrorSet::ReadFromCopy(std::uint64_t offset, MutableByteView out, bool wait) {
  std::shared_lock io(io_mu_);
  auto chunks = LockChunks(offset, out.size(), format::RangeLock::Mode::kShared);
  for (;;) {
    std::optional<std::size_t> src;
    {
      std::lock_guard lock(state_mu_);
      src = Source(copies_.size());
    }
    if (!src) return Status::FromErrno(EIO, "no in-sync copy of " + guid_.ToString() + " left");
    env::File& file = *copies_[*src]->file;
    auto n = wait ? file.ReadAt(offset, out) : file.ReadAtNoWait(offset, out);
    if (n.ok()) return n;
    if (!wait && n.status().errno_value() == EAGAIN) return n;  // not in the page cache
    // The range is rewritten from a good copy by the resync.
    (void)Fail(*src, n.status(), offset, out.size());
  }
}

Status MirrorSet::WriteAt(std::uint64_t offset, ByteView data) {
  CAFS_RETURN_IF_ERROR(MarkOpen());
  std::shared_lock io(io_mu_);
  auto chunks = LockChunks(offset, data.size(), format::RangeLock::Mode::kShared);
  return ForAll([&](env::File& f) { return f.WriteAt(offset, data); }, offset, data.size());
}

Status MirrorSet::Truncate(std::uint64_t size) {
  CAFS_RETURN_IF_ERROR(MarkOpen());
  std::shared_lock io(io_mu_);
  // Every chunk from the lower of the two ends on: a resync of one of them sees the size of
  // before or after, never between.
  auto chunks = chunk_locks_.Lock(0, kWholeFile, format::RangeLock::Mode::kShared);
  CAFS_ASSIGN_OR_RETURN(std::uint64_t old, SizeLocked());
  const std::uint64_t lo = std::min(old, size), hi = std::max(old, size);
  return ForAll([&](env::File& f) { return f.Truncate(size); }, lo, hi - lo + 1);
}

Status MirrorSet::ForAllOptional(const std::function<Status(env::File&)>& op, std::uint64_t offset,
                                 std::uint64_t length) {
  // NotSupported on one copy is not a failure of that copy: every copy keeps its bytes, and
  // the caller hears NotSupported.
  Status unsupported;
  Status s = ForAll(
      [&](env::File& f) {
        Status r = op(f);
        if (r.code() != Status::Code::kNotSupported) return r;
        unsupported = r;
        return Status::OK();
      },
      offset, length);
  return s.ok() && !unsupported.ok() ? unsupported : s;
}

Status MirrorSet::PunchHole(std::uint64_t offset, std::uint64_t length) {
  CAFS_RETURN_IF_ERROR(MarkOpen());
  std::shared_lock io(io_mu_);
  auto chunks = LockChunks(offset, length, format::RangeLock::Mode::kShared);
  return ForAllOptional([&](env::File& f) { return f.PunchHole(offset, length); }, offset, length);
}

Status MirrorSet::Allocate(std::uint64_t offset, std::uint64_t length) {
  std::shared_lock io(io_mu_);
  auto chunks = LockChunks(offset, length, format::RangeLock::Mode::kShared);
  return ForAllOptional([&](env::File& f) { return f.Allocate(offset, length); }, offset, length);
}

Status MirrorSet::Sync() {
  std::shared_lock io(io_mu_);
  std::vector<std::size_t> targets;
  {
    std::lock_guard lock(state_mu_);
    targets = Targets();
  }
  std::size_t done = 0;
  Status first_error, log_error;
  for (std::size_t i : targets) {
    Slot& slot = *copies_[i];
    // A pool that vanished under an open descriptor (a lazily unmounted file system) accepts
    // writes into the void: its probe says so, and nothing since the last sync is trusted.
    Status s = slot.probe ? slot.probe() : Status::OK();
    if (s.ok()) s = slot.file->Sync();
    if (s.ok()) {
      ++done;
      continue;
    }
    if (first_error.ok()) first_error = s;
    if (Status f = Fail(i, s, 0, kWholeFile); !f.ok() && log_error.ok()) log_error = f;
  }
  if (done == 0) return first_error.ok() ? Status::FromErrno(EIO, "no copy to sync") : first_error;
  return log_error;
}

Result<env::File*> MirrorSet::SourceFile() const {
  std::lock_guard lock(state_mu_);
  const std::optional<std::size_t> src = Source(copies_.size());
  if (!src) return Status::FromErrno(EIO, "no in-sync copy of " + guid_.ToString() + " left");
  return copies_[*src]->file.get();
}

Result<std::uint64_t> MirrorSet::SizeLocked() {
  CAFS_ASSIGN_OR_RETURN(env::File * from, SourceFile());
  return from->Size();
}

// The source's handle is used under the shared I/O lock: a resync's handle swap (exclusive)
// cannot free it meanwhile.
Result<std::uint64_t> MirrorSet::Size() {
  std::shared_lock io(io_mu_);
  return SizeLocked();
}

Result<env::EntryStat> MirrorSet::Stat() {
  std::shared_lock io(io_mu_);
  CAFS_ASSIGN_OR_RETURN(env::File * from, SourceFile());
  return from->Stat();
}

std::optional<std::size_t> MirrorSet::ResyncingCopy() const {
  std::lock_guard lock(state_mu_);
  for (std::size_t i = 0; i < copies_.size(); ++i) {
    if (copies_[i]->health == ReplicaHealth::kResyncing) return i;
  }
  return std::nullopt;
}

Status MirrorSet::BeginResync(std::size_t index, std::unique_ptr<env::File> fresh, bool whole) {
  if (index >= copies_.size()) return Status::InvalidArgument("no such copy");
  std::unique_lock io(io_mu_);
  std::lock_guard lock(state_mu_);
  Slot& slot = *copies_[index];
  if (slot.health != ReplicaHealth::kStale) {
    return Status::FailedPrecondition("copy in pool " + slot.pool + " is not stale");
  }
  slot.file = std::move(fresh);
  if (whole) slot.dirty.MarkAll(std::max<std::uint64_t>(KnownSizeLocked(), 1));
  slot.health = ReplicaHealth::kResyncing;
  slot.resync_cursor = 0;
  slot.resync_chunks = 0;
  return Status::OK();
}

Result<bool> MirrorSet::ResyncStep(std::size_t index, std::uint64_t budget, std::uint64_t* copied) {
  *copied = 0;
  if (index >= copies_.size()) return Status::InvalidArgument("no such copy");
  Slot& slot = *copies_[index];
  Bytes buf(kMirrorChunkBytes);
  std::vector<std::uint64_t> done_chunks;  // copied by this step, cleared once synced
  const auto failed = [&](const Status& s) {
    // Every chunk of this step stays dirty (none was cleared): a later resync copies it.
    (void)Fail(index, s, 0, 0);
    return s;
  };
  for (;;) {
    std::optional<std::uint64_t> chunk;
    {
      std::lock_guard lock(state_mu_);
      if (slot.health != ReplicaHealth::kResyncing) {
        return Status::FromErrno(
            EIO, "copy in pool " + slot.pool + " failed during its resync: " + slot.error);
      }
      chunk = slot.dirty.Next(slot.resync_cursor);
    }
    if (!chunk || (!done_chunks.empty() && *copied >= budget)) break;
    Status copy_error;
    {
      std::shared_lock io(io_mu_);
      auto guard = chunk_locks_.Lock(*chunk, *chunk, format::RangeLock::Mode::kExclusive);
      CAFS_ASSIGN_OR_RETURN(env::File * from, SourceFile());
      CAFS_ASSIGN_OR_RETURN(std::uint64_t size, from->Size());
      const std::uint64_t off = *chunk * kMirrorChunkBytes;
      if (off < size) {  // a chunk past the source's end has no bytes: the final truncate
        CAFS_ASSIGN_OR_RETURN(std::size_t n, from->ReadAt(off, MutableByteView(buf)));
        copy_error = slot.file->WriteAt(off, ByteView(buf.data(), n));
        if (copy_error.ok()) *copied += n;
      }
    }
    if (!copy_error.ok()) return failed(copy_error);
    done_chunks.push_back(*chunk);
    std::lock_guard lock(state_mu_);
    slot.resync_cursor = *chunk + 1;
    ++slot.resync_chunks;
  }
  if (!done_chunks.empty()) {
    // What this step copied is durable on the copy before the log forgets it.
    {
      std::shared_lock io(io_mu_);
      if (Status s = slot.file->Sync(); !s.ok()) {
        io.unlock();
        return failed(s);
      }
    }
    std::lock_guard lock(state_mu_);
    if (slot.health != ReplicaHealth::kResyncing) {
      return Status::FromErrno(
          EIO, "copy in pool " + slot.pool + " failed during its resync: " + slot.error);
    }
    for (std::uint64_t c : done_chunks) (void)slot.dirty.TakeNext(c);
    if (slot.dirty.Next(0)) {  // more to copy (or re-dirtied): the progress is saved
      CAFS_RETURN_IF_ERROR(SaveLocked());
      return false;
    }
  }
  // Every chunk copied: the size, a sync, and the copy is in sync again; no write runs
  // meanwhile (a write extending the file would race the truncate).
  std::unique_lock io(io_mu_);
  {
    std::lock_guard lock(state_mu_);
    if (slot.health != ReplicaHealth::kResyncing) {
      return Status::FromErrno(
          EIO, "copy in pool " + slot.pool + " failed during its resync: " + slot.error);
    }
    if (slot.dirty.Next(0)) return false;  // a chunk was marked since: another step
  }
  CAFS_ASSIGN_OR_RETURN(env::File * from, SourceFile());
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, from->Size());
  Status s = slot.file->Truncate(size);
  if (s.ok()) s = slot.file->Sync();
  if (!s.ok()) {
    io.unlock();
    return failed(s);
  }
  Status saved;
  bool all_in_sync = true;
  {
    std::lock_guard lock(state_mu_);
    slot.dirty.SetWords({});
    slot.health = ReplicaHealth::kInSync;
    slot.error.clear();
    slot.stale_since_ms = 0;
    for (const auto& c : copies_) all_in_sync = all_in_sync && c->health == ReplicaHealth::kInSync;
    saved = all_in_sync && !open_marked_ ? log_->Remove() : SaveLocked();
  }
  io.unlock();
  if (!saved.ok()) return saved;
  if (events_) {
    events_({ReplicaEvent::Kind::kResynced, guid_, slot.pool, slot.pool_path,
             std::to_string(slot.resync_chunks) + " chunks of " +
                 std::to_string(kMirrorChunkBytes) + " bytes resynced"});
  }
  return true;
}

}  // namespace cafs::core
