#include "edif/mailbox/app_auth.h"

#include "crypto/mac.h"

namespace cafs::edif::mailbox {

Result<Proof> ComputeProof(ByteView secret, ProofRole role, const ProofInput& in) {
  if (secret.size() < 16) {
    return Status::InvalidArgument("mailbox secret must be at least 16 bytes");
  }
  Bytes msg;
  const std::string_view label =
      role == ProofRole::kAgent ? "cafs-edif-mbx-v1 agent" : "cafs-edif-mbx-v1 driver";
  msg.insert(msg.end(), label.begin(), label.end());
  msg.push_back(0);
  auto put = [&msg](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) msg.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  put(in.wwpn, 8);
  put(in.port_id, 4);
  put(in.epoch, 8);
  msg.insert(msg.end(), in.driver_nonce.begin(), in.driver_nonce.end());
  msg.insert(msg.end(), in.agent_nonce.begin(), in.agent_nonce.end());
  put(in.app_version, 4);
  put(in.capabilities, 8);
  put(in.app_id.size(), 2);
  msg.insert(msg.end(), in.app_id.begin(), in.app_id.end());
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac, crypto::HmacSha256(secret, msg));
  Proof p{};
  std::copy(mac.begin(), mac.end(), p.begin());
  return p;
}

bool VerifyProof(ByteView secret, ProofRole role, const ProofInput& in, const Proof& proof) {
  Result<Proof> expected = ComputeProof(secret, role, in);
  return expected.ok() && crypto::ConstantTimeEquals(*expected, proof);
}

}  // namespace cafs::edif::mailbox
