#include "frontend/nfs/rpc_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "util/asio_listen.h"
#include "util/default_init_allocator.h"
#include "util/logging.h"
#include "util/transfer_all_uncapped.h"

namespace cafs::frontend::nfs {
namespace {

using Strand = asio::strand<asio::io_context::executor_type>;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;  // read-ahead for marks and small records
// A fragment body with more than this still to come is read straight into its record.
constexpr std::size_t kDirectRead = 16 * 1024;
// A record's buffer grows at most this far ahead of the bytes received: a mark announcing 1 MiB
// costs nothing until the bytes come (a slow client cannot make the server hold what it never
// sends).
constexpr std::size_t kMaxDirectChunk = 256 * 1024;
// After accept failed (out of descriptors or buffers): wait this long before accepting again.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr std::size_t kMaxGather = 64;  // replies per gathered write
// Spare record (and reply) buffers kept per connection: enough for the calls a client keeps in
// flight (Linux: 16 slots by default), so a stream of 1 MiB READs/WRITEs reuses mapped pages
// instead of faulting in fresh ones per call. At most 2 x 16 x (max I/O + headers) per busy
// connection; an idle connection holds what its last burst used until it closes.
constexpr std::size_t kPooledRecords = 16;

// A record buffer is sized to the fragment before the socket fills it: no zero fill.
using RecordBuffer = UninitBytes;

std::string PeerText(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

// The process's soft descriptor limit (RLIMIT_NOFILE); a large number when unlimited.
std::size_t DescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::numeric_limits<std::size_t>::max();
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

// Threads of the compute pool: `configured`, or one per core (at least 2) when 0.
std::size_t ComputeThreads(unsigned configured) {
  if (configured != 0) return configured;
  return std::max(2u, std::thread::hardware_concurrency());
}

}  // namespace

class RpcConnection;

class RpcServer::Impl {
 public:
  explicit Impl(RpcServerOptions options);
  ~Impl() { Stop(); }

  void Accept(std::shared_ptr<asio::ip::tcp::acceptor> acceptor);
  // Admits a new connection from `peer` (within max_connections and the per-address cap).
  std::shared_ptr<RpcConnection> Admit(asio::ip::tcp::socket& s,
                                       const asio::ip::tcp::endpoint& peer);
  void ConnectionGone(const std::string& peer);
  void Stop();

  const RpcServerOptions options_;
  // options_.max_connections, but at most half the descriptor limit (RLIMIT_NOFILE): the other
  // half stays for pool files, the backing store and kpsd, which a flood must not starve.
  const std::size_t max_connections_;
  RpcDispatcher dispatcher_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::weak_ptr<RpcConnection>> connections_;  // guarded by mu_
  std::size_t live_connections_ = 0;                     // guarded by mu_
  std::map<std::string, std::size_t> per_address_;       // guarded by mu_: live, by peer
  bool accept_failing_ = false;                          // accept_strand_: logged once
  bool stopped_ = false;                                 // guarded by mu_
  bool listening_ = false;                               // guarded by mu_

  // Destroyed in reverse order: the pools (and the calls they still hold) before the io_context.
  asio::io_context io_;
  Strand accept_strand_;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors_;  // accept_strand_
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  asio::thread_pool compute_pool_;   // calls that use the CPU: one thread per core
  asio::thread_pool blocking_pool_;  // calls that wait for storage (RpcProgram::WaitsForDisk)
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
        peer_(std::move(peer)),
        peer_port_(peer_port) {}
  ~RpcConnection() { server_->ConnectionGone(peer_); }

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

