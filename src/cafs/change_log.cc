#include "cafs/change_log.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "util/bytes.h"
#include "util/logging.h"

namespace cafs::core {
namespace {

// The change log's layout (docs/replicas.md "Change log").
constexpr char kMagic[8] = {'C', 'A', 'F', 'S', 'C', 'H', 'G', '1'};
constexpr std::size_t kLogHeaderSize = 64;
constexpr std::uint8_t kStateClean = 0;
constexpr std::uint8_t kStateActive = 1;
constexpr std::uint64_t kMaxLogBits = std::uint64_t{1} << 32;  // 256 TiB at 64 KiB chunks

}  // namespace

// --- ChunkSet ---

void ChunkSet::Add(std::uint64_t k) {
  const std::size_t w = k / 64;
  if (w >= words_.size()) words_.resize(w + 1, 0);
  words_[w] |= std::uint64_t{1} << (k % 64);
}

void ChunkSet::AddRange(std::uint64_t offset, std::uint64_t length, std::uint64_t chunk) {
  if (length == 0) return;
  for (std::uint64_t k = offset / chunk; k <= (offset + length - 1) / chunk; ++k) Add(k);
}

bool ChunkSet::Contains(std::uint64_t k) const {
  const std::size_t w = k / 64;
  return w < words_.size() && ((words_[w] >> (k % 64)) & 1) != 0;
}

void ChunkSet::Remove(std::uint64_t k) {
  const std::size_t w = k / 64;
  if (w < words_.size()) words_[w] &= ~(std::uint64_t{1} << (k % 64));
}

void ChunkSet::Merge(const ChunkSet& other) {
  if (other.words_.size() > words_.size()) words_.resize(other.words_.size(), 0);
  for (std::size_t i = 0; i < other.words_.size(); ++i) words_[i] |= other.words_[i];
}

std::optional<std::uint64_t> ChunkSet::Next(std::uint64_t from) const {
  for (std::size_t w = from / 64; w < words_.size(); ++w) {
    std::uint64_t bits = words_[w];
    if (w == from / 64) bits &= ~std::uint64_t{0} << (from % 64);
    if (bits != 0) return w * 64 + static_cast<std::uint64_t>(std::countr_zero(bits));
  }
  return std::nullopt;
}

std::uint64_t ChunkSet::Count() const {
  std::uint64_t n = 0;
  for (auto w : words_) n += static_cast<std::uint64_t>(std::popcount(w));
  return n;
}

std::vector<std::uint8_t> ChunkSet::ToBitmap() const {
  std::vector<std::uint8_t> out(words_.size() * 8);
  for (std::size_t i = 0; i < words_.size(); ++i) StoreLe64(out.data() + 8 * i, words_[i]);
  while (!out.empty() && out.back() == 0) out.pop_back();
  return out;
}

ChunkSet ChunkSet::FromBitmap(ByteView bitmap) {
  ChunkSet s;
  for (std::size_t i = 0; i < bitmap.size(); ++i) {
    for (unsigned b = 0; b < 8; ++b) {
      if ((bitmap[i] >> b) & 1) s.Add(i * 8 + b);
    }
  }
  return s;
}

// --- ReplicaSnapshot ---

Status ReplicaSnapshot::CopyIfPending(env::File& src, std::uint64_t k) {
  std::lock_guard lock(mu_);
  if (!pending_.Contains(k)) return Status::OK();
  pending_.Remove(k);
  if (!failed_.ok()) return failed_;
  const std::uint64_t offset = k * chunk_;
  if (offset >= size_) return Status::OK();
  std::vector<std::uint8_t> buf(std::min(chunk_, size_ - offset));
  Status s = env::ReadExactly(src, offset, buf);
  if (s.IsCorruption()) {  // shorter than at the cut: impossible (truncates copy first)
    s = Status::Internal("pool file " + src.path() + " shrank below its size at the cut");
  }
  if (s.ok()) s = sink_(k, buf);
  if (!s.ok()) failed_ = s;
  return s;
}

void ReplicaSnapshot::CopyRange(env::File& src, std::uint64_t offset, std::uint64_t length) {
  if (length == 0 || offset >= size_) return;
  const std::uint64_t end = std::min(size_, offset + length);
  for (std::uint64_t k = offset / chunk_; k <= (end - 1) / chunk_; ++k) {
    (void)CopyIfPending(src, k);  // an error is kept in failed_: the replica fails, not the write
  }
}

std::optional<std::uint64_t> ReplicaSnapshot::NextPending(std::uint64_t from) const {
  std::lock_guard lock(mu_);
  return pending_.Next(from);
}

Status ReplicaSnapshot::status() const {
  std::lock_guard lock(mu_);
  return failed_;
}

// --- FileChanges ---

std::string FileChanges::LogPath() const {
  return root_ + "/" + std::string(kChangeLogPrefix) + guid_.ToString();
}

Result<std::shared_ptr<FileChanges>> FileChanges::Load(env::Env* env, const std::string& root,
                                                       const Uuid& guid, std::uint64_t chunk) {
  std::shared_ptr<FileChanges> fc(new FileChanges(env, root, guid, chunk));
  auto file = env->OpenFile(fc->LogPath(), env::OpenOptions::ReadOnly());
  if (!file.ok()) {
    if (!file.status().IsNotFound()) return file.status();
    fc->everything_ = true;  // never tracked: no base
    return fc;
  }
  auto parse = [&]() -> Status {
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, (*file)->Size());
    if (size < kLogHeaderSize || size > kLogHeaderSize + kMaxLogBits / 8) {
      return Status::Corruption("change log size " + std::to_string(size));
    }
    std::vector<std::uint8_t> raw(size);
    CAFS_RETURN_IF_ERROR(env::ReadExactly(**file, 0, raw));
    if (std::memcmp(raw.data(), kMagic, sizeof kMagic) != 0) {
      return Status::Corruption("change log: bad magic");
    }
    const std::uint8_t state = raw[8];
    CAFS_ASSIGN_OR_RETURN(Uuid logged, Uuid::FromBytes(raw.data() + 16, Uuid::kSize));
    CAFS_ASSIGN_OR_RETURN(Uuid base, Uuid::FromBytes(raw.data() + 32, Uuid::kSize));
    if (logged != guid) return Status::Corruption("change log names file " + logged.ToString());
    if (LoadLe32(raw.data() + 48) != chunk) return Status::Corruption("change log chunk size");
    if (state != kStateClean && state != kStateActive) {
      return Status::Corruption("change log state " + std::to_string(state));
    }
    fc->base_ = base;
    // Active: writes since the log was written may be anywhere (a crash): all changed.
    fc->everything_ = state == kStateActive || base.IsNil();
    fc->changed_ = ChunkSet::FromBitmap(ByteView(raw).subspan(kLogHeaderSize));
    return Status::OK();
  };
  if (Status s = parse(); !s.ok()) {
    CAFS_LOG_WARN("{}: {}: the next replica of the file is full", fc->LogPath(), s.ToString());
    fc->base_ = Uuid();
    fc->everything_ = true;
  }
  return fc;
}

