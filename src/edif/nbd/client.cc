#include "edif/nbd/client.h"

#include <deque>
#include <future>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include <asio.hpp>

#include "edif/nbd/errors.h"
#include "edif/nbd/protocol.h"
#include "edif/nbd/stream_io.h"
#include "util/transfer_all_uncapped.h"

namespace cafs::edif::nbd {
namespace {

using Socket = asio::generic::stream_protocol::socket;

Status ErrorFromOptionReply(const OptionReplyHeader& h, ByteView data) {
  std::string msg = "nbd server refused " + std::string(OptionName(h.option));
  if (!data.empty()) {
    msg += ": " + std::string(reinterpret_cast<const char*>(data.data()), data.size());
  }
  switch (h.type) {
    case kRepErrUnknown:
      return Status::NotFound(msg);
    case kRepErrUnsup:
    case kRepErrPlatform:
      return Status::NotSupported(msg);
    case kRepErrPolicy:
    case kRepErrTlsReqd:
      return Status::PermissionDenied(msg);
    case kRepErrShutdown:
      return Status::Unavailable(msg);
    default:
      return Status::InvalidArgument(msg);
  }
}

}  // namespace

class NbdClient::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(options), socket_(io_), guard_(io_.get_executor()) {
    thread_ = std::thread([this] { io_.run(); });
    thread_id_ = thread_.get_id();
  }
  ~Impl() { Shutdown(); }

  // Runs `work` (an awaitable<Status>) on the I/O thread, bounded by the timeout.
  Status RunBounded(asio::awaitable<Status> work) {
    std::future<Status> f = asio::co_spawn(io_, std::move(work), asio::use_future);
    if (f.wait_for(options_.timeout) == std::future_status::timeout) {
      asio::post(io_, [this] {
        std::error_code ignored;
        socket_.close(ignored);
      });
      f.wait();
      return Status::Timeout("nbd: connect/negotiation timed out");
    }
    try {
      return f.get();
    } catch (const std::exception& e) {
      return Status::Unavailable(std::string("nbd: ") + e.what());
    }
  }

