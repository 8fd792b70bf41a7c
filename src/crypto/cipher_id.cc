#include "crypto/cipher_id.h"

#include <string>

namespace cafs::crypto {

namespace {
constexpr std::pair<CipherId, std::string_view> kNames[] = {
    {CipherId::kNone, "none"},
    {CipherId::kAes128Xts, "aes-128-xts"},
    {CipherId::kAes256Xts, "aes-256-xts"},
    {CipherId::kAes128CbcEssiv, "aes-128-cbc-essiv"},
    {CipherId::kAes256CbcEssiv, "aes-256-cbc-essiv"},
};
}  // namespace

std::string_view CipherName(CipherId id) {
  for (const auto& [cid, name] : kNames) {
    if (cid == id) return name;
  }
  return "unknown";
}

Result<CipherId> ParseCipherName(std::string_view name) {
  for (const auto& [cid, known] : kNames) {
    if (known == name) return cid;
  }
  return Status::InvalidArgument("unknown cipher '" + std::string(name) +
                                 "': expected none, aes-128-xts, aes-256-xts, "
                                 "aes-128-cbc-essiv or aes-256-cbc-essiv");
}

Result<CipherId> CipherIdFromWire(std::uint16_t value) {
  if (value > static_cast<std::uint16_t>(CipherId::kAes256CbcEssiv)) {
    return Status::Corruption("unknown cipher id " + std::to_string(value));
  }
  return static_cast<CipherId>(value);
}

std::size_t CipherKeySize(CipherId id) {
  switch (id) {
    case CipherId::kNone:
      return 0;
    case CipherId::kAes128Xts:
      return 32;
    case CipherId::kAes256Xts:
      return 64;
    case CipherId::kAes128CbcEssiv:
      return 16;
    case CipherId::kAes256CbcEssiv:
      return 32;
  }
  return 0;
}

}  // namespace cafs::crypto
