#include "format/encrypted_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "crypto/mac.h"
#include "crypto/rng.h"
#include "env/env.h"
#include "format/file_keys.h"
#include "format/header_codec.h"
#include "format/rekey_journal.h"

namespace cafs::format {

namespace {

// Whole-sector writes go to the pool file in batches of this many bytes: 1 MiB, the FUSE
// front-end's max_write, so one write request is one encrypt pass and one pwrite.
constexpr std::size_t kBatchBytes = 1024 * 1024;

// A per-thread scratch buffer of kBatchBytes (no heap allocation per I/O once warm).
MutableByteView Scratch() {
  thread_local std::vector<std::uint8_t> buffer(kBatchBytes);
  return buffer;
}

bool IsAllZero(const std::uint8_t* p, std::size_t n) {
  std::uint64_t word = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::memcpy(&word, p + i, 8);
    if (word != 0) return false;
  }
  for (; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

Status CheckRange(std::uint64_t offset, std::uint64_t length) {
  if (offset > kMaxLogicalSize || length > kMaxLogicalSize - offset) {
    return Status::InvalidArgument("offset " + std::to_string(offset) + " + length " +
                                   std::to_string(length) + " beyond the 2^62 size limit");
  }
  return Status::OK();
}

}  // namespace

EncryptedFile::EncryptedFile(std::unique_ptr<env::File> file, Header header,
                             std::unique_ptr<crypto::SectorCipher> cipher, SecureBuffer mac_key,
                             bool read_only)
    : file_(std::move(file)),
      cipher_(std::move(cipher)),
      mac_key_(std::move(mac_key)),
      sector_size_(header.sector_size),
      read_only_(read_only),
      size_(header.logical_size),
      header_(std::move(header)) {}

EncryptedFile::~EncryptedFile() = default;

Result<std::unique_ptr<EncryptedFile>> EncryptedFile::Create(std::unique_ptr<env::File> file,
                                                             const CreateParams& params,
                                                             const SecureBuffer& dek) {
  CAFS_ASSIGN_OR_RETURN(std::uint64_t existing, file->Size());
  if (existing != 0) {
    return Status::FailedPrecondition("create pool file " + file->path() + ": not empty (" +
                                      std::to_string(existing) + " bytes)");
  }
  Header h;
  h.cipher = params.cipher;
  h.sector_size = params.sector_size;
  h.file_guid = params.file_guid.IsNil() ? Uuid::Random() : params.file_guid;
  h.vm_set_id = params.vm_set_id;
  h.policy_guid = params.policy_guid;
  h.key_guid = params.key_guid;
  h.key_version = params.key_version;
  h.creation_key_guid = params.key_guid;
  h.creation_key_version = params.key_version;
  h.kps_locator = params.kps_locator;
  CAFS_RETURN_IF_ERROR(crypto::RandomBytes(h.file_nonce));
  CAFS_RETURN_IF_ERROR(ValidateHeader(h));
  CAFS_ASSIGN_OR_RETURN(FileKeys keys, DeriveFileKeys(dek, h.cipher, h.file_nonce));
  CAFS_ASSIGN_OR_RETURN(
      auto cipher, crypto::SectorCipher::Create(h.cipher, keys.data_key.view(), h.sector_size));
  std::vector<std::uint8_t> bytes(kHeaderSize);
  CAFS_RETURN_IF_ERROR(EncodeHeader(h, keys.mac_key.view(), bytes));
  CAFS_RETURN_IF_ERROR(file->WriteAt(0, bytes));
  CAFS_RETURN_IF_ERROR(file->Sync());
  return std::unique_ptr<EncryptedFile>(new EncryptedFile(
      std::move(file), std::move(h), std::move(cipher), std::move(keys.mac_key), false));
}

Result<std::unique_ptr<EncryptedFile>> EncryptedFile::Open(std::unique_ptr<env::File> file,
                                                           const SecureBuffer& dek,
                                                           const OpenParams& params) {
  std::vector<std::uint8_t> bytes(kHeaderSize);
  CAFS_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(0, bytes));
  bytes.resize(n);
  auto parsed = ParseHeaderUnverified(bytes);
  if (!parsed.ok()) return parsed.status().WithContext(file->path());
  Header h = std::move(parsed).value();
  if (params.expected_key_guid && *params.expected_key_guid != h.key_guid) {
    return Status::AuthFailed(file->path() + ": header names key " + h.key_guid.ToString() +
                              ", expected " + params.expected_key_guid->ToString());
  }
  CAFS_ASSIGN_OR_RETURN(FileKeys keys, DeriveFileKeys(dek, h.cipher, h.file_nonce));
  Status mac = VerifyHeaderMac(bytes, keys.mac_key.view());
  if (!mac.ok() && !h.vm_set_id.IsNil() && bytes.size() >= kHeaderSize) {
    // An interrupted BindVmSet (docs/format.md 2.1): the MAC is over the nil VM set id.
    std::vector<std::uint8_t> unbound = bytes;
    std::fill_n(unbound.begin() + layout::kVmSetId, Uuid::kSize, std::uint8_t{0});
    if (VerifyHeaderMac(unbound, keys.mac_key.view()).ok()) {
      mac = Status::OK();
      h.vm_set_id = Uuid();
    }
  }
  if (!mac.ok()) return mac.WithContext(file->path());
  CAFS_ASSIGN_OR_RETURN(
      auto cipher, crypto::SectorCipher::Create(h.cipher, keys.data_key.view(), h.sector_size));
  const RekeyState rekey = h.rekey;
  std::unique_ptr<EncryptedFile> ef(new EncryptedFile(
      std::move(file), std::move(h), std::move(cipher), std::move(keys.mac_key), params.read_only));
  if (rekey.state == kRekeyInProgress) {
    if (params.rekey_target_dek == nullptr) {
      return Status::FailedPrecondition(
          ef->file_->path() + ": a rekey to key " + rekey.target_key_guid.ToString() + " version " +
          std::to_string(rekey.target_key_version) + " is in progress; its DEK is needed");
    }
    Status s = ef->InstallTarget(*params.rekey_target_dek, ef->header().target_cipher(),
                                 &rekey.target_key_check, nullptr);
    if (!s.ok()) return s.WithContext(ef->file_->path());
    ef->watermark_.store(rekey.watermark_sector, std::memory_order_release);
    if (rekey.hotzone_sectors > 0) {
      std::vector<std::uint8_t> entries(rekey.hotzone_sectors *
                                        JournalEntrySize(rekey.journal_format));
      CAFS_RETURN_IF_ERROR(env::ReadExactly(*ef->file_, layout2::kJournal, entries));
      if (DigestJournal(entries) != rekey.journal_digest) {
        return Status::Corruption(ef->file_->path() + ": hotzone journal digest mismatch");
      }
      ef->ActivateHotzone(rekey.watermark_sector, rekey.journal_format, entries);
    }
  }
  if (params.read_only) return ef;
  {
    std::lock_guard lock(ef->header_mu_);
    if (ef->header_.upgrade_incomplete) CAFS_RETURN_IF_ERROR(ef->UpgradeLocked());
  }
  if (ef->ActiveHotzone().count > 0) {
    CAFS_RETURN_IF_ERROR(ef->RollForwardHotzone());
  }
  CAFS_RETURN_IF_ERROR(ef->RepairTail());
  return ef;
}

std::uint64_t EncryptedFile::SectorOffset(std::uint64_t sector) const {
  return kHeaderSize + sector * sector_size_;
}

Header EncryptedFile::header() const {
  std::lock_guard lock(header_mu_);
  Header h = header_;
  h.logical_size = Size();
  return h;
}

std::uint64_t EncryptedFile::durable_size() const {
  std::lock_guard lock(header_mu_);
  return header_.logical_size;
}

bool EncryptedFile::rekey_in_progress() const {
  std::lock_guard lock(header_mu_);
  return header_.rekey.state == kRekeyInProgress;
}

Status EncryptedFile::WithIoStopped(
    const std::function<Status(std::unique_ptr<env::File>& pool_file)>& fn) {
  auto guard =
      ranges_.Lock(0, std::numeric_limits<std::uint64_t>::max(), RangeLock::Mode::kExclusive);
  std::lock_guard lock(header_mu_);
  Status s = fn(file_);
  if (file_ == nullptr) return Status::Internal("WithIoStopped: the pool file was dropped");
  return s;
}

std::uint64_t EncryptedFile::SectorCount() const {
  return (Size() + sector_size_ - 1) / sector_size_;
}

Status EncryptedFile::RepairTail() {
  const std::uint64_t size = Size();
  const std::uint64_t sectors = (size + sector_size_ - 1) / sector_size_;
  CAFS_ASSIGN_OR_RETURN(std::uint64_t physical, file_->Size());
  if (physical > SectorOffset(sectors)) {
    CAFS_RETURN_IF_ERROR(file_->Truncate(SectorOffset(sectors)));
  }
  const std::size_t tail = static_cast<std::size_t>(size % sector_size_);
  if (tail == 0) return Status::OK();
  // Zero the plaintext after the logical end in the last sector, if anything is there.
  MutableByteView buf = Scratch().first(sector_size_);
  CAFS_RETURN_IF_ERROR(ReadSectors(sectors - 1, buf));
  if (IsAllZero(buf.data() + tail, sector_size_ - tail)) return Status::OK();
  std::memset(buf.data() + tail, 0, sector_size_ - tail);
  return EncryptAndWrite(sectors - 1, buf, buf);
}

ByteView EncryptedFile::HotEntry(const Hotzone& hot, std::uint64_t sector) const {
  const std::size_t size = JournalEntrySize(hot.format);
  return ByteView(hot_entries_).subspan(static_cast<std::size_t>(sector - hot.first) * size, size);
}

Result<const crypto::SectorCipher*> EncryptedFile::CipherForStored(std::uint64_t sector,
                                                                   std::uint64_t w,
                                                                   const Hotzone& hot,
                                                                   ByteView stored) const {
  if (sector < w) return target_cipher_.get();
  if (hot.Contains(sector)) {
    CAFS_ASSIGN_OR_RETURN(HotzoneSector kind,
                          ClassifyHotzoneSector(hot.format, HotEntry(hot, sector), stored));
    if (kind == HotzoneSector::kTargetKey) return target_cipher_.get();
  }
  return cipher_.get();
}

Status EncryptedFile::DecryptInPlace(std::uint64_t first, MutableByteView buf) {
  const std::size_t count = buf.size() / sector_size_;
  const std::uint64_t w = watermark_.load(std::memory_order_acquire);
  const Hotzone hot = ActiveHotzone();
  auto sector_at = [&](std::size_t k) {
    return ByteView(buf.data() + k * sector_size_, sector_size_);
  };
  std::size_t i = 0;
  while (i < count) {
    if (IsAllZero(buf.data() + i * sector_size_, sector_size_)) {
      ++i;  // a hole: plaintext zeros, already in place
      continue;
    }
    CAFS_ASSIGN_OR_RETURN(const crypto::SectorCipher* cipher,
                          CipherForStored(first + i, w, hot, sector_at(i)));
    std::size_t j = i + 1;
    while (j < count && !IsAllZero(buf.data() + j * sector_size_, sector_size_)) {
      CAFS_ASSIGN_OR_RETURN(const crypto::SectorCipher* next,
                            CipherForStored(first + j, w, hot, sector_at(j)));
      if (next != cipher) break;
      ++j;
    }
    auto run = buf.subspan(i * sector_size_, (j - i) * sector_size_);
    CAFS_RETURN_IF_ERROR(cipher->Decrypt(first + i, run, run));
    i = j;
  }
  return Status::OK();
}

Status EncryptedFile::ReadSectors(std::uint64_t first, MutableByteView out, Wait wait) {
  CAFS_ASSIGN_OR_RETURN(std::size_t n, wait == Wait::kNever
                                           ? file_->ReadAtNoWait(SectorOffset(first), out)
                                           : file_->ReadAt(SectorOffset(first), out));
  if (n < out.size()) std::memset(out.data() + n, 0, out.size() - n);
  return DecryptInPlace(first, out);
}

Status EncryptedFile::EncryptAndWrite(std::uint64_t first, ByteView plain,
                                      MutableByteView cipher_out) {
  // Sectors below the watermark under the target key, the rest under the file's key (a write
  // never lands in a hotzone the rekeyer is writing: it holds that range exclusively).
  const std::uint64_t w = watermark_.load(std::memory_order_acquire);
  const std::uint64_t count = plain.size() / sector_size_;
  const std::size_t below =
      static_cast<std::size_t>(first >= w ? 0 : std::min<std::uint64_t>(count, w - first)) *
      sector_size_;
  if (below > 0) {
    CAFS_RETURN_IF_ERROR(
        target_cipher_->Encrypt(first, plain.first(below), cipher_out.first(below)));
    CAFS_RETURN_IF_ERROR(CheckNoZeroCiphertext(*target_cipher_, cipher_out.first(below)));
  }
  if (below < plain.size()) {
    CAFS_RETURN_IF_ERROR(cipher_->Encrypt(first + below / sector_size_, plain.subspan(below),
                                          cipher_out.subspan(below)));
    CAFS_RETURN_IF_ERROR(CheckNoZeroCiphertext(*cipher_, cipher_out.subspan(below)));
  }
  return file_->WriteAt(SectorOffset(first), cipher_out);
}

Status EncryptedFile::CheckNoZeroCiphertext(const crypto::SectorCipher& cipher,
                                            ByteView sectors) const {
  if (cipher.id() == crypto::CipherId::kNone) return Status::OK();  // zeros are zeros
  // An all-zero ciphertext would read back as a hole; encryption of any plaintext gives one
  // with probability 2^-(8 * sector size). Refuse rather than store it.
  for (std::size_t off = 0; off < sectors.size(); off += sector_size_) {
    if (IsAllZero(sectors.data() + off, sector_size_)) {
      return Status::Internal("ciphertext sector is all zeros; refusing to write a hole");
    }
  }
  return Status::OK();
}

Status EncryptedFile::PatchSector(std::uint64_t sector, std::size_t in_sector, ByteView data) {
  MutableByteView buf = Scratch().first(sector_size_);
  CAFS_RETURN_IF_ERROR(ReadSectors(sector, buf));
  std::memcpy(buf.data() + in_sector, data.data(), data.size());
  return EncryptAndWrite(sector, buf, buf);
}

void EncryptedFile::RaiseSize(std::uint64_t end) {
  std::uint64_t cur = size_.load(std::memory_order_acquire);
  while (cur < end && !size_.compare_exchange_weak(cur, end, std::memory_order_acq_rel)) {
  }
}

Result<std::size_t> EncryptedFile::Read(std::uint64_t offset, MutableByteView out, Wait wait) {
  CAFS_RETURN_IF_ERROR(CheckRange(offset, out.size()));
  std::uint64_t size = Size();
  if (out.empty() || offset >= size) return std::size_t{0};
  std::uint64_t end = std::min<std::uint64_t>(offset + out.size(), size);
  const std::uint64_t ss = sector_size_;
  auto guard = ranges_.Lock(offset / ss, (end - 1) / ss, RangeLock::Mode::kShared);
  // The size may have changed before we got the lock (only upward: Truncate is exclusive
  // and waited for us or ran before the first load). Keep the range we locked.
  size = Size();
  end = std::min(end, size);
  if (offset >= end) return std::size_t{0};

  std::uint64_t pos = offset;
  std::uint8_t* dst = out.data();
  // Head (or the whole read) inside one partial sector.
  if (pos % ss != 0 || end - pos < ss) {
    const std::uint64_t sector = pos / ss;
    const std::size_t in_sector = static_cast<std::size_t>(pos % ss);
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(ss - in_sector, end - pos));
    MutableByteView buf = Scratch().first(sector_size_);
    CAFS_RETURN_IF_ERROR(ReadSectors(sector, buf, wait));
    std::memcpy(dst, buf.data() + in_sector, n);
    pos += n;
    dst += n;
  }
  // Aligned whole sectors: straight into the caller's buffer, decrypted in place.
  const std::uint64_t whole = (end - pos) / ss * ss;
  if (whole > 0) {
    CAFS_RETURN_IF_ERROR(
        ReadSectors(pos / ss, MutableByteView(dst, static_cast<std::size_t>(whole)), wait));
    pos += whole;
    dst += whole;
  }
  // Tail: a partial last sector.
  if (pos < end) {
    MutableByteView buf = Scratch().first(sector_size_);
    CAFS_RETURN_IF_ERROR(ReadSectors(pos / ss, buf, wait));
    std::memcpy(dst, buf.data(), static_cast<std::size_t>(end - pos));
    pos = end;
  }
  return static_cast<std::size_t>(end - offset);
}

