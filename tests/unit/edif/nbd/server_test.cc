// NbdServer + NbdClient over loopback sockets, plus hostile raw clients.
#include "edif/nbd/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "edif/nbd/client.h"
#include "edif/nbd/codec.h"
#include "edif/nbd/memory_block_device.h"
#include "edif/nbd/protocol.h"
#include "unit/edif/nbd/test_devices.h"

namespace cafs::edif::nbd {
namespace {

using testing::ParkingDevice;
using testing::ReversingDevice;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cafs-nbd-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

Bytes Pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 7);
  return b;
}

// Waits (bounded, generously) for a condition that the server reaches asynchronously.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// A blocking raw Unix-socket client for sending what real clients would not.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{10, 0};  // never hang a test
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  // TCP from `source` (any 127.0.0.0/8 address) to 127.0.0.1:`port`.
  RawClient(const char* source, std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    connected_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0 &&
                 ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  bool Send(ByteView data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  std::optional<Bytes> Recv(std::size_t n) {
    Bytes b(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd_, b.data() + got, n - got, 0);
      if (r <= 0) return std::nullopt;
      got += static_cast<std::size_t>(r);
    }
    return b;
  }
  // True when the server has closed the connection (EOF or reset), after draining anything
  // it still sent.
  bool ServerClosed() {
    std::uint8_t buf[4096];
    for (;;) {
      const ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
      if (r == 0) return true;
      if (r < 0) return errno == ECONNRESET;
    }
  }
  // Greeting + fixed-newstyle flags + NBD_OPT_GO for `name`; true once in transmission.
  bool Handshake(const std::string& name) {
    if (!Recv(kServerGreetingSize)) return false;
    std::uint8_t flags[4];
    StoreBe32(flags, kClientFlagFixedNewstyle | kClientFlagNoZeroes);
    if (!Send(ByteView(flags, 4))) return false;
    if (!Send(EncodeOption(kOptGo, EncodeInfoRequest({name, {}})))) return false;
    for (;;) {
      auto h = Recv(kOptionReplyHeaderSize);
      if (!h) return false;
      Result<OptionReplyHeader> header = DecodeOptionReplyHeader(*h);
      if (!header.ok()) return false;
      if (header->length > 0 && !Recv(header->length)) return false;
      if (header->type == kRepAck) return true;
      if (header->type != kRepInfo) return false;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class NbdServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    device_ = std::make_shared<MemoryBlockDevice>(kSize);
    ASSERT_TRUE(server_.AddExport("disk", device_, "a memory disk").ok());
    socket_ = dir_.Path("nbd.sock");
    ASSERT_TRUE(server_.ListenUnix(socket_).ok());
  }
  std::unique_ptr<NbdClient> Connect(const std::string& name = "disk") {
    auto c = NbdClient::Connect(Endpoint::Unix(socket_), name);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  static constexpr std::uint64_t kSize = 4 << 20;
  TempDir dir_;
  std::string socket_;
  std::shared_ptr<MemoryBlockDevice> device_;
  NbdServer server_;
};

TEST_F(NbdServerTest, NegotiatesAndRoundTripsData) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->export_info().size, kSize);
  EXPECT_TRUE(client->export_info().can_flush());
  EXPECT_TRUE(client->export_info().can_trim());
  EXPECT_EQ(client->export_info().block_sizes.maximum, kMaxPayload);

  const Bytes data = Pattern(65536, 3);
  ASSERT_TRUE(client->Write(8192, data, /*fua=*/true).ok());
  Result<Bytes> back = client->Read(8192, 65536);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
  EXPECT_EQ(device_->Snapshot(8192, 65536), data);
  EXPECT_TRUE(client->Flush().ok());
  EXPECT_TRUE(client->Trim(8192, 4096).ok());
  EXPECT_EQ(client->Read(8192, 4096).value(), Bytes(4096, 0));
  EXPECT_TRUE(client->WriteZeroes(12288, 4096).ok());
  EXPECT_EQ(device_->Snapshot(12288, 4096), Bytes(4096, 0));
  EXPECT_EQ(device_->Snapshot(16384, 100), Bytes(data.begin() + 8192, data.begin() + 8292));
  client->Close();
  EXPECT_TRUE(Eventually([&] { return server_.connection_count() == 0; }));
}

