// Uuid: a 128-bit GUID as used by the seed (file GUIDs, policy descriptor GUIDs, key GUIDs).
// Text form is the canonical 8-4-4-4-12 lower-case hex; bytes are in text order (RFC 9562).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace cafs {

class Uuid {
 public:
  static constexpr std::size_t kSize = 16;

  Uuid() = default;  // the nil UUID
  explicit Uuid(const std::array<std::uint8_t, kSize>& bytes) : bytes_(bytes) {}

  // A random (version 4) UUID from the kernel's CSPRNG (getrandom).
  static Uuid Random();
  // Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case). Errors name what is wrong.
  static Result<Uuid> Parse(std::string_view text);
  // From 16 raw bytes; InvalidArgument if the size is not 16.
  static Result<Uuid> FromBytes(const std::uint8_t* data, std::size_t size);

  // The seed's clear-text key GUID: "no encryption".
  static Uuid ClearTextKey();

  bool IsNil() const;
  std::string ToString() const;
  const std::array<std::uint8_t, kSize>& bytes() const { return bytes_; }

  auto operator<=>(const Uuid&) const = default;

 private:
  std::array<std::uint8_t, kSize> bytes_{};
};

}  // namespace cafs

template <>
struct std::hash<cafs::Uuid> {
  std::size_t operator()(const cafs::Uuid& u) const noexcept {
    std::size_t h = 0;
    for (auto b : u.bytes()) h = h * 131 + b;
    return h;
  }
};