  asio::awaitable<Status> Open(Endpoint endpoint) {
    std::error_code ec;
    if (endpoint.kind == Endpoint::Kind::kUnix) {
      asio::local::stream_protocol::socket s(io_);
      co_await s.async_connect(asio::local::stream_protocol::endpoint(endpoint.path),
                               asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return Status::Unavailable("nbd connect " + endpoint.ToString() + ": " + ec.message());
      socket_.assign(asio::generic::stream_protocol(AF_UNIX, 0), s.release(), ec);
    } else {
      asio::ip::tcp::resolver resolver(io_);
      auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return Status::Unavailable("nbd resolve " + endpoint.host + ": " + ec.message());
      asio::ip::tcp::socket s(io_);
      co_await asio::async_connect(s, results, asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return Status::Unavailable("nbd connect " + endpoint.ToString() + ": " + ec.message());
      s.set_option(asio::ip::tcp::no_delay(true), ec);
      const int family = s.local_endpoint(ec).protocol().family();
      socket_.assign(asio::generic::stream_protocol(family, IPPROTO_TCP), s.release(), ec);
    }
    if (ec) co_return Status::Unavailable("nbd socket: " + ec.message());
    // Greeting, then our flags.
    std::array<std::uint8_t, kServerGreetingSize> greeting{};
    {
      const bool io_ok = co_await ReadExactly(socket_, asio::buffer(greeting));
      if (!io_ok) co_return Lost("reading the greeting");
    }
    Result<std::uint16_t> flags = DecodeServerGreeting(greeting);
    if (!flags.ok()) co_return flags.status();
    if ((*flags & kFlagFixedNewstyle) == 0) {
      co_return Status::NotSupported("nbd server does not speak fixed newstyle");
    }
    no_zeroes_ = (*flags & kFlagNoZeroes) != 0;
    std::array<std::uint8_t, 4> client_flags{};
    StoreBe32(client_flags.data(),
              kClientFlagFixedNewstyle | (no_zeroes_ ? kClientFlagNoZeroes : 0u));
    {
      const bool io_ok = co_await WriteAll(socket_, client_flags);
      if (!io_ok) co_return Lost("sending client flags");
    }
    co_return Status::OK();
  }

  // Reads one option reply (header + data) for `option`.
  asio::awaitable<Result<std::pair<OptionReplyHeader, Bytes>>> ReadOptionReply(
      std::uint32_t option) {
    std::array<std::uint8_t, kOptionReplyHeaderSize> buf{};
    {
      const bool io_ok = co_await ReadExactly(socket_, asio::buffer(buf));
      if (!io_ok) co_return Lost("reading an option reply");
    }
    Result<OptionReplyHeader> h = DecodeOptionReplyHeader(buf);
    if (!h.ok()) co_return h.status();
    if (h->option != option) co_return Status::InvalidArgument("nbd: reply to another option");
    Bytes data(h->length);
    bool io_ok = true;
    if (!data.empty()) io_ok = co_await ReadExactly(socket_, asio::buffer(data));
    if (!io_ok) {
      co_return Lost("reading option reply data");
    }
    co_return std::make_pair(*h, std::move(data));
  }

  asio::awaitable<Status> Negotiate(Endpoint endpoint, std::string name) {
    Status s = co_await Open(endpoint);
    if (!s.ok()) co_return s;
    InfoRequest go{name, {kInfoBlockSize}};
    const Bytes go_option = EncodeOption(kOptGo, EncodeInfoRequest(go));
    const bool sent_go = co_await WriteAll(socket_, go_option);
    if (!sent_go) co_return Lost("NBD_OPT_GO");
    info_.name = name;
    bool have_export = false;
    for (;;) {
      auto reply = co_await ReadOptionReply(kOptGo);
      if (!reply.ok()) co_return reply.status();
      const auto& [h, data] = *reply;
      if (h.type == kRepInfo) {
        Status applied = ApplyInfoReply(data, &info_);
        if (!applied.ok()) co_return applied;
        if (data.size() >= 2 && LoadBe16(data.data()) == kInfoExport) have_export = true;
        continue;
      }
      if (h.type == kRepAck) {
        if (!have_export)
          co_return Status::InvalidArgument("nbd: NBD_OPT_GO without NBD_INFO_EXPORT");
        co_return Status::OK();
      }
      if (h.type == kRepErrUnsup) break;  // old server: fall back to NBD_OPT_EXPORT_NAME
      if ((h.type & kRepFlagError) != 0) co_return ErrorFromOptionReply(h, data);
      // Other non-error replies are ignored, as the spec asks.
    }
    const Bytes name_option = EncodeOption(kOptExportName, AsBytes(name));
    const bool sent_name = co_await WriteAll(socket_, name_option);
    if (!sent_name) {
      co_return Lost("NBD_OPT_EXPORT_NAME");
    }
    Bytes reply(kExportNameReplySize + (no_zeroes_ ? 0 : kExportNameZeroPad));
    const bool got_reply = co_await ReadExactly(socket_, asio::buffer(reply));
    if (!got_reply) {
      co_return Status::NotFound("nbd: server closed on NBD_OPT_EXPORT_NAME " + name);
    }
    info_.size = LoadBe64(reply.data());
    info_.transmission_flags = LoadBe16(reply.data() + 8);
    co_return Status::OK();
  }

  asio::awaitable<Status> List(std::vector<ExportListing>* out) {
    {
      const Bytes list_option = EncodeOption(kOptList, {});
      const bool io_ok = co_await WriteAll(socket_, list_option);
      if (!io_ok) co_return Lost("NBD_OPT_LIST");
    }
    for (;;) {
      auto reply = co_await ReadOptionReply(kOptList);
      if (!reply.ok()) co_return reply.status();
      const auto& [h, data] = *reply;
      if (h.type == kRepAck) break;
      if ((h.type & kRepFlagError) != 0) co_return ErrorFromOptionReply(h, data);
      if (h.type != kRepServer) continue;
      Result<ExportListing> l = DecodeServerReplyData(data);
      if (!l.ok()) co_return l.status();
      out->push_back(*l);
    }
    // Polite goodbye; the server may close without answering.
    {
      const Bytes abort_option = EncodeOption(kOptAbort, {});
      const bool io_ok = co_await WriteAll(socket_, abort_option);
      if (io_ok) {
        auto ignored = co_await ReadOptionReply(kOptAbort);
        (void)ignored;
      }
    }
    co_return Status::OK();
  }

  // --- Transmission (I/O thread only) ---
  struct Pending {
    std::uint16_t type;
    std::uint32_t length;
    ReadCallback done;
  };
  struct OutMessage {
    std::array<std::uint8_t, kRequestSize> header;
    Bytes data;
  };

  void StartReader() { asio::co_spawn(io_, ReadReplies(), asio::detached); }

  asio::awaitable<void> ReadReplies() {
    for (;;) {
      std::array<std::uint8_t, kSimpleReplySize> buf{};
      const bool got_header = co_await ReadExactly(socket_, asio::buffer(buf));
      if (!got_header) {
        Fail(closing_ ? Status::Unavailable("nbd: connection closed")
                      : Status::Unavailable("nbd: connection lost"));
        co_return;
      }
      Result<SimpleReply> reply = DecodeSimpleReply(buf);
      if (!reply.ok()) {
        Fail(reply.status());
        co_return;
      }
      auto it = pending_.find(reply->cookie);
      if (it == pending_.end()) {
        Fail(Status::InvalidArgument("nbd: reply for an unknown cookie"));
        co_return;
      }
      Pending p = std::move(it->second);
      pending_.erase(it);
      Bytes data;
      if (p.type == kCmdRead && reply->error == kNbdOk) {
        data.resize(p.length);
        bool io_ok = true;
        if (!data.empty()) io_ok = co_await ReadExactly(socket_, asio::buffer(data));
        if (!io_ok) {
          p.done(Status::Unavailable("nbd: connection lost in READ data"), {});
          Fail(Status::Unavailable("nbd: connection lost"));
          co_return;
        }
      }
      p.done(FromNbdError(reply->error, CommandName(p.type)), std::move(data));
    }
  }

  void Submit(Request request, Bytes data, ReadCallback done) {
    asio::post(io_, [this, request, data = std::move(data), done = std::move(done)]() mutable {
      if (!broken_.ok()) {
        done(broken_, {});
        return;
      }
      request.cookie = next_cookie_++;
      const bool expects_reply = request.type != kCmdDisc;  // NBD_CMD_DISC has no reply
      if (expects_reply) {
        pending_.emplace(request.cookie, Pending{request.type, request.length, std::move(done)});
      }
      out_.push_back(OutMessage{EncodeRequest(request), std::move(data)});
      if (!writing_) WriteNext();
      if (!expects_reply) done(Status::OK(), {});
    });
  }

  void WriteNext() {
    writing_ = true;
    OutMessage& m = out_.front();
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(m.header), asio::buffer(m.data)};
    asio::async_write(socket_, buffers, TransferAllUncapped(),
                      [this](std::error_code ec, std::size_t) {
                        out_.pop_front();
                        writing_ = false;
                        if (ec) {
                          Fail(Status::Unavailable("nbd: send failed: " + ec.message()));
                        } else if (!out_.empty()) {
                          WriteNext();
                        }
                      });
  }

  void Fail(Status status) {
    if (broken_.ok()) broken_ = status;
    std::error_code ignored;
    socket_.close(ignored);
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [cookie, p] : pending) p.done(broken_, {});
    if (!reader_done_set_) {
      reader_done_set_ = true;
      reader_done_.set_value();
    }
  }

