// ONC RPC transport (src/frontend/nfs/rpc_message.h, rpc_server.h) driven over a real TCP
// socket with hand-built records: fragments, garbage, oversized and truncated records, bad
// credentials, PROG/PROC errors, out-of-order replies from calls that block, idle connections.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "frontend/nfs/rpc_server.h"
#include "nfs_rpc_test_util.h"

namespace cafs::frontend::nfs {
namespace {

using testing::AuthSysBody;
using testing::CallMessage;
using testing::Frame;
using testing::ParseReply;
using testing::Reply;
using testing::SysCall;
using testing::TestClient;

constexpr std::uint32_t kTestProg = 400123;

// Procedures: 0 NULL; 1 ECHO opaque<1024> -> same + the caller's uid; 2 BLOCK u32 id, returns
// id once Release(id) was called; 3 GARBAGE (always GARBAGE_ARGS); 4 THROW; 5 NOWAIT (on the
// compute pool: would wait; where it may wait: answers with the may_wait flags it saw); 6 WAITS
// (always answers kAcceptWouldWait, on the blocking pool).
class TestProgram : public RpcProgram {
 public:
  std::uint32_t program() const override { return kTestProg; }
  std::uint32_t min_version() const override { return 2; }
  std::uint32_t max_version() const override { return 3; }

  AcceptStat Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) override {
    {
      std::lock_guard lock(mu_);
      last_call_ = call;
      ++calls_;
    }
    switch (call.procedure) {
      case 0:
        return args.remaining() == 0 ? AcceptStat::kSuccess : AcceptStat::kGarbageArgs;
      case 1: {
        auto data = args.Opaque(1024);
        if (!args.ok() || args.remaining() != 0) return AcceptStat::kGarbageArgs;
        reply.Opaque(data);
        reply.U32(call.sys.uid);
        return AcceptStat::kSuccess;
      }
      case 2: {
        const std::uint32_t id = args.U32();
        if (!args.ok()) return AcceptStat::kGarbageArgs;
        std::unique_lock lock(mu_);
        ++blocked_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_.count(id) > 0; });
        reply.U32(id);
        return AcceptStat::kSuccess;
      }
      case 3:
        reply.U32(99);  // discarded by the server
        return AcceptStat::kGarbageArgs;
      case 4:
        throw std::runtime_error("boom");
      case 5: {
        std::lock_guard lock(mu_);
        seen_may_wait_.push_back(call.may_wait);
        if (!call.may_wait) {
          reply.U32(77);  // discarded: the call runs again
          return kAcceptWouldWait;
        }
        for (bool b : seen_may_wait_) reply.Bool(b);
        return AcceptStat::kSuccess;
      }
      case 6:
        return kAcceptWouldWait;
      default:
        return AcceptStat::kProcUnavail;
    }
  }

  bool WaitsForDisk(const RpcCall& call, ByteView) const override { return call.procedure != 5; }

  void Release(std::uint32_t id) {
    std::lock_guard lock(mu_);
    released_.insert(id);
    cv_.notify_all();
  }
  void WaitBlocked(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return blocked_ >= n; });
  }
  RpcCall last_call() {
    std::lock_guard lock(mu_);
    return last_call_;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::uint32_t> released_;
  int blocked_ = 0;
  int calls_ = 0;
  RpcCall last_call_;
  std::vector<bool> seen_may_wait_;  // procedure 5's calls
};

std::vector<std::uint8_t> EchoArgs(const std::string& s) {
  XdrEncoder e;
  e.String(s);
  return e.ToBytes();
}

std::vector<std::uint8_t> U32Args(std::uint32_t v) {
  XdrEncoder e;
  e.U32(v);
  return e.ToBytes();
}

class RpcServerTest : public ::testing::Test {
 protected:
  void StartServer(RpcServerOptions options = {}) {
    server_ = std::make_unique<RpcServer>(options);
    server_->AddProgram(&program_);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }
  void SetUp() override { StartServer(); }
  void TearDown() override {
    // Let any blocked call finish so Stop() can join the workers.
    for (std::uint32_t id = 0; id < 64; ++id) program_.Release(id);
    server_->Stop();
  }

  TestProgram program_;
  std::unique_ptr<RpcServer> server_;
  std::uint16_t port_ = 0;
};

