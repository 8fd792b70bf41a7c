// NFS exports: which part of the gateway's namespace each client may mount, read-only or
// read-write, and how its AUTH_SYS identity is squashed. docs/nfs.md ("Exports") describes the
// cafsd configuration.
//
// An export is a gateway path ("/" for the whole gateway, "/my_vmset" for one VM set) plus a
// client allow list. Each client entry is one of:
//   - an exact address: "192.0.2.10", "2001:db8::5" (an IPv4-mapped IPv6 peer such as
//     "::ffff:192.0.2.10" matches the IPv4 form),
//   - a CIDR block: "192.0.2.0/24", "2001:db8::/64",
//   - "*": every client,
//   - a host name: resolved (getaddrinfo, every address it has) once, when the exports are
//     created; a name that does not resolve is an error then, so a typo is found at start.
//
// Match() picks, among the exports whose path is the requested path or a path-component
// prefix of it, the longest one that admits the client. The NFS client address is what the
// gateway's policy then checks against the VM set's virtualization servers: the export list is
// a first gate, not the policy.
//
// Squash (RFC 1813 leaves it to the server; these are the Linux knfsd names):
//   - root_squash (default): uid 0 -> anon uid, gid 0 -> anon gid, supplementary gid 0 -> anon.
//   - no_root_squash: identities pass unchanged. ESXi needs this (it creates files as root and
//     checks their owner).
//   - all_squash: every identity -> anon uid/gid, no supplementary groups.
//
// Threading: immutable after Create(); share freely across threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/ip_address.h"
#include "util/result.h"

namespace cafs::frontend::nfs {

enum class Squash { kRootSquash, kNoRootSquash, kAllSquash };

// Parses "root_squash", "no_root_squash", "all_squash". InvalidArgument otherwise.
Result<Squash> ParseSquash(std::string_view text);
std::string_view SquashName(Squash squash);

inline constexpr std::uint32_t kNobodyId = 65534;

struct ExportConfig {
  std::string path = "/";            // absolute gateway path, no trailing '/' except for "/"
  std::vector<std::string> clients;  // allow list (see above); empty admits nobody
  bool read_only = false;
  Squash squash = Squash::kRootSquash;
  std::uint32_t anon_uid = kNobodyId;
  std::uint32_t anon_gid = kNobodyId;
};

// Client addresses: the one parser (util/ip_address.h).
using cafs::IpAddress;

// One allow-list entry after parsing: an address block (exact = full prefix length).
struct ClientBlock {
  IpAddress address;
  unsigned prefix_bits = 128;  // on the 128-bit mapped form (IPv4 /24 is stored as /120)
  std::string source;          // the configured text, for messages and EXPORT replies
  bool Contains(const IpAddress& a) const;
};

struct AuthIdentity {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> gids;
  friend bool operator==(const AuthIdentity&, const AuthIdentity&) = default;
};

class Export {
 public:
  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  Squash squash() const { return squash_; }
  std::uint32_t anon_uid() const { return anon_uid_; }
  std::uint32_t anon_gid() const { return anon_gid_; }
  // The allow list as configured (MOUNT EXPORT lists these as the groups).
  const std::vector<std::string>& clients() const { return clients_; }

  // Whether `client_address` (numeric, as the RPC server reports it) is on the allow list.
  bool Admits(std::string_view client_address) const;
  // The identity the gateway sees for an AUTH_SYS caller, after squashing.
  AuthIdentity Credentials(std::uint32_t uid, std::uint32_t gid,
                           const std::vector<std::uint32_t>& gids) const;

 private:
  friend class Exports;
  std::string path_;
  bool read_only_ = false;
  Squash squash_ = Squash::kRootSquash;
  std::uint32_t anon_uid_ = kNobodyId;
  std::uint32_t anon_gid_ = kNobodyId;
  std::vector<std::string> clients_;
  std::vector<ClientBlock> blocks_;
};

class Exports {
 public:
  // Validates paths (absolute, no "." / ".." / empty components, no duplicates) and client
  // entries (resolving host names). InvalidArgument naming the export and entry otherwise.
  static Result<Exports> Create(std::vector<ExportConfig> configs);

  // The longest-prefix export covering `gateway_path` that admits `client_address`.
  // NotFound when no export covers the path; PermissionDenied naming the client when exports
  // cover it but none admits the client.
  Result<const Export*> Match(std::string_view gateway_path, std::string_view client_address) const;

  // The export whose path is exactly `path`, or nullptr.
  const Export* Find(std::string_view path) const;

  const std::vector<Export>& all() const { return exports_; }

 private:
  std::vector<Export> exports_;
};

// Normalizes an export or mount path: collapses repeated '/', drops a trailing '/'.
// InvalidArgument for a relative path or a "." / ".." component.
Result<std::string> NormalizeExportPath(std::string_view path);

}  // namespace cafs::frontend::nfs
