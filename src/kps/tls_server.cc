#include "kps/tls_server.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "kps/connection_caps.h"
#include "kps/http_request.h"
#include "kps/tls_context.h"
#include "util/asio_listen.h"
#include "util/logging.h"

namespace cafs::kps {

namespace {

using asio::ip::tcp;

// RestApi::Handle with nothing escaping: an exception becomes a 500.
ApiResponse HandleSafely(RestApi& api, const ApiRequest& request) {
  try {
    return api.Handle(request);
  } catch (const std::exception& e) {
    CAFS_LOG_ERROR("REST: {} {} failed: {}", request.method, request.path, e.what());
  } catch (...) {
    CAFS_LOG_ERROR("REST: {} {} failed with an unknown exception", request.method, request.path);
  }
  return {500, {{"error", "internal error"}, {"reason", "the request could not be handled"}}};
}

bool IsServedMethod(const std::string& m) {
  return m == "GET" || m == "POST" || m == "PUT" || m == "DELETE";
}

std::string ErrorBody(int status, const std::string& reason) {
  const nlohmann::json j = {{"error", std::string(HttpErrorName(status))}, {"reason", reason}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

struct TlsServer::Impl {
  struct Connection;

  Impl(RestApi& a, const Options& o, SslCtxPtr ctx)
      : api(a),
        options(o),
        caps("REST", o.max_connections, o.max_connections_per_address),
        tls(ctx.release()),
        workers(std::max(1u, o.workers)) {}

  void Accept();
  void RunIo();

  RestApi& api;
  const Options options;
  // Declared before `io`: connections destroyed with it release their slot here.
  ConnectionCaps caps;
  asio::ssl::context tls;  // before io: every connection's stream uses it
  asio::io_context io;
  std::shared_ptr<tcp::acceptor> acceptor;
  asio::steady_timer accept_retry{io};
  asio::thread_pool workers;
};

// One client connection. Every member is used on the connection's strand only (the
// executor of `stream` and `timer`); handler threads post their reply back to it.
struct TlsServer::Impl::Connection : std::enable_shared_from_this<Connection> {
  enum class Phase { kHandshake, kIdle, kHead, kBody, kHandling, kWriting, kClosing };

  Connection(Impl& s, tcp::socket socket, std::string address)
      : server(s),
        stream(std::move(socket), s.tls),
        timer(stream.get_executor()),
        from(std::move(address)) {}
  ~Connection() { server.caps.Release(from); }

  void Start() {
    Arm(server.options.handshake_timeout);
    stream.async_handshake(
        asio::ssl::stream_base::server,
        [self = shared_from_this()](std::error_code ec) { self->OnHandshake(ec); });
  }

 private:
  void OnHandshake(std::error_code ec) {
    if (ec) {
      // No certificate, one not from our CA or expired, not TLS at all: refused here.
      CAFS_LOG_DEBUG("REST: TLS handshake from {} failed: {}", from, ec.message());
      Close();
      return;
    }
    X509* cert = SSL_get0_peer_certificate(stream.native_handle());
    if (cert == nullptr) {  // cannot happen with SSL_VERIFY_FAIL_IF_NO_PEER_CERT
      Close();
      return;
    }
    peer = IdentityFromCert(cert);
    WaitForRequest();
  }

  void WaitForRequest() {
    phase = Phase::kIdle;
    scanned = 0;
    if (!in.empty()) {  // a pipelined request already arrived
      phase = Phase::kHead;
      Arm(server.options.head_timeout);
      Continue();
      return;
    }
    Arm(served == 0 ? server.options.head_timeout : server.options.idle_timeout);
    ReadMore();
  }

  void ReadMore() {
    stream.async_read_some(
        asio::buffer(chunk),
        [self = shared_from_this()](std::error_code ec, std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(std::error_code ec, std::size_t n) {
    if (ec || closed) {
      Close();
      return;
    }
    in.append(chunk.data(), n);
    if (phase == Phase::kIdle) {
      phase = Phase::kHead;
      // The first request's deadline runs from the handshake; a later one's from its first
      // byte (the keep-alive wait before it has its own).
      if (served > 0) Arm(server.options.head_timeout);
    }
    Continue();
  }

  // Acts on what `in` holds in the current phase: parse the head, wait for the body, or
  // dispatch the request.
  void Continue() {
    const Options& o = server.options;
    if (phase == Phase::kHead) {
      const std::size_t from_offset = scanned > 3 ? scanned - 3 : 0;
      const std::size_t at = FindHeadEnd(std::string_view(in).substr(from_offset));
      if (at == std::string_view::npos) {
        scanned = in.size();
        if (in.size() > o.max_head_bytes) {
          Refuse(431, "the request head exceeds " + std::to_string(o.max_head_bytes) + " bytes");
        } else {
          ReadMore();
        }
        return;
      }
      const std::size_t end = from_offset + at;
      HttpLimits limits;
      limits.max_head_bytes = o.max_head_bytes;
      limits.max_headers = o.max_headers;
      limits.max_body = o.max_body;
      ParsedHead parsed = ParseRequestHead(std::string_view(in).substr(0, end), limits);
      if (!parsed.ok()) {
        Refuse(parsed.refuse_status, parsed.refuse_reason);
        return;
      }
      head = std::move(parsed.head);
      in.erase(0, end);
      phase = Phase::kBody;
      const auto body_time = std::chrono::milliseconds(static_cast<std::int64_t>(
          head.content_length * 1000 / std::max<std::size_t>(1, o.min_body_rate)));
      Arm(o.head_timeout + body_time);
      if (head.expect_continue && in.size() < head.content_length) {
        SendContinue();
        return;
      }
    }
    if (phase == Phase::kBody) {
      if (in.size() < head.content_length) {
        ReadMore();
      } else {
        Dispatch();
      }
    }
  }

  void SendContinue() {
    asio::async_write(stream, asio::buffer(HttpContinue()),
                      [self = shared_from_this()](std::error_code ec, std::size_t) {
                        if (ec || self->closed) {
                          self->Close();
                        } else {
                          self->ReadMore();
                        }
                      });
  }

  void Dispatch() {
    phase = Phase::kHandling;
    Disarm();
    const bool keep_alive =
        head.keep_alive && served + 1 < server.options.max_requests_per_connection;
    if (!IsServedMethod(head.method)) {
      in.erase(0, head.content_length);
      Respond(405, ErrorBody(405, "kpsd serves GET, POST, PUT and DELETE"), keep_alive);
      return;
    }
    ApiRequest request;
    request.method = head.method;
    request.path = head.path;
    request.query = head.query;
    request.body = in.substr(0, head.content_length);
    request.peer = peer;
    OPENSSL_cleanse(in.data(), head.content_length);
    in.erase(0, head.content_length);
    asio::post(server.workers, [self = shared_from_this(), request = std::move(request),
                                keep_alive]() mutable {
      const ApiResponse r = HandleSafely(self->server.api, request);
      OPENSSL_cleanse(request.body.data(), request.body.size());
      std::string body = r.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      asio::post(self->stream.get_executor(),
                 [self, status = r.status, body = std::move(body), keep_alive]() mutable {
                   self->Respond(status, std::move(body), keep_alive);
                 });
    });
  }

  // Answers a request the listener refused before RestApi saw it, then closes.
  void Refuse(int status, const std::string& reason) {
    CAFS_LOG_DEBUG("REST: refused a request from {}: {} {}", from, status, reason);
    Respond(status, ErrorBody(status, reason), false);
  }

  void Respond(int status, std::string body, bool keep_alive) {
    if (closed) return;
    phase = Phase::kWriting;
    out = FormatHttpResponse(status, body, keep_alive);
    OPENSSL_cleanse(body.data(), body.size());  // a gateway's answer carries key bytes
    Arm(server.options.write_timeout);
    asio::async_write(stream, asio::buffer(out),
                      [self = shared_from_this(), keep_alive](std::error_code ec, std::size_t) {
                        OPENSSL_cleanse(self->out.data(), self->out.size());
                        self->out.clear();
                        if (ec || self->closed) {
                          self->Close();
                        } else if (keep_alive) {
                          ++self->served;
                          self->WaitForRequest();
                        } else {
                          self->Finish();
                        }
                      });
  }

  // Sends close_notify (bounded by the write timeout), then closes.
  void Finish() {
    phase = Phase::kClosing;
    Arm(server.options.write_timeout);
    stream.async_shutdown([self = shared_from_this()](std::error_code) { self->Close(); });
  }

  // (Re)starts the deadline of the current phase; a wait armed before is void.
  void Arm(std::chrono::milliseconds after) {
    const std::uint64_t generation = ++timer_generation;
    timer.expires_after(after);
    timer.async_wait([self = shared_from_this(), generation](std::error_code ec) {
      if (ec || generation != self->timer_generation || self->closed) return;
      CAFS_LOG_DEBUG("REST: closing the connection from {}: {} timed out", self->from,
                     self->PhaseName());
      self->Close();
    });
  }

  void Disarm() {
    ++timer_generation;
    timer.cancel();
  }

  const char* PhaseName() const {
    switch (phase) {
      case Phase::kHandshake:
        return "the TLS handshake";
      case Phase::kIdle:
        return "the keep-alive wait";
      case Phase::kHead:
        return "the request head";
      case Phase::kBody:
        return "the request body";
      case Phase::kHandling:
        return "the handler";
      case Phase::kWriting:
        return "the response";
      case Phase::kClosing:
        return "the TLS shutdown";
    }
    return "?";
  }

  void Close() {
    if (closed) return;
    closed = true;
    Disarm();
    std::error_code ignored;
    stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream.lowest_layer().close(ignored);
  }

  Impl& server;
  asio::ssl::stream<tcp::socket> stream;
  asio::steady_timer timer;
  const std::string from;  // the numeric source address
  PeerIdentity peer;
  std::string in;           // received and not yet consumed
  std::size_t scanned = 0;  // bytes of `in` searched for the end of the head
  std::array<char, 16 << 10> chunk{};
  std::string out;
  HttpRequestHead head;
  std::size_t served = 0;
  std::uint64_t timer_generation = 0;
  Phase phase = Phase::kHandshake;
  bool closed = false;
};

void TlsServer::Impl::Accept() {
  acceptor->async_accept(asio::make_strand(io), [this](std::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning.
      CAFS_LOG_WARN("REST: accept failed: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](std::error_code e) {
        if (!e) Accept();
      });
      return;
    }
    std::error_code e;
    const tcp::endpoint remote = socket.remote_endpoint(e);
    std::string address = e ? std::string() : remote.address().to_string();
    if (!e && caps.Admit(address)) {
      std::make_shared<Connection>(*this, std::move(socket), std::move(address))->Start();
    } else {
      socket.close(e);
    }
    Accept();
  });
}

void TlsServer::Impl::RunIo() {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {  // a handler must not throw; keep serving if one does
      CAFS_LOG_ERROR("REST listener: {}", e.what());
    }
  }
}

TlsServer::TlsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServer::~TlsServer() = default;

Result<std::unique_ptr<TlsServer>> TlsServer::Create(RestApi& api, const std::string& data_dir,
                                                     const Options& options) {
  CAFS_ASSIGN_OR_RETURN(SslCtxPtr ctx, NewServerTlsContext(data_dir, TLS1_3_VERSION));
  return std::unique_ptr<TlsServer>(
      new TlsServer(std::make_unique<Impl>(api, options, std::move(ctx))));
}

Result<int> TlsServer::Bind(const std::string& host, int port) {
  if (port < 0 || port > 65535) return Status::InvalidArgument("bad port " + std::to_string(port));
  std::string address = host;
  std::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) {  // a name: listen on its first address
    tcp::resolver resolver(impl_->io);
    const auto found = resolver.resolve(host, std::to_string(port), ec);
    if (ec || found.empty()) {
      return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                                 ": cannot resolve " + host);
    }
    address = found.begin()->endpoint().address().to_string();
  }
  CAFS_ASSIGN_OR_RETURN(
      impl_->acceptor,
      OpenTcpAcceptor(impl_->io, address, static_cast<std::uint16_t>(port), "cannot listen on"));
  return static_cast<int>(impl_->acceptor->local_endpoint().port());
}

Status TlsServer::Run() {
  Impl& s = *impl_;
  if (!s.acceptor) return Status::FailedPrecondition("TlsServer::Run before Bind");
  s.Accept();
  std::vector<std::thread> more;
  for (unsigned i = 1; i < s.options.io_threads; ++i) more.emplace_back([&s] { s.RunIo(); });
  s.RunIo();
  for (auto& t : more) t.join();
  s.workers.join();  // every handler in flight has finished
  std::error_code ignored;
  s.acceptor->close(ignored);
  return Status::OK();
}

void TlsServer::Stop() { impl_->io.stop(); }

}  // namespace cafs::kps