  void Close() {
    bool expected = false;
    if (!close_started_.compare_exchange_strong(expected, true)) return;
    if (started_reader_) {
      asio::post(io_, [this] {
        closing_ = true;
        if (broken_.ok()) {
          Request disc;
          disc.type = kCmdDisc;
          Submit(disc, {}, [](Status, Bytes) {});
        }
      });
      std::future<void> done = reader_done_.get_future();
      if (done.wait_for(options_.timeout) == std::future_status::timeout) {
        asio::post(io_, [this] { Fail(Status::Unavailable("nbd: closed by client")); });
        done.wait();
      }
    }
    Shutdown();
  }

  void Shutdown() {
    if (thread_.joinable()) {
      guard_.reset();
      asio::post(io_, [this] {
        std::error_code ignored;
        socket_.close(ignored);
      });
      io_.stop();
      thread_.join();
    }
  }

  bool OnIoThread() const { return std::this_thread::get_id() == thread_id_; }

  static Status Lost(const std::string& what) {
    return Status::Unavailable("nbd: connection closed while " + what);
  }

  const ClientOptions options_;
  asio::io_context io_;  // first: destroyed last
  Socket socket_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::thread::id thread_id_;
  std::atomic<bool> close_started_{false};
  bool started_reader_ = false;

  ExportInfo info_;
  bool no_zeroes_ = false;

  // I/O thread only:
  std::map<std::uint64_t, Pending> pending_;
  std::deque<OutMessage> out_;
  std::uint64_t next_cookie_ = 1;
  bool writing_ = false;
  bool closing_ = false;
  Status broken_;
  std::promise<void> reader_done_;
  bool reader_done_set_ = false;
};

NbdClient::NbdClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NbdClient::~NbdClient() { Close(); }

