#include "edif/agent/psk_identity.h"

#include <fmt/format.h>

#include "crypto/kdf.h"
#include "crypto/mac.h"

namespace cafs::edif::agent {

Result<PskIdentity> DerivePskIdentity(ByteView secret, std::uint64_t initiator_wwpn,
                                      std::uint64_t target_wwpn) {
  if (secret.size() < kMinPskSecret) {
    return Status::InvalidArgument("PSK secret must be at least 32 bytes");
  }
  Bytes info(AsBytes("CAFS-EDIF-PSK-v1 retained").begin(),
             AsBytes("CAFS-EDIF-PSK-v1 retained").end());
  const std::size_t n = info.size();
  info.resize(n + 16);
  StoreLe64(info.data() + n, initiator_wwpn);
  StoreLe64(info.data() + n + 8, target_wwpn);
  CAFS_ASSIGN_OR_RETURN(SecureBuffer retained,
                        crypto::Hkdf(crypto::Digest::kSha256, secret, {}, info, kTlsPskSize));
  CAFS_ASSIGN_OR_RETURN(auto digest,
                        crypto::HmacSha256(retained.view(), AsBytes("CAFS-EDIF-PSK-v1 identity")));
  PskIdentity out;
  out.identity = fmt::format("CAFS1R01 {:016x} {:016x} {}", initiator_wwpn, target_wwpn,
                             ToHex(ByteView(digest.data(), digest.size())));
  std::string tls_info = "CAFS-EDIF-PSK-v1 tls" + out.identity;
  CAFS_ASSIGN_OR_RETURN(out.tls_psk, crypto::Hkdf(crypto::Digest::kSha256, retained.view(), {},
                                                  AsBytes(tls_info), kTlsPskSize));
  return out;
}

}  // namespace cafs::edif::agent
