// AlertDestination: one <audit-dest> of a VM set (docs/policy.md §2 "Alert destinations"):
// where the gateway sends this VM set's alerts and log messages (capacity alerts, denials,
// data errors) besides its own log.
//
//   syslog                      RFC 5424 over the local syslog socket, /dev/log (datagram)
//   syslog:unix:/run/x.sock     RFC 5424 over the UNIX datagram socket at that path
//   syslog:udp:host:port        RFC 5424 over UDP (RFC 5426), one message per datagram
//   syslog:tcp:host:port        RFC 5424 over TCP, octet-counting framing (RFC 6587 §3.4.1)
//   kps                         kpsd's audit trail (the records the gateway pushes)
//   /var/log/cafs/alerts.log    a file: one RFC 5424 line per message, appended
//
// host is an IPv4 address, a DNS name ([A-Za-z0-9.-]) or an IPv6 address in brackets
// ("[::1]"); port is 1..65535. Paths are absolute, with no empty, "." or ".." components.
// Parse() is strict (InvalidArgument naming what was expected); ToString() gives back the
// text it parsed, so Parse(d.ToString()) == d.
//
// Threading: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace cafs::policy {

struct AlertDestination {
  enum class Kind { kSyslogUnix, kSyslogUdp, kSyslogTcp, kKps, kFile };
  static constexpr std::string_view kDefaultSyslogSocket = "/dev/log";

  Kind kind = Kind::kKps;
  std::string path;  // kSyslogUnix (the socket) and kFile
  std::string host;  // kSyslogUdp / kSyslogTcp, without brackets
  std::uint16_t port = 0;
  bool bare_syslog = false;  // written as "syslog" (kSyslogUnix at kDefaultSyslogSocket)

  static Result<AlertDestination> Parse(std::string_view text);
  std::string ToString() const;

  bool operator==(const AlertDestination&) const = default;
};

}  // namespace cafs::policy