Status EncryptedFile::Write(std::uint64_t offset, ByteView data) {
  if (read_only_) return Status::FailedPrecondition(file_->path() + ": opened read-only");
  CAFS_RETURN_IF_ERROR(CheckRange(offset, data.size()));
  if (data.empty()) return Status::OK();
  const std::uint64_t ss = sector_size_;
  const std::uint64_t end = offset + data.size();
  std::optional<RangeLock::Guard> guard;
  for (bool again = true; again;) {
    guard.emplace(ranges_.Lock(offset / ss, (end - 1) / ss, RangeLock::Mode::kExclusive));
    CAFS_ASSIGN_OR_RETURN(again, SettleHotzoneFor(offset / ss, (end - 1) / ss, guard));
  }

  std::uint64_t pos = offset;
  const std::uint8_t* src = data.data();
  if (pos % ss != 0 || end - pos < ss) {
    const std::size_t in_sector = static_cast<std::size_t>(pos % ss);
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(ss - in_sector, end - pos));
    CAFS_RETURN_IF_ERROR(PatchSector(pos / ss, in_sector, ByteView(src, n)));
    pos += n;
    src += n;
  }
  MutableByteView scratch = Scratch();
  while (end - pos >= ss) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>((end - pos) / ss * ss, scratch.size()));
    CAFS_RETURN_IF_ERROR(EncryptAndWrite(pos / ss, ByteView(src, n), scratch.first(n)));
    pos += n;
    src += n;
  }
  if (pos < end) {
    CAFS_RETURN_IF_ERROR(
        PatchSector(pos / ss, 0, ByteView(src, static_cast<std::size_t>(end - pos))));
  }
  RaiseSize(end);
  return Status::OK();
}