TEST_F(NbdServerTest, TcpWithEphemeralPort) {
  Result<std::uint16_t> port = server_.ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  ASSERT_NE(*port, 0);
  auto client = NbdClient::Connect(Endpoint::Tcp("127.0.0.1", *port), "disk");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->Write(0, Pattern(4096, 9)).ok());
  EXPECT_EQ((*client)->Read(0, 4096).value(), Pattern(4096, 9));
}

TEST_F(NbdServerTest, ListsExportsAndRefusesUnknownOnes) {
  ASSERT_TRUE(server_.AddExport("mailbox", std::make_shared<MemoryBlockDevice>(1 << 20)).ok());
  auto list = NbdClient::ListExports(Endpoint::Unix(socket_));
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "disk");
  EXPECT_EQ((*list)[0].description, "a memory disk");
  EXPECT_EQ((*list)[1].name, "mailbox");

  auto missing = NbdClient::Connect(Endpoint::Unix(socket_), "nope");
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  auto no_default = NbdClient::Connect(Endpoint::Unix(socket_), "");
  EXPECT_TRUE(no_default.status().IsNotFound());
  server_.SetDefaultExport("mailbox");
  auto by_default = NbdClient::Connect(Endpoint::Unix(socket_), "");
  ASSERT_TRUE(by_default.ok());
  EXPECT_EQ((*by_default)->export_info().size, 1u << 20);
  ASSERT_TRUE(server_.RemoveExport("mailbox").ok());
  // The open connection keeps its device.
  EXPECT_TRUE((*by_default)->Read(0, 512).ok());
  EXPECT_TRUE(NbdClient::Connect(Endpoint::Unix(socket_), "mailbox").status().IsNotFound());
}

TEST_F(NbdServerTest, ManyRequestsInFlight) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  constexpr int kCount = 512;
  std::atomic<int> ok{0};
  std::promise<void> all_written;
  std::atomic<int> left{kCount};
  for (int i = 0; i < kCount; ++i) {
    client->AsyncWrite(static_cast<std::uint64_t>(i) * 4096,
                       Pattern(4096, static_cast<std::uint8_t>(i)), false, [&](Status s) {
                         if (s.ok()) ++ok;
                         if (--left == 0) all_written.set_value();
                       });
  }
  all_written.get_future().wait();
  EXPECT_EQ(ok.load(), kCount);

  std::mutex mu;
  int matched = 0;
  std::promise<void> all_read;
  left = kCount;
  for (int i = 0; i < kCount; ++i) {
    client->AsyncRead(static_cast<std::uint64_t>(i) * 4096, 4096, [&, i](Status s, Bytes data) {
      {
        std::lock_guard lock(mu);
        if (s.ok() && data == Pattern(4096, static_cast<std::uint8_t>(i))) ++matched;
      }
      if (--left == 0) all_read.set_value();
    });
  }
  all_read.get_future().wait();
  EXPECT_EQ(matched, kCount);
}

TEST(NbdServerParkingTest, ParkedReadDoesNotBlockOtherRequests) {
  TempDir dir;
  auto device = std::make_shared<ParkingDevice>(1 << 20, 512 * 1024);
  NbdServer server;
  ASSERT_TRUE(server.AddExport("mbox", device).ok());
  ASSERT_TRUE(server.ListenUnix(dir.Path("s")).ok());
  auto client = NbdClient::Connect(Endpoint::Unix(dir.Path("s")), "mbox");
  ASSERT_TRUE(client.ok());

  std::promise<Result<Bytes>> parked_result;
  (*client)->AsyncRead(512 * 1024, 512, [&](Status s, Bytes data) {
    if (s.ok()) {
      parked_result.set_value(std::move(data));
    } else {
      parked_result.set_value(std::move(s));
    }
  });
  device->WaitParked(1);

  // 100 writes and 100 reads on the same connection complete while the read stays parked.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        (*client)
            ->Write(static_cast<std::uint64_t>(i) * 512, Pattern(512, static_cast<std::uint8_t>(i)))
            .ok());
  }
  for (int i = 0; i < 100; ++i) {
    Result<Bytes> r = (*client)->Read(static_cast<std::uint64_t>(i) * 512, 512);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, Pattern(512, static_cast<std::uint8_t>(i)));
  }
  auto future = parked_result.get_future();
  EXPECT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  EXPECT_EQ(device->parked(), 1u);

  // The "driver" writes its message, then releases the parked read: it sees the message.
  ASSERT_TRUE((*client)->Write(512 * 1024, Pattern(512, 0xee)).ok());
  device->ReleaseParked();
  Result<Bytes> parked = future.get();
  ASSERT_TRUE(parked.ok());
  EXPECT_EQ(*parked, Pattern(512, 0xee));
}