  // Reassembles records from fragments (4-byte mark: high bit = last fragment, low 31 bits =
  // length; rpc_message.h RecordAssembler is the reference). Marks and small fragments come
  // through a 64 KiB read-ahead buffer; the rest of a large fragment body is read straight into
  // its record, which is sized from the mark (no zero fill) and taken from a small pool.
  asio::awaitable<void> ReadLoop() {
    const std::size_t max = server_->options_.max_record_size;
    std::vector<std::uint8_t> buf(kReadChunk);
    std::size_t begin = 0;  // unconsumed bytes of buf: [begin, end)
    std::size_t end = 0;
    RecordBuffer record = TakeBuffer();
    std::size_t filled = 0;     // bytes of record received
    std::size_t frag_left = 0;  // bytes of the current fragment body still to come
    bool in_fragment = false;
    bool last = false;
    for (;;) {
      // Consume what is buffered.
      while (begin < end || (in_fragment && frag_left == 0)) {
        if (!in_fragment) {
          if (end - begin < 4) break;
          const RecordMark mark = DecodeRecordMark(buf.data() + begin);
          begin += 4;
          last = mark.last;
          frag_left = mark.length;
          if (frag_left > max || filled > max - frag_left) {
            CAFS_LOG_DEBUG("rpc: dropping connection from {}: rpc record larger than {} bytes",
                           peer_, max);
            co_return;
          }
          in_fragment = true;
        }
        const std::size_t take = std::min(end - begin, frag_left);
        record.resize(filled + take);
        std::copy_n(buf.data() + begin, take, record.data() + filled);
        begin += take;
        filled += take;
        frag_left -= take;
        if (frag_left == 0) {
          in_fragment = false;
          if (last) {
            pending_.push_back(std::move(record));
            record = TakeBuffer();
            filled = 0;
          }
        }
      }
      DispatchPending();
      while (!closed_ &&
             (!pending_.empty() || in_flight_ >= server_->options_.max_calls_in_flight)) {
        co_await WaitForWake();
      }
      if (closed_) co_return;
      std::error_code ec;
      if (in_fragment && frag_left > kDirectRead) {
        const std::size_t chunk = std::min(frag_left, kMaxDirectChunk);
        record.resize(filled + chunk);
        const std::size_t n = co_await asio::async_read(
            socket_, asio::buffer(record.data() + filled, chunk), TransferAllUncapped(),
            asio::redirect_error(asio::use_awaitable, ec));
        if (ec || closed_) co_return;
        filled += n;
        frag_left -= n;
        begin = end = 0;
      } else {
        if (begin > 0) {  // keep a partial mark at the front
          std::copy(buf.begin() + static_cast<std::ptrdiff_t>(begin),
                    buf.begin() + static_cast<std::ptrdiff_t>(end), buf.begin());
          end -= begin;
          begin = 0;
        }
        const std::size_t n =
            co_await socket_.async_read_some(asio::buffer(buf.data() + end, buf.size() - end),
                                             asio::redirect_error(asio::use_awaitable, ec));
        if (ec || closed_) co_return;
        end += n;
      }
      last_activity_ = Clock::now();
    }
  }

  // Reply buffers written out are kept (when large: READ replies) for the next calls.
  XdrBytes TakeReplyBuffer() {
    if (spare_replies_.empty()) return {};
    XdrBytes b = std::move(spare_replies_.back());
    spare_replies_.pop_back();
    return b;
  }
  void GiveBackReply(XdrBytes b) {
    if (!closed_ && spare_replies_.size() < kPooledRecords && b.capacity() >= kDirectRead) {
      spare_replies_.push_back(std::move(b));
    }
  }

  RecordBuffer TakeBuffer() {
    if (spare_.empty()) return {};
    RecordBuffer b = std::move(spare_.back());
    spare_.pop_back();
    b.clear();
    return b;
  }
  void GiveBack(RecordBuffer b) {
    if (!closed_ && spare_.size() < kPooledRecords && b.capacity() > 0)
      spare_.push_back(std::move(b));
  }

  void DispatchPending() {
    while (!closed_ && !pending_.empty() && in_flight_ < server_->options_.max_calls_in_flight) {
      RecordBuffer record = std::move(pending_.front());
      pending_.pop_front();
      PreparedCall prepared =
          server_->dispatcher_.Prepare(ByteView(record.data(), record.size()), peer_, peer_port_);
      switch (prepared.action) {
        case PreparedCall::Action::kIgnore:
          GiveBack(std::move(record));
          break;
        case PreparedCall::Action::kReply:
          ++in_flight_;
          GiveBack(std::move(record));
          QueueReply(std::move(prepared.reply));
          break;
        case PreparedCall::Action::kDispatch: {
          ++in_flight_;
          prepared.call.may_wait = prepared.program->WaitsForDisk(
              prepared.call, ByteView(record.data(), record.size()).subspan(prepared.args_offset));
          Run(shared_from_this(), std::move(prepared), std::move(record), TakeReplyBuffer());
          break;
        }
      }
    }
    Wake();
  }

  // Runs a call on the blocking pool when it may wait for storage, else on the compute pool;
  // a call that finds on the compute pool that it would wait (kAcceptWouldWait) runs again on
  // the blocking pool. The reply goes out through the strand.
  static void Run(std::shared_ptr<RpcConnection> self, PreparedCall prepared, RecordBuffer record,
                  XdrBytes buffer) {
    auto& pool =
        prepared.call.may_wait ? self->server_->blocking_pool_ : self->server_->compute_pool_;
    asio::post(pool, [self = std::move(self), prepared = std::move(prepared),
                      record = std::move(record), buffer = std::move(buffer)]() mutable {
      if (self->abandoned_.load()) return;
      bool would_wait = false;
      XdrBytes reply = self->server_->dispatcher_.Execute(
          prepared, ByteView(record.data(), record.size()), std::move(buffer), &would_wait);
      if (would_wait) {
        prepared.call.may_wait = true;
        Run(std::move(self), std::move(prepared), std::move(record), std::move(reply));
        return;
      }
      asio::post(self->strand_,
                 [self, reply = std::move(reply), record = std::move(record)]() mutable {
                   self->GiveBack(std::move(record));
                   self->QueueReply(std::move(reply));
                 });
    });
  }

