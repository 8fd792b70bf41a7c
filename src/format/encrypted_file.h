// EncryptedFile: random-access plaintext over a pool file (header + encrypted sectors,
// docs/format.md). The layer between the Volume and a pool's env::File.
//
// Layout: the 4096-byte header at offset 0; data sector i (sector_size bytes of ciphertext,
// SectorCipher with sector number i) at 4096 + i * sector_size.
//
// Semantics:
//  - Read returns fewer bytes than asked only at the logical end of file.
//  - Write past the end extends the file; the gap is a hole and reads as zeros.
//  - Holes: a sector whose on-disk bytes are all zero (never written, sparse, or beyond the
//    physical end) reads as plaintext zeros. Encryption never stores an all-zero ciphertext
//    sector (it would need a 2^-4096-probability event; Write fails with Internal if it ever
//    happened), so the rule is unambiguous.
//  - Unaligned writes read-modify-write their first/last sector under an exclusive range lock;
//    aligned whole-sector writes encrypt straight from the caller's buffer (one encrypt and one
//    pwrite per 1 MiB batch, no read).
//  - Truncate down zeroes the tail of the new last sector and shrinks the pool file; truncate
//    up only raises the logical size (a hole). With SetShredFreed(true) (policy
//    <shred-on-free>, docs/jobs.md "Shred on free"), before the pool file shrinks, every
//    non-zero byte of the freed pool range [end of the new last sector, physical end) is
//    overwritten with zeros and synced, then the range is punched: the file system gets back
//    blocks that hold no ciphertext. Zeros, not random bytes: an all-zero sector reads as a
//    hole, so a crash before the new size is durable shows zeros there (an allowed state of
//    unsynced data, below), never garbage.
//
// Durability and crashes (the logical size lives in the header's last 512 bytes):
//  - Write/Truncate change the pool file and the in-memory size; nothing is durable until
//    Sync(). Sync() = env File::Sync (data), then if the logical size changed since the last
//    header write: rewrite the header's last 512-byte block (one aligned write) + Sync again.
//  - So a crash leaves a header whose size S is the size at some completed or in-progress
//    Sync; all data synced before that Sync is durable. Data written after the last Sync
//    may be old, new or zero per sector (sector writes assumed atomic, as for dm-crypt).
//    The file never shows a size larger than its durable data, because the header is
//    written only after the data fdatasync.
//  - Open (not read-only) repairs what a crash can leave beyond S: it truncates the pool file
//    to exactly cover S and zeroes the plaintext tail of the last partial sector, so that a
//    later extension reads zeros in the gap, never stale bytes.
//
// Deep rekey (docs/format.md 8; driven by Rekeyer, rekeyer.h): while a rekey runs, sectors
// below the watermark are under the target key and the rest under the file's key; Read and
// Write pick the key per sector by that rule, under the sector's range lock (the rekeyer moves
// the watermark only while it holds the exclusive lock of the sectors it passes). A file whose
// header records a rekey in progress needs OpenParams::rekey_target_dek; a writable Open then
// finishes the hotzone a crash interrupted (roll forward) before serving I/O, and completes an
// interrupted version 1 -> 2 upgrade. Once a rekey finished on an open EncryptedFile, header()
// names the target key; a further rekey needs a reopen.
//
// Errors: Corruption / AuthFailed from the header (header_codec.h); AuthFailed when a key GUID
// other than `expected_key_guid` is recorded; I/O errors of the env::File as they are;
// FailedPrecondition for writes to a read-only EncryptedFile; InvalidArgument for offsets
// beyond kMaxLogicalSize.
//
// Threading: Read, Write, Size and Sync are safe from many threads at once; I/O on disjoint
// sector ranges runs in parallel, overlapping I/O is serialized per range (a sector ends as
// one whole write, never a mix). Truncate excludes all other I/O while it runs.
// Ownership: owns the env::File; the DEK is not kept (only derived keys, in SecureBuffers).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "crypto/sector_cipher.h"
#include "env/file.h"
#include "format/header.h"
#include "format/range_lock.h"
#include "util/secure_buffer.h"