TEST_F(RpcServerTest, NullAndEchoWithAuthSys) {
  TestClient c(port_);
  ASSERT_TRUE(c.connected());
  auto r = c.Call(SysCall(7, kTestProg, 2, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->xid, 7u);
  EXPECT_EQ(r->reply_stat, 0u);
  EXPECT_EQ(r->stat, 0u);
  EXPECT_TRUE(r->body.empty());

  r = c.Call(CallMessage(8, kTestProg, 3, 1, 1, AuthSysBody(1000, 100, {4, 5}, "esx1"),
                         EchoArgs("hello")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->xid, 8u);
  EXPECT_EQ(r->stat, 0u);
  XdrDecoder d(r->body);
  EXPECT_EQ(d.String(100), "hello");
  EXPECT_EQ(d.U32(), 1000u);
  const RpcCall last = program_.last_call();
  EXPECT_EQ(last.flavor, AuthFlavor::kSys);
  EXPECT_EQ(last.sys.machine_name, "esx1");
  EXPECT_EQ(last.sys.gid, 100u);
  EXPECT_EQ(last.sys.gids, (std::vector<std::uint32_t>{4, 5}));
  EXPECT_EQ(last.peer_address, "127.0.0.1");
  EXPECT_NE(last.peer_port, 0);
}

// A call on the compute pool that would wait for storage (kAcceptWouldWait) runs again, from
// the start, on the blocking pool, and only that run's reply goes out; kAcceptWouldWait from a
// call that could wait is SYSTEM_ERR.
TEST_F(RpcServerTest, ACallThatWouldWaitRunsAgainWhereItMay) {
  TestClient c(port_);
  ASSERT_TRUE(c.connected());
  auto r = c.Call(SysCall(9, kTestProg, 2, 5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, 0u);
  XdrDecoder d(r->body);
  EXPECT_FALSE(d.Bool());  // first run: compute pool
  EXPECT_TRUE(d.Bool());   // second: blocking pool
  EXPECT_EQ(d.remaining(), 0u);
  EXPECT_EQ(program_.calls(), 2);
  r = c.Call(SysCall(10, kTestProg, 2, 6));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kSystemErr));
}

TEST_F(RpcServerTest, FragmentedRecordsAndSeveralRecordsInOneWrite) {
  TestClient c(port_);
  // One record in 3-byte fragments (not aligned to XDR words), plus an empty fragment.
  std::vector<std::uint8_t> bytes = {0, 0, 0, 0};  // empty non-last fragment
  const auto framed = Frame(SysCall(1, kTestProg, 2, 1, EchoArgs("fragmented")), 3);
  bytes.insert(bytes.end(), framed.begin(), framed.end());
  const auto second = Frame(SysCall(2, kTestProg, 2, 0));
  bytes.insert(bytes.end(), second.begin(), second.end());
  ASSERT_TRUE(c.Send(bytes));
  std::map<std::uint32_t, Reply> replies;
  for (int i = 0; i < 2; ++i) {
    auto rec = c.ReadRecord();
    ASSERT_TRUE(rec);
    auto r = ParseReply(*rec);
    ASSERT_TRUE(r);
    replies[r->xid] = *r;
  }
  ASSERT_EQ(replies.size(), 2u);
  XdrDecoder d(replies[1].body);
  EXPECT_EQ(d.String(100), "fragmented");
  EXPECT_EQ(replies[2].stat, 0u);
}

TEST_F(RpcServerTest, ByteAtATime) {
  TestClient c(port_);
  const auto framed = Frame(SysCall(5, kTestProg, 2, 1, EchoArgs("slow")));
  for (std::uint8_t b : framed) ASSERT_TRUE(c.Send({b}));
  auto rec = c.ReadRecord();
  ASSERT_TRUE(rec);
  EXPECT_EQ(ParseReply(*rec)->xid, 5u);
}

TEST_F(RpcServerTest, ProgramVersionProcedureErrors) {
  TestClient c(port_);
  auto r = c.Call(SysCall(1, 999999, 1, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reply_stat, 0u);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kProgUnavail));

  r = c.Call(SysCall(2, kTestProg, 4, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kProgMismatch));
  XdrDecoder d(r->body);
  EXPECT_EQ(d.U32(), 2u);  // low
  EXPECT_EQ(d.U32(), 3u);  // high

  r = c.Call(SysCall(3, kTestProg, 2, 77));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kProcUnavail));
  EXPECT_TRUE(r->body.empty());

  r = c.Call(SysCall(4, kTestProg, 2, 3));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kGarbageArgs));
  EXPECT_TRUE(r->body.empty());  // what the program wrote is discarded

  r = c.Call(SysCall(5, kTestProg, 2, 4));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kSystemErr));

  // Arguments that do not decode.
  r = c.Call(SysCall(6, kTestProg, 2, 1, {0, 0, 0x10, 0}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, static_cast<std::uint32_t>(AcceptStat::kGarbageArgs));
}

