#include "jobs/control_socket.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <system_error>

#include "util/json_text.h"
#include "util/logging.h"
#include "util/unique_fd.h"

namespace cafs::jobs {
namespace {

using Clock = std::chrono::steady_clock;

// A reply can be large (`list` with many jobs); the client still bounds what it buffers.
constexpr std::size_t kMaxReply = 64 << 20;
constexpr std::chrono::seconds kClientTimeout{60};
// Connections accepted per poll round, so a connect flood cannot starve the reads.
constexpr int kAcceptsPerRound = 16;

Result<sockaddr_un> AddressOf(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) {
    return Status::FromErrno(ENAMETOOLONG, "control socket path " + path + " is longer than " +
                                               std::to_string(sizeof(sa.sun_path) - 1) + " bytes");
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

std::string ReplyLine(const Status& s) {
  return ErrorReply(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One non-blocking send; the bytes sent (0 when the socket is full), or the error.
Result<std::size_t> SendSome(int fd, std::string_view data) {
  for (;;) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return std::size_t{0};  // EWOULDBLOCK on Linux
    return Status::FromErrno(errno, "send");
  }
}

// Milliseconds until `deadline` for poll(2): at least 0, rounded up.
int MillisUntil(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
}

// Client side: waits for `events` on `fd` until `deadline`.
Status WaitFor(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, MillisUntil(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(errno, "poll");
    if (r == 0) return Status::Timeout(std::string("cafsd did not ") + what + " within 60 s");
    return Status::OK();
  }
}

Status SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    CAFS_ASSIGN_OR_RETURN(std::size_t n, SendSome(fd, data));
    data.remove_prefix(n);
    if (n == 0) CAFS_RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, "take the request"));
  }
  return Status::OK();
}

// Reads up to '\n' (excluded), at most `max_bytes`, all of it before `deadline`.
Result<std::string> ReadReply(int fd, Clock::time_point deadline) {
  std::string line;
  char buf[16384];
  for (;;) {
    CAFS_RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline, "reply"));
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return Status::FromErrno(errno, "read");
    if (n == 0) return line.empty() ? Status::Corruption("connection closed") : Result(line);
    line.append(buf, static_cast<std::size_t>(n));
    if (auto nl = line.find('\n'); nl != std::string::npos) {
      line.resize(nl);
      return line;
    }
    if (line.size() > kMaxReply) return Status::InvalidArgument("reply longer than 64 MiB");
  }
}

// Who the peer is; PermissionDenied unless it is root or cafsd's own user.
Result<std::string> PeerOf(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return Status::FromErrno(errno, "SO_PEERCRED");
  }
  if (cred.uid != 0 && cred.uid != ::geteuid()) {
    return Status::PermissionDenied("uid " + std::to_string(cred.uid) +
                                    " may not use the control socket");
  }
  return "local uid " + std::to_string(cred.uid);
}

// One accepted connection, owned by the I/O thread.
struct Conn {
  enum class Phase { kReading, kHandling, kWriting };
  UniqueFd fd;
  std::string peer;
  Phase phase = Phase::kReading;
  std::string in;   // kReading: the bytes of the request so far
  std::string out;  // kWriting: the reply
  std::size_t sent = 0;
  Clock::time_point deadline;  // kReading/kWriting; none while a worker handles it
};

// Starts sending `text` to `c`; a short reply usually goes at once.
void StartReply(Conn& c, std::string text, std::chrono::milliseconds timeout) {
  c.phase = Conn::Phase::kWriting;
  c.in.clear();
  c.in.shrink_to_fit();
  c.out = std::move(text);
  c.sent = 0;
  c.deadline = Clock::now() + timeout;
}

// Sends what the socket takes; true when the connection is finished (all sent, or an error).
bool SendReply(Conn& c) {
  auto n = SendSome(c.fd.get(), std::string_view(c.out).substr(c.sent));
  if (!n.ok()) {
    CAFS_LOG_DEBUG("control socket: reply to {} lost: {}", c.peer, n.status().ToString());
    return true;
  }
  c.sent += *n;
  return c.sent == c.out.size();
}

