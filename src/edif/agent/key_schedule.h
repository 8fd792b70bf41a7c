// Link keys from the agents' TLS 1.3 session (RFC 8446 7.5 exporter, RFC 5705 interface):
//
//   okm = SSL_export_keying_material(label = "EXPORTER-CAFS-EDIF-v1",
//           context = initiator_wwpn LE64 || target_wwpn LE64 || session_epoch LE64 ||
//                     generation LE32,  length = 72)
//   okm[0..32)  key  initiator -> target     okm[32..36) salt initiator -> target
//   okm[36..68) key  target -> initiator     okm[68..72) salt target -> initiator
//
// Each generation (1 after the handshake, +1 per rekey) gives independent keys from the same
// session. Threading: pure functions (the session is used by one thread).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "edif/agent/tls_session.h"
#include "util/secure_buffer.h"

namespace cafs::edif::agent {

inline constexpr std::string_view kExporterLabel = "EXPORTER-CAFS-EDIF-v1";
inline constexpr std::size_t kLinkKeySize = 32;
inline constexpr std::size_t kLinkSaltSize = 4;

struct DirectionKeys {
  SecureBuffer key;  // kLinkKeySize
  std::array<std::uint8_t, kLinkSaltSize> salt{};
};

struct LinkKeys {
  DirectionKeys initiator_to_target;
  DirectionKeys target_to_initiator;
};

struct KeyContext {
  std::uint64_t initiator_wwpn = 0;
  std::uint64_t target_wwpn = 0;
  std::uint64_t session_epoch = 0;
  std::uint32_t generation = 1;
};

Bytes ExporterContext(const KeyContext& kc);
Result<LinkKeys> DeriveLinkKeys(TlsSession& tls, const KeyContext& kc);

}  // namespace cafs::edif::agent
