#include "edif/nbd/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "edif/nbd/codec.h"
#include "edif/nbd/errors.h"
#include "edif/nbd/negotiation.h"
#include "edif/nbd/protocol.h"
#include "edif/nbd/stream_io.h"
#include "util/asio_listen.h"
#include "util/logging.h"
#include "util/transfer_all_uncapped.h"

namespace cafs::edif::nbd {
namespace {

using Socket = asio::generic::stream_protocol::socket;
using Strand = asio::strand<asio::io_context::executor_type>;

// WRITE payloads are read (and their buffer grown) this much at a time, so a client that
// claims 32 MiB and sends little makes us hold little.
constexpr std::size_t kPayloadChunk = 1024 * 1024;

// An accepted socket as the connection will use it, and the address it counts against.
struct Adopted {
  Socket socket;
  std::string peer;  // TCP: the peer's IP address; Unix: "" (no per-address cap)
  bool ok = false;
};

Adopted Adopt(asio::io_context& io, asio::ip::tcp::socket s) {
  Adopted a{Socket(io), {}, false};
  std::error_code ec;
  s.set_option(asio::ip::tcp::no_delay(true), ec);
  const asio::ip::tcp::endpoint peer = s.remote_endpoint(ec);
  if (ec) return a;
  a.peer = peer.address().to_string();
  const int family = peer.protocol().family();
  a.socket.assign(asio::generic::stream_protocol(family, IPPROTO_TCP), s.release(), ec);
  a.ok = !ec;
  return a;
}

Adopted Adopt(asio::io_context& io, asio::local::stream_protocol::socket s) {
  Adopted a{Socket(io), {}, false};
  std::error_code ec;
  a.socket.assign(asio::generic::stream_protocol(AF_UNIX, 0), s.release(), ec);
  a.ok = !ec;
  return a;
}

// Lets device callbacks reach a connection only while the server runs. Stop() closes the gate
// before the io_context goes away; Run() holds the lock while it posts.
class Gate {
 public:
  template <typename Fn>
  void Run(Fn&& fn) {
    std::lock_guard lock(mu_);
    if (open_) fn();
  }
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }

 private:
  std::mutex mu_;
  bool open_ = true;
};

}  // namespace

class Connection;

class NbdServer::Impl {
 public:
  explicit Impl(ServerOptions options);
  ~Impl();

  struct Export {
    std::shared_ptr<BlockDevice> device;
    std::string description;
  };

  ExportCatalog Catalog() const;
  std::shared_ptr<BlockDevice> Device(const std::string& name) const;
  // Counts a new connection from `peer` against the caps; false (nothing counted) when over.
  bool Admit(const std::string& peer);
  void Accepted(Socket socket, std::string peer);
  void ConnectionGone(const std::string& peer);
  // Accepts on `acceptor` (on accept_strand_) until it is closed.
  template <typename Acceptor>
  void Accept(std::shared_ptr<Acceptor> acceptor);
  void Stop();

  const ServerOptions options_;
  const std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Export> exports_;             // guarded by mu_
  std::string default_export_;                        // guarded by mu_
  std::list<std::weak_ptr<Connection>> connections_;  // guarded by mu_
  std::size_t live_connections_ = 0;                  // guarded by mu_
  std::map<std::string, std::size_t> per_address_;    // guarded by mu_ (TCP peers only)
  std::uint64_t refused_ = 0;                         // guarded by mu_
  std::vector<std::string> unix_paths_;               // guarded by mu_
  bool stopped_ = false;                              // guarded by mu_

  // Declared last: destroyed first, with every handler (and connection) it still holds.
  asio::io_context io_;
  Strand accept_strand_;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> tcp_acceptors_;  // accept_strand_
  std::vector<std::shared_ptr<asio::local::stream_protocol::acceptor>> unix_acceptors_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

// One client connection. All members are used on strand_ only.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(NbdServer::Impl* server, Socket socket, Strand strand, std::string peer)
      : server_(server),
        peer_(std::move(peer)),
        strand_(std::move(strand)),
        socket_(std::move(socket)),
        wake_(strand_),
        deadline_(strand_) {}
  ~Connection() { server_->ConnectionGone(peer_); }

  void Start() {
    asio::co_spawn(strand_, Serve(shared_from_this()),
                   [self = shared_from_this()](std::exception_ptr) { self->CloseNow(); });
  }
  // From any thread.
  void Close() {
    asio::post(strand_, [self = shared_from_this()] { self->CloseNow(); });
  }

