#include "kps/kmip_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "kps/connection_caps.h"
#include "kps/tls_context.h"
#include "util/logging.h"

namespace cafs::kps {

struct KmipServer::Impl {
  explicit Impl(const Options& o)
      : options(o), caps("KMIP", o.max_connections, o.max_connections_per_address) {}

  KmipService* service = nullptr;
  const Options options;
  ConnectionCaps caps;
  SslCtxPtr ctx;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle;
  std::set<int> connections;  // guarded by mu: to shut them down on Stop()

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
  }

  void Serve(int fd);
};

namespace {

using SteadyClock = std::chrono::steady_clock;

// Bounds every following blocking read of `fd` to `timeout` (at least one millisecond).
void SetReceiveTimeout(int fd, std::chrono::milliseconds timeout) {
  timeout = std::max(timeout, std::chrono::milliseconds(1));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Reads exactly `n` bytes by `deadline`; false on EOF, error or timeout. A peer that trickles
// bytes cannot stretch the read past the deadline: each read waits only for what is left.
bool ReadFull(SSL* ssl, int fd, std::uint8_t* p, std::size_t n, SteadyClock::time_point deadline) {
  while (n > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    SetReceiveTimeout(fd, left);
    const int chunk = static_cast<int>(std::min<std::size_t>(n, 1 << 20));
    const int r = SSL_read(ssl, p, chunk);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool WriteFull(SSL* ssl, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(n, 1 << 20));
    const int w = SSL_write(ssl, p, chunk);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// An Invalid Message response for a request we did not read whole.
Bytes InvalidMessage(const std::string& why) {
  kmip::Response r;
  r.version = {1, 2};
  r.time_stamp = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  r.items.push_back(kmip::Failure(std::nullopt, kmip::ResultReason::kInvalidMessage, why));
  return kmip::Encode(kmip::BuildResponse(r));
}

// The numeric source address of an accepted connection ("127.0.0.2", "::1").
std::string AddressOf(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  } else {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
  }
  return text;
}

}  // namespace

void KmipServer::Impl::Serve(int fd) {
  timeval tv{};
  tv.tv_sec = options.idle_timeout_seconds;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SetReceiveTimeout(fd, std::chrono::seconds(options.handshake_timeout_seconds));
  SSL* ssl = SSL_new(ctx.get());
  if (ssl == nullptr) return;
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) {
    // No certificate, one not from our CA, not TLS at all, or too slow: refused here.
    const unsigned long err = ERR_get_error();
    const char* why = err != 0 ? ERR_reason_error_string(err) : nullptr;
    CAFS_LOG_INFO("KMIP: TLS handshake refused: {}", why != nullptr ? why : "connection closed");
    ERR_clear_error();
    SSL_free(ssl);
    return;
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  const PeerIdentity peer = cert != nullptr ? IdentityFromCert(cert) : PeerIdentity{};
  const std::size_t max_size = service->options().limits.max_size;
  Bytes buf;
  while (!stopping.load()) {
    buf.resize(kmip::kHeaderSize);
    // Idle until a message starts; from its first byte on, the whole message is due within
    // message_timeout_seconds.
    SetReceiveTimeout(fd, std::chrono::seconds(options.idle_timeout_seconds));
    if (SSL_peek(ssl, buf.data(), 1) <= 0) break;
    const auto deadline =
        SteadyClock::now() + std::chrono::seconds(options.message_timeout_seconds);
    if (!ReadFull(ssl, fd, buf.data(), buf.size(), deadline)) break;
    const std::uint32_t tag =
        (std::uint32_t{buf[0]} << 16) | (std::uint32_t{buf[1]} << 8) | std::uint32_t{buf[2]};
    const std::size_t total = kmip::EncodedSize(buf).value();
    std::string refuse;
    if (tag != kmip::Value(kmip::Tag::kRequestMessage) ||
        buf[3] != static_cast<std::uint8_t>(kmip::ItemType::kStructure)) {
      refuse = "the message is not a Request Message structure";
    } else if (total > max_size) {
      refuse = "request message of " + std::to_string(total) + " bytes exceeds the limit of " +
               std::to_string(max_size);
    }
    if (!refuse.empty()) {
      const Bytes reply = InvalidMessage(refuse);
      WriteFull(ssl, reply.data(), reply.size());
      break;
    }
    buf.resize(total);
    if (!ReadFull(ssl, fd, buf.data() + kmip::kHeaderSize, total - kmip::kHeaderSize, deadline)) {
      break;
    }
    KmipService::Reply reply = service->Handle(buf, peer);
    OPENSSL_cleanse(buf.data(), buf.size());
    const bool sent = WriteFull(ssl, reply.message.data(), reply.message.size());
    OPENSSL_cleanse(reply.message.data(), reply.message.size());
    if (!sent || reply.close) break;
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
}

KmipServer::KmipServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KmipServer::~KmipServer() = default;

Result<std::unique_ptr<KmipServer>> KmipServer::Create(KmipService& service,
                                                       const std::string& data_dir,
                                                       Options options) {
  auto impl = std::make_unique<Impl>(options);
  impl->service = &service;
  // KMIP 1.x profiles name TLS 1.2; PyKMIP and most KMIP clients do not speak 1.3 yet.
  CAFS_ASSIGN_OR_RETURN(impl->ctx, NewServerTlsContext(data_dir, TLS1_2_VERSION));
  return std::unique_ptr<KmipServer>(new KmipServer(std::move(impl)));
}

Result<int> KmipServer::Bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return Status::InvalidArgument("KMIP listen address " + host + ": " + gai_strerror(rc));
  }
  Status last = Status::Unavailable("no address for " + host);
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0) break;
    last = Status::FromErrno(errno, "KMIP listen on " + host + ":" + service);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) return last;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  const int bound = ss.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  impl_->listen_fd = fd;
  return bound;
}

Status KmipServer::Run() {
  Impl& s = *impl_;
  if (s.listen_fd < 0) return Status::FailedPrecondition("KmipServer::Run before Bind");
  while (!s.stopping.load()) {
    pollfd p{s.listen_fd, POLLIN, 0};
    const int r = ::poll(&p, 1, 200);
    if (r <= 0) continue;
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const int fd =
        ::accept4(s.listen_fd, reinterpret_cast<sockaddr*>(&from), &from_len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) ::poll(nullptr, 0, 100);
      continue;
    }
    const std::string address = AddressOf(from);
    if (s.stopping.load() || !s.caps.Admit(address)) {
      ::close(fd);
      continue;
    }
    std::unique_lock lock(s.mu);
    s.connections.insert(fd);
    lock.unlock();
    std::thread([&s, fd, address] {
      s.Serve(fd);
      s.caps.Release(address);
      std::lock_guard g(s.mu);
      s.connections.erase(fd);
      ::close(fd);
      s.idle.notify_all();
    }).detach();
  }
  // Wake every connection blocked in a read and wait until all have closed.
  std::unique_lock lock(s.mu);
  for (int fd : s.connections) ::shutdown(fd, SHUT_RDWR);
  s.idle.wait(lock, [&] { return s.connections.empty(); });
  return Status::OK();
}

void KmipServer::Stop() { impl_->stopping.store(true); }

}  // namespace cafs::kps