Result<std::unique_ptr<NbdClient>> NbdClient::Connect(const Endpoint& endpoint,
                                                      const std::string& export_name,
                                                      ClientOptions options) {
  auto impl = std::make_unique<Impl>(options);
  Status s = impl->RunBounded(impl->Negotiate(endpoint, export_name));
  if (!s.ok()) return s.WithContext("nbd connect " + endpoint.ToString());
  impl->started_reader_ = true;
  impl->StartReader();
  return std::unique_ptr<NbdClient>(new NbdClient(std::move(impl)));
}

Result<std::vector<ExportListing>> NbdClient::ListExports(const Endpoint& endpoint,
                                                          ClientOptions options) {
  Impl impl(options);
  std::vector<ExportListing> out;
  Status s = impl.RunBounded(impl.Open(endpoint));
  if (s.ok()) s = impl.RunBounded(impl.List(&out));
  if (!s.ok()) return s.WithContext("nbd list " + endpoint.ToString());
  return out;
}

const ExportInfo& NbdClient::export_info() const { return impl_->info_; }

void NbdClient::AsyncRead(std::uint64_t offset, std::uint32_t length, ReadCallback done) {
  impl_->Submit(Request{0, kCmdRead, 0, offset, length}, {}, std::move(done));
}

void NbdClient::AsyncWrite(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) {
  const auto length = static_cast<std::uint32_t>(data.size());
  impl_->Submit(Request{fua ? kCmdFlagFua : std::uint16_t{0}, kCmdWrite, 0, offset, length},
                std::move(data), [done = std::move(done)](Status s, Bytes) { done(std::move(s)); });
}

void NbdClient::AsyncFlush(DoneCallback done) {
  impl_->Submit(Request{0, kCmdFlush, 0, 0, 0}, {},
                [done = std::move(done)](Status s, Bytes) { done(std::move(s)); });
}

void NbdClient::AsyncTrim(std::uint64_t offset, std::uint32_t length, DoneCallback done) {
  impl_->Submit(Request{0, kCmdTrim, 0, offset, length}, {},
                [done = std::move(done)](Status s, Bytes) { done(std::move(s)); });
}

void NbdClient::AsyncWriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua,
                                 DoneCallback done) {
  impl_->Submit(Request{fua ? kCmdFlagFua : std::uint16_t{0}, kCmdWriteZeroes, 0, offset, length},
                {}, [done = std::move(done)](Status s, Bytes) { done(std::move(s)); });
}

void NbdClient::AsyncRaw(Request request, Bytes data, ReadCallback done) {
  impl_->Submit(request, std::move(data), std::move(done));
}

namespace {
constexpr const char* kOnIoThread = "nbd: blocking call from a client callback would deadlock";
}  // namespace

Result<Bytes> NbdClient::Read(std::uint64_t offset, std::uint32_t length) {
  if (impl_->OnIoThread()) return Status::FailedPrecondition(kOnIoThread);
  std::promise<Result<Bytes>> p;
  AsyncRead(offset, length, [&p](Status s, Bytes data) {
    if (s.ok()) {
      p.set_value(std::move(data));
    } else {
      p.set_value(std::move(s));
    }
  });
  return p.get_future().get();
}

namespace {
Status Wait(std::promise<Status>& p) { return p.get_future().get(); }
}  // namespace

Status NbdClient::Write(std::uint64_t offset, ByteView data, bool fua) {
  if (impl_->OnIoThread()) return Status::FailedPrecondition(kOnIoThread);
  std::promise<Status> p;
  AsyncWrite(offset, Bytes(data.begin(), data.end()), fua, [&p](Status s) { p.set_value(s); });
  return Wait(p);
}

Status NbdClient::Flush() {
  if (impl_->OnIoThread()) return Status::FailedPrecondition(kOnIoThread);
  std::promise<Status> p;
  AsyncFlush([&p](Status s) { p.set_value(s); });
  return Wait(p);
}

Status NbdClient::Trim(std::uint64_t offset, std::uint32_t length) {
  if (impl_->OnIoThread()) return Status::FailedPrecondition(kOnIoThread);
  std::promise<Status> p;
  AsyncTrim(offset, length, [&p](Status s) { p.set_value(s); });
  return Wait(p);
}

Status NbdClient::WriteZeroes(std::uint64_t offset, std::uint32_t length, bool fua) {
  if (impl_->OnIoThread()) return Status::FailedPrecondition(kOnIoThread);
  std::promise<Status> p;
  AsyncWriteZeroes(offset, length, fua, [&p](Status s) { p.set_value(s); });
  return Wait(p);
}

void NbdClient::Close() { impl_->Close(); }

}  // namespace cafs::edif::nbd