Status EncryptedFile::Truncate(std::uint64_t new_size) {
  if (read_only_) return Status::FailedPrecondition(file_->path() + ": opened read-only");
  CAFS_RETURN_IF_ERROR(CheckRange(new_size, 0));
  auto guard =
      ranges_.Lock(0, std::numeric_limits<std::uint64_t>::max(), RangeLock::Mode::kExclusive);
  // No truncate lands in a hotzone a failed step left active (docs/format.md 8.4).
  if (ActiveHotzone().count > 0) CAFS_RETURN_IF_ERROR(RollForwardHotzone());
  const std::uint64_t old_size = Size();
  if (new_size < old_size) {
    const std::uint64_t sectors = (new_size + sector_size_ - 1) / sector_size_;
    const std::size_t tail = static_cast<std::size_t>(new_size % sector_size_);
    if (tail != 0) {
      // Keep the invariant: plaintext after the logical end of the last sector is zero.
      MutableByteView buf = Scratch().first(sector_size_);
      CAFS_RETURN_IF_ERROR(ReadSectors(sectors - 1, buf));
      if (!IsAllZero(buf.data() + tail, sector_size_ - tail)) {
        std::memset(buf.data() + tail, 0, sector_size_ - tail);
        CAFS_RETURN_IF_ERROR(EncryptAndWrite(sectors - 1, buf, buf));
      }
    }
    CAFS_ASSIGN_OR_RETURN(std::uint64_t physical, file_->Size());
    if (physical > SectorOffset(sectors)) {
      if (shred_freed_.load(std::memory_order_relaxed)) {
        CAFS_RETURN_IF_ERROR(ClearFreed(SectorOffset(sectors), physical));
      }
      CAFS_RETURN_IF_ERROR(file_->Truncate(SectorOffset(sectors)));
    }
  }
  size_.store(new_size, std::memory_order_release);
  return Status::OK();
}

