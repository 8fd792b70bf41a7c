#include "format/header_codec.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/mac.h"
#include "format/rekey_journal.h"

namespace cafs::format {

namespace {

Status Bad(const std::string& what) { return Status::Corruption("pool header: " + what); }

bool AllZero(ByteView bytes, std::size_t offset, std::size_t length) {
  const auto span = bytes.subspan(offset, length);
  return std::all_of(span.begin(), span.end(), [](std::uint8_t b) { return b == 0; });
}

void PutUuid(MutableByteView out, std::size_t offset, const Uuid& u) {
  std::memcpy(out.data() + offset, u.bytes().data(), Uuid::kSize);
}

Uuid GetUuid(ByteView in, std::size_t offset) {
  std::array<std::uint8_t, Uuid::kSize> b{};
  std::memcpy(b.data(), in.data() + offset, Uuid::kSize);
  return Uuid(b);
}

// Reserved ranges that must be zero: {offset, length, name}.
struct ReservedRange {
  std::size_t offset;
  std::size_t length;
  const char* name;
};
constexpr ReservedRange kReservedBlock0[] = {
    {layout::kReserved20, 4, "reserved bytes 20..23"},
    {layout::kReserved92, 4, "reserved bytes 92..95"},
    {layout::kReserved112, 16, "reserved bytes 112..127"},
    {layout::kReserved386, layout::kHotzone - layout::kReserved386, "reserved bytes 386..511"},
};
constexpr ReservedRange kReservedV1[] = {
    {layout::kHotzone, layout::kHotzoneSize, "v1 rekey area 512..2047"},
    {layout::kReserved2048, layout::kMutableTail - layout::kReserved2048,
     "reserved bytes 2048..3583"},
    {layout::kReserved3585, 7, "reserved bytes 3585..3591"},
    {layout::kRekeyTargetGuid, layout::kReserved3624 - layout::kRekeyTargetGuid,
     "v1 rekey fields 3592..3623"},
    {layout::kReserved3624, layout::kLogicalSize - layout::kReserved3624,
     "reserved bytes 3624..4055"},
};
constexpr ReservedRange kReservedV2[] = {
    {layout2::kReserved3708, layout::kLogicalSize - layout2::kReserved3708,
     "reserved bytes 3708..4055"},
};

template <std::size_t N>
Status CheckReserved(ByteView bytes, const ReservedRange (&ranges)[N]) {
  for (const auto& r : ranges) {
    if (!AllZero(bytes, r.offset, r.length)) return Bad(std::string(r.name) + " not zero");
  }
  return Status::OK();
}

bool IsV2Tail(const std::uint8_t* p) { return p[layout2::kTailLayout] == kTailLayout2; }

// The bytes the header MAC covers (docs/format.md 2 and 8.1).
std::vector<std::uint8_t> MacInput(ByteView bytes) {
  const std::uint8_t* p = bytes.data();
  const std::uint16_t version = LoadLe16(p + layout::kVersion);
  if (version == kFormatVersion1 && !IsV2Tail(p)) {
    return std::vector<std::uint8_t>(p, p + layout::kMac);
  }
  std::vector<std::uint8_t> in;
  in.reserve(layout2::kJournal + layout::kMac - layout::kMutableTail);
  in.insert(in.end(), p, p + layout2::kJournal);
  StoreLe16(in.data() + layout::kVersion, kFormatVersion2);
  in.insert(in.end(), p + layout::kMutableTail, p + layout::kMac);
  return in;
}

// The cipher flag and the tail's cipher fields (docs/format.md 8.8) into `h` (block 0's
// cipher already in h.cipher; the rekey state already parsed).
Status ParseTailCiphers(ByteView bytes, Header& h) {
  const std::uint8_t* p = bytes.data();
  const std::uint8_t flag = p[layout2::kCipherFlag];
  if (flag == kCipherInBlock0) {
    if (!AllZero(bytes, layout2::kCipher, layout2::kReserved3708 - layout2::kCipher)) {
      return Bad("cipher fields 3704..3707 not zero while the cipher flag is 0");
    }
    return Status::OK();
  }
  if (flag != kCipherInTail) return Bad("bad cipher flag " + std::to_string(flag));
  auto cipher = crypto::CipherIdFromWire(LoadLe16(p + layout2::kCipher));
  if (!cipher.ok()) return Bad("unknown cipher id at 3704");
  auto target = crypto::CipherIdFromWire(LoadLe16(p + layout2::kTargetCipher));
  if (!target.ok()) return Bad("unknown target cipher id at 3706");
  if (h.rekey.state == kRekeyNone && *target != crypto::CipherId::kNone) {
    return Bad("target cipher set while rekey state is none");
  }
  if (h.cipher != *cipher) h.creation_cipher = h.cipher;
  h.cipher = *cipher;
  if (h.rekey.state == kRekeyInProgress && *target != h.cipher) h.rekey.target_cipher = *target;
  return Status::OK();
}

}  // namespace

Status ValidateHeader(const Header& h) {
  if (h.version != kFormatVersion1 && h.version != kFormatVersion2) {
    return Status::InvalidArgument("pool header: unsupported version " + std::to_string(h.version));
  }
  if (h.version == kFormatVersion1 && (h.upgrade_incomplete || h.rekey.state != kRekeyNone)) {
    return Status::InvalidArgument("pool header: a v1 header has no rekey state or upgrade flag");
  }
  if (h.flags != 0) return Status::InvalidArgument("pool header: unknown flags");
  if (!crypto::CipherIdFromWire(static_cast<std::uint16_t>(h.cipher)).ok()) {
    return Status::InvalidArgument("pool header: unknown cipher id");
  }
  if (!crypto::IsSupportedSectorSize(h.sector_size)) {
    return Status::InvalidArgument("pool header: sector size must be 512 or 4096");
  }
  if (h.kps_locator.size() > kMaxKpsLocatorSize) {
    return Status::InvalidArgument("pool header: KPS locator longer than 256 bytes");
  }
  if (h.kps_locator.find('\0') != std::string::npos) {
    return Status::InvalidArgument("pool header: KPS locator contains a NUL byte");
  }
  if (h.logical_size > kMaxLogicalSize) {
    return Status::InvalidArgument("pool header: logical size above 2^62");
  }
  if (h.rekey.state != kRekeyNone && h.rekey.state != kRekeyInProgress) {
    return Status::InvalidArgument("pool header: unknown rekey state");
  }
  if (h.rekey.state == kRekeyNone && !(h.rekey == RekeyState{})) {
    return Status::InvalidArgument("pool header: rekey fields set while no rekey runs");
  }
  if (Status s = CheckJournalShape(h.rekey); !s.ok()) {
    return Status::InvalidArgument("pool header: " + s.message());
  }
  if (h.rekey.state == kRekeyInProgress && h.rekey.target_key_guid == h.key_guid &&
      h.rekey.target_key_version == h.key_version && h.target_cipher() == h.cipher) {
    return Status::InvalidArgument("pool header: rekey target is the file's own key");
  }
  if (h.version == kFormatVersion1 && h.cipher_in_tail()) {
    return Status::InvalidArgument("pool header: a v1 header names one cipher");
  }
  for (auto c : {h.creation_cipher, h.rekey.target_cipher}) {
    if (c && !crypto::CipherIdFromWire(static_cast<std::uint16_t>(*c)).ok()) {
      return Status::InvalidArgument("pool header: unknown cipher id");
    }
  }
  return Status::OK();
}

Status EncodeHeader(const Header& h, ByteView mac_key, MutableByteView out) {
  if (out.size() != kHeaderSize) return Status::InvalidArgument("header buffer is not 4096 bytes");
  CAFS_RETURN_IF_ERROR(ValidateHeader(h));
  std::memset(out.data(), 0, out.size());
  std::uint8_t* p = out.data();
  std::memcpy(p + layout::kMagic, kMagic, sizeof(kMagic));
  StoreLe16(p + layout::kVersion, h.upgrade_incomplete ? kFormatVersion1 : h.version);
  StoreLe16(p + layout::kHeaderSize, static_cast<std::uint16_t>(kHeaderSize));
  StoreLe16(p + layout::kCipherId,
            static_cast<std::uint16_t>(h.creation_cipher.value_or(h.cipher)));
  StoreLe16(p + layout::kFlags, h.flags);
  StoreLe32(p + layout::kSectorSize, h.sector_size);
  PutUuid(out, layout::kFileGuid, h.file_guid);
  PutUuid(out, layout::kVmSetId, h.vm_set_id);
  PutUuid(out, layout::kPolicyGuid, h.policy_guid);
  std::memcpy(p + layout::kFileNonce, h.file_nonce.data(), kFileNonceSize);
  StoreLe64(p + layout::kLogicalSize, h.logical_size);
  StoreLe16(p + layout::kLocatorLength, static_cast<std::uint16_t>(h.kps_locator.size()));
  std::memcpy(p + layout::kLocator, h.kps_locator.data(), h.kps_locator.size());
  if (h.version == kFormatVersion1) {
    PutUuid(out, layout::kKeyGuid, h.key_guid);
    StoreLe32(p + layout::kKeyVersion, h.key_version);
  } else {
    PutUuid(out, layout::kKeyGuid, h.creation_key_guid);
    StoreLe32(p + layout::kKeyVersion, h.creation_key_version);
    p[layout2::kRekeyState] = h.rekey.state;
    p[layout2::kTailLayout] = kTailLayout2;
    StoreLe32(p + layout2::kKeyVersion, h.key_version);
    PutUuid(out, layout2::kKeyGuid, h.key_guid);
    PutUuid(out, layout2::kTargetGuid, h.rekey.target_key_guid);
    StoreLe32(p + layout2::kTargetVersion, h.rekey.target_key_version);
    StoreLe32(p + layout2::kHotzoneLength, h.rekey.hotzone_sectors);
    p[layout2::kJournalFormat] = h.rekey.journal_format;
    StoreLe64(p + layout2::kWatermark, h.rekey.watermark_sector);
    std::memcpy(p + layout2::kTargetKeyCheck, h.rekey.target_key_check.data(), kKeyCheckSize);
    std::memcpy(p + layout2::kJournalDigest, h.rekey.journal_digest.data(), kDigestSize);
    if (h.cipher_in_tail()) {  // docs/format.md 8.8
      p[layout2::kCipherFlag] = kCipherInTail;
      StoreLe16(p + layout2::kCipher, static_cast<std::uint16_t>(h.cipher));
      if (h.rekey.state == kRekeyInProgress) {
        StoreLe16(p + layout2::kTargetCipher, static_cast<std::uint16_t>(h.target_cipher()));
      }
    }
  }
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac, crypto::HmacSha256(mac_key, MacInput(out)));
  std::memcpy(p + layout::kMac, mac.data(), kMacSize);
  return Status::OK();
}