 private:
  struct OutMessage {
    std::array<std::uint8_t, kSimpleReplySize> header;
    Bytes data;
    std::size_t charged;  // bytes counted in bytes_in_flight_
  };

  static asio::awaitable<void> Serve(std::shared_ptr<Connection> self) {
    const bool negotiated = co_await self->Negotiate();
    if (negotiated) co_await self->Transmit();
    self->CloseNow();
  }

  // Fixed newstyle handshake and option haggling. True when transmission may start.
  asio::awaitable<bool> Negotiate() {
    ArmDeadline(server_->options_.handshake_timeout);
    const auto greeting = EncodeServerGreeting(kFlagFixedNewstyle | kFlagNoZeroes);
    {
      const bool io_ok = co_await WriteAll(socket_, greeting);
      if (!io_ok) co_return false;
    }
    std::array<std::uint8_t, 4> flags_buf{};
    {
      const bool io_ok = co_await ReadExactly(socket_, asio::buffer(flags_buf));
      if (!io_ok) co_return false;
    }
    const std::uint32_t client_flags = LoadBe32(flags_buf.data());
    if ((client_flags & ~(kClientFlagFixedNewstyle | kClientFlagNoZeroes)) != 0) {
      co_return false;  // spec: unknown client flags end the session
    }
    const bool fixed = (client_flags & kClientFlagFixedNewstyle) != 0;
    const bool no_zeroes = (client_flags & kClientFlagNoZeroes) != 0;
    for (;;) {
      std::array<std::uint8_t, kOptionHeaderSize> header_buf{};
      {
        const bool io_ok = co_await ReadExactly(socket_, asio::buffer(header_buf));
        if (!io_ok) co_return false;
      }
      Result<OptionHeader> header = DecodeOptionHeader(header_buf);
      if (!header.ok()) co_return false;
      Bytes payload(header->length);
      bool io_ok = true;
      if (!payload.empty()) io_ok = co_await ReadExactly(socket_, asio::buffer(payload));
      if (!io_ok) co_return false;
      if (!fixed && header->option != kOptExportName) co_return false;
      OptionOutcome outcome = HandleOption(header->option, payload, server_->Catalog(), no_zeroes);
      if (outcome.next == OptionOutcome::Next::kTransmission) {
        device_ = server_->Device(outcome.export_name);
        if (device_ == nullptr) co_return false;  // removed between the two lookups
        info_ = DescribeExport(outcome.export_name, {}, *device_);
      }
      if (!outcome.reply.empty()) {
        const bool sent = co_await WriteAll(socket_, outcome.reply);
        if (!sent) co_return false;
      }
      if (outcome.next == OptionOutcome::Next::kClose) co_return false;
      if (outcome.next == OptionOutcome::Next::kTransmission) break;
    }
    DisarmDeadline();
    co_return true;
  }

