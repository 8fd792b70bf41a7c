// IpAddress: a numeric IPv4 or IPv6 address in binary form, the one parser of address text
// (NFS export allow lists, the server registry that maps NFS clients to virtualization server
// ids, kpsd's server records). IPv4 addresses are kept as IPv4-mapped IPv6, so one comparison
// covers both families and "::ffff:192.0.2.1" equals "192.0.2.1".
//
// Threading: a plain value.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace cafs {

struct IpAddress {
  std::uint8_t bytes[16] = {};
  bool is_v4 = false;

  // Parses a numeric IPv4 or IPv6 address ("::ffff:a.b.c.d" becomes IPv4); no host names, no
  // prefixes, no zone ids. InvalidArgument "not an IP address: '...'" otherwise.
  static Result<IpAddress> Parse(std::string_view text);
  static IpAddress FromV4(const in_addr& a);
  static IpAddress FromV6(const in6_addr& a);
  // The canonical text ("192.0.2.1", "2001:db8::1").
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

}  // namespace cafs
