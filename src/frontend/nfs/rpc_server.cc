#include "frontend/nfs/rpc_server.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "util/logging.h"

namespace cafs::frontend::nfs {
namespace {

using Strand = asio::strand<asio::io_context::executor_type>;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kMaxGather = 64;  // replies per gathered write

std::string PeerText(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

}  // namespace

class RpcConnection;

class RpcServer::Impl {
 public:
  explicit Impl(RpcServerOptions options);
  ~Impl() { Stop(); }

  void Accept(std::shared_ptr<asio::ip::tcp::acceptor> acceptor);
  void ConnectionGone();
  void Stop();

  const RpcServerOptions options_;
  RpcDispatcher dispatcher_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::weak_ptr<RpcConnection>> connections_;  // guarded by mu_
  std::size_t live_connections_ = 0;                     // guarded by mu_
  bool stopped_ = false;                                 // guarded by mu_
  bool listening_ = false;                               // guarded by mu_

  // Destroyed in reverse order: the pool (and the calls it still holds) before the io_context.
  asio::io_context io_;
  Strand accept_strand_;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors_;  // accept_strand_
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  asio::thread_pool pool_;
};

// One client connection; members are used on strand_ only (except abandoned_).
class RpcConnection : public std::enable_shared_from_this<RpcConnection> {
 public:
  RpcConnection(RpcServer::Impl* server, asio::ip::tcp::socket socket, Strand strand,
                std::string peer, std::uint16_t peer_port)
      : server_(server),
        strand_(std::move(strand)),
        socket_(std::move(socket)),
        wake_(strand_),
        idle_(strand_),
        assembler_(server->options_.max_record_size),
        peer_(std::move(peer)),
        peer_port_(peer_port) {}
  ~RpcConnection() { server_->ConnectionGone(); }

  void Start() {
    asio::co_spawn(strand_, Serve(shared_from_this()),
                   [self = shared_from_this()](std::exception_ptr) { self->CloseNow(); });
    asio::post(strand_, [self = shared_from_this()] { self->ArmIdle(); });
  }
  void Close() {
    asio::post(strand_, [self = shared_from_this()] { self->CloseNow(); });
  }

 private:
  static asio::awaitable<void> Serve(std::shared_ptr<RpcConnection> self) {
    co_await self->ReadLoop();
    self->CloseNow();
  }

  asio::awaitable<void> WaitForWake() {
    wake_.expires_at(asio::steady_timer::time_point::max());
    std::error_code ignored;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  void Wake() { wake_.cancel(); }

  asio::awaitable<void> ReadLoop() {
    std::vector<std::uint8_t> buf(kReadChunk);
    std::vector<Bytes> records;
    for (;;) {
      while (!closed_ &&
             (!pending_.empty() || in_flight_ >= server_->options_.max_calls_in_flight)) {
        co_await WaitForWake();
      }
      if (closed_) co_return;
      std::error_code ec;
      const std::size_t n = co_await socket_.async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || closed_) co_return;
      last_activity_ = Clock::now();
      records.clear();
      const Status fed = assembler_.Feed(ByteView(buf.data(), n), records);
      if (!fed.ok()) {
        CAFS_LOG_DEBUG("rpc: dropping connection from {}: {}", peer_, fed.ToString());
        co_return;
      }
      for (Bytes& r : records) pending_.push_back(std::move(r));
      DispatchPending();
    }
  }

  void DispatchPending() {
    while (!closed_ && !pending_.empty() && in_flight_ < server_->options_.max_calls_in_flight) {
      Bytes record = std::move(pending_.front());
      pending_.pop_front();
      PreparedCall prepared = server_->dispatcher_.Prepare(record, peer_, peer_port_);
      switch (prepared.action) {
        case PreparedCall::Action::kIgnore:
          break;
        case PreparedCall::Action::kReply:
          ++in_flight_;
          QueueReply(std::move(prepared.reply));
          break;
        case PreparedCall::Action::kDispatch:
          ++in_flight_;
          asio::post(server_->pool_, [self = shared_from_this(), prepared = std::move(prepared),
                                      record = std::move(record)]() mutable {
            if (self->abandoned_.load()) return;
            Bytes reply = self->server_->dispatcher_.Execute(prepared, record);
            asio::post(self->strand_, [self, reply = std::move(reply)]() mutable {
              self->QueueReply(std::move(reply));
            });
          });
          break;
      }
    }
    Wake();
  }

  // On strand_: one framed reply for a call counted in in_flight_.
  void QueueReply(Bytes reply) {
    if (closed_) return;
    out_.push_back(std::move(reply));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    writing_ = true;
    const std::size_t count = std::min(out_.size(), kMaxGather);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(count);
    for (std::size_t i = 0; i < count; ++i) buffers.push_back(asio::buffer(out_[i]));
    asio::async_write(socket_, buffers,
                      asio::bind_executor(strand_, [self = shared_from_this(), count](
                                                       std::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        self->out_.erase(self->out_.begin(),
                                         self->out_.begin() + static_cast<std::ptrdiff_t>(count));
                        self->in_flight_ -= count;
                        self->last_activity_ = Clock::now();
                        if (ec) {
                          self->CloseNow();
                          return;
                        }
                        if (!self->out_.empty()) self->WriteNext();
                        self->DispatchPending();
                      }));
  }

