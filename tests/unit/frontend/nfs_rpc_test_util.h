// Test helpers for the ONC RPC front-end: hand-built call records and a blocking TCP client
// that reads framed replies (tests/unit/frontend/nfs_*_test.cc).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontend/nfs/rpc_message.h"
#include "frontend/nfs/xdr.h"

namespace cafs::frontend::nfs::testing {

// An AUTH_SYS credential body.
inline std::vector<std::uint8_t> AuthSysBody(std::uint32_t uid, std::uint32_t gid,
                                             std::vector<std::uint32_t> gids = {},
                                             std::string machine = "client") {
  XdrEncoder e;
  e.U32(0x1234);
  e.String(machine);
  e.U32(uid);
  e.U32(gid);
  e.U32(static_cast<std::uint32_t>(gids.size()));
  for (std::uint32_t g : gids) e.U32(g);
  return e.ToBytes();
}

// A call message (no record mark): header, credential, AUTH_NONE verifier, `args`.
inline std::vector<std::uint8_t> CallMessage(std::uint32_t xid, std::uint32_t prog,
                                             std::uint32_t vers, std::uint32_t proc,
                                             std::uint32_t flavor,
                                             const std::vector<std::uint8_t>& cred,
                                             const std::vector<std::uint8_t>& args = {},
                                             std::uint32_t rpcvers = kRpcVersion) {
  XdrEncoder e;
  e.U32(xid);
  e.U32(0);  // CALL
  e.U32(rpcvers);
  e.U32(prog);
  e.U32(vers);
  e.U32(proc);
  e.U32(flavor);
  e.Opaque(cred);
  e.U32(0);
  e.U32(0);
  std::vector<std::uint8_t> out = e.ToBytes();
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

inline std::vector<std::uint8_t> SysCall(std::uint32_t xid, std::uint32_t prog, std::uint32_t vers,
                                         std::uint32_t proc,
                                         const std::vector<std::uint8_t>& args = {}) {
  return CallMessage(xid, prog, vers, proc, 1, AuthSysBody(0, 0), args);
}

// Frames `message` as fragments of at most `fragment` bytes (0 = one fragment).
inline std::vector<std::uint8_t> Frame(const std::vector<std::uint8_t>& message,
                                       std::size_t fragment = 0) {
  std::vector<std::uint8_t> out;
  std::size_t pos = 0;
  do {
    const std::size_t n =
        fragment == 0 ? message.size() - pos : std::min(fragment, message.size() - pos);
    const bool last = pos + n == message.size();
    std::uint32_t mark = static_cast<std::uint32_t>(n) | (last ? kLastFragment : 0u);
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(mark >> (8 * i)));
    out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(pos),
               message.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < message.size());
  return out;
}

// A decoded reply header.
struct Reply {
  std::uint32_t xid = 0;
  std::uint32_t reply_stat = 0;    // 0 accepted, 1 denied
  std::uint32_t stat = 0;          // accept_stat, or reject_stat when denied
  std::vector<std::uint8_t> body;  // after accept_stat (or after reject_stat)
};

inline std::optional<Reply> ParseReply(const std::vector<std::uint8_t>& message) {
  XdrDecoder d(message);
  Reply r;
  r.xid = d.U32();
  if (d.U32() != 1) return std::nullopt;
  r.reply_stat = d.U32();
  if (r.reply_stat == 0) {
    d.U32();
    d.Skip(d.U32());
  }
  r.stat = d.U32();
  if (!d.ok()) return std::nullopt;
  r.body.assign(message.begin() + static_cast<std::ptrdiff_t>(d.position()), message.end());
  return r;
}

class TestClient {
 public:
  // `source`: the local address to connect from (another loopback address), or any.
  explicit TestClient(std::uint16_t port, const char* address = "127.0.0.1",
                      const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (source != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, address, &sa.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~TestClient() { Close(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(const std::vector<std::uint8_t>& bytes) {
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + pos, bytes.size() - pos, MSG_NOSIGNAL);
      if (n <= 0) return false;
      pos += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads one record (all fragments); nullopt on EOF, error or `timeout_ms` without data.
  std::optional<std::vector<std::uint8_t>> ReadRecord(int timeout_ms = 10000) {
    std::vector<std::uint8_t> record;
    for (;;) {
      std::uint8_t mark[4];
      if (!ReadExactly(mark, 4, timeout_ms)) return std::nullopt;
      const std::uint32_t m = (std::uint32_t{mark[0]} << 24) | (std::uint32_t{mark[1]} << 16) |
                              (std::uint32_t{mark[2]} << 8) | mark[3];
      const std::size_t len = m & ~kLastFragment;
      const std::size_t at = record.size();
      record.resize(at + len);
      if (len > 0 && !ReadExactly(record.data() + at, len, timeout_ms)) return std::nullopt;
      if ((m & kLastFragment) != 0) return record;
    }
  }

  std::optional<Reply> Call(const std::vector<std::uint8_t>& message) {
    if (!Send(Frame(message))) return std::nullopt;
    auto record = ReadRecord();
    if (!record) return std::nullopt;
    return ParseReply(*record);
  }

  // True when the server closed the connection (EOF or reset) within `timeout_ms`.
  bool WaitClosed(int timeout_ms = 10000) {
    std::uint8_t byte;
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      const ssize_t n = ::recv(fd_, &byte, 1, 0);
      if (n <= 0) return true;
    }
  }

 private:
  bool ReadExactly(std::uint8_t* out, std::size_t n, int timeout_ms) {
    std::size_t pos = 0;
    while (pos < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      const ssize_t r = ::recv(fd_, out + pos, n - pos, 0);
      if (r <= 0) return false;
      pos += static_cast<std::size_t>(r);
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace cafs::frontend::nfs::testing
