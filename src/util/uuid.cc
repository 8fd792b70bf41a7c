#include "util/uuid.h"

#include <sys/random.h>

#include <cstdlib>

#include "util/bytes.h"

namespace cafs {

Uuid Uuid::Random() {
  std::array<std::uint8_t, kSize> b{};
  std::size_t got = 0;
  while (got < b.size()) {
    ssize_t n = getrandom(b.data() + got, b.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy source: nothing safe to do
    }
    got += static_cast<std::size_t>(n);
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return Uuid(b);
}

Result<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != 36) {
    return Status::InvalidArgument("GUID '" + std::string(text) +
                                   "' must be 36 characters (8-4-4-4-12 hex)");
  }
  std::string hex;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool dash_pos = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash_pos) {
      if (text[i] != '-') {
        return Status::InvalidArgument("GUID '" + std::string(text) + "' needs '-' at offset " +
                                       std::to_string(i));
      }
      continue;
    }
    hex.push_back(text[i]);
  }
  auto bytes = FromHex(hex);
  if (!bytes.ok()) {
    return Status::InvalidArgument("GUID '" + std::string(text) + "' has a non-hex digit");
  }
  std::array<std::uint8_t, kSize> b{};
  std::copy(bytes->begin(), bytes->end(), b.begin());
  return Uuid(b);
}

Result<Uuid> Uuid::FromBytes(const std::uint8_t* data, std::size_t size) {
  if (size != kSize) return Status::InvalidArgument("a GUID is 16 bytes");
  std::array<std::uint8_t, kSize> b{};
  std::copy(data, data + size, b.begin());
  return Uuid(b);
}

Uuid Uuid::ClearTextKey() {
  std::array<std::uint8_t, kSize> b{};
  b.fill(0x01);
  return Uuid(b);
}

bool Uuid::IsNil() const {
  for (auto v : bytes_) {
    if (v != 0) return false;
  }
  return true;
}

std::string Uuid::ToString() const {
  std::string hex = ToHex(ByteView(bytes_.data(), bytes_.size()));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

}  // namespace cafs
