// Header: the decoded fields of a pool file header (header_layout.h, docs/format.md).
// A plain value; the codec (header_codec.h) turns it into bytes and back.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "crypto/cipher_id.h"
#include "format/header_layout.h"
#include "util/uuid.h"

namespace cafs::format {

struct RekeyState {
  std::uint8_t state = kRekeyNone;  // kRekeyNone or kRekeyInProgress
  Uuid target_key_guid;             // key being rekeyed to (nil when none)
  std::uint32_t target_key_version = 0;
  std::uint64_t watermark_sector = 0;  // sectors below it are under the target key
  std::array<std::uint8_t, layout::kHotzoneSize> hotzone{};  // opaque to this codec

  bool operator==(const RekeyState&) const = default;
};

struct Header {
  std::uint16_t version = kFormatVersion;
  crypto::CipherId cipher = crypto::CipherId::kAes256Xts;
  std::uint16_t flags = 0;  // none defined in v1
  std::uint32_t sector_size = 4096;
  Uuid file_guid;
  Uuid vm_set_id;
  Uuid policy_guid;
  Uuid key_guid;
  std::uint32_t key_version = 0;
  std::string kps_locator;  // UTF-8, at most kMaxKpsLocatorSize bytes
  std::array<std::uint8_t, kFileNonceSize> file_nonce{};
  std::uint64_t logical_size = 0;
  RekeyState rekey;

  bool operator==(const Header&) const = default;
};

}  // namespace cafs::format
