#include "util/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace cafs {

namespace {
constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}  // namespace

IpAddress IpAddress::FromV4(const in_addr& a) {
  IpAddress ip;
  std::memcpy(ip.bytes, kV4MappedPrefix, sizeof kV4MappedPrefix);
  std::memcpy(ip.bytes + 12, &a, 4);
  ip.is_v4 = true;
  return ip;
}

IpAddress IpAddress::FromV6(const in6_addr& a) {
  IpAddress ip;
  std::memcpy(ip.bytes, &a, 16);
  ip.is_v4 = std::memcmp(ip.bytes, kV4MappedPrefix, sizeof kV4MappedPrefix) == 0;
  return ip;
}

Result<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) {
    return Status::InvalidArgument("not an IP address: '" + std::string(text) + "'");
  }
  const std::string s(text);
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) return FromV4(v4);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) return FromV6(v6);
  return Status::InvalidArgument("not an IP address: '" + s + "'");
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4) {
    ::inet_ntop(AF_INET, bytes + 12, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, bytes, buf, sizeof buf);
  }
  return buf;
}

}  // namespace cafs
