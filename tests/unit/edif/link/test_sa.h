// Test SAs for the link tests: key and salt derived from the SPI (so two SAs with different
// SPIs have different keys, and a host TX SA opens on a target RX SA with the same SPI).
#pragma once

#include <cstdint>

#include "edif/link/security_association.h"

namespace cafs::edif::link {

inline SecurityAssociation MakeSa(std::uint32_t spi, Direction dir) {
  SecurityAssociation sa;
  sa.spi = spi;
  sa.key = SecureBuffer(Bytes(32, static_cast<std::uint8_t>(spi)));
  sa.salt = {static_cast<std::uint8_t>(spi), 2, 3, 4};
  sa.direction = dir;
  return sa;
}

}  // namespace cafs::edif::link