  // Closes the connection unless DisarmDeadline() (or another ArmDeadline()) comes first. The
  // generation guards against a timer that fired while being re-armed.
  void ArmDeadline(std::chrono::milliseconds after) {
    const std::uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), generation](std::error_code ec) {
      if (!ec && self->deadline_generation_ == generation) self->CloseNow();
    });
  }
  void DisarmDeadline() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  // Reads one request: the header (its first byte may take as long as the client likes; from
  // then on request_timeout runs) and, when CheckRequest says so, its payload, grown chunk by
  // chunk as it arrives. False: the connection must close (I/O error, bad magic, over-limit
  // WRITE, timeout).
  asio::awaitable<bool> ReadRequest(Request& request, RequestCheck& check, Bytes& payload) {
    std::array<std::uint8_t, kRequestSize> header_buf{};
    std::error_code ec;
    const std::size_t first = co_await socket_.async_read_some(
        asio::buffer(header_buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    ArmDeadline(server_->options_.request_timeout);
    if (first < kRequestSize) {
      const bool io_ok = co_await ReadExactly(
          socket_, asio::buffer(header_buf.data() + first, kRequestSize - first));
      if (!io_ok) co_return false;
    }
    Result<Request> decoded = DecodeRequest(header_buf);
    if (!decoded.ok()) {
      CAFS_LOG_DEBUG("nbd: closing connection: {}", decoded.status().ToString());
      co_return false;
    }
    request = *decoded;
    check = CheckRequest(request, info_);
    if (check.action == RequestAction::kDisconnect) {
      CAFS_LOG_DEBUG("nbd: closing connection: {} of {} bytes is over the limit",
                     CommandName(request.type), request.length);
      co_return false;
    }
    payload.clear();
    payload.reserve(check.payload_length);  // address space only; pages come as data arrives
    while (payload.size() < check.payload_length) {
      const std::size_t at = payload.size();
      const std::size_t n = std::min(kPayloadChunk, std::size_t{check.payload_length} - at);
      payload.resize(at + n);
      const bool io_ok = co_await ReadExactly(socket_, asio::buffer(payload.data() + at, n));
      if (!io_ok) co_return false;
    }
    DisarmDeadline();
    co_return !closed_;
  }

  // Waits until a completion or a finished write wakes us (strand-serialized: no lost wakeups
  // because conditions are checked on the strand before waiting).
  asio::awaitable<void> WaitForWake() {
    wake_.expires_at(asio::steady_timer::time_point::max());
    std::error_code ignored;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  void Wake() { wake_.cancel(); }

  asio::awaitable<void> Transmit() {
    const ServerOptions& opt = server_->options_;
    for (;;) {
      while (!closed_ &&
             (requests_in_flight_ >= opt.max_requests_in_flight ||
              (requests_in_flight_ > 0 && bytes_in_flight_ >= opt.max_bytes_in_flight))) {
        co_await WaitForWake();
      }
      if (closed_) co_return;
      Request request;
      RequestCheck check;
      Bytes payload;
      {
        const bool io_ok = co_await ReadRequest(request, check, payload);
        if (!io_ok) co_return;
      }
      if (request.type == kCmdDisc && check.action == RequestAction::kExecute) {
        co_await Drain();
        co_return;
      }
      const std::size_t charged =
          payload.size() + (request.type == kCmdRead ? std::size_t{request.length} : 0);
      ++requests_in_flight_;
      bytes_in_flight_ += charged;
      if (check.action == RequestAction::kReplyError) {
        QueueReply(request.cookie, check.error, {}, charged);
        continue;
      }
      Dispatch(request, std::move(payload), charged);
    }
  }

  // After NBD_CMD_DISC: let in-flight requests finish (bounded), then close.
  asio::awaitable<void> Drain() {
    ArmDeadline(server_->options_.disconnect_drain_timeout);
    while (!closed_ && (requests_in_flight_ > 0 || writing_)) {
      co_await WaitForWake();
    }
    DisarmDeadline();
  }

  // Hands the request to the device; its callback (any thread) comes back through the gate.
  void Dispatch(const Request& request, Bytes payload, std::size_t charged) {
    std::weak_ptr<Connection> weak = weak_from_this();
    std::shared_ptr<Gate> gate = server_->gate_;
    const std::uint64_t cookie = request.cookie;
    const std::uint32_t length = request.length;
    const bool is_read = request.type == kCmdRead;
    auto complete = [weak, gate, cookie, charged, length, is_read](Status status, Bytes data) {
      gate->Run([&] {
        std::shared_ptr<Connection> self = weak.lock();
        if (!self) return;
        std::uint32_t error = ToNbdError(status);
        if (error == kNbdOk && is_read && data.size() != length) error = kNbdEio;
        if (error != kNbdOk || !is_read) data.clear();
        asio::post(self->strand_, [self, cookie, error, charged, data = std::move(data)]() mutable {
          self->QueueReply(cookie, error, std::move(data), charged);
        });
      });
    };
    const bool fua = (request.flags & kCmdFlagFua) != 0;
    BlockDevice& device = *device_;
    switch (request.type) {
      case kCmdRead:
        if (length == 0) {
          complete(Status::OK(), {});
          return;
        }
        device.ReadFor(open_, request.offset, length, std::move(complete));
        return;
      case kCmdWrite:
        if (length == 0) {
          complete(Status::OK(), {});
          return;
        }
        device.Write(request.offset, std::move(payload), fua,
                     [complete](Status s) { complete(std::move(s), {}); });
        return;
      case kCmdFlush:
        device.Flush([complete](Status s) { complete(std::move(s), {}); });
        return;
      case kCmdTrim:
        device.Trim(request.offset, length, [complete](Status s) { complete(std::move(s), {}); });
        return;
      case kCmdWriteZeroes:
        device.WriteZeroes(request.offset, length, fua,
                           [complete](Status s) { complete(std::move(s), {}); });
        return;
      default:  // CheckRequest rejects everything else
        complete(Status::InvalidArgument("unsupported command"), {});
        return;
    }
  }

  // On strand_: queue one simple reply (plus READ data) and start writing if idle.
  void QueueReply(std::uint64_t cookie, std::uint32_t error, Bytes data, std::size_t charged) {
    if (closed_) {
      Release(charged);
      return;
    }
    out_.push_back(OutMessage{EncodeSimpleReply({error, cookie}), std::move(data), charged});
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    writing_ = true;
    OutMessage& m = out_.front();
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(m.header), asio::buffer(m.data)};
    asio::async_write(
        socket_, buffers, TransferAllUncapped(),
        asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec, std::size_t) {
          self->Release(self->out_.front().charged);
          self->out_.pop_front();
          self->writing_ = false;
          if (ec) {
            self->CloseNow();
          } else if (!self->out_.empty() && !self->closed_) {
            self->WriteNext();
          }
          self->Wake();
        }));
  }

  void Release(std::size_t charged) {
    --requests_in_flight_;
    bytes_in_flight_ -= charged;
    Wake();
  }

  void CloseNow() {
    if (closed_) return;
    closed_ = true;
    open_->store(false);
    std::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    DisarmDeadline();
    Wake();
    // Replies still queued (not being written) will never be sent.
    while (out_.size() > (writing_ ? 1u : 0u)) {
      Release(out_.back().charged);
      out_.pop_back();
    }
  }

  NbdServer::Impl* const server_;
  const std::string peer_;
  Strand strand_;
  Socket socket_;
  asio::steady_timer wake_;
  asio::steady_timer deadline_;
  std::uint64_t deadline_generation_ = 0;
  // False once closed: devices drop the parked reads of a closed connection (ReadFor).
  const std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(true);

  std::shared_ptr<BlockDevice> device_;
  ExportInfo info_;
  std::size_t requests_in_flight_ = 0;
  std::size_t bytes_in_flight_ = 0;
  std::deque<OutMessage> out_;
  bool writing_ = false;
  bool closed_ = false;
};

