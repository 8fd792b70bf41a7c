// External PSK for the agent-to-agent TLS 1.3 handshake, derived TP 8018-style (NVMe/TCP
// "retained PSK" -> identity + TLS PSK) from a configured secret and BOTH port names.
// A PSK is never derived from port names alone: without the configured secret (>= 32 bytes)
// nothing can be computed.
//
//   retained  = HKDF-SHA-256(ikm = secret, salt = "",
//                            info = "CAFS-EDIF-PSK-v1 retained" || i_wwpn LE64 || t_wwpn LE64, 48)
//   digest    = HMAC-SHA-256(retained, "CAFS-EDIF-PSK-v1 identity")           (32 bytes)
//   identity  = "CAFS1R01 " || hex16(i_wwpn) || " " || hex16(t_wwpn) || " " || hex(digest)
//   tls_psk   = HKDF-SHA-256(ikm = retained, salt = "",
//                            info = "CAFS-EDIF-PSK-v1 tls" || identity, 48)
// The TLS session uses TLS_AES_256_GCM_SHA384 with tls_psk as the external PSK (psk_dhe_ke:
// an (EC)DHE share is still exchanged, so sessions have forward secrecy).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "util/bytes.h"
#include "util/secure_buffer.h"

namespace cafs::edif::agent {

inline constexpr std::size_t kMinPskSecret = 32;
inline constexpr std::size_t kTlsPskSize = 48;

struct PskIdentity {
  std::string identity;
  SecureBuffer tls_psk;  // kTlsPskSize bytes
};

// InvalidArgument if the secret is shorter than kMinPskSecret.
Result<PskIdentity> DerivePskIdentity(ByteView secret, std::uint64_t initiator_wwpn,
                                      std::uint64_t target_wwpn);

}  // namespace cafs::edif::agent
