#include "jobs/control_socket.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/json_text.h"
#include "util/logging.h"

namespace cafs::jobs {
namespace {

constexpr std::size_t kMaxLine = 64 * 1024;
constexpr int kTimeoutMs = 5000;

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

// Reads up to '\n' (excluded), within kMaxLine bytes and kTimeoutMs per wait.
Result<std::string> ReadLine(int fd) {
  std::string line;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, kTimeoutMs);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(errno, "poll");
    if (r == 0) return Status::Timeout("no complete line within 5 s");
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read");
    if (n == 0) return line.empty() ? Status::Corruption("connection closed") : Result(line);
    line.append(buf, static_cast<std::size_t>(n));
    if (auto nl = line.find('\n'); nl != std::string::npos) {
      line.resize(nl);
      return line;
    }
    if (line.size() > kMaxLine) return Status::InvalidArgument("line longer than 64 KiB");
  }
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "write");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::OK();
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& path,
                                                            const ControlService* service) {
  CAFS_ASSIGN_OR_RETURN(sockaddr_un sa, AddressOf(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return Status::FromErrno(errno, "socket");
  // A socket left by a crashed cafsd (the backing store lock says no other one runs).
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) (void)::unlink(path.c_str());
  const mode_t old_mask = ::umask(077);  // created 0600
  const int bound = ::bind(fd.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) return Status::FromErrno(bind_errno, "bind " + path);
  if (::listen(fd.fd, 16) != 0) return Status::FromErrno(errno, "listen " + path);
  const int stop = ::eventfd(0, EFD_CLOEXEC);
  if (stop < 0) return Status::FromErrno(errno, "eventfd");
  std::unique_ptr<ControlServer> server(new ControlServer(path, fd.fd, stop, service));
  fd.fd = -1;
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

ControlServer::ControlServer(std::string path, int listen_fd, int stop_fd,
                             const ControlService* service)
    : path_(std::move(path)), listen_fd_(listen_fd), stop_fd_(stop_fd), service_(service) {}

ControlServer::~ControlServer() {
  const std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  (void)::unlink(path_.c_str());
}

void ControlServer::Loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      CAFS_LOG_ERROR("control socket: poll: {}", std::strerror(errno));
      return;
    }
    if (p[1].revents != 0) return;
    Fd conn(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.fd < 0) continue;
    Serve(conn.fd);
  }
}

void ControlServer::Serve(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  std::string peer = "local";
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer = "local uid " + std::to_string(cred.uid);
  }
  auto line = ReadLine(fd);
  const std::string reply =
      line.ok() ? service_->HandleLine(*line, peer) : ErrorReply(line.status()).dump() + "\n";
  if (Status s = WriteAll(fd, reply); !s.ok()) {
    CAFS_LOG_DEBUG("control socket: reply to {} lost: {}", peer, s.ToString());
  }
}

Result<nlohmann::json> ControlCall(const std::string& path, const nlohmann::json& request) {
  CAFS_ASSIGN_OR_RETURN(sockaddr_un sa, AddressOf(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return Status::FromErrno(errno, "socket");
  if (::connect(fd.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) {
      return Status::Unavailable(
          "cafsd is not running on this backing store (nothing listens "
          "on " +
          path + ")");
    }
    return Status::FromErrno(errno, "connect " + path);
  }
  CAFS_RETURN_IF_ERROR(WriteAll(
      fd.fd, request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  CAFS_ASSIGN_OR_RETURN(std::string line, ReadLine(fd.fd));
  return ParseJson(line, "cafsd reply");
}

}  // namespace cafs::jobs
