#include "frontend/nfs/exports.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

namespace cafs::frontend::nfs {
namespace {

// Every address `host` resolves to.
Result<std::vector<IpAddress>> Resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    return Status::InvalidArgument("host name '" + host +
                                   "' does not resolve: " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(list, &::freeaddrinfo);
  std::vector<IpAddress> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    IpAddress ip;
    if (ai->ai_family == AF_INET) {
      ip = IpAddress::FromV4(reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr);
    } else if (ai->ai_family == AF_INET6) {
      ip = IpAddress::FromV6(reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  }
  if (out.empty()) return Status::InvalidArgument("host name '" + host + "' has no address");
  return out;
}

// Parses one allow-list entry into address blocks (a host name may give several).
Result<std::vector<ClientBlock>> ParseClient(const std::string& entry) {
  if (entry.empty()) return Status::InvalidArgument("empty client entry");
  if (entry == "*") {
    ClientBlock any;
    any.prefix_bits = 0;
    any.source = entry;
    return std::vector<ClientBlock>{any};
  }
  const std::size_t slash = entry.find('/');
  if (slash != std::string::npos) {
    Result<IpAddress> base = IpAddress::Parse(std::string_view(entry).substr(0, slash));
    if (!base.ok()) return Status::InvalidArgument("client '" + entry + "': bad CIDR address");
    const std::string_view len_text = std::string_view(entry).substr(slash + 1);
    unsigned len = 0;
    const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    const unsigned max = base->is_v4 ? 32 : 128;
    if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty() ||
        len > max) {
      return Status::InvalidArgument("client '" + entry + "': bad prefix length");
    }
    ClientBlock block;
    block.address = *base;
    block.prefix_bits = base->is_v4 ? 96 + len : len;
    block.source = entry;
    return std::vector<ClientBlock>{block};
  }
  Result<IpAddress> exact = IpAddress::Parse(entry);
  if (exact.ok()) {
    ClientBlock block;
    block.address = *exact;
    block.source = entry;
    return std::vector<ClientBlock>{block};
  }
  CAFS_ASSIGN_OR_RETURN(std::vector<IpAddress> addresses, Resolve(entry));
  std::vector<ClientBlock> blocks;
  for (const IpAddress& a : addresses) {
    ClientBlock block;
    block.address = a;
    block.source = entry;
    blocks.push_back(block);
  }
  return blocks;
}

// Whether `prefix` (normalized) equals `path` or is a path-component prefix of it.
bool Covers(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace

Result<Squash> ParseSquash(std::string_view text) {
  if (text == "root_squash") return Squash::kRootSquash;
  if (text == "no_root_squash") return Squash::kNoRootSquash;
  if (text == "all_squash") return Squash::kAllSquash;
  return Status::InvalidArgument("squash must be root_squash, no_root_squash or all_squash, not '" +
                                 std::string(text) + "'");
}

std::string_view SquashName(Squash squash) {
  switch (squash) {
    case Squash::kRootSquash:
      return "root_squash";
    case Squash::kNoRootSquash:
      return "no_root_squash";
    case Squash::kAllSquash:
      return "all_squash";
  }
  return "?";
}

bool ClientBlock::Contains(const IpAddress& a) const {
  const unsigned full = prefix_bits / 8;
  if (std::memcmp(address.bytes, a.bytes, full) != 0) return false;
  const unsigned rest = prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
  return (address.bytes[full] & mask) == (a.bytes[full] & mask);
}

bool Export::Admits(std::string_view client_address) const {
  Result<IpAddress> ip = IpAddress::Parse(client_address);
  if (!ip.ok()) return false;
  return std::any_of(blocks_.begin(), blocks_.end(),
                     [&](const ClientBlock& b) { return b.Contains(*ip); });
}

AuthIdentity Export::Credentials(std::uint32_t uid, std::uint32_t gid,
                                 const std::vector<std::uint32_t>& gids) const {
  AuthIdentity id{uid, gid, gids};
  switch (squash_) {
    case Squash::kNoRootSquash:
      break;
    case Squash::kAllSquash:
      id.uid = anon_uid_;
      id.gid = anon_gid_;
      id.gids.clear();
      break;
    case Squash::kRootSquash:
      if (id.uid == 0) id.uid = anon_uid_;
      if (id.gid == 0) id.gid = anon_gid_;
      for (std::uint32_t& g : id.gids) {
        if (g == 0) g = anon_gid_;
      }
      break;
  }
  return id;
}

Result<std::string> NormalizeExportPath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("export path must be absolute: '" + std::string(path) + "'");
  }
  std::string out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    const std::string_view part = path.substr(start, i - start);
    if (part.empty()) break;
    if (part == "." || part == "..") {
      return Status::InvalidArgument("export path has a '" + std::string(part) + "' component: '" +
                                     std::string(path) + "'");
    }
    out += '/';
    out += part;
  }
  if (out.empty()) out = "/";
  return out;
}

Result<Exports> Exports::Create(std::vector<ExportConfig> configs) {
  Exports result;
  for (ExportConfig& config : configs) {
    Result<std::string> path = NormalizeExportPath(config.path);
    if (!path.ok()) return path.status();
    if (result.Find(*path) != nullptr) {
      return Status::InvalidArgument("export '" + *path + "' is configured twice");
    }
    Export e;
    e.path_ = *path;
    e.read_only_ = config.read_only;
    e.squash_ = config.squash;
    e.anon_uid_ = config.anon_uid;
    e.anon_gid_ = config.anon_gid;
    for (const std::string& client : config.clients) {
      Result<std::vector<ClientBlock>> blocks = ParseClient(client);
      if (!blocks.ok()) return blocks.status().WithContext("export '" + e.path_ + "'");
      e.blocks_.insert(e.blocks_.end(), blocks->begin(), blocks->end());
    }
    e.clients_ = std::move(config.clients);
    result.exports_.push_back(std::move(e));
  }
  return result;
}

Result<const Export*> Exports::Match(std::string_view gateway_path,
                                     std::string_view client_address) const {
  Result<std::string> path = NormalizeExportPath(gateway_path);
  if (!path.ok()) return path.status();
  const Export* best = nullptr;
  bool covered = false;
  for (const Export& e : exports_) {
    if (!Covers(e.path_, *path)) continue;
    covered = true;
    if (!e.Admits(client_address)) continue;
    if (best == nullptr || e.path_.size() > best->path_.size()) best = &e;
  }
  if (best != nullptr) return best;
  if (!covered) return Status::NotFound("no export covers '" + *path + "'");
  return Status::PermissionDenied("client " + std::string(client_address) +
                                  " is not allowed to mount '" + *path + "'");
}

const Export* Exports::Find(std::string_view path) const {
  for (const Export& e : exports_) {
    if (e.path_ == path) return &e;
  }
  return nullptr;
}

}  // namespace cafs::frontend::nfs