Uuid FileChanges::base() const {
  std::lock_guard lock(mu_);
  return base_;
}

Status FileChanges::PersistLocked(bool active) {
  std::vector<std::uint8_t> bitmap = changed_.ToBitmap();
  std::vector<std::uint8_t> out(kLogHeaderSize + bitmap.size(), 0);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  // A log that says "everything" is written active: it loads as everything changed again.
  out[8] = (active || everything_) ? kStateActive : kStateClean;
  std::memcpy(out.data() + 16, guid_.bytes().data(), Uuid::kSize);
  std::memcpy(out.data() + 32, base_.bytes().data(), Uuid::kSize);
  StoreLe32(out.data() + 48, static_cast<std::uint32_t>(chunk_));
  StoreLe64(out.data() + 56, changed_.BitCount());
  std::copy(bitmap.begin(), bitmap.end(), out.begin() + kLogHeaderSize);
  Status s = env::ReplaceFileAtomically(*env_, root_, LogPath(), out);
  if (s.ok()) active_on_disk_ = active || everything_;
  return s;
}

Status FileChanges::BeginChange(env::File& inner, std::uint64_t offset, std::uint64_t length) {
  {
    std::unique_lock lock(gate_mu_);
    gate_cv_.wait(lock, [&] { return !gate_closed_; });
    ++in_flight_;
  }
  std::shared_ptr<ReplicaSnapshot> snap;
  Status s;
  {
    std::lock_guard lock(mu_);
    if (!active_on_disk_) s = PersistLocked(true);
    snap = snapshot_;
  }
  if (s.ok() && snap) snap->CopyRange(inner, offset, length);
  if (!s.ok()) {
    std::lock_guard lock(gate_mu_);
    --in_flight_;
    gate_cv_.notify_all();
    return s.WithContext("change log of file " + guid_.ToString());
  }
  return s;
}

void FileChanges::EndChange(std::uint64_t offset, std::uint64_t length) {
  {
    std::lock_guard lock(mu_);
    changed_.AddRange(offset, length, chunk_);
  }
  std::lock_guard lock(gate_mu_);
  --in_flight_;
  gate_cv_.notify_all();
}

void FileChanges::Opened() {
  std::lock_guard lock(mu_);
  ++open_;
}

