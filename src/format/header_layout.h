// Byte layout of the pool file header, format versions 1 and 2 (docs/format.md sections 2
// and 8 are the normative description; these constants must match its tables). All integers
// little-endian. `layout` is block 0 (both versions) and the version 1 tail; `layout2` the
// version 2 tail and the hotzone journal.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cafs::format {

inline constexpr std::size_t kHeaderSize = 4096;  // data sector 0 starts here
inline constexpr char kMagic[8] = {'C', 'A', 'F', 'S', 'P', 'O', 'O', 'L'};
inline constexpr std::uint16_t kFormatVersion1 = 1;
inline constexpr std::uint16_t kFormatVersion2 = 2;
inline constexpr std::uint16_t kFormatVersion = kFormatVersion2;  // what Create writes
inline constexpr std::size_t kMaxKpsLocatorSize = 256;
inline constexpr std::size_t kFileNonceSize = 16;
inline constexpr std::size_t kMacSize = 32;
// Largest logical size a pool file may have (keeps every byte offset below 2^63).
inline constexpr std::uint64_t kMaxLogicalSize = std::uint64_t{1} << 62;

// Rekey state values.
inline constexpr std::uint8_t kRekeyNone = 0;
inline constexpr std::uint8_t kRekeyInProgress = 1;
// Version 2 tail layout byte (zero, a reserved byte, in version 1).
inline constexpr std::uint8_t kTailLayout2 = 2;
// Version 2 cipher flag (docs/format.md 8.8): 1 when the tail names the ciphers.
inline constexpr std::uint8_t kCipherInBlock0 = 0;
inline constexpr std::uint8_t kCipherInTail = 1;
// Hotzone journal formats (docs/format.md 8.3): the tail's journal format byte.
inline constexpr std::uint8_t kJournalFingerprint = 0;  // 8-byte entries (older builds)
inline constexpr std::uint8_t kJournalCompact = 1;      // 1-byte entries (written now)
inline constexpr std::size_t kJournalEntrySize = 8;     // a fingerprint entry
inline constexpr std::size_t kCompactEntrySize = 1;
// Longest hotzone of each format (the journal area holds n entries), and of any format.
inline constexpr std::uint32_t kMaxFingerprintHotzoneSectors = 384;
inline constexpr std::uint32_t kMaxHotzoneSectors = 3072;
inline constexpr std::size_t kKeyCheckSize = 32;
inline constexpr std::size_t kDigestSize = 32;

namespace layout {
// --- immutable part: written at Create, never changed by normal I/O ---
inline constexpr std::size_t kMagic = 0;            // 8 bytes "CAFSPOOL"
inline constexpr std::size_t kVersion = 8;          // u16
inline constexpr std::size_t kHeaderSize = 10;      // u16 = 4096
inline constexpr std::size_t kCipherId = 12;        // u16 crypto::CipherId
inline constexpr std::size_t kFlags = 14;           // u16, must be 0 in v1
inline constexpr std::size_t kSectorSize = 16;      // u32, 512 or 4096
inline constexpr std::size_t kReserved20 = 20;      // 4 zero bytes
inline constexpr std::size_t kFileGuid = 24;        // 16
inline constexpr std::size_t kVmSetId = 40;         // 16
inline constexpr std::size_t kPolicyGuid = 56;      // 16
inline constexpr std::size_t kKeyGuid = 72;         // 16 (v2: creation key GUID)
inline constexpr std::size_t kKeyVersion = 88;      // u32 (v2: creation key version)
inline constexpr std::size_t kReserved92 = 92;      // 4 zero bytes
inline constexpr std::size_t kFileNonce = 96;       // 16
inline constexpr std::size_t kReserved112 = 112;    // 16 zero bytes
inline constexpr std::size_t kLocatorLength = 128;  // u16 <= 256
inline constexpr std::size_t kLocator = 130;        // 256 bytes, UTF-8, zero padded
inline constexpr std::size_t kReserved386 = 386;    // zero up to the hotzone area
inline constexpr std::size_t kHotzone = 512;        // rekey hotzone journal area (opaque)
inline constexpr std::size_t kHotzoneSize = 1536;   // up to 2048
inline constexpr std::size_t kReserved2048 = 2048;  // zero up to the mutable tail
// --- mutable tail: the last 512 bytes; size and rekey updates rewrite only this block, so
// a rewrite is one aligned 512-byte write (old or new, never torn, on any device) ---
inline constexpr std::size_t kMutableTail = 3584;
inline constexpr std::size_t kMutableTailSize = 512;
inline constexpr std::size_t kRekeyState = 3584;          // u8 kRekeyNone / kRekeyInProgress
inline constexpr std::size_t kReserved3585 = 3585;        // 7 zero bytes
inline constexpr std::size_t kRekeyTargetGuid = 3592;     // 16
inline constexpr std::size_t kRekeyTargetVersion = 3608;  // u32
inline constexpr std::size_t kReserved3612 = 3612;        // 4 zero bytes
inline constexpr std::size_t kRekeyWatermark = 3616;      // u64 first sector not re-encrypted
inline constexpr std::size_t kReserved3624 = 3624;        // zero up to the logical size
inline constexpr std::size_t kLogicalSize = 4056;         // u64
inline constexpr std::size_t kMac = 4064;  // 32 bytes HMAC-SHA-256 of bytes [0, 4064)
}  // namespace layout

namespace layout2 {
inline constexpr std::size_t kJournal = 512;          // hotzone journal entries
inline constexpr std::size_t kJournalSize = 3072;     // up to the tail
inline constexpr std::size_t kRekeyState = 3584;      // u8
inline constexpr std::size_t kTailLayout = 3585;      // u8 = kTailLayout2
inline constexpr std::size_t kJournalFormat = 3586;   // u8 kJournalFingerprint/Compact
inline constexpr std::size_t kCipherFlag = 3587;      // u8 0 / 1 (docs/format.md 8.8)
inline constexpr std::size_t kKeyVersion = 3588;      // u32, the file's key
inline constexpr std::size_t kKeyGuid = 3592;         // 16, the file's key
inline constexpr std::size_t kTargetGuid = 3608;      // 16
inline constexpr std::size_t kTargetVersion = 3624;   // u32
inline constexpr std::size_t kHotzoneLength = 3628;   // u32 n, 0 = no journal active
inline constexpr std::size_t kWatermark = 3632;       // u64 w
inline constexpr std::size_t kTargetKeyCheck = 3640;  // 32
inline constexpr std::size_t kJournalDigest = 3672;   // 32, SHA-256 of [512, 512 + 8n)
inline constexpr std::size_t kCipher = 3704;          // u16, cipher flag 1: the file's cipher
inline constexpr std::size_t kTargetCipher = 3706;    // u16, cipher flag 1 + state 1
inline constexpr std::size_t kReserved3708 = 3708;    // zero up to the logical size
}  // namespace layout2

static_assert(layout::kHotzone + layout::kHotzoneSize == layout::kReserved2048);
static_assert(layout2::kJournal + layout2::kJournalSize == layout::kMutableTail);
static_assert(kMaxFingerprintHotzoneSectors * kJournalEntrySize == layout2::kJournalSize);
static_assert(kMaxHotzoneSectors * kCompactEntrySize == layout2::kJournalSize);
static_assert(layout2::kJournalDigest + kDigestSize == layout2::kCipher);
static_assert(layout::kMutableTail + layout::kMutableTailSize == kHeaderSize);
static_assert(layout::kMac + kMacSize == kHeaderSize);

}  // namespace cafs::format