TEST_F(RpcServerTest, RpcVersionMismatch) {
  TestClient c(port_);
  auto r = c.Call(CallMessage(9, kTestProg, 2, 0, 0, {}, {}, 3));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->xid, 9u);
  EXPECT_EQ(r->reply_stat, 1u);  // MSG_DENIED
  EXPECT_EQ(r->stat, 0u);        // RPC_MISMATCH
  XdrDecoder d(r->body);
  EXPECT_EQ(d.U32(), 2u);
  EXPECT_EQ(d.U32(), 2u);
}

std::uint32_t AuthErrorOf(const std::optional<Reply>& r) {
  if (!r || r->reply_stat != 1 || r->stat != 1 || r->body.size() < 4) return 0xffffffffu;
  XdrDecoder d(r->body);
  return d.U32();
}

TEST_F(RpcServerTest, Credentials) {
  TestClient c(port_);
  // AUTH_NONE reaches NULL only.
  auto r = c.Call(CallMessage(1, kTestProg, 2, 0, 0, {}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reply_stat, 0u);
  EXPECT_EQ(r->stat, 0u);
  r = c.Call(CallMessage(2, kTestProg, 2, 1, 0, {}, EchoArgs("x")));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kTooWeak));
  // RPCSEC_GSS (6), AUTH_DH (3): bad credential; AUTH_SHORT (2): rejected.
  r = c.Call(CallMessage(3, kTestProg, 2, 0, 6, {1, 2, 3, 4}));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  r = c.Call(CallMessage(4, kTestProg, 2, 0, 3, {}));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  r = c.Call(CallMessage(5, kTestProg, 2, 0, 2, {}));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kRejectedCred));
  // AUTH_SYS with 17 gids, a 256-byte machine name, trailing bytes, a truncated body.
  r = c.Call(
      CallMessage(6, kTestProg, 2, 0, 1, AuthSysBody(0, 0, std::vector<std::uint32_t>(17, 1))));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  r = c.Call(CallMessage(7, kTestProg, 2, 0, 1, AuthSysBody(0, 0, {}, std::string(256, 'm'))));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  auto trailing = AuthSysBody(0, 0);
  trailing.insert(trailing.end(), {0, 0, 0, 0});
  r = c.Call(CallMessage(8, kTestProg, 2, 0, 1, trailing));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  auto truncated = AuthSysBody(0, 0, {1, 2});
  truncated.resize(truncated.size() - 4);
  r = c.Call(CallMessage(9, kTestProg, 2, 0, 1, truncated));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  // A credential body over 400 bytes.
  r = c.Call(CallMessage(10, kTestProg, 2, 0, 1, std::vector<std::uint8_t>(404, 0)));
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  // Still usable afterwards.
  r = c.Call(SysCall(11, kTestProg, 2, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, 0u);
}