void FileChanges::Closed() {
  std::lock_guard lock(mu_);
  if (--open_ != 0 || !active_on_disk_) return;
  // Every change is in the bitmap now: clean. A failure leaves the log active (conservative).
  if (Status s = PersistLocked(false); !s.ok()) {
    CAFS_LOG_WARN("{}: {}", LogPath(), s.ToString());
  }
}

void FileChanges::CloseGate() {
  std::unique_lock lock(gate_mu_);
  gate_closed_ = true;
  gate_cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void FileChanges::OpenGate() {
  {
    std::lock_guard lock(gate_mu_);
    gate_closed_ = false;
  }
  gate_cv_.notify_all();
}

Result<ChangeCut> FileChanges::CutOver(const MakeSnapshot& make) {
  std::lock_guard lock(mu_);
  if (snapshot_) {
    return Status::FromErrno(EBUSY, "a replica of file " + guid_.ToString() + " is running");
  }
  ChangeCut cut{base_, everything_, std::move(changed_)};
  changed_ = ChunkSet();
  everything_ = false;
  snapshot_ = make(cut);
  return cut;
}

Status FileChanges::Commit(const Uuid& replica) {
  std::lock_guard lock(mu_);
  snapshot_.reset();
  base_ = replica;
  return PersistLocked(open_ > 0);
}

void FileChanges::Abandon(const ChangeCut& cut) {
  std::lock_guard lock(mu_);
  snapshot_.reset();
  changed_.Merge(cut.chunks);
  everything_ = everything_ || cut.everything;
}

// --- ChangeTracker ---

Result<std::shared_ptr<FileChanges>> ChangeTracker::Acquire(const Uuid& guid) {
  std::lock_guard lock(mu_);
  if (auto it = files_.find(guid); it != files_.end()) {
    if (auto fc = it->second.lock()) return fc;
  }
  CAFS_ASSIGN_OR_RETURN(auto fc, FileChanges::Load(env_, root_, guid, chunk_));
  files_[guid] = fc;
  for (auto i = files_.begin(); i != files_.end();) {
    i = i->second.expired() ? files_.erase(i) : std::next(i);
  }
  return fc;
}

Result<std::unique_ptr<env::File>> ChangeTracker::Wrap(const Uuid& guid,
                                                       std::unique_ptr<env::File> file) {
  CAFS_ASSIGN_OR_RETURN(auto fc, Acquire(guid));
  return std::unique_ptr<env::File>(new ChangeTrackingFile(std::move(file), std::move(fc)));
}

Status ChangeTracker::Forget(const Uuid& guid) {
  const std::string path = root_ + "/" + std::string(kChangeLogPrefix) + guid.ToString();
  Status s = env_->RemoveFile(path);
  return s.IsNotFound() ? Status::OK() : s;
}

// --- ChangeTrackingFile ---

ChangeTrackingFile::ChangeTrackingFile(std::unique_ptr<env::File> inner,
                                       std::shared_ptr<FileChanges> changes)
    : FileWrapper(std::move(inner)), changes_(std::move(changes)) {
  changes_->Opened();
}

ChangeTrackingFile::~ChangeTrackingFile() { changes_->Closed(); }

Status ChangeTrackingFile::Change(std::uint64_t offset, std::uint64_t length,
                                  const std::function<Status()>& op) {
  CAFS_RETURN_IF_ERROR(changes_->BeginChange(*inner_, offset, length));
  Status s = op();
  changes_->EndChange(offset, length);  // also on error: some bytes may have landed
  return s;
}

Status ChangeTrackingFile::WriteAt(std::uint64_t offset, ByteView data) {
  return Change(offset, data.size(), [&] { return inner_->WriteAt(offset, data); });
}

Status ChangeTrackingFile::Truncate(std::uint64_t size) {
  CAFS_ASSIGN_OR_RETURN(std::uint64_t now, inner_->Size());
  const std::uint64_t lo = std::min(now, size), hi = std::max(now, size);
  // Shrinking drops [size, now): a running replica copies those chunks first. Growing adds
  // zeros: the chunk holding the old end changes (its tail is part of it).
  return Change(lo, std::max<std::uint64_t>(hi - lo, 1), [&] { return inner_->Truncate(size); });
}

Status ChangeTrackingFile::PunchHole(std::uint64_t offset, std::uint64_t length) {
  return Change(offset, length, [&] { return inner_->PunchHole(offset, length); });
}

Status ChangeTrackingFile::Allocate(std::uint64_t offset, std::uint64_t length) {
  return Change(offset, length, [&] { return inner_->Allocate(offset, length); });
}

}  // namespace cafs::core