TEST(NbdServerParkingTest, StopWithParkedReadsAndLateCallbacks) {
  TempDir dir;
  auto device = std::make_shared<ParkingDevice>(1 << 20, 0);
  auto server = std::make_unique<NbdServer>();
  ASSERT_TRUE(server->AddExport("mbox", device).ok());
  ASSERT_TRUE(server->ListenUnix(dir.Path("s")).ok());
  auto client = NbdClient::Connect(Endpoint::Unix(dir.Path("s")), "mbox");
  ASSERT_TRUE(client.ok());
  std::promise<Status> result;
  (*client)->AsyncRead(0, 512, [&](Status s, Bytes) { result.set_value(s); });
  device->WaitParked(1);
  server->Stop();
  server.reset();
  // The client sees the connection go; the device's late completion is a no-op.
  EXPECT_FALSE(result.get_future().get().ok());
  device->ReleaseParked();
  EXPECT_FALSE(std::filesystem::exists(dir.Path("s")));
}

TEST(NbdServerOrderTest, RepliesFollowCompletionOrder) {
  TempDir dir;
  constexpr int kBatch = 16;
  auto device = std::make_shared<ReversingDevice>(1 << 20, kBatch);
  NbdServer server;
  ASSERT_TRUE(server.AddExport("r", device).ok());
  ASSERT_TRUE(server.ListenUnix(dir.Path("s")).ok());
  auto client = NbdClient::Connect(Endpoint::Unix(dir.Path("s")), "r");
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < kBatch; ++i) {
    ASSERT_TRUE((*client)
                    ->Write(static_cast<std::uint64_t>(i) * 4096,
                            Pattern(4096, static_cast<std::uint8_t>(i)))
                    .ok());
  }
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> left{kBatch};
  std::promise<void> done;
  int matched = 0;
  for (int i = 0; i < kBatch; ++i) {
    (*client)->AsyncRead(static_cast<std::uint64_t>(i) * 4096, 4096, [&, i](Status s, Bytes data) {
      {
        std::lock_guard lock(mu);
        order.push_back(i);
        if (s.ok() && data == Pattern(4096, static_cast<std::uint8_t>(i))) ++matched;
      }
      if (--left == 0) done.set_value();
    });
  }
  done.get_future().wait();
  EXPECT_EQ(matched, kBatch);
  ASSERT_EQ(order.size(), static_cast<std::size_t>(kBatch));
  for (int i = 0; i < kBatch; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], kBatch - 1 - i);
}

TEST_F(NbdServerTest, BoundsAndPermissionErrorsComeBackAsStatus) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Read(kSize - 512, 1024).status().IsInvalidArgument());
  EXPECT_TRUE(client->Write(kSize - 512, Bytes(1024, 1)).IsNoSpace());
  EXPECT_TRUE(client->Trim(kSize, 1).IsInvalidArgument());
  EXPECT_TRUE(client->WriteZeroes(kSize - 1, 2).IsNoSpace());
  EXPECT_EQ(client->Read(0, kMaxPayload + 1).status().errno_value(), EOVERFLOW);
  // Unknown command: EINVAL, and the connection keeps working.
  std::promise<Status> p;
  client->AsyncRaw(Request{0, 77, 0, 0, 0}, {}, [&](Status s, Bytes) { p.set_value(s); });
  EXPECT_TRUE(p.get_future().get().IsInvalidArgument());
  EXPECT_TRUE(client->Read(0, 512).ok());

  auto ro = std::make_shared<MemoryBlockDevice>(1 << 20, DeviceFeatures{.read_only = true});
  ASSERT_TRUE(server_.AddExport("ro", ro).ok());
  auto ro_client = Connect("ro");
  ASSERT_NE(ro_client, nullptr);
  EXPECT_TRUE(ro_client->export_info().read_only());
  EXPECT_TRUE(ro_client->Write(0, Bytes(512, 1)).IsPermissionDenied());
  EXPECT_TRUE(ro_client->Read(0, 512).ok());
}