TEST_F(RpcServerTest, GarbageRecordsAreIgnoredNotFatal) {
  TestClient c(port_);
  // Too short for a header; a REPLY; an empty record: no answer, connection stays.
  ASSERT_TRUE(c.Send(Frame({1, 2})));
  ASSERT_TRUE(c.Send(Frame({0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0})));
  ASSERT_TRUE(c.Send({0x80, 0, 0, 0}));
  // A call truncated inside its header: answered AUTH_BADCRED (cannot be decoded).
  auto cut = SysCall(3, kTestProg, 2, 0);
  cut.resize(20);
  auto r = c.Call(cut);
  EXPECT_EQ(AuthErrorOf(r), static_cast<std::uint32_t>(AuthStat::kBadCred));
  r = c.Call(SysCall(4, kTestProg, 2, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->xid, 4u);
  EXPECT_EQ(r->stat, 0u);
}

TEST_F(RpcServerTest, OversizedRecordDropsConnection) {
  TestClient c(port_);
  // A single fragment announcing more than the maximum.
  const std::uint32_t len = static_cast<std::uint32_t>(kDefaultMaxRecordSize + 1);
  ASSERT_TRUE(
      c.Send({static_cast<std::uint8_t>(0x80 | (len >> 24)), static_cast<std::uint8_t>(len >> 16),
              static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)}));
  EXPECT_TRUE(c.WaitClosed());

  // Fragments that are each small but add up to too much.
  TestClient d(port_);
  const std::vector<std::uint8_t> chunk(512 * 1024, 0);
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 3; ++i) {
    const std::uint32_t n = static_cast<std::uint32_t>(chunk.size());
    bytes.insert(bytes.end(),
                 {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                  static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    bytes.insert(bytes.end(), chunk.begin(), chunk.end());
  }
  d.Send(bytes);  // may fail part-way once the server closes
  EXPECT_TRUE(d.WaitClosed());

  // The server still serves others.
  TestClient e(port_);
  auto r = e.Call(SysCall(1, kTestProg, 2, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stat, 0u);
}

TEST_F(RpcServerTest, RepliesGoOutInCompletionOrder) {
  TestClient c(port_);
  // Two calls that block, then a quick one: the quick one's reply comes first.
  ASSERT_TRUE(c.Send(Frame(SysCall(100, kTestProg, 2, 2, U32Args(1)))));
  ASSERT_TRUE(c.Send(Frame(SysCall(101, kTestProg, 2, 2, U32Args(2)))));
  program_.WaitBlocked(2);
  ASSERT_TRUE(c.Send(Frame(SysCall(102, kTestProg, 2, 0))));
  auto rec = c.ReadRecord();
  ASSERT_TRUE(rec);
  EXPECT_EQ(ParseReply(*rec)->xid, 102u);
  program_.Release(2);
  rec = c.ReadRecord();
  ASSERT_TRUE(rec);
  EXPECT_EQ(ParseReply(*rec)->xid, 101u);
  program_.Release(1);
  rec = c.ReadRecord();
  ASSERT_TRUE(rec);
  auto r = ParseReply(*rec);
  EXPECT_EQ(r->xid, 100u);
  XdrDecoder d(r->body);
  EXPECT_EQ(d.U32(), 1u);
}

TEST_F(RpcServerTest, InFlightBoundStopsReading) {
  server_->Stop();
  RpcServerOptions options;
  options.max_calls_in_flight = 2;
  options.worker_threads = 4;
  StartServer(options);
  TestClient c(port_);
  ASSERT_TRUE(c.Send(Frame(SysCall(1, kTestProg, 2, 2, U32Args(10)))));
  ASSERT_TRUE(c.Send(Frame(SysCall(2, kTestProg, 2, 2, U32Args(11)))));
  program_.WaitBlocked(2);
  const int before = program_.calls();
  // A third call is not dispatched while two are in flight: no reply arrives for it.
  ASSERT_TRUE(c.Send(Frame(SysCall(3, kTestProg, 2, 0))));
  EXPECT_FALSE(c.ReadRecord(300));
  EXPECT_EQ(program_.calls(), before);
  program_.Release(10);
  std::set<std::uint32_t> xids;
  for (int i = 0; i < 2; ++i) {
    auto rec = c.ReadRecord();
    ASSERT_TRUE(rec);
    xids.insert(ParseReply(*rec)->xid);
  }
  EXPECT_EQ(xids, (std::set<std::uint32_t>{1, 3}));
  program_.Release(11);
  auto rec = c.ReadRecord();
  ASSERT_TRUE(rec);
  EXPECT_EQ(ParseReply(*rec)->xid, 2u);
}

TEST_F(RpcServerTest, HalfRecordThenVanishFreesTheConnection) {
  {
    TestClient c(port_);
    auto framed = Frame(SysCall(1, kTestProg, 2, 1, EchoArgs("never finished")));
    framed.resize(framed.size() / 2);
    ASSERT_TRUE(c.Send(framed));
    auto ok = TestClient(port_).Call(SysCall(2, kTestProg, 2, 0));  // server alive meanwhile
    ASSERT_TRUE(ok);
  }
  for (int i = 0; i < 1000 && server_->connection_count() != 0; ++i) ::usleep(10 * 1000);
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(RpcServerTest, IdleConnectionsAreClosed) {
  server_->Stop();
  RpcServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  StartServer(options);
  TestClient idle(port_);
  TestClient half(port_);
  ASSERT_TRUE(half.Send({0x80, 0, 0}));  // half a record mark, then silence
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_TRUE(half.WaitClosed());
}

TEST_F(RpcServerTest, ManyIdleConnectionsAndStop) {
  // Both ends of each connection live in this process: raise the descriptor limit if we may.
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  const std::size_t n =
      std::min<std::size_t>(2000, (static_cast<std::size_t>(limit.rlim_cur) - 100) / 2);
  server_->Stop();
  RpcServerOptions options;
  options.max_connections_per_address = n;  // all from 127.0.0.1 here
  StartServer(options);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (std::size_t i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<TestClient>(port_));
    ASSERT_TRUE(clients.back()->connected());
  }
  auto r = clients.back()->Call(SysCall(1, kTestProg, 2, 0));
  ASSERT_TRUE(r);
  for (int i = 0; i < 1000 && server_->connection_count() < n; ++i) ::usleep(10 * 1000);
  EXPECT_EQ(server_->connection_count(), n);
  // A call blocked in the program when Stop() comes: Stop waits for it after closing.
  ASSERT_TRUE(clients[0]->Send(Frame(SysCall(2, kTestProg, 2, 2, U32Args(40)))));
  program_.WaitBlocked(1);
  std::thread releaser([&] {
    ::usleep(50 * 1000);
    program_.Release(40);
  });
  server_->Stop();
  releaser.join();
  EXPECT_EQ(server_->connection_count(), 0u);
  for (auto& c : clients) EXPECT_TRUE(c->WaitClosed());
}

// Issue 20: an idle flood from one address takes at most max_connections_per_address; the
// connections beyond are closed at accept, and other addresses are served as before.
TEST_F(RpcServerTest, ConnectionsPerAddressAreCapped) {
  server_->Stop();
  RpcServerOptions options;
  options.max_connections_per_address = 4;
  StartServer(options);
  std::vector<std::unique_ptr<TestClient>> flood;
  for (int i = 0; i < 4; ++i) {
    flood.push_back(std::make_unique<TestClient>(port_, "127.0.0.1", "127.0.0.2"));
    ASSERT_TRUE(flood.back()->connected());
  }
  ASSERT_TRUE(flood.back()->Call(SysCall(1, kTestProg, 2, 0)));  // all four admitted
  TestClient beyond(port_, "127.0.0.1", "127.0.0.2");
  ASSERT_TRUE(beyond.connected());  // the kernel accepts; the server closes it
  EXPECT_TRUE(beyond.WaitClosed());
  TestClient other(port_, "127.0.0.1", "127.0.0.3");
  EXPECT_TRUE(other.Call(SysCall(2, kTestProg, 2, 0)));
  // A closed connection frees its place.
  flood.pop_back();
  std::optional<Reply> answer;
  for (int i = 0; i < 100 && !answer; ++i) {
    TestClient again(port_, "127.0.0.1", "127.0.0.2");
    answer = again.Call(SysCall(3, kTestProg, 2, 0));
    if (!answer) ::usleep(20 * 1000);
  }
  EXPECT_TRUE(answer);
}

// A mark announcing a large record costs nothing until its bytes arrive: many connections
// announcing the maximum and sending a little stay cheap and the server goes on serving.
TEST_F(RpcServerTest, AnnouncedRecordsAreNotAllocatedAhead) {
  std::vector<std::unique_ptr<TestClient>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<TestClient>(port_, "127.0.0.1", "127.0.0.2"));
    const std::uint32_t mark = 0x80000000u | static_cast<std::uint32_t>(kDefaultMaxRecordSize);
    ASSERT_TRUE(slow.back()->Send(
        {static_cast<std::uint8_t>(mark >> 24), static_cast<std::uint8_t>(mark >> 16),
         static_cast<std::uint8_t>(mark >> 8), static_cast<std::uint8_t>(mark), 0, 0, 0, 1}));
  }
  TestClient c(port_);
  EXPECT_TRUE(c.Call(SysCall(1, kTestProg, 2, 0)));
  EXPECT_GE(server_->connection_count(), 64u);
}