namespace cafs::format {

// Header fields a new file gets (the file nonce is always fresh random).
struct CreateParams {
  Uuid file_guid;  // nil: a random GUID is generated
  Uuid vm_set_id;
  Uuid policy_guid;
  Uuid key_guid;
  std::uint32_t key_version = 0;
  std::string kps_locator;
  crypto::CipherId cipher = crypto::CipherId::kAes256Xts;
  std::uint32_t sector_size = 4096;
};

struct OpenParams {
  std::optional<Uuid> expected_key_guid;  // fail if the header names another key
  bool read_only = false;                 // no repair, writes fail
  // The DEK of the header's rekey target; required (FailedPrecondition otherwise) when the
  // header records a rekey in progress, checked against the header's target key check
  // (AuthFailed on mismatch). Not owned; only used during Open.
  const SecureBuffer* rekey_target_dek = nullptr;
};

class EncryptedFile {
 public:
  // A value of watermark() meaning every sector is under the target key (rekey finished).
  static constexpr std::uint64_t kAllSectorsTarget = ~std::uint64_t{0};

  // Writes a new header to `file`, which must be empty (FailedPrecondition otherwise), and
  // syncs it. `dek` may be empty only for cipher none.
  static Result<std::unique_ptr<EncryptedFile>> Create(std::unique_ptr<env::File> file,
                                                       const CreateParams& params,
                                                       const SecureBuffer& dek);
  // Reads, checks and authenticates the header with keys derived from `dek`.
  static Result<std::unique_ptr<EncryptedFile>> Open(std::unique_ptr<env::File> file,
                                                     const SecureBuffer& dek,
                                                     const OpenParams& params = {});

  ~EncryptedFile();
  EncryptedFile(const EncryptedFile&) = delete;
  EncryptedFile& operator=(const EncryptedFile&) = delete;

  // Whether a read may wait for storage. kNever: the pool file is read with
  // env::File::ReadAtNoWait (preadv2 RWF_NOWAIT), and a read that would wait returns errno
  // EAGAIN, having decrypted nothing, for the caller to read again with kMay from a thread
  // that may wait (NFS READ on its compute pool: docs/nfs.md "Threads").
  enum class Wait { kMay, kNever };
  // Plaintext bytes at `offset`; short only at the logical end.
  Result<std::size_t> Read(std::uint64_t offset, MutableByteView out, Wait wait = Wait::kMay);
  // Writes all of `data` at `offset` or returns an error (then the range is unspecified).
  Status Write(std::uint64_t offset, ByteView data);
  Status Truncate(std::uint64_t new_size);
  // Whether Truncate down clears the pool range it frees (above). Any thread, any time; the
  // next Truncate sees it.
  void SetShredFreed(bool on) { shred_freed_.store(on, std::memory_order_relaxed); }
  // Makes all completed writes and truncates durable (see the crash semantics above).
  Status Sync();

  // Current logical size (in memory, includes unsynced extensions).
  std::uint64_t Size() const { return size_.load(std::memory_order_acquire); }
  // The header as last written, with logical_size = Size().
  Header header() const;
  // The cipher of sectors >= the watermark (the target's once a rekey finished on this file).
  crypto::CipherId cipher() const {
    std::lock_guard lock(header_mu_);
    return header_.cipher;  // the tail's cipher: the target's from the switch on (8.4)
  }
  std::uint32_t sector_size() const { return sector_size_; }
  // Logical size recorded in the header on disk (what a crash now would leave).
  std::uint64_t durable_size() const;
  // True while the header records a rekey in progress.
  bool rekey_in_progress() const;

  // Runs `fn` with every I/O of this file stopped: the exclusive range lock of all sectors,
  // then header_mu_ (so no Read, Write, Truncate, Sync or rekey step runs meanwhile), and
  // hands it the pool file, which `fn` may replace (non-null) by another holding the same
  // bytes: a migration to another pool (cafs/migrator.h) installs a write-tracking decorator
  // and finally the target pool file this way. Returns fn's status. `fn` must not call back
  // into this EncryptedFile. Lock order: a Rekeyer's step mutex, then this.
  Status WithIoStopped(const std::function<Status(std::unique_ptr<env::File>& pool_file)>& fn);