  void ArmIdle() {
    if (closed_) return;
    idle_.expires_at(last_activity_ + server_->options_.idle_timeout);
    idle_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->closed_) return;
      const bool busy = self->in_flight_ > 0 || !self->pending_.empty();
      if (!busy && Clock::now() - self->last_activity_ >= self->server_->options_.idle_timeout) {
        CAFS_LOG_DEBUG("rpc: closing idle connection from {}", self->peer_);
        self->CloseNow();
        return;
      }
      if (busy) self->last_activity_ = Clock::now();
      self->ArmIdle();
    });
  }

  void CloseNow() {
    if (closed_) return;
    closed_ = true;
    abandoned_.store(true);
    std::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    idle_.cancel();
    pending_.clear();
    if (!writing_) out_.clear();
    Wake();
  }

  RpcServer::Impl* const server_;
  Strand strand_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer wake_;
  asio::steady_timer idle_;
  RecordAssembler assembler_;
  const std::string peer_;
  const std::uint16_t peer_port_;

  std::deque<Bytes> pending_;  // complete records waiting for an in-flight slot
  std::deque<Bytes> out_;      // framed replies; the first ones are being written when writing_
  std::size_t in_flight_ = 0;  // calls read and not yet answered on the wire
  bool writing_ = false;
  bool closed_ = false;
  std::atomic<bool> abandoned_{false};
  Clock::time_point last_activity_ = Clock::now();
};

RpcServer::Impl::Impl(RpcServerOptions options)
    : options_(options),
      accept_strand_(asio::make_strand(io_)),
      work_(io_.get_executor()),
      pool_(options.worker_threads == 0 ? 1 : options.worker_threads) {
  const unsigned n = options_.io_threads == 0 ? 1 : options_.io_threads;
  for (unsigned i = 0; i < n; ++i) io_threads_.emplace_back([this] { io_.run(); });
}

void RpcServer::Impl::ConnectionGone() {
  std::lock_guard lock(mu_);
  --live_connections_;
  cv_.notify_all();
}

void RpcServer::Impl::Accept(std::shared_ptr<asio::ip::tcp::acceptor> acceptor) {
  acceptor->async_accept(asio::bind_executor(
      accept_strand_, [this, acceptor](std::error_code ec, asio::ip::tcp::socket s) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (!ec) {
          std::error_code peer_ec;
          const asio::ip::tcp::endpoint peer = s.remote_endpoint(peer_ec);
          std::shared_ptr<RpcConnection> connection;
          {
            std::lock_guard lock(mu_);
            if (!stopped_ && !peer_ec && live_connections_ < options_.max_connections) {
              ++live_connections_;
              std::error_code ignored;
              s.set_option(asio::ip::tcp::no_delay(true), ignored);
              connection =
                  std::make_shared<RpcConnection>(this, std::move(s), asio::make_strand(io_),
                                                  PeerText(peer.address()), peer.port());
              connections_.remove_if([](const auto& w) { return w.expired(); });
              connections_.push_back(connection);
            }
          }
          if (connection) {
            connection->Start();
          } else {
            std::error_code ignored;
            s.close(ignored);
          }
        }
        Accept(acceptor);
      }));
}

void RpcServer::Impl::Stop() {
  std::vector<std::shared_ptr<RpcConnection>> open;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : connections_) {
      if (auto c = w.lock()) open.push_back(std::move(c));
    }
    connections_.clear();
  }
  std::promise<void> closed;
  asio::post(accept_strand_, [this, &closed] {
    std::error_code ignored;
    for (auto& a : acceptors_) a->close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  for (auto& c : open) c->Close();
  open.clear();
  pool_.join();  // running calls finish; queued ones see their connection abandoned
  work_.reset();
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return live_connections_ == 0; });
  }
  io_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
}

RpcServer::RpcServer(RpcServerOptions options) : impl_(std::make_unique<Impl>(options)) {}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::AddProgram(RpcProgram* program) {
  std::lock_guard lock(impl_->mu_);
  if (!impl_->listening_) impl_->dispatcher_.Add(program);
}

Result<std::uint16_t> RpcServer::Listen(const std::string& host, std::uint16_t port) {
  {
    std::lock_guard lock(impl_->mu_);
    if (impl_->stopped_) return Status::FailedPrecondition("rpc server stopped");
    impl_->listening_ = true;
  }
  std::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("rpc listen: bad address '" + host + "'");
  auto acceptor = std::make_shared<asio::ip::tcp::acceptor>(impl_->io_);
  const asio::ip::tcp::endpoint endpoint(address, port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::FromErrno(ec.value(), "rpc listen " + host + ":" + std::to_string(port));
  const std::uint16_t bound = acceptor->local_endpoint(ec).port();
  std::promise<void> started;
  asio::post(impl_->accept_strand_, [this, acceptor, &started] {
    impl_->acceptors_.push_back(acceptor);
    impl_->Accept(acceptor);
    started.set_value();
  });
  started.get_future().wait();
  return bound;
}

void RpcServer::Stop() { impl_->Stop(); }

std::size_t RpcServer::connection_count() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->live_connections_;
}

}  // namespace cafs::frontend::nfs