// Best effort, for a connection refused at accept: one non-blocking send, then it is closed.
void Refuse(int fd, const Status& why) {
  const std::string line = ReplyLine(why);
  (void)SendSome(fd, line);
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& path,
                                                            const ControlService* service,
                                                            ControlServerOptions options) {
  CAFS_ASSIGN_OR_RETURN(sockaddr_un sa, AddressOf(path));
  if (options.max_connections == 0 || options.workers == 0) {
    return Status::InvalidArgument("control socket: max_connections and workers must be > 0");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket");
  // A socket left by a crashed cafsd (the backing store lock says no other one runs).
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) (void)::unlink(path.c_str());
  // No umask change (it is per process: it would race with files created on other threads);
  // the mode is set right after bind, and PeerOf refuses other users in between.
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    return Status::FromErrno(errno, "bind " + path);
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    const Status s = Status::FromErrno(errno, "chmod " + path);
    (void)::unlink(path.c_str());
    return s;
  }
  if (::listen(fd.get(), 64) != 0) {
    const Status s = Status::FromErrno(errno, "listen " + path);
    (void)::unlink(path.c_str());
    return s;
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid() || !wake.valid()) {
    const Status s = Status::FromErrno(errno, "eventfd");
    (void)::unlink(path.c_str());
    return s;
  }
  std::unique_ptr<ControlServer> server(
      new ControlServer(path, fd.Release(), stop.Release(), wake.Release(), service, options));
  try {
    for (unsigned i = 0; i < options.workers; ++i) {
      server->workers_.emplace_back([s = server.get()] { s->Work(); });
    }
    server->io_thread_ = std::thread([s = server.get()] { s->Loop(); });
  } catch (const std::system_error& e) {  // the destructor stops the threads already started
    return Status::FromErrno(e.code().value(), "control socket: starting its threads");
  }
  return server;
}

ControlServer::ControlServer(std::string path, int listen_fd, int stop_fd, int wake_fd,
                             const ControlService* service, ControlServerOptions options)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      wake_fd_(wake_fd),
      service_(service),
      options_(options) {}

ControlServer::~ControlServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  const std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof(one));
  if (io_thread_.joinable()) io_thread_.join();
  for (auto& w : workers_) w.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  ::close(wake_fd_);
  (void)::unlink(path_.c_str());
}