TEST_F(NbdServerTest, OversizedWriteDisconnects) {
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  std::promise<Status> p;
  // Claims 64 MiB of payload but sends none: the server must not wait for it.
  client->AsyncRaw(Request{0, kCmdWrite, 0, 0, 64u << 20}, {},
                   [&](Status s, Bytes) { p.set_value(s); });
  Status s = p.get_future().get();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(Eventually([&] { return server_.connection_count() == 0; }));
  EXPECT_TRUE(client->Read(0, 512).status().code() == Status::Code::kUnavailable);
  // The server still serves others.
  auto other = Connect();
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->Read(0, 512).ok());
}

TEST_F(NbdServerTest, HostileClientsAreDisconnectedNotCrashed) {
  {  // Garbage instead of client flags + options.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.Recv(kServerGreetingSize));
    raw.Send(AsBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(raw.ServerClosed());
  }
  {  // Option with a 4 GiB payload length.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.Recv(kServerGreetingSize));
    std::uint8_t flags[4];
    StoreBe32(flags, kClientFlagFixedNewstyle);
    raw.Send(ByteView(flags, 4));
    Bytes opt = EncodeOption(kOptGo, {});
    StoreBe32(opt.data() + 12, 0xffffffff);
    raw.Send(opt);
    EXPECT_TRUE(raw.ServerClosed());
  }
  {  // Unknown client flags.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.Recv(kServerGreetingSize));
    std::uint8_t flags[4];
    StoreBe32(flags, 0x80000001);
    raw.Send(ByteView(flags, 4));
    EXPECT_TRUE(raw.ServerClosed());
  }
  {  // Bad request magic in transmission.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.Handshake("disk"));
    auto req = EncodeRequest(Request{0, kCmdRead, 1, 0, 512});
    req[0] = 0;
    raw.Send(req);
    EXPECT_TRUE(raw.ServerClosed());
  }
  {  // Truncated request, then abrupt close.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.Handshake("disk"));
    auto req = EncodeRequest(Request{0, kCmdWrite, 1, 0, 4096});
    raw.Send(req);
    raw.Send(Bytes(100, 0xaa));  // 100 of 4096 payload bytes
    raw.Close();
  }
  {  // Many requests, then vanish without reading replies.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.Handshake("disk"));
    for (std::uint64_t i = 0; i < 64; ++i)
      raw.Send(EncodeRequest(Request{0, kCmdRead, i, 0, 65536}));
    raw.Close();
  }
  {  // A bad request gets an error reply, with the right cookie, and the session goes on.
    RawClient raw(socket_);
    ASSERT_TRUE(raw.Handshake("disk"));
    raw.Send(EncodeRequest(Request{0, kCmdRead, 0xabc, kSize, 512}));
    auto reply = raw.Recv(kSimpleReplySize);
    ASSERT_TRUE(reply);
    Result<SimpleReply> r = DecodeSimpleReply(*reply);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->cookie, 0xabcu);
    EXPECT_EQ(r->error, kNbdEinval);
    raw.Send(EncodeRequest(Request{0, kCmdDisc, 1, 0, 0}));
    EXPECT_TRUE(raw.ServerClosed());
  }
  EXPECT_TRUE(Eventually([&] { return server_.connection_count() == 0; }));
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Read(0, 512).ok());
}

