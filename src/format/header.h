// Header: the decoded fields of a pool file header (header_layout.h, docs/format.md).
// A plain value; the codec (header_codec.h) turns it into bytes and back.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "crypto/cipher_id.h"
#include "format/header_layout.h"
#include "util/uuid.h"

namespace cafs::format {

// The rekey fields of the tail (docs/format.md 8.1); all zero unless state is in progress.
// Version 1 headers always have state none.
struct RekeyState {
  std::uint8_t state = kRekeyNone;  // kRekeyNone or kRekeyInProgress
  Uuid target_key_guid;             // key being rekeyed to (nil when none)
  std::uint32_t target_key_version = 0;
  std::uint64_t watermark_sector = 0;  // sectors below it are under the target key
  std::uint32_t hotzone_sectors = 0;   // n: active journal length, 0 = none
  std::uint8_t journal_format = 0;     // kJournalFingerprint/Compact; 0 when n = 0
  std::array<std::uint8_t, kKeyCheckSize> target_key_check{};
  std::array<std::uint8_t, kDigestSize> journal_digest{};  // of the n active entries
  // The target's cipher when it differs from the file's (a conversion, docs/format.md 8.8);
  // none: the file's cipher.
  std::optional<crypto::CipherId> target_cipher;

  bool operator==(const RekeyState&) const = default;
};

struct Header {
  std::uint16_t version = kFormatVersion;  // 1 or 2 (the layout, see upgrade_incomplete)
  // Version 2 only: byte 8 still says 1 because an upgrade stopped between its tail write and
  // its block-0 write (docs/format.md 8.5). Encoded as byte 8 = 1.
  bool upgrade_incomplete = false;
  // The file's cipher: of the tail's key, i.e. of sectors >= the watermark (version 2 with
  // the cipher flag: the tail's; otherwise bytes 12..13).
  crypto::CipherId cipher = crypto::CipherId::kAes256Xts;
  // Version 2: bytes 12..13 when they differ from `cipher` (a converted file, docs/format.md
  // 8.8: the cipher at creation, informational); none: bytes 12..13 are `cipher`.
  std::optional<crypto::CipherId> creation_cipher;
  std::uint16_t flags = 0;  // none defined in v1 or v2
  std::uint32_t sector_size = 4096;
  Uuid file_guid;
  Uuid vm_set_id;
  Uuid policy_guid;
  Uuid key_guid;  // the file's key (the old key while a rekey runs); v1: bytes 72/88
  std::uint32_t key_version = 0;
  // Version 2: bytes 72/88, the key at creation (informational). A version 1 header decodes
  // with them equal to key_guid / key_version; its encoding ignores them.
  Uuid creation_key_guid;
  std::uint32_t creation_key_version = 0;
  std::string kps_locator;  // UTF-8, at most kMaxKpsLocatorSize bytes
  std::array<std::uint8_t, kFileNonceSize> file_nonce{};
  std::uint64_t logical_size = 0;
  RekeyState rekey;

  bool operator==(const Header&) const = default;

  // The cipher of the rekey target (the file's own unless a conversion runs).
  crypto::CipherId target_cipher() const { return rekey.target_cipher.value_or(cipher); }
  // Whether the tail must name the ciphers (cipher flag 1).
  bool cipher_in_tail() const {
    return creation_cipher.has_value() ||
           (rekey.state == kRekeyInProgress && target_cipher() != cipher);
  }
};

}  // namespace cafs::format
