#include "format/rekeyer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "format/rekey_journal.h"

namespace cafs::format {

namespace {

bool IsHole(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

// Calls fn(first, end) for each maximal run [first, end) of non-hole sectors in `buf`.
template <typename Fn>
Status ForEachDataRun(ByteView buf, std::size_t ss, Fn&& fn) {
  const std::size_t n = buf.size() / ss;
  std::size_t i = 0;
  while (i < n) {
    if (IsHole(buf.data() + i * ss, ss)) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && !IsHole(buf.data() + j * ss, ss)) ++j;
    CAFS_RETURN_IF_ERROR(fn(i, j));
    i = j;
  }
  return Status::OK();
}

}  // namespace

Rekeyer::Rekeyer(EncryptedFile& file, Options options) : file_(file), options_(options) {}

Result<std::unique_ptr<Rekeyer>> Rekeyer::Start(EncryptedFile& file, const Uuid& target_key_guid,
                                                std::uint32_t target_key_version,
                                                const SecureBuffer& target_dek, Options options) {
  const std::uint32_t max = MaxHotzoneSectors(options.journal_format);
  if (max == 0) return Status::InvalidArgument("unknown rekey journal format");
  if (options.hotzone_sectors == 0 || options.hotzone_sectors > max) {
    return Status::InvalidArgument("rekey hotzone must be 1.." + std::to_string(max) + " sectors");
  }
  const std::string& path = file.file_->path();
  if (file.read_only_) return Status::FailedPrecondition(path + ": opened read-only");
  // A rekey that finished on this open file: its target becomes the file's own key first.
  file.PromoteFinishedTarget();
  Header h = file.header();
  const crypto::CipherId target_cipher = options.target_cipher.value_or(h.cipher);
  if (h.rekey.state == kRekeyInProgress) {
    if (h.rekey.target_key_guid != target_key_guid ||
        h.rekey.target_key_version != target_key_version || h.target_cipher() != target_cipher) {
      return Status::FailedPrecondition(
          path + ": a rekey to key " + h.rekey.target_key_guid.ToString() + " version " +
          std::to_string(h.rekey.target_key_version) + " (" +
          std::string(crypto::CipherName(h.target_cipher())) + ") is in progress");
    }
    CAFS_RETURN_IF_ERROR(
        file.InstallTarget(target_dek, target_cipher, &h.rekey.target_key_check, nullptr));
    return std::unique_ptr<Rekeyer>(new Rekeyer(file, options));
  }
  if (h.key_guid == target_key_guid && h.key_version == target_key_version &&
      h.cipher == target_cipher) {
    return Status::InvalidArgument(path + ": the rekey target is the file's own key");
  }
  std::array<std::uint8_t, kKeyCheckSize> check{};
  Status installed = file.InstallTarget(target_dek, target_cipher, nullptr, &check);
  if (!installed.ok()) return installed.WithContext(path);
  std::lock_guard lock(file.header_mu_);
  if (file.header_.version == kFormatVersion1 || file.header_.upgrade_incomplete) {
    CAFS_RETURN_IF_ERROR(file.UpgradeLocked());
  }
  RekeyState next;
  next.state = kRekeyInProgress;
  next.target_key_guid = target_key_guid;
  next.target_key_version = target_key_version;
  next.target_key_check = check;
  if (target_cipher != file.header_.cipher) next.target_cipher = target_cipher;
  CAFS_RETURN_IF_ERROR(file.CommitRekeyStateLocked(next));
  return std::unique_ptr<Rekeyer>(new Rekeyer(file, options));
}

Rekeyer::Progress Rekeyer::progress() const {
  Progress p;
  const std::uint64_t ss = file_.sector_size_;
  p.bytes_total = file_.SectorCount() * ss;
  const std::uint64_t w = file_.watermark_.load(std::memory_order_acquire);
  p.finished = w == EncryptedFile::kAllSectorsTarget;
  p.bytes_done = p.finished ? p.bytes_total : std::min(p.bytes_total, w * ss);
  return p;
}

Result<Rekeyer::Progress> Rekeyer::Step() {
  std::lock_guard step(mu_);
  if (file_.watermark_.load() == EncryptedFile::kAllSectorsTarget) return progress();
  std::uint64_t w = 0;
  std::uint32_t active = 0;
  {
    std::lock_guard lock(file_.header_mu_);
    if (file_.header_.rekey.state != kRekeyInProgress) {
      return Status::FailedPrecondition(file_.file_->path() + ": no rekey in progress");
    }
    w = file_.header_.rekey.watermark_sector;
    active = file_.header_.rekey.hotzone_sectors;
  }
  if (active > 0) {
    // A previous step failed after its journal became durable: finish that hotzone first.
    auto guard = file_.ranges_.Lock(w, w + active - 1, RangeLock::Mode::kExclusive);
    CAFS_RETURN_IF_ERROR(file_.RollForwardHotzone());
    return progress();
  }
  if (w < file_.SectorCount()) {
    CAFS_RETURN_IF_ERROR(RekeyHotzone(w));
    return progress();
  }
  bool finished = false;
  CAFS_RETURN_IF_ERROR(Finish(&finished));
  return progress();
}

Status Rekeyer::RekeyHotzone(std::uint64_t w) {
  const std::size_t ss = file_.sector_size_;
  auto guard = file_.ranges_.Lock(w, w + options_.hotzone_sectors - 1, RangeLock::Mode::kExclusive);
  // The size may have changed before the lock (Truncate): size the hotzone now.
  const std::uint64_t end = file_.SectorCount();
  if (end <= w) return Status::OK();  // the next Step switches the key
  const auto n =
      static_cast<std::size_t>(std::min<std::uint64_t>(options_.hotzone_sectors, end - w));
  const std::uint8_t format = options_.journal_format;
  const std::size_t entry_size = JournalEntrySize(format);
  data_.resize(n * ss);
  stored_.assign(n, 0);
  entries_.assign(n * entry_size, 0);
  heads_.resize(n * kCompactPrefix);
  // 1. Read and re-encrypt in memory (runs of non-hole sectors; holes stay holes), keeping
  // the head of each old ciphertext for its journal entry.
  CAFS_ASSIGN_OR_RETURN(std::size_t got, file_.file_->ReadAt(file_.SectorOffset(w), data_));
  if (got < data_.size()) std::memset(data_.data() + got, 0, data_.size() - got);
  CAFS_RETURN_IF_ERROR(ForEachDataRun(data_, ss, [&](std::size_t i, std::size_t j) -> Status {
    MutableByteView run(data_.data() + i * ss, (j - i) * ss);
    for (std::size_t k = i; k < j; ++k) {
      std::memcpy(heads_.data() + k * kCompactPrefix, data_.data() + k * ss, kCompactPrefix);
      stored_[k] = 1;
    }
    CAFS_RETURN_IF_ERROR(file_.cipher_->Decrypt(w + i, run, run));
    CAFS_RETURN_IF_ERROR(file_.target_cipher_->Encrypt(w + i, run, run));
    for (std::size_t k = i; k < j; ++k) {
      const ByteView sector(data_.data() + k * ss, ss);
      CAFS_RETURN_IF_ERROR(file_.CheckNoZeroCiphertext(*file_.target_cipher_, sector));
      CAFS_RETURN_IF_ERROR(EncodeJournalEntry(
          format, ByteView(heads_.data() + k * kCompactPrefix, kCompactPrefix), sector,
          MutableByteView(entries_.data() + k * entry_size, entry_size)));
    }
    return Status::OK();
  }));
  // 2-3. Journal entries (inactive until the tail names them), then everything durable.
  CAFS_RETURN_IF_ERROR(file_.file_->WriteAt(layout2::kJournal, entries_));
  CAFS_RETURN_IF_ERROR(file_.file_->Sync());
  // 4-5. Activate the journal: n and its digest in the tail.
  {
    std::lock_guard lock(file_.header_mu_);
    RekeyState next = file_.header_.rekey;
    next.hotzone_sectors = static_cast<std::uint32_t>(n);
    next.journal_format = format;
    next.journal_digest = DigestJournal(entries_);
    CAFS_RETURN_IF_ERROR(file_.CommitRekeyStateLocked(next));
  }
  // From here until the commit, reads of the hotzone decide per entry (a failure below leaves
  // the range readable and the next Step rolls it forward).
  file_.ActivateHotzone(w, format, entries_);
  // 6-7. The target-key ciphertext of every sector that was not a hole in step 1 (a sector
  // converted to clear text may be zeros now: it is written all the same, docs/format.md 8.8).
  for (std::size_t i = 0; i < n;) {
    if (stored_[i] == 0) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && stored_[j] != 0) ++j;
    CAFS_RETURN_IF_ERROR(file_.file_->WriteAt(file_.SectorOffset(w + i),
                                              ByteView(data_.data() + i * ss, (j - i) * ss)));
    i = j;
  }
  CAFS_RETURN_IF_ERROR(file_.file_->Sync());
  // 8-9. Advance the watermark.
  return file_.CommitWatermark(w + n);
}

Status Rekeyer::Finish(bool* finished) {
  const std::uint64_t w = file_.watermark_.load(std::memory_order_acquire);
  auto guard =
      file_.ranges_.Lock(w, std::numeric_limits<std::uint64_t>::max(), RangeLock::Mode::kExclusive);
  if (file_.SectorCount() > w) return Status::OK();  // the file grew: more steps
  CAFS_RETURN_IF_ERROR(file_.SwitchToTargetKey());
  *finished = true;
  return Status::OK();
}

}  // namespace cafs::format