Status EncryptedFile::ClearFreed(std::uint64_t from, std::uint64_t to) {
  constexpr std::uint64_t kStep = 1 << 20;
  std::vector<std::uint8_t> buf;
  bool wrote = false;
  for (std::uint64_t off = from; off < to;) {
    buf.resize(static_cast<std::size_t>(std::min(kStep, to - off)));
    CAFS_ASSIGN_OR_RETURN(std::size_t got, file_->ReadAt(off, buf));
    if (got == 0) break;
    if (!IsAllZero(buf.data(), got)) {  // a hole holds nothing: not written (no allocation)
      std::memset(buf.data(), 0, got);
      CAFS_RETURN_IF_ERROR(file_->WriteAt(off, ByteView(buf.data(), got)));
      wrote = true;
    }
    off += got;
  }
  // Durable before the blocks are freed: a truncate drops unwritten pages, not the old bytes.
  if (wrote) CAFS_RETURN_IF_ERROR(file_->Sync());
  Status punched = file_->PunchHole(from, to - from);
  if (!punched.ok() && punched.code() != Status::Code::kNotSupported) return punched;
  return Status::OK();
}

Status EncryptedFile::Sync() {
  std::lock_guard lock(header_mu_);
  // Every size observed here belongs to writes that completed before it was raised, so the
  // data sync below covers all bytes up to `size`.
  const std::uint64_t size = Size();
  CAFS_RETURN_IF_ERROR(file_->Sync());
  if (read_only_ || size == header_.logical_size) return Status::OK();
  const std::uint64_t previous = header_.logical_size;
  header_.logical_size = size;
  Status s = WriteHeaderTailLocked();
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) header_.logical_size = previous;  // retry the header on the next Sync
  return s;
}

