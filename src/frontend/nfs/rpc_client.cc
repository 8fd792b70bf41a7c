#include "frontend/nfs/rpc_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "frontend/nfs/rpc_message.h"
#include "frontend/nfs/xdr.h"

namespace cafs::frontend::nfs {
namespace {

constexpr std::size_t kMaxReply = 1 << 20;

int Timeout(std::chrono::milliseconds t) { return static_cast<int>(t.count()); }

// Connects `fd` to `addr` within `timeout` (non-blocking connect + poll).
Status ConnectWithin(int fd, const sockaddr* addr, socklen_t len, std::chrono::milliseconds timeout,
                     const std::string& what) {
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (::connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS) {
      return Status::Unavailable("connect " + what + ": " + std::strerror(errno));
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, Timeout(timeout)) <= 0) return Status::Timeout("connect " + what);
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) return Status::Unavailable("connect " + what + ": " + std::strerror(err));
  }
  ::fcntl(fd, F_SETFL, flags);
  return Status::OK();
}

}  // namespace

RpcClient::RpcClient(RpcClient&& other) noexcept
    : fd_(other.fd_), timeout_(other.timeout_), next_xid_(other.next_xid_) {
  other.fd_ = -1;
}

RpcClient& RpcClient::operator=(RpcClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    timeout_ = other.timeout_;
    next_xid_ = other.next_xid_;
    other.fd_ = -1;
  }
  return *this;
}

RpcClient::~RpcClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<RpcClient> RpcClient::ConnectUnix(const std::string& path,
                                         std::chrono::milliseconds timeout) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return Status::InvalidArgument("socket path too long");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  RpcClient client(fd, timeout);
  CAFS_RETURN_IF_ERROR(
      ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa, timeout, path));
  client.next_xid_ = std::random_device{}();
  return client;
}

Result<RpcClient> RpcClient::ConnectTcp(const std::string& host, std::uint16_t port,
                                        std::chrono::milliseconds timeout, bool privileged_port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return Status::InvalidArgument("rpc client: not a numeric address: '" + host + "'");
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  RpcClient client(fd, timeout);
  if (privileged_port) {
    bool bound = false;
    for (std::uint16_t p = 1023; p >= 600 && !bound; --p) {
      sockaddr_storage local{};
      local.ss_family = static_cast<sa_family_t>(family);
      if (family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&local)->sin_port = htons(p);
      } else {
        reinterpret_cast<sockaddr_in6*>(&local)->sin6_port = htons(p);
      }
      bound = ::bind(fd, reinterpret_cast<sockaddr*>(&local), len) == 0;
    }
    if (!bound) return Status::PermissionDenied("no privileged local port to bind");
  }
  const std::string what = host + ":" + std::to_string(port);
  CAFS_RETURN_IF_ERROR(
      ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&ss), len, timeout, what));
  client.next_xid_ = std::random_device{}();
  return client;
}

Status RpcClient::SendAll(ByteView data) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, Timeout(timeout_)) <= 0) return Status::Timeout("rpc send");
    const ssize_t n = ::send(fd_, data.data() + pos, data.size() - pos, MSG_NOSIGNAL);
    if (n <= 0) return Status::Unavailable(std::string("rpc send: ") + std::strerror(errno));
    pos += static_cast<std::size_t>(n);
  }
  return Status::OK();
}

Status RpcClient::ReadExactly(std::uint8_t* out, std::size_t n) {
  std::size_t pos = 0;
  while (pos < n) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, Timeout(timeout_)) <= 0) return Status::Timeout("rpc receive");
    const ssize_t r = ::recv(fd_, out + pos, n - pos, 0);
    if (r == 0) return Status::Unavailable("rpc receive: connection closed");
    if (r < 0) return Status::Unavailable(std::string("rpc receive: ") + std::strerror(errno));
    pos += static_cast<std::size_t>(r);
  }
  return Status::OK();
}

Result<Bytes> RpcClient::ReadRecord() {
  RecordAssembler assembler(kMaxReply);
  std::vector<Bytes> done;
  while (done.empty()) {
    std::uint8_t mark[4];
    CAFS_RETURN_IF_ERROR(ReadExactly(mark, 4));
    const std::size_t len = LoadBe32(mark) & ~kLastFragment;
    if (len > kMaxReply) return Status::FromErrno(EPROTO, "rpc reply too large");
    Bytes fragment(4 + len);
    std::memcpy(fragment.data(), mark, 4);
    if (len > 0) CAFS_RETURN_IF_ERROR(ReadExactly(fragment.data() + 4, len));
    CAFS_RETURN_IF_ERROR(assembler.Feed(fragment, done));
  }
  return std::move(done.front());
}

Result<Bytes> RpcClient::Call(std::uint32_t program, std::uint32_t version, std::uint32_t procedure,
                              ByteView args) {
  const std::uint32_t xid = next_xid_++;
  XdrEncoder call;
  call.ReserveU32();
  call.U32(xid);
  call.U32(0);  // CALL
  call.U32(kRpcVersion);
  call.U32(program);
  call.U32(version);
  call.U32(procedure);
  XdrEncoder cred;
  cred.U32(0);
  cred.String("cafsd");
  cred.U32(static_cast<std::uint32_t>(::geteuid()));
  cred.U32(static_cast<std::uint32_t>(::getegid()));
  cred.U32(0);
  call.U32(static_cast<std::uint32_t>(AuthFlavor::kSys));
  call.Opaque(cred.bytes());
  call.U32(0);
  call.U32(0);
  call.FixedOpaque(args);
  FinishRecord(call);
  CAFS_RETURN_IF_ERROR(SendAll(call.bytes()));
  for (;;) {
    CAFS_ASSIGN_OR_RETURN(Bytes record, ReadRecord());
    XdrDecoder d(record);
    const std::uint32_t reply_xid = d.U32();
    const std::uint32_t type = d.U32();
    if (!d.ok() || type != 1) return Status::FromErrno(EPROTO, "rpc: malformed reply");
    if (reply_xid != xid) continue;
    const std::uint32_t reply_stat = d.U32();
    if (reply_stat == 1) {  // MSG_DENIED
      const std::uint32_t reject = d.U32();
      if (reject == 1) {
        return Status::PermissionDenied("rpc: AUTH_ERROR " + std::to_string(d.U32()));
      }
      return Status::NotSupported("rpc: RPC_MISMATCH");
    }
    d.U32();
    d.Skip(d.U32());
    const auto stat = static_cast<AcceptStat>(d.U32());
    if (!d.ok()) return Status::FromErrno(EPROTO, "rpc: malformed reply");
    switch (stat) {
      case AcceptStat::kSuccess:
        return Bytes(record.begin() + static_cast<std::ptrdiff_t>(d.position()), record.end());
      case AcceptStat::kProgUnavail:
      case AcceptStat::kProgMismatch:
      case AcceptStat::kProcUnavail:
        return Status::NotSupported("rpc: program " + std::to_string(program) + " version " +
                                    std::to_string(version) + " procedure " +
                                    std::to_string(procedure) + " unavailable (" +
                                    std::to_string(static_cast<std::uint32_t>(stat)) + ")");
      case AcceptStat::kGarbageArgs:
        return Status::InvalidArgument("rpc: GARBAGE_ARGS");
      default:
        return Status::FromErrno(EPROTO, "rpc: SYSTEM_ERR");
    }
  }
}

}  // namespace cafs::frontend::nfs