TEST(NbdServerHandshakeTest, SilentClientTimesOut) {
  TempDir dir;
  ServerOptions options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  NbdServer server(options);
  ASSERT_TRUE(server.AddExport("d", std::make_shared<MemoryBlockDevice>(4096)).ok());
  ASSERT_TRUE(server.ListenUnix(dir.Path("s")).ok());
  RawClient raw(dir.Path("s"));
  ASSERT_TRUE(raw.Recv(kServerGreetingSize));
  EXPECT_TRUE(raw.ServerClosed());  // without sending anything
  EXPECT_TRUE(Eventually([&] { return server.connection_count() == 0; }));
}

// Resident memory of this process, from /proc/self/status.
std::size_t RssBytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      std::size_t kib = 0;
      in >> kib;
      return kib * 1024;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

TEST(NbdServerLimitsTest, ConnectionsAreCappedPerAddressAndInTotal) {
  ServerOptions options;
  options.max_connections_per_address = 4;
  options.max_connections = 8;
  NbdServer server(options);
  ASSERT_TRUE(server.AddExport("d", std::make_shared<MemoryBlockDevice>(1 << 20)).ok());
  Result<std::uint16_t> port = server.ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  // An idle flood from 127.0.0.2: four get a greeting, the rest are closed at once.
  std::vector<std::unique_ptr<RawClient>> flood;
  int greeted = 0;
  for (int i = 0; i < 12; ++i) {
    flood.push_back(std::make_unique<RawClient>("127.0.0.2", *port));
    ASSERT_TRUE(flood.back()->connected());
    if (flood.back()->Recv(kServerGreetingSize)) ++greeted;
  }
  EXPECT_EQ(greeted, 4);
  // Another address is still served meanwhile.
  {
    auto c = NbdClient::Connect(Endpoint::Tcp("127.0.0.1", *port), "d");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE((*c)->Write(0, Pattern(4096, 1)).ok());
    EXPECT_EQ(*(*c)->Read(0, 4096), Pattern(4096, 1));
  }
  EXPECT_TRUE(Eventually([&] { return server.connection_count() == 4; }));
  // The total cap: four more from 127.0.0.3 fill it; 127.0.0.4 is refused.
  for (int i = 0; i < 4; ++i) {
    flood.push_back(std::make_unique<RawClient>("127.0.0.3", *port));
    EXPECT_TRUE(flood.back()->Recv(kServerGreetingSize));
  }
  RawClient refused("127.0.0.4", *port);
  EXPECT_FALSE(refused.Recv(kServerGreetingSize));
  // When the flood leaves, its slots come back.
  flood.clear();
  EXPECT_TRUE(Eventually([&] { return server.connection_count() == 0; }));
  RawClient again("127.0.0.2", *port);
  EXPECT_TRUE(again.Recv(kServerGreetingSize));
}

TEST(NbdServerLimitsTest, AStalledRequestIsCutOffAfterTheRequestTimeout) {
  TempDir dir;
  ServerOptions options;
  options.request_timeout = std::chrono::milliseconds(300);
  NbdServer server(options);
  ASSERT_TRUE(server.AddExport("d", std::make_shared<MemoryBlockDevice>(1 << 20)).ok());
  ASSERT_TRUE(server.ListenUnix(dir.Path("s")).ok());
  {  // An idle connection in transmission is fine: the clock starts with a request's first byte.
    RawClient idle(dir.Path("s"));
    ASSERT_TRUE(idle.Handshake("d"));
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    idle.Send(EncodeRequest(Request{0, kCmdRead, 1, 0, 512}));
    auto reply = idle.Recv(kSimpleReplySize + 512);
    ASSERT_TRUE(reply);
    EXPECT_EQ(DecodeSimpleReply(ByteView(*reply).first(kSimpleReplySize))->error, kNbdOk);
  }
  {  // Half a request header, then nothing.
    RawClient slow(dir.Path("s"));
    ASSERT_TRUE(slow.Handshake("d"));
    slow.Send(ByteView(EncodeRequest(Request{0, kCmdRead, 1, 0, 512})).first(10));
    EXPECT_TRUE(slow.ServerClosed());
  }
  {  // A WRITE whose payload stops coming.
    RawClient slow(dir.Path("s"));
    ASSERT_TRUE(slow.Handshake("d"));
    slow.Send(EncodeRequest(Request{0, kCmdWrite, 1, 0, 65536}));
    slow.Send(Bytes(1000, 1));
    EXPECT_TRUE(slow.ServerClosed());
  }
  EXPECT_TRUE(Eventually([&] { return server.connection_count() == 0; }));
}