  // Binds an unbound file (header vm_set_id nil: written before VM set GUIDs, or a bind a
  // crash interrupted) to VM set `id` (docs/format.md 2.1): block 0 with the new id is
  // written and synced, then the tail with the new MAC, synced. A crash between the two
  // leaves block 0 naming `id` under a MAC over the nil id; Open accepts that header as
  // unbound (vm_set_id nil) and the next bind finishes. OK when already bound to `id`;
  // FailedPrecondition when bound to another VM set or opened read-only. Safe from any thread.
  Status BindVmSet(const Uuid& id);

 private:
  friend class Rekeyer;  // the rekey steps (rekeyer.cc) use the internals below
  EncryptedFile(std::unique_ptr<env::File> file, Header header,
                std::unique_ptr<crypto::SectorCipher> cipher, SecureBuffer mac_key, bool read_only);

  // Reads sectors [first, first + out.size()/sector_size) into `out` as plaintext (holes and
  // bytes beyond the physical end as zeros). Caller holds a lock on the range.
  Status ReadSectors(std::uint64_t first, MutableByteView out, Wait wait = Wait::kMay);
  // Decrypts in place, leaving all-zero (hole) sectors as zeros; the key per sector as in
  // docs/format.md 8.2.
  Status DecryptInPlace(std::uint64_t first, MutableByteView buf);
  // An active hotzone (see hotzone_ below).
  struct Hotzone {
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    std::uint8_t format = kJournalFingerprint;
    bool Contains(std::uint64_t sector) const { return sector - first < count; }
  };
  // The cipher for stored sector `sector` whose bytes are `stored` (not a hole), given the
  // watermark `w` and the hotzone `hot`. Caller holds a lock on the sector.
  Result<const crypto::SectorCipher*> CipherForStored(std::uint64_t sector, std::uint64_t w,
                                                      const Hotzone& hot, ByteView stored) const;
  // The entry of hotzone sector `sector` (in `hot`).
  ByteView HotEntry(const Hotzone& hot, std::uint64_t sector) const;
  // Encrypts `plain` (whole sectors) into `cipher_out` and writes it at sector `first`.
  Status EncryptAndWrite(std::uint64_t first, ByteView plain, MutableByteView cipher_out);
  // Internal when a sector of `sectors` (ciphertext of `cipher`) is all zeros (section 4).
  Status CheckNoZeroCiphertext(const crypto::SectorCipher& cipher, ByteView sectors) const;
  // Read-modify-write of one sector: bytes [in_sector, in_sector + data.size()) get `data`.
  Status PatchSector(std::uint64_t sector, std::size_t in_sector, ByteView data);
  // Rewrites the header's mutable tail with `header_` (caller holds header_mu_).
  Status WriteHeaderTailLocked();
  // Rewrites the mutable tail with `h` MAC'd under `mac_key` (caller holds header_mu_).
  Status WriteTailLocked(const Header& h, ByteView mac_key);
  // Crash repair at Open (see class comment).
  Status RepairTail();
  void RaiseSize(std::uint64_t end);
  std::uint64_t SectorOffset(std::uint64_t sector) const;
  std::uint64_t SectorCount() const;  // sectors covering Size()

