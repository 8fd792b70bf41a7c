// KeyProvider: where the gateway gets a VM set's description, its policy descriptor and the
// data encryption keys (DEKs) the descriptor names — the seed's "secure communications
// module" talking to the key & policy server.
//
// Implementations: LocalKeyProvider (a directory on disk; tests and the demo without kpsd;
// format in docs/gateway.md "Local key directory"), KpsKeyProvider (kps_key_provider.h: kpsd's
// gateway fetch endpoint over mTLS). The gateway never calls a provider on the data path: it goes
// through PolicyCache (policy_cache.h).
//
// Errors of FetchVmSet: NotFound (the provider does not know the VM set), Unavailable
// (retryable: the provider cannot be reached now), InvalidArgument/Corruption (the provider
// answered with something malformed).
//
// Threading: FetchVmSet may be called from several threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy_descriptor.h"
#include "policy/server_registry.h"
#include "policy/vm_set.h"
#include "util/result.h"
#include "util/secure_buffer.h"
#include "util/uuid.h"

namespace cafs::core {

// (key GUID, key version).
using KeyId = std::pair<Uuid, std::uint32_t>;

// A storage pool record of the key server as the gateway is told of it (docs/kps-api.md
// "Gateway fetch": `pools`): the name policies use and the GUID the record keeps for life.
struct PoolRecordRef {
  std::string name;
  Uuid guid;
  bool operator==(const PoolRecordRef&) const = default;
};

struct VmSetBundle {
  policy::VmSet vmset;
  policy::PolicyDescriptor descriptor;
  // Every key version the gateway may decrypt with. The clear-text key is never listed.
  std::map<KeyId, SecureBuffer> keys;
  // The version new files are created with, per key GUID.
  std::map<Uuid, std::uint32_t> current_version;
  // Versions the provider holds no key bytes for, with their state ("destroyed",
  // "pre-active", ...): a file under a destroyed version is crypto-shredded, not damaged.
  std::map<KeyId, std::string> unusable;
  // Written into new pool file headers (which key server to ask), e.g. "kps://host:8443".
  std::string kps_locator;
  // The registered servers (kpsd's registry, or cafsd's [[server]] tables with local keys)
  // that the VM set's <vmserv> lists, with their addresses: how an NFS client's address maps
  // to server ids (policy/server_registry.h). Refreshed with the rest of the bundle.
  std::vector<policy::RegisteredServer> servers;
  // The pool records the VM set may use (its allow list in kpsd), by name. nullopt: the
  // provider keeps no pool records (local keys, a kpsd before pool records), so there is no
  // allow list to check (cafs/pool_identity.h).
  std::optional<std::vector<PoolRecordRef>> pools;

  VmSetBundle Clone() const;
  // The newest version of each key GUID, usable or not (what the gateway has been told of).
  std::map<Uuid, std::uint32_t> NewestVersions() const;
  bool Destroyed(const KeyId& id) const;
};

class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  virtual Result<VmSetBundle> FetchVmSet(const std::string& vmset_name) = 0;
  // For messages: "local:/etc/cafs/keys", "kps:https://127.0.0.1:8443".
  virtual std::string Describe() const = 0;
};

// Reads VM sets from a directory (docs/gateway.md "Local key directory"):
//   <dir>/<vmset>/vmset.xml    the seed's <vmset> XML
//   <dir>/<vmset>/policy.xml   the seed's <vobj-list> (or <policy-descriptor>) XML
//   <dir>/<vmset>/keys         one key version per line: "<key guid> <version> <hex DEK>";
//                              '#' starts a comment; the highest version is current;
//                              "<key guid> <version> destroyed" names a destroyed version
// The whole directory missing is Unavailable (like an unreachable server: tests simulate a
// kpsd outage by renaming it); a missing <vmset> folder is NotFound.
// `servers`: the server registry of cafsd's configuration ([[server]]); each bundle carries
// the entries its VM set lists (policy::ServersListedBy).
class LocalKeyProvider final : public KeyProvider {
 public:
  explicit LocalKeyProvider(std::string dir, std::vector<policy::RegisteredServer> servers = {})
      : dir_(std::move(dir)), servers_(std::move(servers)) {}
  Result<VmSetBundle> FetchVmSet(const std::string& vmset_name) override;
  std::string Describe() const override { return "local:" + dir_; }

  // Parses a keys file (format above). InvalidArgument "keys line N: ..." on bad lines.
  static Status ParseKeysFile(std::string_view text, VmSetBundle* out);

 private:
  const std::string dir_;
  const std::vector<policy::RegisteredServer> servers_;
};

}  // namespace cafs::core