Status EncryptedFile::WriteHeaderTailLocked() { return WriteTailLocked(header_, mac_key_.view()); }

Status EncryptedFile::WriteTailLocked(const Header& h, ByteView mac_key) {
  std::array<std::uint8_t, kHeaderSize> bytes{};
  CAFS_RETURN_IF_ERROR(EncodeHeader(h, mac_key, bytes));
  // Only the last 512 bytes change (size, key id, rekey state, MAC): one aligned 512-byte write.
  return file_->WriteAt(layout::kMutableTail,
                        ByteView(bytes).subspan(layout::kMutableTail, layout::kMutableTailSize));
}

Status EncryptedFile::BindVmSet(const Uuid& id) {
  std::lock_guard lock(header_mu_);
  if (header_.vm_set_id == id) return Status::OK();
  if (!header_.vm_set_id.IsNil()) {
    return Status::FailedPrecondition(file_->path() + ": bound to VM set " +
                                      header_.vm_set_id.ToString());
  }
  if (read_only_) return Status::FailedPrecondition(file_->path() + ": opened read-only");
  Header h = header_;
  h.vm_set_id = id;
  std::array<std::uint8_t, kHeaderSize> bytes{};
  CAFS_RETURN_IF_ERROR(EncodeHeader(h, mac_key_.view(), bytes));
  // 1. Block 0 (the id; nothing else in it changes), durable before the MAC names it.
  CAFS_RETURN_IF_ERROR(file_->WriteAt(0, ByteView(bytes).first(layout2::kJournal)));
  CAFS_RETURN_IF_ERROR(file_->Sync());
  // 2. The tail with the MAC over the new id.
  CAFS_RETURN_IF_ERROR(WriteTailLocked(h, mac_key_.view()));
  CAFS_RETURN_IF_ERROR(file_->Sync());
  header_ = std::move(h);
  return Status::OK();
}

