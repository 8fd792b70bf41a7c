// Rekeyer: deep rekey of one open EncryptedFile (docs/format.md 8): re-encrypts every sector
// from the file's key to a target key version in bounded steps, while the file keeps being
// read and written. Front-end independent; a job runner (the `jobs` component) drives it.
//
// Use:
//   auto r = Rekeyer::Start(file, target_guid, target_version, target_dek);   // or resume
//   while (true) { auto p = (*r)->Step(); if (!p.ok()) ...; if (p->finished) break; }
// Each Step() rewrites one hotzone (at most RekeyOptions::hotzone_sectors sectors, <= 3072
// with the compact journal, <= 384 with the fingerprint one) with four fdatasyncs whatever
// its length (format.md 8.4), so long hotzones are what makes a deep rekey fast and returns the
// progress; the last Step() switches the header to the target key (one atomic tail write) and
// reports finished. After that the header names only the target key: the old key is no longer
// needed by this file.
//
// Again: after a rekey finished, Start on the same open file rekeys it again (to a newer key):
// it first makes the finished target the file's own key, waiting for the I/O in flight
// (EncryptedFile::PromoteFinishedTarget). A VM keeps its disk open across rotations.
//
// Resuming: all state is in the pool file header (watermark, hotzone journal). After a crash
// or a close, Open the file with OpenParams::rekey_target_dek (a writable Open finishes the
// interrupted hotzone), call Start with the same target: it continues from the watermark.
// Start on a file whose header records a rekey to another target is FailedPrecondition.
//
// Concurrency: foreground Read/Write/Sync/Truncate on the file run while Step() runs; a Step
// holds the exclusive range lock of its hotzone only (and of [watermark, end] for the final
// switch), so I/O elsewhere proceeds and I/O on the hotzone waits for at most one step.
// Step() and progress() are thread-safe; steps of one Rekeyer never overlap (a mutex). Do not
// run two Rekeyers on one EncryptedFile.
//
// Conversions (RekeyOptions::target_cipher, docs/format.md 8.8): the same steps with a
// target cipher other than the file's (clear text <-> encrypted, CBC-ESSIV -> XTS); the
// final switch names the target's key and cipher in the one tail write.
//
// Errors: Start: InvalidArgument (target equals the file's key and cipher), FailedPrecondition
// (file opened read-only, a rekey to another target in progress, a Start that failed on this
// open file with another target DEK), AuthFailed (target DEK does not match the header's target key
// check), I/O errors (ENOSPC, EIO: the file stays as it was or upgraded to version 2; Start can be
// retried). Step: I/O errors of the pool file as they are (ENOSPC, EIO); after a failed Step the
// file stays consistent and readable, and the next Step (or a writable reopen) retries from the
// durable state.
//
// Ownership: `file` is not owned and must outlive the Rekeyer; the target DEK is not kept
// (the file keeps the derived keys).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "format/encrypted_file.h"

namespace cafs::format {

struct RekeyOptions {
  // Sectors per Step: 1..MaxHotzoneSectors(journal_format) (3072 compact, 384 fingerprint).
  std::uint32_t hotzone_sectors = kMaxHotzoneSectors;
  // Entry format of the journals this Rekeyer writes (docs/format.md 8.3). The fingerprint
  // format is what older builds wrote; it stays selectable for tests and golden files.
  std::uint8_t journal_format = kJournalCompact;
  // The target's cipher when it differs from the file's: a conversion (docs/format.md 8.8:
  // clear text <-> encrypted, CBC-ESSIV -> XTS). The target DEK may then be empty only for
  // cipher none (the clear-text key). None: the file's cipher.
  std::optional<crypto::CipherId> target_cipher = std::nullopt;
};

struct RekeyProgress {
  std::uint64_t bytes_done = 0;   // bytes below the watermark (capped to the total)
  std::uint64_t bytes_total = 0;  // the file's size rounded up to whole sectors, now
  bool finished = false;          // the header names only the target key
};

class Rekeyer {
 public:
  using Options = RekeyOptions;
  using Progress = RekeyProgress;

  static Result<std::unique_ptr<Rekeyer>> Start(EncryptedFile& file, const Uuid& target_key_guid,
                                                std::uint32_t target_key_version,
                                                const SecureBuffer& target_dek,
                                                Options options = {});

  // One bounded unit of work: a hotzone, or the final key switch when the watermark covers
  // the file. After finished, further calls return the same progress and do nothing.
  Result<Progress> Step();
  Progress progress() const;

 private:
  Rekeyer(EncryptedFile& file, Options options);
  Status RekeyHotzone(std::uint64_t w);
  Status Finish(bool* finished);

  EncryptedFile& file_;
  const Options options_;
  mutable std::mutex mu_;              // one Step at a time; before the file's locks
  std::vector<std::uint8_t> data_;     // hotzone buffer, guarded by mu_
  std::vector<std::uint8_t> entries_;  // journal entries, guarded by mu_
  std::vector<std::uint8_t> heads_;    // old ciphertext prefixes, guarded by mu_
  std::vector<std::uint8_t> stored_;   // 1 per hotzone sector that was not a hole, by mu_
};

}  // namespace cafs::format