NbdServer::Impl::Impl(ServerOptions options)
    : options_(options), accept_strand_(asio::make_strand(io_)), work_(io_.get_executor()) {
  const unsigned n = options_.io_threads == 0 ? 1 : options_.io_threads;
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { io_.run(); });
}

NbdServer::Impl::~Impl() { Stop(); }

ExportCatalog NbdServer::Impl::Catalog() const {
  ExportCatalog catalog;
  std::lock_guard lock(mu_);
  catalog.default_export = default_export_;
  for (const auto& [name, e] : exports_) {
    catalog.exports.push_back(DescribeExport(name, e.description, *e.device));
  }
  return catalog;
}

std::shared_ptr<BlockDevice> NbdServer::Impl::Device(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = exports_.find(name);
  return it == exports_.end() ? nullptr : it->second.device;
}

bool NbdServer::Impl::Admit(const std::string& peer) {
  std::lock_guard lock(mu_);
  std::size_t from_peer = 0;
  if (auto it = per_address_.find(peer); !peer.empty() && it != per_address_.end()) {
    from_peer = it->second;
  }
  if (live_connections_ >= options_.max_connections ||
      from_peer >= options_.max_connections_per_address) {
    if (refused_++ % 1000 == 0) {
      CAFS_LOG_WARN(
          "nbd: refusing a connection from {} ({} open, {} from that address; caps {} "
          "and {} per address); {} refused so far",
          peer.empty() ? "a unix socket" : peer, live_connections_, from_peer,
          options_.max_connections, options_.max_connections_per_address, refused_);
    }
    return false;
  }
  ++live_connections_;
  if (!peer.empty()) ++per_address_[peer];
  return true;
}

void NbdServer::Impl::Accepted(Socket socket, std::string peer) {
  auto connection = std::make_shared<Connection>(this, std::move(socket), asio::make_strand(io_),
                                                 std::move(peer));
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;  // ~Connection still counts it down
    connections_.remove_if([](const std::weak_ptr<Connection>& w) { return w.expired(); });
    connections_.push_back(connection);
  }
  connection->Start();
}

