#include "edif/agent/key_schedule.h"

#include <cstring>

namespace cafs::edif::agent {

Bytes ExporterContext(const KeyContext& kc) {
  Bytes c(28);
  StoreLe64(c.data(), kc.initiator_wwpn);
  StoreLe64(c.data() + 8, kc.target_wwpn);
  StoreLe64(c.data() + 16, kc.session_epoch);
  StoreLe32(c.data() + 24, kc.generation);
  return c;
}

Result<LinkKeys> DeriveLinkKeys(TlsSession& tls, const KeyContext& kc) {
  constexpr std::size_t kHalf = kLinkKeySize + kLinkSaltSize;
  CAFS_ASSIGN_OR_RETURN(SecureBuffer okm,
                        tls.Export(kExporterLabel, ExporterContext(kc), 2 * kHalf));
  LinkKeys k;
  auto fill = [&](DirectionKeys& d, std::size_t off) {
    d.key = SecureBuffer(okm.data() + off, kLinkKeySize);
    std::memcpy(d.salt.data(), okm.data() + off + kLinkKeySize, kLinkSaltSize);
  };
  fill(k.initiator_to_target, 0);
  fill(k.target_to_initiator, kHalf);
  return k;
}

}  // namespace cafs::edif::agent
