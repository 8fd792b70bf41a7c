// Hotzone journal of a deep rekey (docs/format.md 8.3): one entry per hotzone sector, all
// zero for a hole, else the data that tells the sector's old ciphertext from its target-key
// ciphertext. Two entry formats: fingerprint (8 bytes: bytes [0,4) || [S-4,S) of the target
// ciphertext; written by older builds, still read) and compact (1 byte: one bit where the
// two ciphertexts differ; written now). These functions are the one place that encodes,
// checks and decides entries; EncryptedFile (reads and recovery at open) and Rekeyer (steps)
// both use them.
// Threading: free functions on values, safe from any thread.
#pragma once

#include <array>
#include <cstdint>

#include "format/header.h"
#include "format/header_layout.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::format {

using JournalDigest = std::array<std::uint8_t, kDigestSize>;

// Bytes of the old ciphertext a compact entry can look at: bits [0, 127) of the sector.
inline constexpr std::size_t kCompactPrefix = 16;

// What a stored hotzone sector holds.
enum class HotzoneSector : std::uint8_t { kHole, kOldKey, kTargetKey };

// Entry size of a journal format (8 or 1); 0 for an unknown format.
std::size_t JournalEntrySize(std::uint8_t format);
// Longest hotzone of a journal format (384 or 3072); 0 for an unknown format.
std::uint32_t MaxHotzoneSectors(std::uint8_t format);

// The journal fields of a rekey state (docs/format.md 8.6): a known format, zero when n = 0,
// n at most the format's maximum. InvalidArgument naming the rule.
Status CheckJournalShape(const RekeyState& rekey);

// Writes into `entry` (the format's entry size) the entry of a non-hole sector whose old
// ciphertext starts with `old_prefix` (>= kCompactPrefix bytes; the old ciphertext on disk,
// made durable before the journal becomes active) and whose target ciphertext is
// `new_sector` (S bytes). Fingerprint: Internal when the entry would read as a hole
// (probability 2^-64). Compact: heads equal on 127 bits give an entry deciding "target".
Status EncodeJournalEntry(std::uint8_t format, ByteView old_prefix, ByteView new_sector,
                          MutableByteView entry);

// Decides `stored` (the S bytes now on disk) against its entry. Fingerprint: Corruption
// "hotzone sector torn" when exactly one half matches. Compact: Corruption "bad hotzone
// journal entry" for the invalid value 255.
Result<HotzoneSector> ClassifyHotzoneSector(std::uint8_t format, ByteView entry, ByteView stored);

// SHA-256 of the active entries (n * entry size bytes).
JournalDigest DigestJournal(ByteView entries);

}  // namespace cafs::format
