// Hotzone journal of a deep rekey (docs/format.md 8.3): one 8-byte entry per hotzone sector,
// zero for a hole, else the fingerprint (bytes [0,4) || [S-4,S)) of the sector's ciphertext
// under the target key. These functions are the one place that encodes and decides entries;
// EncryptedFile (reads and recovery at open) and Rekeyer (steps) both use them.
// Threading: free functions on values, safe from any thread.
#pragma once

#include <array>
#include <cstdint>

#include "format/header_layout.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::format {

using JournalEntry = std::array<std::uint8_t, kJournalEntrySize>;
using JournalDigest = std::array<std::uint8_t, kDigestSize>;

// What a stored hotzone sector holds.
enum class HotzoneSector : std::uint8_t { kHole, kOldKey, kTargetKey };

// The entry for a sector whose target-key ciphertext is `cipher_sector` (S bytes, S >= 8).
// Internal if the fingerprint is all zero (it would read as "hole"; probability 2^-64).
Result<JournalEntry> EntryForCiphertext(ByteView cipher_sector);

// Decides `stored` (the S bytes now on disk) against its entry. Corruption "hotzone sector
// torn" when exactly one half of the fingerprint matches.
Result<HotzoneSector> ClassifyHotzoneSector(ByteView entry, ByteView stored);

// SHA-256 of the active entries (n * 8 bytes).
JournalDigest DigestJournal(ByteView entries);

}  // namespace cafs::format