  // --- rekey internals (docs/format.md 8.4/8.5), used by Open and Rekeyer ---
  // Derives the target keys (of `target_cipher`, docs/format.md 8.8) from `dek`, checks them
  // against `check` (when given) and installs the target cipher (called before the watermark can be
  // above 0). Once installed, only the same key passes again (FailedPrecondition otherwise).
  Status InstallTarget(const SecureBuffer& dek, crypto::CipherId target_cipher,
                       const std::array<std::uint8_t, kKeyCheckSize>* check,
                       std::array<std::uint8_t, kKeyCheckSize>* check_out);
  // Version 1 -> 2 (both writes) or the block-0 write of an interrupted upgrade.
  Status UpgradeLocked();
  // Makes the journal `entries` (n entries of `format`, hotzone at the watermark) the reading
  // rule for [w, w + n) in memory. Caller holds the exclusive lock of that range.
  void ActivateHotzone(std::uint64_t w, std::uint8_t format, ByteView entries);
  // Rolls the active hotzone forward from what is stored (recovery), then commits it.
  // Caller holds the exclusive lock of the hotzone.
  Status RollForwardHotzone();
  // Called by Write with the exclusive lock of sectors [first, last] held (`guard`): if a
  // hotzone left active by a failed step overlaps them, releases the guard, rolls that
  // hotzone forward under its own lock and returns true (the caller locks again and
  // re-checks); false when nothing overlaps (the guard is kept). No write lands in an active
  // hotzone (docs/format.md 8.4).
  Result<bool> SettleHotzoneFor(std::uint64_t first, std::uint64_t last,
                                std::optional<RangeLock::Guard>& guard);
  // Makes `next` the durable rekey state: tail write + sync; on failure header_.rekey keeps
  // its previous value (the next tail write rewrites it). Caller holds header_mu_.
  Status CommitRekeyStateLocked(const RekeyState& next);
  // Tail with watermark `w`, no journal; sync; then memory: watermark_ = w, hotzone cleared.
  // Caller holds the exclusive lock of the sectors below `w` not yet under the target key.
  Status CommitWatermark(std::uint64_t w);
  // Switches the header to the target key (one tail write). Caller holds the exclusive lock
  // of [watermark, max] and has checked that the watermark covers the file.
  Status SwitchToTargetKey();
  // After a rekey finished on this open file (watermark_ == kAllSectorsTarget): the target's
  // cipher becomes the file's own and the watermark returns to 0, so another rekey can start on
  // the same open file (a VM keeps its disk open across rotations). Takes the exclusive lock
  // of every sector (waits for the I/O in flight), then header_mu_. No-op otherwise.
  void PromoteFinishedTarget();

  // Replaced only under WithIoStopped (all range locks and header_mu_ held).
  std::unique_ptr<env::File> file_;
  // The header's key at open; replaced by the target's (PromoteFinishedTarget) only under the
  // exclusive lock of every sector and header_mu_.
  std::unique_ptr<crypto::SectorCipher> cipher_;
  // Set once (Open of a file mid-rekey, or Rekeyer start) before watermark_ leaves 0.
  std::unique_ptr<crypto::SectorCipher> target_cipher_;
  SecureBuffer mac_key_;                                        // guarded by header_mu_
  SecureBuffer target_mac_key_;                                 // guarded by header_mu_
  std::array<std::uint8_t, kKeyCheckSize> target_key_check_{};  // guarded by header_mu_
  // Sectors below it are under the target key; read under the sector's range lock, changed
  // only while the rekeyer holds the exclusive lock of the sectors it passes.
  std::atomic<std::uint64_t> watermark_{0};
  // Active hotzone journal in memory (read-only open of a crashed file, or a step that failed
  // after its journal became durable): sectors [first, first + count) are decided per entry.
  // Changed (under hot_mu_) only while the changer holds the exclusive range lock of the
  // hotzone, so a reader holding a range lock takes one snapshot per read: whether its
  // sectors are in the hotzone cannot change under its lock. hot_entries_ is written only
  // while count is 0 and read only for sectors of the hotzone.
  Hotzone ActiveHotzone() const;
  mutable std::mutex hot_mu_;  // a leaf lock
  Hotzone hotzone_;            // guarded by hot_mu_
  std::array<std::uint8_t, layout2::kJournalSize> hot_entries_{};
  const std::uint32_t sector_size_;
  const bool read_only_;
  std::atomic<std::uint64_t> size_;
  std::atomic<bool> shred_freed_{false};
  // Truncate's clearing of the freed pool range [from, to) (SetShredFreed).
  Status ClearFreed(std::uint64_t from, std::uint64_t to);
  RangeLock ranges_;
  // Lock order: a RangeLock guard, then header_mu_. (Rekeyer's step mutex comes first.)
  mutable std::mutex header_mu_;
  Header header_;  // guarded by header_mu_; logical_size = the size on disk
};

}  // namespace cafs::format
