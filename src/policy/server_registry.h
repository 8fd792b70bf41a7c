// ServerRegistry: which client addresses belong to which registered virtualization server —
// the security/storage administrators' registry (kpsd's server records, or cafsd's
// [[server]] tables with local keys) as the gateway holds it for one VM set.
//
// An NFS client is known only by its address. <vmserv> lists server ids; the client is
// admitted as the registered servers whose `addresses` hold its address, and only those ids
// are matched against <vmserv> (Evaluator). An address written into <vmserv> is an id like
// any other: it admits a client only when a server of that id is registered with that
// address, so a tenant administrator cannot admit a host the registry does not know
// (docs/policy.md "Server identity").
//
// Addresses are numeric IPv4/IPv6 addresses (util/ip_address.h), compared in binary form
// ("::ffff:10.0.0.5" is 10.0.0.5); no host names, no prefixes.
//
// Threading: immutable after Create(); a plain value, safe to share.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/ip_address.h"
#include "util/result.h"

namespace cafs::policy {

struct RegisteredServer {
  std::string id;                      // the <vmserv> id, e.g. "755083456"
  std::vector<std::string> addresses;  // numeric IP addresses of its NFS clients

  bool operator==(const RegisteredServer&) const = default;
};

// Whether `s` is a valid registry entry: a <vmserv>-style id (not empty, no white space or
// comma; vm_set.h ValidateServerId) and addresses that IpAddress::Parse accepts. InvalidArgument
// naming the server and the address otherwise ("server esx-1: not an IP address:
// 'esx1.example.com'").
Status ValidateRegisteredServer(const RegisteredServer& s);

// The entries of `registry` whose id `listed` (a VM set's <vmserv> ids) names, in registry
// order: what a VM set's bundle carries, only the servers the gateway's scope needs.
std::vector<RegisteredServer> ServersListedBy(const std::vector<std::string>& listed,
                                              const std::vector<RegisteredServer>& registry);

class ServerRegistry {
 public:
  ServerRegistry() = default;
  // Validates every entry (ValidateRegisteredServer); a repeated id (ASCII case-insensitive,
  // as <vmserv> compares) is InvalidArgument.
  static Result<ServerRegistry> Create(std::vector<RegisteredServer> servers);

  // The ids of the registered servers whose addresses hold `address`, in registry order;
  // empty when `address` is not an IP address or no server has it.
  std::vector<std::string> IdsAt(std::string_view address) const;

  const std::vector<RegisteredServer>& servers() const { return servers_; }
  bool empty() const { return servers_.empty(); }

 private:
  std::vector<RegisteredServer> servers_;
  std::vector<std::pair<IpAddress, std::size_t>> index_;  // address -> servers_[i]
};

}  // namespace cafs::policy