Status EncryptedFile::InstallTarget(const SecureBuffer& dek, crypto::CipherId target_cipher,
                                    const std::array<std::uint8_t, kKeyCheckSize>* check,
                                    std::array<std::uint8_t, kKeyCheckSize>* check_out) {
  std::array<std::uint8_t, kFileNonceSize> nonce{};
  {
    std::lock_guard lock(header_mu_);
    nonce = header_.file_nonce;
  }
  CAFS_ASSIGN_OR_RETURN(FileKeys keys, DeriveFileKeys(dek, target_cipher, nonce));
  if (check != nullptr && !crypto::ConstantTimeEquals(keys.key_check, *check)) {
    return Status::AuthFailed("rekey target DEK does not match the header's target key check");
  }
  if (check_out != nullptr) *check_out = keys.key_check;
  if (target_cipher_ != nullptr) {
    // Installed before (at Open, or by a Start that then failed): only the same key again.
    std::lock_guard lock(header_mu_);
    if (!crypto::ConstantTimeEquals(keys.key_check, target_key_check_) ||
        target_cipher_->id() != target_cipher) {
      return Status::FailedPrecondition(
          "another rekey target key is installed on this open file; reopen it");
    }
    return Status::OK();
  }
  CAFS_ASSIGN_OR_RETURN(target_cipher_, crypto::SectorCipher::Create(
                                            target_cipher, keys.data_key.view(), sector_size_));
  std::lock_guard lock(header_mu_);
  target_mac_key_ = std::move(keys.mac_key);
  target_key_check_ = keys.key_check;
  return Status::OK();
}

