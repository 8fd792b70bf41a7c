#include "cafs/alert_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "util/logging.h"
#include "util/unique_fd.h"

namespace cafs::core {

namespace {

using policy::AlertDestination;
using Kind = policy::AlertDestination::Kind;

constexpr int kFacilityLogAudit = 13;

int Severity(AlertKind kind) {
  switch (kind) {
    case AlertKind::kCapacity:
      return 4;  // warning
    case AlertKind::kDenial:
      return 5;  // notice
    case AlertKind::kDataError:
      return 3;  // error
  }
  return 4;
}

// RFC 5424 §6.3.3: '"', '\' and ']' are escaped in a PARAM-VALUE.
std::string EscapeParam(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

// Control characters would end a line in a file or confuse a relay: shown as '?'.
std::string Printable(std::string_view v) {
  std::string out(v);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return out;
}

Status Errno(std::string_view what, int err) {
  return Status::FromErrno(err, std::string(what) + ": " + std::strerror(err));
}

Status SendDatagramUnix(const std::string& path, const std::string& message) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return Status::InvalidArgument("socket path too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return Errno("socket", errno);
  if (::sendto(s.get(), message.data(), message.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
    return Errno("send to " + path, errno);
  }
  return Status::OK();
}

// Resolves host:port for `type` (SOCK_DGRAM / SOCK_STREAM).
Result<std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>> Resolve(const AlertDestination& d,
                                                                     int type) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = type;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(d.port);
  if (int rc = ::getaddrinfo(d.host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res) {
    return Status::Unavailable(fmt::format("cannot resolve {}: {}", d.host, ::gai_strerror(rc)));
  }
  return std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>(res, ::freeaddrinfo);
}

Status SendUdp(const AlertDestination& d, const std::string& message) {
  CAFS_ASSIGN_OR_RETURN(auto ai, Resolve(d, SOCK_DGRAM));
  UniqueFd s(::socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return Errno("socket", errno);
  if (::sendto(s.get(), message.data(), message.size(), MSG_NOSIGNAL, ai->ai_addr, ai->ai_addrlen) <
      0) {
    return Errno("send to " + d.ToString(), errno);
  }
  return Status::OK();
}

Status AppendFile(const std::string& path, const std::string& message) {
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (f.get() < 0) return Errno("open " + path, errno);
  const std::string line = message + "\n";
  const ssize_t n = ::write(f.get(), line.data(), line.size());
  if (n < 0) return Errno("write " + path, errno);
  if (static_cast<std::size_t>(n) != line.size()) return Errno("write " + path, EIO);
  return Status::OK();
}

}  // namespace

std::string_view AlertKindName(AlertKind kind) {
  switch (kind) {
    case AlertKind::kCapacity:
      return "capacity";
    case AlertKind::kDenial:
      return "denial";
    case AlertKind::kDataError:
      return "data-error";
  }
  return "capacity";
}

AlertSink::AlertSink(const Clock* clock, AlertSinkOptions options)
    : clock_(clock), options_(std::move(options)), hostname_(options_.hostname) {
  if (hostname_.empty()) {
    char buf[256] = {};
    hostname_ = ::gethostname(buf, sizeof(buf) - 1) == 0 && buf[0] != '\0' ? buf : "-";
  }
}

AlertSink::~AlertSink() {
  for (auto& [name, peer] : peers_) {
    if (peer.fd >= 0) ::close(peer.fd);
  }
}

std::string AlertSink::Format(const Alert& alert, Clock::TimePoint now) const {
  const auto secs = std::chrono::floor<std::chrono::seconds>(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count();
  const int pri = kFacilityLogAudit * 8 + Severity(alert.kind);
  return fmt::format(
      "<{}>1 {:%Y-%m-%dT%H:%M:%S}.{:03}Z {} cafsd {} {} [cafs@32473 vmset=\"{}\"] {}", pri, secs,
      ms, hostname_, ::getpid(), AlertKindName(alert.kind), EscapeParam(alert.vmset),
      Printable(alert.text));
}

Status AlertSink::SendTcp(const AlertDestination& d, Peer& peer, const std::string& message) {
  const std::string framed = fmt::format("{} {}", message.size(), message);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (peer.fd < 0) {
      CAFS_ASSIGN_OR_RETURN(auto ai, Resolve(d, SOCK_STREAM));
      int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) return Errno("socket", errno);
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        const int err = errno;
        ::close(fd);
        return Errno("connect to " + d.ToString(), err);
      }
      pollfd p{fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(options_.connect_timeout.count()));
      int err = 0;
      socklen_t len = sizeof(err);
      if (ready <= 0) err = ready == 0 ? ETIMEDOUT : errno;
      if (err == 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0) {
        ::close(fd);
        return Errno("connect to " + d.ToString(), err);
      }
      // Back to blocking for the writes (a message is small; the kernel buffers it).
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      peer.fd = fd;
    }
    std::size_t off = 0;
    int err = 0;
    while (off < framed.size()) {
      const ssize_t n = ::send(peer.fd, framed.data() + off, framed.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EPIPE;
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    if (err == 0) return Status::OK();
    ::close(peer.fd);
    peer.fd = -1;
    // A kept connection the receiver closed: one reconnect before the destination is down.
    if (off != 0 || attempt == 1) return Errno("send to " + d.ToString(), err);
  }
  return Status::Unavailable("unreachable");
}

Status AlertSink::Deliver(const AlertDestination& d, Peer& peer, const std::string& message) {
  switch (d.kind) {
    case Kind::kSyslogUnix:
      return SendDatagramUnix(d.path, message);
    case Kind::kSyslogUdp:
      return SendUdp(d, message);
    case Kind::kSyslogTcp:
      return SendTcp(d, peer, message);
    case Kind::kFile:
      return AppendFile(d.path, message);
    case Kind::kKps:
      return Status::OK();  // the audit record is pushed to kpsd (header comment)
  }
  return Status::OK();
}

void AlertSink::Send(const Alert& alert, const std::vector<std::string>& destinations) {
  if (destinations.empty()) return;
  const Clock::TimePoint now = clock_->Now();
  const std::string message = Format(alert, now);
  std::lock_guard lock(mu_);
  for (const std::string& text : destinations) {
    Peer& peer = peers_[text];
    if (peer.down && now < peer.retry_at) {
      ++fallbacks_;
      CAFS_LOG_WARN("alert for {} (destination {} is down): {}", alert.vmset, text, message);
      continue;
    }
    auto d = AlertDestination::Parse(text);
    Status s = d.ok() ? Deliver(*d, peer, message) : d.status();
    if (s.ok()) {
      if (peer.down) CAFS_LOG_INFO("alert destination {} of VM set {} is back", text, alert.vmset);
      peer.down = false;
      continue;
    }
    if (!peer.down) {
      CAFS_LOG_WARN(
          "alert destination {} of VM set {} is down ({}); its alerts go to this log "
          "and kpsd, retrying every {} ms",
          text, alert.vmset, s.message(), options_.retry_interval.count());
    }
    peer.down = true;
    peer.retry_at = now + options_.retry_interval;
    ++fallbacks_;
    CAFS_LOG_WARN("alert for {} (destination {} is down): {}", alert.vmset, text, message);
  }
}

bool AlertSink::IsDown(const std::string& destination) const {
  std::lock_guard lock(mu_);
  auto it = peers_.find(destination);
  return it != peers_.end() && it->second.down;
}

std::size_t AlertSink::fallbacks() const {
  std::lock_guard lock(mu_);
  return fallbacks_;
}

}  // namespace cafs::core
