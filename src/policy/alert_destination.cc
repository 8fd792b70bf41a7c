#include "policy/alert_destination.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "policy/vmset_path.h"

namespace cafs::policy {

namespace {

constexpr std::string_view kExpected =
    "must be syslog, syslog:unix:/path, syslog:udp:host:port, syslog:tcp:host:port, kps or an "
    "absolute file path";

Status Bad(std::string_view text, std::string_view why = {}) {
  return Status::InvalidArgument(fmt::format("{}, got '{}'{}", kExpected, text, why));
}

// A clean absolute path (vmset_path.h), not "/" itself, without control characters.
bool IsCleanAbsoluteFilePath(std::string_view p) {
  return p != "/" && IsCleanAbsolutePath(p) && std::none_of(p.begin(), p.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
         });
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

bool IsV6Char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.';
}

// "host:port" / "[v6]:port" into `d`.
Status ParseHostPort(std::string_view text, std::string_view hp, AlertDestination* d) {
  std::string_view host, port;
  if (!hp.empty() && hp.front() == '[') {
    const std::size_t close = hp.find(']');
    if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':') {
      return Bad(text, " (an IPv6 host is written [addr]:port)");
    }
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
    if (host.empty() || !std::all_of(host.begin(), host.end(), IsV6Char)) {
      return Bad(text, " (bad IPv6 address)");
    }
  } else {
    const std::size_t colon = hp.rfind(':');
    if (colon == std::string_view::npos) return Bad(text, " (no :port)");
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
    if (host.empty() || host.size() > 253 ||
        !std::all_of(host.begin(), host.end(), IsHostNameChar)) {
      return Bad(text, " (bad host)");
    }
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return Bad(text, " (port must be 1..65535)");
  }
  d->host = std::string(host);
  d->port = static_cast<std::uint16_t>(value);
  return Status::OK();
}

}  // namespace

Result<AlertDestination> AlertDestination::Parse(std::string_view text) {
  AlertDestination d;
  if (text == "kps") {
    d.kind = Kind::kKps;
    return d;
  }
  if (text == "syslog") {
    d.kind = Kind::kSyslogUnix;
    d.path = std::string(kDefaultSyslogSocket);
    d.bare_syslog = true;
    return d;
  }
  constexpr std::string_view kUnix = "syslog:unix:", kUdp = "syslog:udp:", kTcp = "syslog:tcp:";
  if (text.starts_with(kUnix)) {
    d.kind = Kind::kSyslogUnix;
    d.path = std::string(text.substr(kUnix.size()));
    if (!IsCleanAbsoluteFilePath(d.path)) return Bad(text, " (the socket path must be absolute)");
    return d;
  }
  if (text.starts_with(kUdp) || text.starts_with(kTcp)) {
    d.kind = text.starts_with(kUdp) ? Kind::kSyslogUdp : Kind::kSyslogTcp;
    CAFS_RETURN_IF_ERROR(ParseHostPort(text, text.substr(kUdp.size()), &d));
    return d;
  }
  if (IsCleanAbsoluteFilePath(text)) {
    d.kind = Kind::kFile;
    d.path = std::string(text);
    return d;
  }
  return Bad(text);
}

std::string AlertDestination::ToString() const {
  const std::string hp = host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                                             : fmt::format("{}:{}", host, port);
  switch (kind) {
    case Kind::kSyslogUnix:
      return bare_syslog ? std::string("syslog") : "syslog:unix:" + path;
    case Kind::kSyslogUdp:
      return "syslog:udp:" + hp;
    case Kind::kSyslogTcp:
      return "syslog:tcp:" + hp;
    case Kind::kKps:
      return "kps";
    case Kind::kFile:
      return path;
  }
  return "kps";
}

}  // namespace cafs::policy