void NbdServer::Impl::ConnectionGone(const std::string& peer) {
  std::lock_guard lock(mu_);
  --live_connections_;
  if (!peer.empty()) {
    auto it = per_address_.find(peer);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  cv_.notify_all();
}

template <typename Acceptor>
void NbdServer::Impl::Accept(std::shared_ptr<Acceptor> acceptor) {
  acceptor->async_accept(asio::bind_executor(
      accept_strand_,
      [this, acceptor](std::error_code ec, typename Acceptor::protocol_type::socket s) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (ec) {
          // EMFILE, ENFILE, ENOBUFS...: the pending connection stays queued, so accepting again
          // at once would spin. Pause, then try again.
          CAFS_LOG_WARN("nbd: accept failed: {}; retrying in {} ms", ec.message(),
                        options_.accept_retry_delay.count());
          auto timer =
              std::make_shared<asio::steady_timer>(accept_strand_, options_.accept_retry_delay);
          timer->async_wait([this, acceptor, timer](std::error_code) {
            if (acceptor->is_open()) Accept(acceptor);
          });
          return;
        }
        Adopted a = Adopt(io_, std::move(s));
        if (a.ok && Admit(a.peer)) Accepted(std::move(a.socket), std::move(a.peer));
        Accept(acceptor);  // a refused socket closes as `a` goes out of scope
      }));
}

void NbdServer::Impl::Stop() {
  std::vector<std::shared_ptr<Connection>> open;
  std::vector<std::string> paths;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : connections_) {
      if (auto c = w.lock()) open.push_back(std::move(c));
    }
    connections_.clear();
    paths.swap(unix_paths_);
  }
  PostAndWait(accept_strand_, [this] {
    std::error_code ignored;
    for (auto& a : tcp_acceptors_) a->close(ignored);
    for (auto& a : unix_acceptors_) a->close(ignored);
  });
  for (auto& c : open) c->Close();
  open.clear();
  gate_->Close();  // from here on device callbacks are dropped
  work_.reset();
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return live_connections_ == 0; });
  }
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (const std::string& p : paths) ::unlink(p.c_str());
}

NbdServer::NbdServer(ServerOptions options) : impl_(std::make_unique<Impl>(options)) {}

NbdServer::~NbdServer() { Stop(); }

Status NbdServer::AddExport(const std::string& name, std::shared_ptr<BlockDevice> device,
                            std::string description) {
  if (device == nullptr) return Status::InvalidArgument("nbd export: null device");
  if (name.size() > kMaxStringLength || description.size() > kMaxStringLength) {
    return Status::InvalidArgument("nbd export: name or description longer than 4096 bytes");
  }
  std::lock_guard lock(impl_->mu_);
  impl_->exports_[name] = Impl::Export{std::move(device), std::move(description)};
  return Status::OK();
}

Status NbdServer::RemoveExport(const std::string& name) {
  std::lock_guard lock(impl_->mu_);
  if (impl_->exports_.erase(name) == 0) return Status::NotFound("nbd export " + name);
  return Status::OK();
}

void NbdServer::SetDefaultExport(std::string name) {
  std::lock_guard lock(impl_->mu_);
  impl_->default_export_ = std::move(name);
}

Result<std::uint16_t> NbdServer::ListenTcp(const std::string& host, std::uint16_t port) {
  {
    std::lock_guard lock(impl_->mu_);
    if (impl_->stopped_) return Status::FailedPrecondition("nbd server stopped");
  }
  CAFS_ASSIGN_OR_RETURN(auto acceptor, OpenTcpAcceptor(impl_->io_, host, port, "nbd listen"));
  std::error_code ec;
  const std::uint16_t bound = acceptor->local_endpoint(ec).port();
  PostAndWait(impl_->accept_strand_, [this, &acceptor] {
    impl_->tcp_acceptors_.push_back(acceptor);
    impl_->Accept(acceptor);
  });
  return bound;
}

Status NbdServer::ListenUnix(const std::string& path) {
  {
    std::lock_guard lock(impl_->mu_);
    if (impl_->stopped_) return Status::FailedPrecondition("nbd server stopped");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::AlreadyExists(path + " exists and is not a socket");
    ::unlink(path.c_str());
  }
  std::error_code ec;
  auto acceptor = std::make_shared<asio::local::stream_protocol::acceptor>(impl_->io_);
  const asio::local::stream_protocol::endpoint endpoint(path);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::FromErrno(ec.value(), "nbd listen unix:" + path);
  {
    std::lock_guard lock(impl_->mu_);
    impl_->unix_paths_.push_back(path);
  }
  PostAndWait(impl_->accept_strand_, [this, &acceptor] {
    impl_->unix_acceptors_.push_back(acceptor);
    impl_->Accept(acceptor);
  });
  return Status::OK();
}

void NbdServer::Stop() { impl_->Stop(); }

std::size_t NbdServer::connection_count() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->live_connections_;
}

}  // namespace cafs::edif::nbd