Result<Header> ParseHeaderUnverified(ByteView bytes) {
  if (bytes.size() < kHeaderSize) {
    return Bad("truncated: " + std::to_string(bytes.size()) + " of " + std::to_string(kHeaderSize) +
               " bytes");
  }
  bytes = bytes.first(kHeaderSize);
  const std::uint8_t* p = bytes.data();
  if (std::memcmp(p + layout::kMagic, kMagic, sizeof(kMagic)) != 0) {
    return Bad("bad magic (not a CAFS pool file)");
  }
  Header h;
  h.version = LoadLe16(p + layout::kVersion);
  if (h.version != kFormatVersion1 && h.version != kFormatVersion2) {
    return Bad("unsupported format version " + std::to_string(h.version) +
               " (this build reads 1 and 2)");
  }
  if (h.version == kFormatVersion1 && IsV2Tail(p)) {
    h.version = kFormatVersion2;  // an upgrade stopped after its tail write (format.md 8.5)
    h.upgrade_incomplete = true;
  } else if (h.version == kFormatVersion2 && !IsV2Tail(p)) {
    return Bad("version 2 header without the version 2 tail layout byte");
  }
  const std::uint16_t header_size = LoadLe16(p + layout::kHeaderSize);
  if (header_size != kHeaderSize) {
    return Bad("header size field is " + std::to_string(header_size) + ", expected 4096");
  }
  auto cipher = crypto::CipherIdFromWire(LoadLe16(p + layout::kCipherId));
  if (!cipher.ok())
    return Bad("unknown cipher id " + std::to_string(LoadLe16(p + layout::kCipherId)));
  h.cipher = *cipher;
  h.flags = LoadLe16(p + layout::kFlags);
  if (h.flags != 0) return Bad("unknown flags " + std::to_string(h.flags));
  h.sector_size = LoadLe32(p + layout::kSectorSize);
  if (!crypto::IsSupportedSectorSize(h.sector_size)) {
    return Bad("unsupported sector size " + std::to_string(h.sector_size));
  }
  CAFS_RETURN_IF_ERROR(CheckReserved(bytes, kReservedBlock0));
  const bool v1 = h.version == kFormatVersion1;
  if (v1) {
    CAFS_RETURN_IF_ERROR(CheckReserved(bytes, kReservedV1));
  } else {
    CAFS_RETURN_IF_ERROR(CheckReserved(bytes, kReservedV2));
  }
  h.file_guid = GetUuid(bytes, layout::kFileGuid);
  h.vm_set_id = GetUuid(bytes, layout::kVmSetId);
  h.policy_guid = GetUuid(bytes, layout::kPolicyGuid);
  h.creation_key_guid = GetUuid(bytes, layout::kKeyGuid);
  h.creation_key_version = LoadLe32(p + layout::kKeyVersion);
  h.key_guid = v1 ? h.creation_key_guid : GetUuid(bytes, layout2::kKeyGuid);
  h.key_version = v1 ? h.creation_key_version : LoadLe32(p + layout2::kKeyVersion);
  std::memcpy(h.file_nonce.data(), p + layout::kFileNonce, kFileNonceSize);
  h.logical_size = LoadLe64(p + layout::kLogicalSize);
  if (h.logical_size > kMaxLogicalSize) {
    return Bad("logical size " + std::to_string(h.logical_size) + " above 2^62");
  }
  const std::uint16_t locator_length = LoadLe16(p + layout::kLocatorLength);
  if (locator_length > kMaxKpsLocatorSize) {
    return Bad("KPS locator length " + std::to_string(locator_length) + " above 256");
  }
  h.kps_locator.assign(reinterpret_cast<const char*>(p + layout::kLocator), locator_length);
  if (h.kps_locator.find('\0') != std::string::npos) return Bad("KPS locator contains a NUL byte");
  if (!AllZero(bytes, layout::kLocator + locator_length, kMaxKpsLocatorSize - locator_length)) {
    return Bad("KPS locator padding not zero");
  }
  h.rekey.state = p[layout2::kRekeyState];
  if (v1) {
    if (h.rekey.state != kRekeyNone) return Bad("rekey state in a v1 header");
    return h;
  }
  if (h.rekey.state != kRekeyNone && h.rekey.state != kRekeyInProgress) {
    return Bad("unknown rekey state " + std::to_string(h.rekey.state));
  }
  h.rekey.target_key_guid = GetUuid(bytes, layout2::kTargetGuid);
  h.rekey.target_key_version = LoadLe32(p + layout2::kTargetVersion);
  h.rekey.hotzone_sectors = LoadLe32(p + layout2::kHotzoneLength);
  h.rekey.journal_format = p[layout2::kJournalFormat];
  h.rekey.watermark_sector = LoadLe64(p + layout2::kWatermark);
  std::memcpy(h.rekey.target_key_check.data(), p + layout2::kTargetKeyCheck, kKeyCheckSize);
  std::memcpy(h.rekey.journal_digest.data(), p + layout2::kJournalDigest, kDigestSize);
  if (h.rekey.state == kRekeyNone && !(h.rekey == RekeyState{})) {
    return Bad("rekey fields not zero while rekey state is none");
  }
  if (Status s = CheckJournalShape(h.rekey); !s.ok()) return Bad(s.message());
  CAFS_RETURN_IF_ERROR(ParseTailCiphers(bytes, h));
  if (h.rekey.state == kRekeyInProgress && h.rekey.target_key_guid == h.key_guid &&
      h.rekey.target_key_version == h.key_version && h.target_cipher() == h.cipher) {
    return Bad("rekey target is the file's own key");
  }
  return h;
}

Status VerifyHeaderMac(ByteView bytes, ByteView mac_key) {
  if (bytes.size() < kHeaderSize) return Bad("truncated");
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac,
                        crypto::HmacSha256(mac_key, MacInput(bytes.first(kHeaderSize))));
  if (!crypto::ConstantTimeEquals(mac, bytes.subspan(layout::kMac, kMacSize))) {
    return Status::AuthFailed("header MAC mismatch: wrong key or tampered header");
  }
  return Status::OK();
}

}  // namespace cafs::format
