#include "policy/server_registry.h"

#include <fmt/format.h>

#include <algorithm>

#include "policy/vm_set.h"

namespace cafs::policy {

Status ValidateRegisteredServer(const RegisteredServer& s) {
  if (Status id = ValidateServerId(s.id); !id.ok()) {
    return Status::InvalidArgument("registered server: " + id.message());
  }
  if (s.id.find(',') != std::string::npos) {
    return Status::InvalidArgument(
        fmt::format("server id '{}' contains a comma (<vmserv> could never list it)", s.id));
  }
  for (const std::string& a : s.addresses) {
    auto ip = IpAddress::Parse(a);
    if (!ip.ok()) return Status::InvalidArgument("server " + s.id + ": " + ip.status().message());
  }
  return Status::OK();
}

std::vector<RegisteredServer> ServersListedBy(const std::vector<std::string>& listed,
                                              const std::vector<RegisteredServer>& registry) {
  std::vector<RegisteredServer> out;
  for (const RegisteredServer& s : registry) {
    if (std::any_of(listed.begin(), listed.end(),
                    [&](const std::string& id) { return SameServerId(id, s.id); })) {
      out.push_back(s);
    }
  }
  return out;
}

Result<ServerRegistry> ServerRegistry::Create(std::vector<RegisteredServer> servers) {
  ServerRegistry r;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    CAFS_RETURN_IF_ERROR(ValidateRegisteredServer(servers[i]));
    for (std::size_t j = 0; j < i; ++j) {
      if (SameServerId(servers[j].id, servers[i].id)) {
        return Status::InvalidArgument("server " + servers[i].id + " is registered twice");
      }
    }
    for (const std::string& a : servers[i].addresses) {
      r.index_.emplace_back(*IpAddress::Parse(a), i);
    }
  }
  r.servers_ = std::move(servers);
  return r;
}

std::vector<std::string> ServerRegistry::IdsAt(std::string_view address) const {
  std::vector<std::string> out;
  auto ip = IpAddress::Parse(address);
  if (!ip.ok()) return out;
  for (const auto& [registered, i] : index_) {
    if (!(registered == *ip)) continue;
    const std::string& id = servers_[i].id;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace cafs::policy