TEST_F(RpcServerTest, ListenErrors) {
  EXPECT_FALSE(server_->Listen("not-an-address", 0).ok());
  auto again = server_->Listen("127.0.0.1", port_);
  EXPECT_FALSE(again.ok());
  auto second = server_->Listen("::1", 0);
  if (second.ok()) {
    TestClient c(port_);
    EXPECT_TRUE(c.Call(SysCall(1, kTestProg, 2, 0)));
  }
}

TEST(RecordAssemblerTest, Fragments) {
  RecordAssembler a(16);
  std::vector<Bytes> records;
  ASSERT_TRUE(a.Feed(Bytes{0, 0, 0, 2, 'a', 'b', 0x80, 0, 0}, records).ok());
  EXPECT_TRUE(records.empty());
  EXPECT_EQ(a.buffered(), 2u);
  ASSERT_TRUE(a.Feed(Bytes{1, 'c'}, records).ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], (Bytes{'a', 'b', 'c'}));
  EXPECT_EQ(a.buffered(), 0u);
  // Exactly the maximum over two fragments is fine, one byte more is not.
  records.clear();
  ASSERT_TRUE(a.Feed(Frame(Bytes(16, 'x'), 10), records).ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(a.Feed(Frame(Bytes(17, 'x'), 10), records).ok());
  EXPECT_FALSE(a.Feed(Bytes{0x80, 0, 0, 0}, records).ok());  // stays failed
}

}  // namespace
}  // namespace cafs::frontend::nfs
