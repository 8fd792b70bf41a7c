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
//    up only raises the logical size (a hole).
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
};

class EncryptedFile {
 public:
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

  // Plaintext bytes at `offset`; short only at the logical end.
  Result<std::size_t> Read(std::uint64_t offset, MutableByteView out);
  // Writes all of `data` at `offset` or returns an error (then the range is unspecified).
  Status Write(std::uint64_t offset, ByteView data);
  Status Truncate(std::uint64_t new_size);
  // Makes all completed writes and truncates durable (see the crash semantics above).
  Status Sync();

  // Current logical size (in memory, includes unsynced extensions).
  std::uint64_t Size() const { return size_.load(std::memory_order_acquire); }
  // The header as last written, with logical_size = Size().
  Header header() const;
  crypto::CipherId cipher() const { return cipher_->id(); }
  std::uint32_t sector_size() const { return sector_size_; }
  // Logical size recorded in the header on disk (what a crash now would leave).
  std::uint64_t durable_size() const;

 private:
  EncryptedFile(std::unique_ptr<env::File> file, Header header,
                std::unique_ptr<crypto::SectorCipher> cipher, SecureBuffer mac_key, bool read_only);

  // Reads sectors [first, first + out.size()/sector_size) into `out` as plaintext (holes and
  // bytes beyond the physical end as zeros). Caller holds a lock on the range.
  Status ReadSectors(std::uint64_t first, MutableByteView out);
  // Decrypts in place, leaving all-zero (hole) sectors as zeros.
  Status DecryptInPlace(std::uint64_t first, MutableByteView buf);
  // Encrypts `plain` (whole sectors) into `cipher_out` and writes it at sector `first`.
  Status EncryptAndWrite(std::uint64_t first, ByteView plain, MutableByteView cipher_out);
  // Read-modify-write of one sector: bytes [in_sector, in_sector + data.size()) get `data`.
  Status PatchSector(std::uint64_t sector, std::size_t in_sector, ByteView data);
  // Rewrites the header's mutable tail with `header_` (caller holds header_mu_).
  Status WriteHeaderTailLocked();
  // Crash repair at Open (see class comment).
  Status RepairTail();
  void RaiseSize(std::uint64_t end);
  std::uint64_t SectorOffset(std::uint64_t sector) const;

  const std::unique_ptr<env::File> file_;
  const std::unique_ptr<crypto::SectorCipher> cipher_;
  const SecureBuffer mac_key_;
  const std::uint32_t sector_size_;
  const bool read_only_;
  std::atomic<std::uint64_t> size_;
  RangeLock ranges_;
  // Lock order: a RangeLock guard, then header_mu_.
  mutable std::mutex header_mu_;
  Header header_;  // guarded by header_mu_; logical_size = the size on disk
};

}  // namespace cafs::format
