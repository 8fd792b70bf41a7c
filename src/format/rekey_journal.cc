#include "format/rekey_journal.h"

#include <algorithm>
#include <cstring>

#include "crypto/mac.h"

namespace cafs::format {

namespace {
constexpr std::size_t kHalf = kJournalEntrySize / 2;
}  // namespace

Result<JournalEntry> EntryForCiphertext(ByteView cipher_sector) {
  if (cipher_sector.size() < kJournalEntrySize) {
    return Status::InvalidArgument("hotzone sector shorter than a journal entry");
  }
  JournalEntry e{};
  std::memcpy(e.data(), cipher_sector.data(), kHalf);
  std::memcpy(e.data() + kHalf, cipher_sector.data() + cipher_sector.size() - kHalf, kHalf);
  if (std::all_of(e.begin(), e.end(), [](std::uint8_t b) { return b == 0; })) {
    return Status::Internal("ciphertext fingerprint is all zeros; refusing an ambiguous entry");
  }
  return e;
}

Result<HotzoneSector> ClassifyHotzoneSector(ByteView entry, ByteView stored) {
  if (entry.size() != kJournalEntrySize || stored.size() < kJournalEntrySize) {
    return Status::InvalidArgument("hotzone entry or sector of the wrong size");
  }
  if (std::all_of(entry.begin(), entry.end(), [](std::uint8_t b) { return b == 0; })) {
    return HotzoneSector::kHole;
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
