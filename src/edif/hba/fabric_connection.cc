#include "edif/hba/fabric_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "util/logging.h"

namespace cafs::edif::hba {
namespace {

Result<sockaddr_in> MakeAddr(const std::string& host, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return Status::InvalidArgument("not an IPv4 address: " + host);
  }
  return a;
}

void SetNoDelay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> ParseHostPort(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::InvalidArgument("expected host:port, got '" + text + "'");
  }
  std::uint32_t port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return Status::InvalidArgument("bad port in '" + text + "'");
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
    if (port > 65535) return Status::InvalidArgument("port out of range in '" + text + "'");
  }
  return std::make_pair(text.substr(0, colon), static_cast<std::uint16_t>(port));
}

FabricConnection::FabricConnection(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}

Result<std::shared_ptr<FabricConnection>> FabricConnection::Connect(
    const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  CAFS_ASSIGN_OR_RETURN(sockaddr_in addr, MakeAddr(host, port));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  const std::string peer = host + ":" + std::to_string(port);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc == 0) {
      ::close(fd);
      return Status::Timeout("connect to " + peer + " timed out");
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (rc < 0 || err != 0) {
      ::close(fd);
      return Status::Unavailable("connect to " + peer + ": " + std::string(strerror(err)));
    }
  } else if (rc != 0) {
    const int err = errno;
    ::close(fd);
    return Status::Unavailable("connect to " + peer + ": " + std::string(strerror(err)));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  SetNoDelay(fd);
  return std::shared_ptr<FabricConnection>(new FabricConnection(fd, peer));
}

std::shared_ptr<FabricConnection> FabricConnection::Adopt(int fd, std::string peer) {
  SetNoDelay(fd);
  return std::shared_ptr<FabricConnection>(new FabricConnection(fd, std::move(peer)));
}

FabricConnection::~FabricConnection() {
  Close();
  {
    std::lock_guard lock(thread_mu_);
    if (reader_.joinable()) {
      if (reader_.get_id() == std::this_thread::get_id()) {
        reader_.detach();
      } else {
        reader_.join();
      }
    }
  }
  ::close(fd_);
}

void FabricConnection::Start(FrameHandler on_frame, CloseHandler on_closed) {
  std::lock_guard lock(thread_mu_);
  auto self = shared_from_this();
  reader_ = std::thread(
      [self, on_frame = std::move(on_frame), on_closed = std::move(on_closed)]() mutable {
        self->ReadLoop(std::move(on_frame), std::move(on_closed));
        // Drop handlers (they may hold owners) before the last reference goes.
        on_frame = nullptr;
        on_closed = nullptr;
      });
}

void FabricConnection::ReadLoop(FrameHandler on_frame, CloseHandler on_closed) {
  link::FrameReader reader;
  Bytes buf(256 * 1024);
  Status reason;
  while (!closed_.load()) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n == 0) {
      reason = Status::Unavailable("connection closed by " + peer_);
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      reason = Status::FromErrno(errno, "recv from " + peer_);
      break;
    }
    reader.Feed(ByteView(buf.data(), static_cast<std::size_t>(n)));
    bool failed = false;
    while (!closed_.load()) {
      auto next = reader.Next();
      if (!next.ok()) {
        reason = next.status().WithContext("frame from " + peer_);
        failed = true;
        break;
      }
      if (!next->has_value()) break;
      on_frame(std::move(**next));
    }
    if (failed) break;
  }
  if (reason.ok()) reason = Status::Unavailable("connection to " + peer_ + " closed locally");
  const bool was_closed = closed_.exchange(true);
  ::shutdown(fd_, SHUT_RDWR);
  if (!was_closed) on_closed(reason);  // a local Close() reports nothing
}

Status FabricConnection::Send(ByteView wire) {
  const std::unique_lock lock = LockSend();
  return SendLocked(lock, wire);
}

std::unique_lock<std::mutex> FabricConnection::LockSend() { return std::unique_lock(send_mu_); }

Status FabricConnection::SendLocked(const std::unique_lock<std::mutex>& lock, ByteView wire) {
  if (lock.mutex() != &send_mu_ || !lock.owns_lock()) {
    return Status::InvalidArgument("SendLocked without this connection's send lock");
  }
  if (closed_.load()) return Status::Unavailable("fabric connection to " + peer_ + " is closed");
  if (tap_) tap_(wire);
  std::size_t off = 0;
  while (off < wire.size()) {
    const ssize_t n = ::send(fd_, wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::shutdown(fd_, SHUT_RDWR);
      return Status::Unavailable("send to " + peer_ + ": " + std::string(strerror(err)));
    }
    off += static_cast<std::size_t>(n);
  }
  return Status::OK();
}

Status FabricConnection::SendFrame(const link::FrameHeader& header, ByteView payload) {
  CAFS_ASSIGN_OR_RETURN(Bytes wire, link::EncodeFrame(header, payload));
  return Send(wire);
}

void FabricConnection::SetTap(Tap tap) {
  std::lock_guard lock(send_mu_);
  tap_ = std::move(tap);
}

void FabricConnection::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

void FabricConnection::Close() {
  closed_.store(true);
  ::shutdown(fd_, SHUT_RDWR);
  std::thread to_join;
  {
    std::lock_guard lock(thread_mu_);
    if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) {
      to_join = std::move(reader_);
    }
  }
  if (to_join.joinable()) to_join.join();
}

FabricListener::FabricListener(int fd, std::uint16_t port) : fd_(fd), port_(port) {}

Result<std::unique_ptr<FabricListener>> FabricListener::Listen(const std::string& host,
                                                               std::uint16_t port,
                                                               AcceptHandler on_accept) {
  CAFS_ASSIGN_OR_RETURN(sockaddr_in addr, MakeAddr(host, port));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "listen on " + host + ":" + std::to_string(port));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::unique_ptr<FabricListener> l(new FabricListener(fd, ntohs(addr.sin_port)));
  FabricListener* raw = l.get();
  l->thread_ = std::thread([raw, on_accept = std::move(on_accept)] {
    while (!raw->stopped_.load()) {
      sockaddr_in peer{};
      socklen_t plen = sizeof peer;
      const int c = ::accept4(raw->fd_, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (!raw->stopped_.load()) CAFS_LOG_WARN("fabric accept: {}", strerror(errno));
        if (raw->stopped_.load() || errno == EBADF || errno == EINVAL) break;
        continue;
      }
      if (raw->stopped_.load()) {
        ::close(c);
        break;
      }
      char ip[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
      on_accept(
          FabricConnection::Adopt(c, std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port))));
    }
  });
  return l;
}

FabricListener::~FabricListener() {
  Stop();
  ::close(fd_);
}

void FabricListener::Stop() {
  if (stopped_.exchange(true)) return;
  ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

}  // namespace cafs::edif::hba
