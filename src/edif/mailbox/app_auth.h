// APP_START authorization: HMAC-SHA-256 challenge-response on a secret provisioned to both
// the driver (per mailbox disk) and the agent. Mutual: the agent proves it holds the secret,
// then the driver proves it too (so an agent never talks to an impostor disk).
//
// Flow (docs/mailbox-protocol.md "APP_START"):
//   1. agent: APP_START{phase=HELLO, agent_nonce}           (header epoch: any)
//   2. driver: RESULT{reply=APP_CHALLENGE{driver_nonce, epoch}}
//   3. agent: APP_START{phase=PROVE, same agent_nonce, proof=AgentProof(...)}  (header epoch:
//      the challenge's epoch)
//   4. driver: RESULT{reply=APP_START_REPLY{epoch, limits, driver_proof=DriverProof(...)}}
// Proof = HMAC-SHA-256(secret, label || wwpn LE64 || port_id LE32 || epoch LE64 ||
//                      driver_nonce(32) || agent_nonce(32) || app_version LE32 ||
//                      capabilities LE64 || app_id_len LE16 || app_id)
// with label "cafs-edif-mbx-v1 agent\0" or "cafs-edif-mbx-v1 driver\0" (23 bytes + NUL).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "edif/mailbox/payloads.h"
#include "util/bytes.h"

namespace cafs::edif::mailbox {

enum class ProofRole { kAgent, kDriver };

struct ProofInput {
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;
  std::uint64_t epoch = 0;
  Nonce driver_nonce{};
  Nonce agent_nonce{};
  std::uint32_t app_version = 0;
  std::uint64_t capabilities = 0;
  std::string_view app_id;
};

// InvalidArgument if the secret is shorter than 16 bytes.
Result<Proof> ComputeProof(ByteView secret, ProofRole role, const ProofInput& in);
// Constant-time check; false on any error.
bool VerifyProof(ByteView secret, ProofRole role, const ProofInput& in, const Proof& proof);

}  // namespace cafs::edif::mailbox
