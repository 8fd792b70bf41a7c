#include "format/rekey_journal.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>

#include "crypto/mac.h"

namespace cafs::format {

namespace {

constexpr std::size_t kHalf = kJournalEntrySize / 2;
constexpr unsigned kCompactBits = 127;  // bit indexes 0..126: entries 1..254
constexpr std::uint8_t kCompactInvalid = 255;

bool AllZero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

unsigned BitAt(ByteView bytes, unsigned b) {
  return static_cast<unsigned>(bytes[b / 8] >> (b % 8)) & 1u;
}

}  // namespace

namespace {

// Per journal format (indexed by the tail's format byte): entry size and longest hotzone.
struct FormatInfo {
  std::size_t entry_size;
  std::uint32_t max_sectors;
};
constexpr FormatInfo kFormats[] = {
    {kJournalEntrySize, kMaxFingerprintHotzoneSectors},  // kJournalFingerprint
    {kCompactEntrySize, kMaxHotzoneSectors},             // kJournalCompact
};
static_assert(kJournalFingerprint == 0 && kJournalCompact == 1);

FormatInfo Info(std::uint8_t format) {
  return format < std::size(kFormats) ? kFormats[format] : FormatInfo{0, 0};
}

}  // namespace

std::size_t JournalEntrySize(std::uint8_t format) { return Info(format).entry_size; }

std::uint32_t MaxHotzoneSectors(std::uint8_t format) { return Info(format).max_sectors; }

Status CheckJournalShape(const RekeyState& rekey) {
  if (JournalEntrySize(rekey.journal_format) == 0) {
    return Status::InvalidArgument("unknown journal format " +
                                   std::to_string(rekey.journal_format));
  }
  if (rekey.hotzone_sectors == 0 && rekey.journal_format != 0) {
    return Status::InvalidArgument("journal format set without an active journal");
  }
  if (rekey.hotzone_sectors > MaxHotzoneSectors(rekey.journal_format)) {
    return Status::InvalidArgument("hotzone length " + std::to_string(rekey.hotzone_sectors) +
                                   " above " +
                                   std::to_string(MaxHotzoneSectors(rekey.journal_format)));
  }
  return Status::OK();
}

Status EncodeJournalEntry(std::uint8_t format, ByteView old_prefix, ByteView new_sector,
                          MutableByteView entry) {
  if (entry.size() != JournalEntrySize(format) || new_sector.size() < kJournalEntrySize ||
      new_sector.size() < kCompactPrefix || old_prefix.size() < kCompactPrefix) {
    return Status::InvalidArgument("hotzone entry or sector of the wrong size");
  }
  if (format == kJournalFingerprint) {
    std::memcpy(entry.data(), new_sector.data(), kHalf);
    std::memcpy(entry.data() + kHalf, new_sector.data() + new_sector.size() - kHalf, kHalf);
    if (AllZero(entry)) {
      return Status::Internal("ciphertext fingerprint is all zeros; refusing an ambiguous entry");
    }
    return Status::OK();
  }
  for (unsigned b = 0; b < kCompactBits; ++b) {
    const unsigned v = BitAt(new_sector, b);
    if (v != BitAt(old_prefix, b)) {
      entry[0] = static_cast<std::uint8_t>(1 + 2 * b + v);
      return Status::OK();
    }
  }
  // Equal heads (cipher none: ciphertext = plaintext): name bit 0, which decides "target".
  entry[0] = static_cast<std::uint8_t>(1 + BitAt(new_sector, 0));
  return Status::OK();
}

Result<HotzoneSector> ClassifyHotzoneSector(std::uint8_t format, ByteView entry, ByteView stored) {
  if (entry.size() != JournalEntrySize(format) || stored.size() < kJournalEntrySize ||
      stored.size() < kCompactPrefix) {
    return Status::InvalidArgument("hotzone entry or sector of the wrong size");
  }
  if (AllZero(entry)) return HotzoneSector::kHole;
  if (format == kJournalCompact) {
    if (entry[0] == kCompactInvalid) return Status::Corruption("bad hotzone journal entry 255");
    const unsigned e = entry[0] - 1u;
    return BitAt(stored, e >> 1) == (e & 1u) ? HotzoneSector::kTargetKey : HotzoneSector::kOldKey;
  }
  const bool head = std::memcmp(entry.data(), stored.data(), kHalf) == 0;
  const bool tail =
      std::memcmp(entry.data() + kHalf, stored.data() + stored.size() - kHalf, kHalf) == 0;
  if (head && tail) return HotzoneSector::kTargetKey;
  if (!head && !tail) return HotzoneSector::kOldKey;
  return Status::Corruption("hotzone sector torn: half of it matches the target ciphertext");
}

JournalDigest DigestJournal(ByteView entries) {
  const crypto::Sha256Mac d = crypto::Sha256(entries);
  JournalDigest out{};
  std::memcpy(out.data(), d.data(), out.size());
  return out;
}

}  // namespace cafs::format