Status EncryptedFile::UpgradeLocked() {
  Header h = header_;
  if (h.version == kFormatVersion1) {
    // Step 1 (docs/format.md 8.5): the version 2 tail, MAC'd as version 2; byte 8 still 1.
    h.version = kFormatVersion2;
    h.upgrade_incomplete = true;
    h.creation_key_guid = h.key_guid;
    h.creation_key_version = h.key_version;
    CAFS_RETURN_IF_ERROR(WriteTailLocked(h, mac_key_.view()));
    CAFS_RETURN_IF_ERROR(file_->Sync());
    header_ = h;
  }
  // Step 2: block 0 with byte 8 = 2 (nothing else in it changes).
  h.upgrade_incomplete = false;
  std::array<std::uint8_t, kHeaderSize> bytes{};
  CAFS_RETURN_IF_ERROR(EncodeHeader(h, mac_key_.view(), bytes));
  CAFS_RETURN_IF_ERROR(file_->WriteAt(0, ByteView(bytes).first(layout2::kJournal)));
  CAFS_RETURN_IF_ERROR(file_->Sync());
  header_ = h;
  return Status::OK();
}

void EncryptedFile::ActivateHotzone(std::uint64_t w, std::uint8_t format, ByteView entries) {
  std::lock_guard lock(hot_mu_);
  std::memcpy(hot_entries_.data(), entries.data(), entries.size());
  hotzone_ = Hotzone{w, entries.size() / JournalEntrySize(format), format};
}

EncryptedFile::Hotzone EncryptedFile::ActiveHotzone() const {
  std::lock_guard lock(hot_mu_);
  return hotzone_;
}

Result<bool> EncryptedFile::SettleHotzoneFor(std::uint64_t first, std::uint64_t last,
                                             std::optional<RangeLock::Guard>& guard) {
  Hotzone hot = ActiveHotzone();
  if (hot.count == 0 || last < hot.first || first >= hot.first + hot.count) return false;
  guard.reset();
  auto hot_guard = ranges_.Lock(hot.first, hot.first + hot.count - 1, RangeLock::Mode::kExclusive);
  const Hotzone now = ActiveHotzone();  // a step may have settled it meanwhile
  if (now.count > 0 && now.first == hot.first && now.count == hot.count) {
    CAFS_RETURN_IF_ERROR(RollForwardHotzone());
  }
  return true;
}