  // On strand_: one framed reply for a call counted in in_flight_.
  void QueueReply(XdrBytes reply) {
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
    asio::async_write(socket_, buffers, TransferAllUncapped(),
                      asio::bind_executor(strand_, [self = shared_from_this(), count](
                                                       std::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        for (std::size_t i = 0; i < count; ++i) {
                          self->GiveBackReply(std::move(self->out_.front()));
                          self->out_.pop_front();
                        }
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
    spare_.clear();
    spare_replies_.clear();
    if (!writing_) out_.clear();
    Wake();
  }

  RpcServer::Impl* const server_;
  Strand strand_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer wake_;
  asio::steady_timer idle_;
  const std::string peer_;
  const std::uint16_t peer_port_;

  std::deque<RecordBuffer> pending_;     // complete records waiting for an in-flight slot
  std::vector<RecordBuffer> spare_;      // reusable record buffers (at most kPooledRecords)
  std::vector<XdrBytes> spare_replies_;  // reusable reply buffers (at most kPooledRecords)
  std::deque<XdrBytes> out_;   // framed replies; the first ones are being written when writing_
  std::size_t in_flight_ = 0;  // calls read and not yet answered on the wire
  bool writing_ = false;
  bool closed_ = false;
  std::atomic<bool> abandoned_{false};
  Clock::time_point last_activity_ = Clock::now();
};

RpcServer::Impl::Impl(RpcServerOptions options)
    : options_(options),
      max_connections_(std::min(options.max_connections, DescriptorLimit() / 2)),
      accept_strand_(asio::make_strand(io_)),
      work_(io_.get_executor()),
      compute_pool_(ComputeThreads(options.compute_threads)),
      blocking_pool_(options.worker_threads == 0 ? 1 : options.worker_threads) {
  const unsigned n = options_.io_threads == 0 ? 1 : options_.io_threads;
  for (unsigned i = 0; i < n; ++i) io_threads_.emplace_back([this] { io_.run(); });
}

void RpcServer::Impl::ConnectionGone(const std::string& peer) {
  std::lock_guard lock(mu_);
  --live_connections_;
  auto it = per_address_.find(peer);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  cv_.notify_all();
}

std::shared_ptr<RpcConnection> RpcServer::Impl::Admit(asio::ip::tcp::socket& s,
                                                      const asio::ip::tcp::endpoint& peer) {
  std::string address = PeerText(peer.address());
  std::lock_guard lock(mu_);
  if (stopped_) return nullptr;
  if (live_connections_ >= max_connections_) {
    CAFS_LOG_DEBUG("rpc: refusing a connection from {}: {} connections open", address,
                   live_connections_);
    return nullptr;
  }
  std::size_t& from_peer = per_address_[address];
  if (from_peer >= options_.max_connections_per_address) {
    CAFS_LOG_DEBUG("rpc: refusing a connection from {}: it has {} open", address, from_peer);
    return nullptr;
  }
  ++from_peer;
  ++live_connections_;
  std::error_code ignored;
  s.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto connection = std::make_shared<RpcConnection>(this, std::move(s), asio::make_strand(io_),
                                                    std::move(address), peer.port());
  connections_.remove_if([](const auto& w) { return w.expired(); });
  connections_.push_back(connection);
  return connection;
}

void RpcServer::Impl::Accept(std::shared_ptr<asio::ip::tcp::acceptor> acceptor) {
  acceptor->async_accept(asio::bind_executor(
      accept_strand_, [this, acceptor](std::error_code ec, asio::ip::tcp::socket s) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (ec) {
          // Out of descriptors or buffers: the pending connection stays queued, so accepting
          // again at once would spin. Wait, then try again.
          if (!accept_failing_) {
            CAFS_LOG_WARN("rpc: accept failed ({}); retrying every {} ms", ec.message(),
                          kAcceptBackoff.count());
            accept_failing_ = true;
          }
          auto timer = std::make_shared<asio::steady_timer>(accept_strand_, kAcceptBackoff);
          timer->async_wait([this, acceptor, timer](std::error_code) { Accept(acceptor); });
          return;
        }
        accept_failing_ = false;
        std::error_code peer_ec;
        const asio::ip::tcp::endpoint peer = s.remote_endpoint(peer_ec);
        std::shared_ptr<RpcConnection> connection = peer_ec ? nullptr : Admit(s, peer);
        if (connection) {
          connection->Start();
        } else {
          std::error_code ignored;
          s.close(ignored);
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
  PostAndWait(accept_strand_, [this] {
    std::error_code ignored;
    for (auto& a : acceptors_) a->close(ignored);
  });
  for (auto& c : open) c->Close();
  open.clear();
  // Running calls finish; queued ones see their connection abandoned.
  compute_pool_.join();
  blocking_pool_.join();
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
  CAFS_ASSIGN_OR_RETURN(auto acceptor, OpenTcpAcceptor(impl_->io_, host, port, "rpc listen"));
  std::error_code ec;
  const std::uint16_t bound = acceptor->local_endpoint(ec).port();
  PostAndWait(impl_->accept_strand_, [this, &acceptor] {
    impl_->acceptors_.push_back(acceptor);
    impl_->Accept(acceptor);
  });
  return bound;
}

void RpcServer::Stop() { impl_->Stop(); }

std::size_t RpcServer::connection_count() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->live_connections_;
}

}  // namespace cafs::frontend::nfs