TEST(NbdServerLimitsTest, AClaimedWritePayloadCostsOnlyWhatWasSent) {
  TempDir dir;
  NbdServer server;
  ASSERT_TRUE(server.AddExport("d", std::make_shared<MemoryBlockDevice>(1 << 20)).ok());
  ASSERT_TRUE(server.ListenUnix(dir.Path("s")).ok());
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<RawClient>(dir.Path("s")));
    ASSERT_TRUE(clients.back()->Handshake("d"));
  }
  const std::size_t before = RssBytes();
  // Each claims a 32 MiB WRITE (beyond the end: the payload is read, then ENOSPC) and sends
  // 4 KiB of it. Buffering the claim up front would cost 256 MiB.
  for (auto& c : clients) {
    c->Send(EncodeRequest(Request{0, kCmdWrite, 1, 0, kMaxPayload}));
    c->Send(Bytes(4096, 0x5c));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::size_t after = RssBytes();
  EXPECT_LT(after, before + 64 * 1024 * 1024) << "RSS grew by " << (after - before) << " bytes";
  clients.clear();
  EXPECT_TRUE(Eventually([&] { return server.connection_count() == 0; }));
}

// Parks every READ and keeps what the server says about its requester.
class RequesterRecordingDevice final : public BlockDevice {
 public:
  std::uint64_t Size() const override { return 1 << 20; }
  void Read(std::uint64_t, std::uint32_t, ReadCallback) override {}
  void ReadFor(const RequesterOpen& requester, std::uint64_t, std::uint32_t,
               ReadCallback done) override {
    std::lock_guard lock(mu_);
    requester_ = requester;
    done_ = std::move(done);
  }
  void Write(std::uint64_t, Bytes, bool, DoneCallback done) override { done(Status::OK()); }
  void Flush(DoneCallback done) override { done(Status::OK()); }
  void Trim(std::uint64_t, std::uint32_t, DoneCallback done) override { done(Status::OK()); }
  RequesterOpen requester() {
    std::lock_guard lock(mu_);
    return requester_;
  }
  void Complete() {
    ReadCallback done;
    {
      std::lock_guard lock(mu_);
      done = std::move(done_);
    }
    if (done) done(Status::OK(), Bytes(512, 0));
  }

 private:
  std::mutex mu_;
  RequesterOpen requester_;
  ReadCallback done_;
};

TEST(NbdServerParkingTest, AParkingDeviceLearnsThatItsRequesterClosed) {
  TempDir dir;
  auto device = std::make_shared<RequesterRecordingDevice>();
  NbdServer server;
  ASSERT_TRUE(server.AddExport("d", device).ok());
  ASSERT_TRUE(server.ListenUnix(dir.Path("s")).ok());
  {
    RawClient raw(dir.Path("s"));
    ASSERT_TRUE(raw.Handshake("d"));
    raw.Send(EncodeRequest(Request{0, kCmdRead, 1, 0, 512}));
    ASSERT_TRUE(Eventually([&] { return device->requester() != nullptr; }));
    EXPECT_TRUE(device->requester()->load());
  }
  EXPECT_TRUE(Eventually([&] { return !device->requester()->load(); }));
  device->Complete();  // late: dropped, nothing breaks
  EXPECT_TRUE(Eventually([&] { return server.connection_count() == 0; }));
}

TEST(NbdServerHandshakeTest, ListenUnixRefusesToReplaceARegularFile) {
  TempDir dir;
  const std::string path = dir.Path("file");
  {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fclose(f);
  }
  NbdServer server;
  EXPECT_EQ(server.ListenUnix(path).code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(NbdClientTest, ConnectFailsCleanlyWithoutServer) {
  TempDir dir;
  auto c = NbdClient::Connect(Endpoint::Unix(dir.Path("none")), "x");
  EXPECT_EQ(c.status().code(), Status::Code::kUnavailable) << c.status().ToString();
}

}  // namespace
}  // namespace cafs::edif::nbd