void ControlServer::Work() {
  for (;;) {
    Request req;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      req = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string text = service_->HandleLine(req.line, req.peer);  // never throws
    {
      std::lock_guard lock(mu_);
      done_.push_back(Reply{req.conn, std::move(text)});
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
}

void ControlServer::Loop() {
  std::map<std::uint64_t, Conn> conns;  // by accept order: the oldest first
  std::uint64_t next_id = 1;
  std::vector<pollfd> fds;
  std::vector<std::uint64_t> ids;  // parallel to fds[3...]

  // Reads what `c` sent; a complete line goes to a worker. False: close the connection.
  auto on_readable = [&](std::uint64_t id, Conn& c) {
    char buf[4096];
    for (;;) {
      const std::size_t room = kMaxControlRequest + 1 - c.in.size();  // + its '\n'
      const ssize_t n = ::recv(c.fd.get(), buf, std::min(sizeof(buf), room), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n < 0) return false;
      const std::size_t scanned = c.in.size();
      c.in.append(buf, static_cast<std::size_t>(n));
      auto nl = c.in.find('\n', scanned);
      if (n == 0 && c.in.empty()) return false;                 // closed without a request
      if (n == 0 && nl == std::string::npos) nl = c.in.size();  // the last line has no '\n'
      if (nl != std::string::npos) {
        c.in.resize(nl);
        c.phase = Conn::Phase::kHandling;
        {
          std::lock_guard lock(mu_);
          queue_.push_back(Request{id, std::move(c.in), c.peer});
        }
        c.in.clear();
        work_cv_.notify_one();
        return true;
      }
      if (c.in.size() > kMaxControlRequest) {
        StartReply(c, ReplyLine(Status::InvalidArgument("request line longer than 64 KiB")),
                   options_.reply_timeout);
        return !SendReply(c);
      }
    }
  };

  // Out of descriptors: the listener stays readable, so it is left out of poll for a while
  // rather than spun on.
  auto accept_paused_until = Clock::time_point::min();
  auto accept_one = [&]() {
    UniqueFd fd(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        CAFS_LOG_WARN("control socket: accept: {}", std::strerror(errno));
        accept_paused_until = Clock::now() + std::chrono::milliseconds(200);
      }
      return false;
    }
    auto peer = PeerOf(fd.get());
    if (!peer.ok()) {
      CAFS_LOG_WARN("control socket: refused a connection: {}", peer.status().ToString());
      Refuse(fd.get(), peer.status());
      return true;
    }
    if (conns.size() >= options_.max_connections) {
      auto oldest = std::find_if(conns.begin(), conns.end(), [](const auto& e) {
        return e.second.phase == Conn::Phase::kReading;
      });
      if (oldest == conns.end()) {
        Refuse(fd.get(), Status::Unavailable("too many control connections"));
        return true;
      }
      CAFS_LOG_DEBUG("control socket: {} connections: dropping the oldest waiting one of {}",
                     conns.size(), oldest->second.peer);
      conns.erase(oldest);
    }
    Conn c;
    c.fd = std::move(fd);
    c.peer = std::move(*peer);
    c.deadline = Clock::now() + options_.request_timeout;
    conns.emplace(next_id++, std::move(c));
    return true;
  };

  for (;;) {
    fds.clear();
    ids.clear();
    fds.push_back({stop_fd_, POLLIN, 0});
    fds.push_back({wake_fd_, POLLIN, 0});
    const bool accepting = Clock::now() >= accept_paused_until;
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    auto next_deadline = accepting ? Clock::time_point::max() : accept_paused_until;
    for (const auto& [id, c] : conns) {
      if (c.phase == Conn::Phase::kHandling) continue;  // a worker has it: no deadline
      const short events = c.phase == Conn::Phase::kReading ? POLLIN : POLLOUT;
      fds.push_back({c.fd.get(), events, 0});
      ids.push_back(id);
      next_deadline = std::min(next_deadline, c.deadline);
    }
    const int timeout = next_deadline == Clock::time_point::max() ? -1 : MillisUntil(next_deadline);
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      CAFS_LOG_ERROR("control socket: poll: {}", std::strerror(errno));
      return;  // conns close as they go out of scope
    }
    if (fds[0].revents != 0) return;
    if (fds[1].revents != 0) {
      std::uint64_t count = 0;
      (void)!::read(wake_fd_, &count, sizeof(count));
      std::vector<Reply> replies;
      {
        std::lock_guard lock(mu_);
        replies.swap(done_);
      }
      for (auto& r : replies) {
        auto it = conns.find(r.conn);
        if (it == conns.end()) continue;
        StartReply(it->second, std::move(r.text), options_.reply_timeout);
        if (SendReply(it->second)) conns.erase(it);
      }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const short revents = fds[i + 3].revents;
      if (revents == 0) continue;
      auto it = conns.find(ids[i]);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool keep = true;
      if (c.phase == Conn::Phase::kReading) {
        keep = on_readable(it->first, c);
      } else if (c.phase == Conn::Phase::kWriting) {
        keep = (revents & (POLLERR | POLLHUP)) == 0 && !SendReply(c);
      }
      if (!keep) conns.erase(it);
    }
    if (fds[2].revents != 0) {
      int accepted = 0;
      while (accepted < kAcceptsPerRound && accept_one()) ++accepted;
    }
    const auto now = Clock::now();
    std::erase_if(conns, [&](const auto& e) {
      const Conn& c = e.second;
      if (c.phase == Conn::Phase::kHandling || c.deadline > now) return false;
      CAFS_LOG_DEBUG("control socket: dropped {}: {}", c.peer,
                     c.phase == Conn::Phase::kReading ? "no whole request within the deadline"
                                                      : "reply not taken within the deadline");
      return true;
    });
  }
}

Result<nlohmann::json> ControlCall(const std::string& path, const nlohmann::json& request) {
  CAFS_ASSIGN_OR_RETURN(sockaddr_un sa, AddressOf(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) {
      return Status::Unavailable(
          "cafsd is not running on this backing store (nothing listens "
          "on " +
          path + ")");
    }
    return Status::FromErrno(errno, "connect " + path);
  }
  const auto deadline = Clock::now() + kClientTimeout;
  const Status sent = SendAll(
      fd.get(), request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
      deadline);
  // A server that refuses at accept (busy, another uid) replies and closes before reading:
  // its reply says more than the broken pipe.
  auto line = ReadReply(fd.get(), deadline);
  if (!line.ok()) return sent.ok() ? line.status() : sent;
  return ParseJson(*line, "cafsd reply");
}

}  // namespace cafs::jobs