Status EncryptedFile::RollForwardHotzone() {
  const Hotzone hot = ActiveHotzone();
  const std::uint64_t w = hot.first, n = hot.count;
  MutableByteView buf = Scratch().first(sector_size_);
  for (std::uint64_t i = 0; i < n; ++i) {
    CAFS_ASSIGN_OR_RETURN(std::size_t got, file_->ReadAt(SectorOffset(w + i), buf));
    if (got < buf.size()) std::memset(buf.data() + got, 0, buf.size() - got);
    CAFS_ASSIGN_OR_RETURN(HotzoneSector kind,
                          ClassifyHotzoneSector(hot.format, HotEntry(hot, w + i), buf));
    // A zero entry with data: written after a failed step, under the key of its side (old).
    if (kind == HotzoneSector::kTargetKey || IsAllZero(buf.data(), buf.size())) continue;
    CAFS_RETURN_IF_ERROR(cipher_->Decrypt(w + i, buf, buf));
    CAFS_RETURN_IF_ERROR(target_cipher_->Encrypt(w + i, buf, buf));
    CAFS_RETURN_IF_ERROR(CheckNoZeroCiphertext(*target_cipher_, buf));
    CAFS_RETURN_IF_ERROR(file_->WriteAt(SectorOffset(w + i), buf));
  }
  CAFS_RETURN_IF_ERROR(file_->Sync());
  return CommitWatermark(w + n);
}

Status EncryptedFile::CommitRekeyStateLocked(const RekeyState& next) {
  const RekeyState previous = header_.rekey;
  header_.rekey = next;
  Status s = WriteHeaderTailLocked();
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) header_.rekey = previous;
  return s;
}

Status EncryptedFile::CommitWatermark(std::uint64_t w) {
  {
    std::lock_guard lock(header_mu_);
    RekeyState next = header_.rekey;
    next.watermark_sector = w;
    next.hotzone_sectors = 0;
    next.journal_format = 0;
    next.journal_digest = {};
    CAFS_RETURN_IF_ERROR(CommitRekeyStateLocked(next));
  }
  watermark_.store(w, std::memory_order_release);
  std::lock_guard lock(hot_mu_);
  hotzone_ = Hotzone{};
  return Status::OK();
}

void EncryptedFile::PromoteFinishedTarget() {
  auto all =
      ranges_.Lock(0, std::numeric_limits<std::uint64_t>::max(), RangeLock::Mode::kExclusive);
  if (watermark_.load(std::memory_order_acquire) != kAllSectorsTarget) return;
  std::lock_guard lock(header_mu_);
  cipher_ = std::move(target_cipher_);  // the header names the target's key since the switch
  target_mac_key_ = SecureBuffer();     // the old key's MAC key (swapped at the switch)
  target_key_check_ = {};
  watermark_.store(0, std::memory_order_release);
}

Status EncryptedFile::SwitchToTargetKey() {
  CAFS_RETURN_IF_ERROR(file_->Sync());
  {
    std::lock_guard lock(header_mu_);
    Header h = header_;
    h.key_guid = h.rekey.target_key_guid;
    h.key_version = h.rekey.target_key_version;
    // A conversion (docs/format.md 8.8): block 0 keeps the creation cipher.
    const crypto::CipherId creation = h.creation_cipher.value_or(h.cipher);
    h.cipher = h.target_cipher();
    h.creation_cipher.reset();
    if (creation != h.cipher) h.creation_cipher = creation;
    h.rekey = RekeyState{};
    CAFS_RETURN_IF_ERROR(WriteTailLocked(h, target_mac_key_.view()));
    CAFS_RETURN_IF_ERROR(file_->Sync());
    header_ = std::move(h);
    std::swap(mac_key_, target_mac_key_);
  }
  watermark_.store(kAllSectorsTarget, std::memory_order_release);
  // The journal area is ignored from now on; zero it (made durable by a later Sync).
  static const std::array<std::uint8_t, layout2::kJournalSize> kZeros{};
  return file_->WriteAt(layout2::kJournal, kZeros);
}

}  // namespace cafs::format
