// edifd host + target in one process, driven by scripted agents that speak raw mailbox
// messages over our NbdClient: login, AUTH_NEEDED, AUTH_ELS relay, SA install on both sides
// with fixed test keys, ONLINE secure, sealed DATA on the fabric (captured by a send tap),
// require_secure refusal, forged/replayed frames, hostile mailbox sectors, target lost (also
// with requests in flight, against a target that never answers), authentication timeout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "edif/driver/initiator_port.h"
#include "edif/driver/transport_driver.h"
#include "edif/hba/fabric_connection.h"
#include "edif/mailbox/app_auth.h"
#include "edif/mailbox/message.h"
#include "edif/nbd/client.h"
#include "edif/target/target_port.h"

namespace cafs::edif {
namespace {

using mailbox::Message;
using mailbox::MessageType;
using namespace std::chrono_literals;

constexpr std::uint64_t kHostWwpn = 0x2100000000000001ull;
constexpr std::uint32_t kHostPortId = 0x010100;
constexpr std::uint64_t kTargetWwpn = 0x5000000000000001ull;
constexpr std::uint32_t kTargetPortId = 0x020100;
constexpr std::uint64_t kMbxOffset = mailbox::kReservedBytes;

SecureBuffer Secret(char c) {
  std::string s(32, c);
  return SecureBuffer(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// An agent reduced to raw mailbox messages.
class ScriptedAgent {
 public:
  ScriptedAgent(const std::string& socket, SecureBuffer secret, std::uint64_t wwpn,
                std::uint32_t port_id)
      : secret_(std::move(secret)), wwpn_(wwpn), port_id_(port_id) {
    auto c = nbd::NbdClient::Connect(nbd::Endpoint::Unix(socket), "");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (c.ok()) client_ = std::move(*c);
  }

  Status SendRaw(MessageType type, ByteView payload, std::uint64_t epoch, std::uint64_t seq,
                 std::uint64_t req_id) {
    mailbox::Header h;
    h.type = type;
    h.epoch = epoch;
    h.seq = seq;
    h.req_id = req_id;
    h.wwpn = wwpn_;
    h.port_id = port_id_;
    CAFS_ASSIGN_OR_RETURN(Bytes w, mailbox::EncodeDownstream(h, payload));
    return client_->Write(kMbxOffset, w);
  }
  // Sends a request in the current epoch and returns its RESULT.
  Result<mailbox::ResultMsg> Call(MessageType type, ByteView payload) {
    const std::uint64_t id = ++req_;
    CAFS_RETURN_IF_ERROR(SendRaw(type, payload, epoch_, ++seq_, id));
    return WaitResult(id);
  }
  template <typename T>
  Result<mailbox::ResultMsg> CallT(MessageType type, const T& p) {
    auto enc = mailbox::EncodePayload(p);
    if constexpr (std::is_same_v<decltype(enc), Bytes>) {
      return Call(type, enc);
    } else {
      if (!enc.ok()) return enc.status();
      return Call(type, *enc);
    }
  }
  Result<mailbox::ResultMsg> WaitResult(std::uint64_t req_id) {
    CAFS_ASSIGN_OR_RETURN(Message m, WaitFor([&](const Message& x) {
                            return x.header.type == MessageType::kResult &&
                                   x.header.req_id == req_id;
                          }));
    CAFS_ASSIGN_OR_RETURN(mailbox::Payload p, mailbox::DecodePayload(m.header.type, m.payload));
    return std::get<mailbox::ResultMsg>(p);
  }
  // Reads until a message matching `pred` arrives (earlier ones are kept in the backlog).
  Result<Message> WaitFor(const std::function<bool(const Message&)>& pred,
                          std::chrono::seconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
        if (pred(*it)) {
          Message m = std::move(*it);
          backlog_.erase(it);
          return m;
        }
      }
      if (std::chrono::steady_clock::now() > end) return Status::Timeout("no such message");
      CAFS_ASSIGN_OR_RETURN(Bytes data, client_->Read(kMbxOffset, 64 * 1024));
      CAFS_ASSIGN_OR_RETURN(auto msgs, mailbox::DecodeUpstream(data));
      for (auto& m : msgs) {
        if (m.header.type != MessageType::kNop) backlog_.push_back(std::move(m));
      }
    }
  }
  Result<Message> WaitType(MessageType t) {
    return WaitFor([t](const Message& m) { return m.header.type == t; });
  }

  Status Start() {
    mailbox::AppStart hello;
    hello.phase = mailbox::AppStartPhase::kHello;
    hello.app_id = "scripted";
    hello.agent_nonce.fill(0x42);
    CAFS_ASSIGN_OR_RETURN(Bytes hp, mailbox::EncodePayload(hello));
    CAFS_RETURN_IF_ERROR(SendRaw(MessageType::kAppStart, hp, 0, 1, 1));
    CAFS_ASSIGN_OR_RETURN(auto r1, WaitResult(1));
    if (r1.err != 0) return Status::Internal("HELLO failed: " + r1.detail);
    CAFS_ASSIGN_OR_RETURN(auto ch, mailbox::DecodeAppChallenge(r1.reply));
    mailbox::AppStart prove = hello;
    prove.phase = mailbox::AppStartPhase::kProve;
    mailbox::ProofInput in{wwpn_, port_id_, ch.epoch,    ch.driver_nonce, hello.agent_nonce,
                           0,     0,        hello.app_id};
    CAFS_ASSIGN_OR_RETURN(prove.proof,
                          mailbox::ComputeProof(secret_.view(), mailbox::ProofRole::kAgent, in));
    CAFS_ASSIGN_OR_RETURN(Bytes pp, mailbox::EncodePayload(prove));
    CAFS_RETURN_IF_ERROR(SendRaw(MessageType::kAppStart, pp, ch.epoch, 1, 2));
    CAFS_ASSIGN_OR_RETURN(auto r2, WaitResult(2));
    if (r2.err != 0) return Status::Internal("PROVE failed: " + r2.detail);
    epoch_ = ch.epoch;
    seq_ = 1;
    std::erase_if(backlog_, [&](const Message& m) { return m.header.epoch != epoch_; });
    return Status::OK();
  }

  // The errno of the RESULT (ENOENT: the RX SA was already retired after traffic on the new
  // one, a stale delete).
  Result<std::uint32_t> DeleteSa(std::uint64_t peer_wwpn, std::uint32_t peer_port_id,
                                 mailbox::SaDirection d, std::uint32_t spi) {
    mailbox::SaUpdate u;
    u.target_wwpn = peer_wwpn;
    u.target_port_id = peer_port_id;
    u.direction = d;
    u.op = mailbox::SaOp::kDelete;
    u.spi = spi;
    CAFS_ASSIGN_OR_RETURN(auto r, CallT(MessageType::kSaUpdate, u));
    return r.err;
  }

  Status InstallSa(std::uint64_t peer_wwpn, std::uint32_t peer_port_id, mailbox::SaDirection d,
                   std::uint32_t spi, std::uint8_t key_byte) {
    mailbox::SaUpdate u;
    u.target_wwpn = peer_wwpn;
    u.target_port_id = peer_port_id;
    u.direction = d;
    u.op = mailbox::SaOp::kAdd;
    u.spi = spi;
    u.key = SecureBuffer(32);
    std::fill(u.key.data(), u.key.data() + 32, key_byte);
    u.salt = {key_byte, 1, 2, 3};
    CAFS_ASSIGN_OR_RETURN(auto r, CallT(MessageType::kSaUpdate, u));
    if (r.err != 0) return Status::Internal("SA_UPDATE failed: " + r.detail);
    CAFS_ASSIGN_OR_RETURN(Message m, WaitType(MessageType::kSaUpdateComplete));
    (void)m;
    return Status::OK();
  }

  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t next_seq() { return ++seq_; }
  nbd::NbdClient& client() { return *client_; }

 private:
  SecureBuffer secret_;
  std::uint64_t wwpn_;
  std::uint32_t port_id_;
  std::unique_ptr<nbd::NbdClient> client_;
  std::uint64_t epoch_ = 0, seq_ = 0, req_ = 100;
  std::vector<Message> backlog_;
};

// A target port that logs initiators in (one clear LUN 0 of 4 MiB) as `wwpn` and swallows
// every DATA request without answering while `answer` is false; otherwise answers each with
// success.
class SilentTarget {
 public:
  explicit SilentTarget(std::uint64_t wwpn = kTargetWwpn) : wwpn_(wwpn) {
    auto l = hba::FabricListener::Listen("127.0.0.1", 0, [this](auto conn) { Accept(conn); });
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (l.ok()) listener_ = std::move(*l);
  }
  ~SilentTarget() {
    if (listener_) listener_->Stop();
    DropConnections();
  }
  std::uint16_t port() const { return listener_->port(); }
  std::size_t swallowed() {
    std::lock_guard l(mu_);
    return swallowed_;
  }
  std::size_t logins() {
    std::lock_guard l(mu_);
    return logins_;
  }
  void set_answer(bool a) {
    std::lock_guard l(mu_);
    answer_ = a;
  }
  // What a crashed target process looks like to the host: every connection closes.
  void DropConnections() {
    std::vector<std::shared_ptr<hba::FabricConnection>> conns;
    {
      std::lock_guard l(mu_);
      conns.swap(conns_);
    }
    for (auto& c : conns) c->Close();
  }

 private:
  void Accept(const std::shared_ptr<hba::FabricConnection>& conn) {
    {
      std::lock_guard l(mu_);
      conns_.push_back(conn);
    }
    std::weak_ptr<hba::FabricConnection> weak = conn;
    conn->Start([this, weak](link::Frame f) { OnFrame(weak.lock(), f); }, [](Status) {});
  }
  void OnFrame(const std::shared_ptr<hba::FabricConnection>& conn, const link::Frame& f) {
    if (!conn) return;
    link::FrameHeader h;
    h.src_wwpn = wwpn_;
    h.src_port_id = kTargetPortId;
    h.dst_wwpn = f.header.src_wwpn;
    h.dst_port_id = f.header.src_port_id;
    h.exchange_id = f.header.exchange_id;
    h.lun = f.header.lun;
    if (f.header.type == link::FrameType::kLogin) {
      {
        std::lock_guard l(mu_);
        ++logins_;
      }
      h.type = link::FrameType::kLoginAcc;
      (void)conn->SendFrame(h, *hba::EncodeLoginAcc({{0, 0, 4 << 20}}));
      return;
    }
    if (f.header.type != link::FrameType::kData) return;
    auto req = hba::DecodeDataRequest(f.payload);
    if (!req.ok()) return;
    {
      std::lock_guard l(mu_);
      if (!answer_) {
        ++swallowed_;
        return;
      }
    }
    hba::DataReply reply;
    reply.cmd = req->cmd;
    if (req->cmd == hba::DataCmd::kRead) reply.data = Bytes(req->length, 0);
    h.type = link::FrameType::kData;
    (void)conn->SendFrame(h, hba::EncodeDataReply(reply));
  }

  const std::uint64_t wwpn_;
  std::unique_ptr<hba::FabricListener> listener_;
  std::mutex mu_;
  std::size_t logins_ = 0;                                     // guarded by mu_
  std::vector<std::shared_ptr<hba::FabricConnection>> conns_;  // guarded by mu_
  std::size_t swallowed_ = 0;                                  // guarded by mu_
  bool answer_ = false;                                        // guarded by mu_
};

class EdifHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edif_driver_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    lun_path_ = dir_ + "/lun0.img";
    std::ofstream(lun_path_).close();
    std::filesystem::resize_file(lun_path_, 4 << 20);
  }
  void TearDown() override {
    host_agent_.reset();
    target_agent_.reset();
    // Taps capture test locals: detach them before LOGO frames are sent.
    if (driver_ && driver_->port("hba0")) driver_->port("hba0")->SetSendTap(nullptr);
    if (target_) target_->SetSendTap(nullptr);
    if (driver_) driver_->Stop();
    if (target_) target_->Stop();
    driver_.reset();
    target_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartTarget(bool require_secure, std::uint16_t port = 0) {
    target::TargetConfig tc;
    tc.port.name = "target";
    tc.port.identity = {kTargetWwpn, kTargetPortId};
    tc.port.nop_timeout = 200ms;
    tc.listen_port = port;
    tc.mailbox_socket = dir_ + "/target-mbox.sock";
    tc.luns.push_back({0, lun_path_, require_secure, false});
    auto t = target::TargetPort::Start(tc, Secret('t'), SystemClock::Instance());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    target_ = std::move(*t);
  }
  // Stops and destroys the target (as if its process died); returns its fabric port.
  std::uint16_t StopTarget() {
    const std::uint16_t port = target_->port();
    target_->Stop();
    target_.reset();
    return port;
  }
  void StartHost(bool require_secure, std::chrono::milliseconds keepalive = 60s,
                 std::uint64_t soft_frames = 1ull << 30) {
    StartHostOn(target_->port(), require_secure, keepalive, soft_frames);
  }
  void StartHostOn(std::uint16_t target_port, bool require_secure,
                   std::chrono::milliseconds keepalive = 60s,
                   std::uint64_t soft_frames = 1ull << 30, bool wait_login = true) {
    driver::DriverConfig dc;
    dc.lun_socket = dir_ + "/luns.sock";
    dc.io_wait_timeout = io_wait_timeout_;
    dc.io_timeout = io_timeout_;
    dc.auth_timeout = auth_timeout_;
    dc.auth_retry_interval = auth_retry_;
    dc.reconnect_interval = 100ms;
    driver::InitiatorPortConfig pc;
    pc.port.name = "hba0";
    pc.port.identity = {kHostWwpn, kHostPortId};
    pc.port.nop_timeout = 200ms;
    pc.port.keepalive_timeout = keepalive;
    pc.port.sa_policy.limits.soft_frames = soft_frames;
    pc.mailbox_socket = dir_ + "/hba0-mbox.sock";
    pc.targets.push_back({"t1", "127.0.0.1", target_port, kTargetWwpn, require_secure});
    dc.ports.push_back(pc);
    std::vector<SecureBuffer> secrets;
    secrets.push_back(Secret('h'));
    auto d = driver::TransportDriver::Start(dc, std::move(secrets), SystemClock::Instance());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    driver_ = std::move(*d);
    if (!wait_login) return;
    // Wait for the login (state reported by the driver).
    for (int i = 0; i < 200; ++i) {
      auto ts = driver_->Targets();
      if (!ts.empty() && !ts[0].exports.empty()) return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "host did not log in";
  }
  std::unique_ptr<nbd::NbdClient> Lun() {
    auto c = nbd::NbdClient::Connect(nbd::Endpoint::Unix(dir_ + "/luns.sock"), "t1-lun0");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  Bytes FileBytes(std::size_t off, std::size_t len) {
    std::ifstream in(lun_path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(off));
    Bytes b(len);
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(len));
    return b;
  }

  // Submits a DATA request straight to the port (no NBD: the error message is kept) and
  // returns its completion status (Timeout if it did not complete within 10 s).
  Status PortWrite(std::uint64_t offset, const Bytes& data) {
    auto done = std::make_shared<std::promise<Status>>();
    auto f = done->get_future();
    hba::DataRequest r;
    r.cmd = hba::DataCmd::kWrite;
    r.offset = offset;
    r.length = static_cast<std::uint32_t>(data.size());
    r.data = data;
    driver_->port("hba0")->SubmitIo(0, 0, std::move(r),
                                    [done](Status s, Bytes) { done->set_value(s); });
    if (f.wait_for(10s) != std::future_status::ready) return Status::Timeout("no completion");
    return f.get();
  }
  bool WaitState(mailbox::TargetState st, mailbox::TargetAuthState auth) {
    for (int i = 0; i < 500; ++i) {
      auto ts = driver_->Targets();
      if (ts[0].state == st && ts[0].auth_state == auth) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // Scripted agents on the host port's and on the target's mailbox disk.
  std::unique_ptr<ScriptedAgent> HostAgent() {
    return std::make_unique<ScriptedAgent>(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn,
                                           kHostPortId);
  }
  std::unique_ptr<ScriptedAgent> TargetAgent() {
    return std::make_unique<ScriptedAgent>(dir_ + "/target-mbox.sock", Secret('t'), kTargetWwpn,
                                           kTargetPortId);
  }
  // host_agent_ and target_agent_ start and authenticate (Authenticate); returns a LUN client.
  std::unique_ptr<nbd::NbdClient> AuthenticatedLun() {
    host_agent_ = HostAgent();
    target_agent_ = TargetAgent();
    Authenticate(*host_agent_, *target_agent_);
    return Lun();
  }

  // Both agents start (the host's only if `start_host`), relay one AUTH_ELS exchange and
  // install SAs with fixed keys.
  void Authenticate(ScriptedAgent& host, ScriptedAgent& tgt, bool start_host = true) {
    ASSERT_TRUE(tgt.Start().ok());
    if (start_host) {
      ASSERT_TRUE(host.Start().ok());
    }
    auto need = host.WaitType(MessageType::kAuthNeeded);
    ASSERT_TRUE(need.ok()) << need.status().ToString();
    auto an = mailbox::DecodePayload(need->header.type, need->payload);
    ASSERT_EQ(std::get<mailbox::AuthNeeded>(*an).target_wwpn, kTargetWwpn);

    mailbox::AuthElsSend els;
    els.target_wwpn = kTargetWwpn;
    els.target_port_id = kTargetPortId;
    els.exchange_id = 7;
    els.flags = mailbox::kElsNewExchange;
    els.frame = Bytes{'c', 'l', 'i', 'e', 'n', 't', 'h', 'i'};
    auto r = host.CallT(MessageType::kAuthElsSend, els);
    ASSERT_TRUE(r.ok() && r->err == 0);
    auto got = tgt.WaitType(MessageType::kElsReceived);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    auto gp = mailbox::DecodePayload(got->header.type, got->payload);
    const auto& rx = std::get<mailbox::ElsReceived>(*gp);
    EXPECT_EQ(rx.target_wwpn, kHostWwpn);
    EXPECT_EQ(rx.exchange_id, 7u);
    EXPECT_EQ(rx.frame, els.frame);
    mailbox::AuthElsSend reply;
    reply.target_wwpn = kHostWwpn;
    reply.target_port_id = kHostPortId;
    reply.exchange_id = 7;
    reply.flags = mailbox::kElsReply | mailbox::kElsLast;
    reply.frame = Bytes{'s', 'e', 'r', 'v', 'e', 'r'};
    r = tgt.CallT(MessageType::kAuthElsSend, reply);
    ASSERT_TRUE(r.ok() && r->err == 0);
    auto back = host.WaitType(MessageType::kElsReceived);
    ASSERT_TRUE(back.ok());

    // host -> target under key 0xA1 (SPI 0x2222), target -> host under key 0xB2 (SPI 0x1111).
    ASSERT_TRUE(
        host.InstallSa(kTargetWwpn, kTargetPortId, mailbox::SaDirection::kRx, 0x1111, 0xB2).ok());
    ASSERT_TRUE(
        tgt.InstallSa(kHostWwpn, kHostPortId, mailbox::SaDirection::kRx, 0x2222, 0xA1).ok());
    ASSERT_TRUE(
        tgt.InstallSa(kHostWwpn, kHostPortId, mailbox::SaDirection::kTx, 0x1111, 0xB2).ok());
    ASSERT_TRUE(
        host.InstallSa(kTargetWwpn, kTargetPortId, mailbox::SaDirection::kTx, 0x2222, 0xA1).ok());
    mailbox::AuthResult ok{kTargetWwpn, kTargetPortId, mailbox::AuthOutcome::kOk, 0};
    r = host.CallT(MessageType::kAuthResult, ok);
    ASSERT_TRUE(r.ok() && r->err == 0) << (r.ok() ? r->detail : r.status().ToString());
    mailbox::AuthResult tok{kHostWwpn, kHostPortId, mailbox::AuthOutcome::kOk, 0};
    r = tgt.CallT(MessageType::kAuthResult, tok);
    ASSERT_TRUE(r.ok() && r->err == 0);
  }

  std::chrono::milliseconds io_wait_timeout_ = 800ms;
  std::chrono::milliseconds io_timeout_ = 3s;
  std::chrono::milliseconds auth_timeout_ = 20s;
  std::chrono::milliseconds auth_retry_ = 60s;
  std::string dir_, lun_path_;
  std::unique_ptr<ScriptedAgent> host_agent_, target_agent_;
  std::unique_ptr<target::TargetPort> target_;
  std::unique_ptr<driver::TransportDriver> driver_;
};

Bytes Pattern(std::size_t n) {
  const std::string p = "CAFS-PLAINTEXT-PATTERN-";
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(p[i % p.size()]);
  return b;
}

bool Contains(const Bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

TEST_F(EdifHostTest, ClearLunWorksWithoutAgents) {
  StartTarget(false);
  StartHost(false);
  auto lun = Lun();
  ASSERT_TRUE(lun);
  const Bytes data = Pattern(65536);
  ASSERT_TRUE(lun->Write(8192, data).ok());
  ASSERT_TRUE(lun->Flush().ok());
  auto back = lun->Read(8192, 65536);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_EQ(FileBytes(8192, 65536), data);
}

TEST_F(EdifHostTest, RequireSecureRefusesIoWithoutAgentsWithClearError) {
  StartTarget(true);
  StartHost(true);
  auto lun = Lun();
  ASSERT_TRUE(lun);
  Status s = lun->Write(0, Pattern(4096));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.errno_value(), EIO);
  auto ts = driver_->Targets();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].state, mailbox::TargetState::kLoggedIn);
  EXPECT_EQ(FileBytes(0, 4096), Bytes(4096, 0));
}

TEST_F(EdifHostTest, SecureSessionSealsEveryDataFrame) {
  StartTarget(true);
  StartHost(true);
  std::mutex tap_mu;
  Bytes wire_host, wire_target;
  driver_->port("hba0")->SetSendTap([&](ByteView w) {
    std::lock_guard l(tap_mu);
    wire_host.insert(wire_host.end(), w.begin(), w.end());
  });
  target_->SetSendTap([&](ByteView w) {
    std::lock_guard l(tap_mu);
    wire_target.insert(wire_target.end(), w.begin(), w.end());
  });
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ScriptedAgent tgt(dir_ + "/target-mbox.sock", Secret('t'), kTargetWwpn, kTargetPortId);
  Authenticate(host, tgt);
  EXPECT_EQ(driver_->Targets()[0].state, mailbox::TargetState::kOnlineSecure);

  auto lun = Lun();
  ASSERT_TRUE(lun);
  const Bytes data = Pattern(256 * 1024);
  ASSERT_TRUE(lun->Write(1 << 20, data).ok());
  auto back = lun->Read(1 << 20, static_cast<std::uint32_t>(data.size()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
  EXPECT_EQ(FileBytes(1 << 20, data.size()), data);
  {
    std::lock_guard l(tap_mu);
    EXPECT_GT(wire_host.size(), data.size());
    EXPECT_GT(wire_target.size(), data.size());
    EXPECT_FALSE(Contains(wire_host, "CAFS-PLAINTEXT-PATTERN"));
    EXPECT_FALSE(Contains(wire_target, "CAFS-PLAINTEXT-PATTERN"));
  }
  auto hs = driver_->port("hba0")->SessionStats(kTargetWwpn);
  ASSERT_TRUE(hs.ok());
  EXPECT_GE(hs->tx_frames, 2u);
  EXPECT_GE(hs->rx_frames, 2u);

  // GET_STATS through the mailbox reports the same session.
  auto st = host.CallT(MessageType::kGetStats, mailbox::GetStats{0});
  ASSERT_TRUE(st.ok() && st->err == 0);
  auto stats = mailbox::DecodeStats(st->reply);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->entries.size(), 1u);
  EXPECT_EQ(stats->entries[0].wwpn, kTargetWwpn);
  EXPECT_GE(stats->entries[0].tx_frames, 2u);
}

TEST_F(EdifHostTest, ForgedAndReplayedFramesAreDroppedAndCounted) {
  StartTarget(false);
  StartHost(false);
  std::mutex tap_mu;
  std::vector<Bytes> frames;
  driver_->port("hba0")->SetSendTap([&](ByteView w) {
    std::lock_guard l(tap_mu);
    frames.emplace_back(w.begin(), w.end());
  });
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ScriptedAgent tgt(dir_ + "/target-mbox.sock", Secret('t'), kTargetWwpn, kTargetPortId);
  Authenticate(host, tgt);
  auto lun = Lun();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(lun->Write(0, Pattern(4096)).ok());
  Bytes sealed;
  {
    std::lock_guard l(tap_mu);
    for (const Bytes& f : frames) {
      auto d = link::DecodeFrame(f);
      if (d.ok() && d->header.type == link::FrameType::kData &&
          (d->header.flags & link::kFrameSecured) != 0) {
        sealed = f;
      }
    }
  }
  ASSERT_FALSE(sealed.empty());
  auto conn = driver_->port("hba0")->SessionOf("t1")->connection();
  ASSERT_TRUE(conn->Send(sealed).ok());  // replay
  Bytes forged = sealed;
  // A fresh seq (so the anti-replay pre-check passes) and a flipped ciphertext byte: the ICV
  // must fail. Wire: length(4) | header(40) | SPI(4) | seq(8) | ciphertext | ICV.
  forged[link::kLengthPrefixSize + link::kFrameHeaderSize + link::kSpiSize] += 100;
  forged[forged.size() - 20] ^= 0x01;
  ASSERT_TRUE(conn->Send(forged).ok());
  // A clear DATA frame after the session latched secure.
  link::FrameHeader h;
  h.type = link::FrameType::kData;
  h.src_wwpn = kHostWwpn;
  h.src_port_id = kHostPortId;
  h.dst_wwpn = kTargetWwpn;
  h.dst_port_id = kTargetPortId;
  hba::DataRequest wr;
  wr.cmd = hba::DataCmd::kWrite;
  wr.offset = 0;
  wr.length = 512;
  wr.data = Bytes(512, 0xEE);
  ASSERT_TRUE(conn->SendFrame(h, *hba::EncodeDataRequest(wr)).ok());
  // The session still works, and the drops are counted on the target.
  ASSERT_TRUE(lun->Write(4096, Pattern(4096)).ok());
  link::LinkStats ts;
  for (int i = 0; i < 100; ++i) {
    ts = *target_->SessionStats(kHostWwpn);
    if (ts.drops_total() >= 3) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(ts.drop(link::DropReason::kReplay), 1u);
  EXPECT_EQ(ts.drop(link::DropReason::kAuthFailed), 1u);
  EXPECT_EQ(ts.drop(link::DropReason::kCleartext), 1u);
  EXPECT_EQ(FileBytes(0, 512), Bytes(Pattern(512)));  // the clear write was not executed
}

TEST_F(EdifHostTest, HostileMailboxSectorsGetExplicitErrors) {
  StartTarget(false);
  StartHost(false);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ASSERT_TRUE(host.Start().ok());
  // Garbage sector: the WRITE fails and a RESULT with req_id 0 names the problem.
  Bytes junk(512, 0x5A);
  EXPECT_FALSE(host.client().Write(kMbxOffset, junk).ok());
  auto r0 = host.WaitFor([](const Message& m) {
    return m.header.type == MessageType::kResult && m.header.req_id == 0;
  });
  ASSERT_TRUE(r0.ok());
  // Torn sector: valid header, payload damaged after the CRC was computed.
  mailbox::Header h;
  h.type = MessageType::kGetTargets;
  h.epoch = host.epoch();
  h.seq = host.next_seq();
  h.req_id = 55;
  h.wwpn = kHostWwpn;
  h.port_id = kHostPortId;
  auto w = mailbox::EncodeDownstream(h, mailbox::EncodePayload(mailbox::GetTargets{}));
  ASSERT_TRUE(w.ok());
  (*w)[mailbox::kHeaderSize] ^= 0xFF;
  EXPECT_FALSE(host.client().Write(kMbxOffset, *w).ok());
  // Unknown type with a valid CRC: explicit RESULT, the WRITE itself succeeds.
  ASSERT_TRUE(
      host.SendRaw(static_cast<MessageType>(0x0077), {}, host.epoch(), host.next_seq(), 56).ok());
  auto r1 = host.WaitResult(56);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->mailbox_error, mailbox::MailboxError::kUnknownType);
  // Old epoch: dropped with kOldEpoch.
  ASSERT_TRUE(
      host.SendRaw(MessageType::kGetPortInfo, {}, host.epoch() - 1, host.next_seq(), 57).ok());
  auto r2 = host.WaitResult(57);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->mailbox_error, mailbox::MailboxError::kOldEpoch);
  // Unknown target for SA_UPDATE: exec_failed ENOENT.
  mailbox::SaUpdate u;
  u.target_wwpn = 0x1234;
  u.spi = 9;
  u.key = SecureBuffer(32);
  auto r3 = host.CallT(MessageType::kSaUpdate, u);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->err, static_cast<std::uint32_t>(ENOENT));
  // AUTH_RESULT OK without SAs: refused.
  auto r4 = host.CallT(MessageType::kAuthResult, mailbox::AuthResult{kTargetWwpn, kTargetPortId,
                                                                     mailbox::AuthOutcome::kOk, 0});
  ASSERT_TRUE(r4.ok());
  EXPECT_NE(r4->err, 0u);
  // The driver keeps running: port info and targets.
  auto pi = host.Call(MessageType::kGetPortInfo, {});
  ASSERT_TRUE(pi.ok() && pi->err == 0);
  auto info = mailbox::DecodePortInfo(pi->reply);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->wwpn, kHostWwpn);
  auto tl = host.CallT(MessageType::kGetTargets, mailbox::GetTargets{});
  ASSERT_TRUE(tl.ok() && tl->err == 0);
  auto list = mailbox::DecodeTargetList(tl->reply);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->entries.size(), 1u);
  EXPECT_EQ(list->entries[0].wwpn, kTargetWwpn);
  EXPECT_EQ(list->entries[0].state, mailbox::TargetState::kOnlineClear);
}

TEST_F(EdifHostTest, TargetLostMidIoThenReconnects) {
  StartTarget(false);
  StartHost(false);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ASSERT_TRUE(host.Start().ok());
  auto lun = Lun();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(lun->Write(0, Pattern(4096)).ok());
  const std::uint16_t port = StopTarget();
  auto lost = host.WaitType(MessageType::kTargetLost);
  ASSERT_TRUE(lost.ok()) << lost.status().ToString();
  EXPECT_NE(lost->header.flags & mailbox::kFlagAckRequired, 0);
  EXPECT_FALSE(lun->Write(0, Pattern(4096)).ok());  // fails after io_wait_timeout
  StartTarget(false, port);
  Status s;
  for (int i = 0; i < 50; ++i) {
    s = lun->Write(8192, Pattern(4096));
    if (s.ok()) break;
  }
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(FileBytes(8192, 4096), Pattern(4096));
}

// Requests already sent to a target whose connection drops complete at once with EIO naming
// the loss (not the io_timeout "no reply"); the driver posts TARGET_LOST, re-logs in and the
// LUN works again.
TEST_F(EdifHostTest, RequestsInFlightFailWhenTheTargetConnectionDrops) {
  io_timeout_ = 60s;  // a hang would show as "no reply" / no completion, not as "lost"
  SilentTarget silent;
  StartHostOn(silent.port(), false);
  auto host = HostAgent();
  ASSERT_TRUE(host->Start().ok());
  std::vector<std::future<Status>> inflight;
  for (int i = 0; i < 4; ++i) {
    inflight.push_back(std::async(std::launch::async, [this, i] {
      return PortWrite(static_cast<std::uint64_t>(i) * 4096, Pattern(4096));
    }));
  }
  for (int i = 0; i < 500 && silent.swallowed() < 4; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(silent.swallowed(), 4u);  // all four are on the target, unanswered
  silent.DropConnections();
  for (auto& f : inflight) {
    Status s = f.get();
    EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
    EXPECT_NE(s.ToString().find("target t1 lost"), std::string::npos) << s.ToString();
  }
  auto lost = host->WaitType(MessageType::kTargetLost);
  ASSERT_TRUE(lost.ok()) << lost.status().ToString();
  auto lp = mailbox::DecodePayload(lost->header.type, lost->payload);
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(std::get<mailbox::TargetEvent>(*lp).target_wwpn, kTargetWwpn);
  // The port reconnects by itself; once logged in again, I/O is answered.
  silent.set_answer(true);
  auto added = host->WaitType(MessageType::kTargetAdded);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_TRUE(PortWrite(0, Pattern(4096)).ok());
  auto lun = Lun();
  ASSERT_TRUE(lun);
  EXPECT_TRUE(lun->Write(8192, Pattern(4096)).ok());
}

// A hung target (logged in, never answers DATA): each request fails with EIO after io_timeout,
// and once it answers again, I/O works on the same session.
TEST_F(EdifHostTest, RequestsToAHungTargetFailAfterIoTimeout) {
  io_timeout_ = 500ms;
  SilentTarget hung;
  StartHostOn(hung.port(), false);
  Status s = PortWrite(0, Pattern(4096));
  EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
  EXPECT_NE(s.ToString().find("no reply from target t1"), std::string::npos) << s.ToString();
  EXPECT_EQ(hung.swallowed(), 1u);
  hung.set_answer(true);
  EXPECT_TRUE(PortWrite(0, Pattern(4096)).ok());
  EXPECT_EQ(driver_->Targets()[0].state, mailbox::TargetState::kOnlineClear);
}

// A target port answering LOGIN under another WWPN than the configured one (an impostor or a
// miswired fabric): the host refuses the LOGIN_ACC, keeps retrying, exports nothing, and I/O
// to the target fails after the bounded wait.
TEST_F(EdifHostTest, LoginAccFromAnotherWwpnIsRefused) {
  SilentTarget impostor(0x5000000000000bad);
  impostor.set_answer(true);
  StartHostOn(impostor.port(), false, 60s, 1ull << 30, /*wait_login=*/false);
  for (int i = 0; i < 500 && impostor.logins() < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(impostor.logins(), 3u);  // refused, and retried every reconnect_interval
  auto ts = driver_->Targets();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].state, mailbox::TargetState::kOffline);
  EXPECT_TRUE(ts[0].exports.empty());
  EXPECT_FALSE(driver_->port("hba0")->SessionOf("t1"));
  Status s = PortWrite(0, Pattern(4096));
  EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
  EXPECT_NE(s.ToString().find("not logged in"), std::string::npos) << s.ToString();
  EXPECT_EQ(impostor.swallowed(), 0u);
}

// A secure session lost with its target: after the target is back, the host agent is asked to
// authenticate again (AUTH_NEEDED on the re-login), I/O waits until the new SAs are in, and
// the LUN works again, sealed.
TEST_F(EdifHostTest, SecureTargetLostAndBackIsReauthenticated) {
  StartTarget(true);
  io_wait_timeout_ = 10s;
  StartHost(true);
  auto lun = AuthenticatedLun();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(lun->Write(0, Pattern(4096)).ok());
  const std::uint16_t port = StopTarget();
  ASSERT_TRUE(host_agent_->WaitType(MessageType::kTargetLost).ok());
  EXPECT_EQ(driver_->Targets()[0].state, mailbox::TargetState::kOffline);
  // Guest I/O issued while the target is away waits for the new secure session.
  auto pending = std::async(std::launch::async, [&] { return lun->Write(4096, Pattern(4096)); });
  StartTarget(true, port);
  target_agent_ = TargetAgent();  // the target's agent restarts with it
  Authenticate(*host_agent_, *target_agent_, /*start_host=*/false);
  EXPECT_EQ(driver_->Targets()[0].state, mailbox::TargetState::kOnlineSecure);
  Status s = pending.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(FileBytes(4096, 4096), Pattern(4096));
  EXPECT_GE(driver_->port("hba0")->SessionStats(kTargetWwpn)->tx_frames, 1u);
}

// No agent on the host port: the require_secure target's authentication is given up after
// auth_timeout (auth state FAILED), I/O is refused at once with an error naming it; an agent
// that then authenticates brings the LUN online.
TEST_F(EdifHostTest, AuthTimeoutWithoutAgentKeepsLunOfflineUntilAuthenticated) {
  StartTarget(true);
  io_wait_timeout_ = 30s;  // the refusal must come from the auth timeout
  auth_timeout_ = 300ms;
  StartHost(true);
  ASSERT_TRUE(WaitState(mailbox::TargetState::kLoggedIn, mailbox::TargetAuthState::kFailed));
  Status s = PortWrite(0, Pattern(4096));
  EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
  EXPECT_NE(s.ToString().find("authentication not completed within 300 ms"), std::string::npos)
      << s.ToString();
  {
    auto refused = Lun();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->Write(0, Pattern(4096)).errno_value(), EIO);
  }
  EXPECT_EQ(FileBytes(0, 4096), Bytes(4096, 0));

  auto lun = AuthenticatedLun();
  ASSERT_TRUE(lun);
  EXPECT_EQ(driver_->Targets()[0].state, mailbox::TargetState::kOnlineSecure);
  EXPECT_TRUE(lun->Write(0, Pattern(4096)).ok());
  EXPECT_EQ(FileBytes(0, 4096), Pattern(4096));
}

// An agent that starts, gets AUTH_NEEDED and stalls: same bounded give-up; I/O that was
// waiting for the session fails with the auth-timeout error, not after io_wait_timeout.
TEST_F(EdifHostTest, AuthTimeoutWithStalledAgentFailsWaitingIo) {
  StartTarget(true);
  io_wait_timeout_ = 30s;
  auth_timeout_ = 1500ms;
  StartHost(true);
  auto host = HostAgent();
  ASSERT_TRUE(host->Start().ok());
  ASSERT_TRUE(host->WaitType(MessageType::kAuthNeeded).ok());
  Status s = PortWrite(0, Pattern(4096));  // waits, then fails when the auth is given up
  EXPECT_EQ(s.errno_value(), EIO) << s.ToString();
  EXPECT_NE(s.ToString().find("authentication not completed"), std::string::npos) << s.ToString();
  EXPECT_EQ(driver_->Targets()[0].auth_state, mailbox::TargetAuthState::kFailed);
}

// The driver asks a running agent again after a give-up: AUTH_NEEDED auth_retry_interval after
// the deadline, with a new window (PENDING), given up again (FAILED) while the agent stays
// silent; an agent that then authenticates brings the LUN online.
TEST_F(EdifHostTest, AuthGivenUpIsAskedAgainAfterTheRetryInterval) {
  StartTarget(true);
  auth_timeout_ = 400ms;
  auth_retry_ = 1500ms;
  StartHost(true);
  auto host = HostAgent();
  ASSERT_TRUE(host->Start().ok());
  ASSERT_TRUE(host->WaitType(MessageType::kAuthNeeded).ok());
  ASSERT_TRUE(WaitState(mailbox::TargetState::kLoggedIn, mailbox::TargetAuthState::kFailed));
  const auto given_up = std::chrono::steady_clock::now();
  auto again = host->WaitType(MessageType::kAuthNeeded);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - given_up, 1s);  // not before the interval
  auto p = mailbox::DecodePayload(again->header.type, again->payload);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(std::get<mailbox::AuthNeeded>(*p).target_wwpn, kTargetWwpn);
  EXPECT_NE(driver_->Targets()[0].auth_state, mailbox::TargetAuthState::kAuthenticated);
  ASSERT_TRUE(WaitState(mailbox::TargetState::kLoggedIn, mailbox::TargetAuthState::kFailed));
  host.reset();
  auto lun = AuthenticatedLun();
  ASSERT_TRUE(lun);
  EXPECT_TRUE(lun->Write(0, Pattern(4096)).ok());
}

TEST_F(EdifHostTest, DriverStartAnnouncesEpochReset) {
  StartTarget(false);
  StartHost(false);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  auto m = host.WaitType(MessageType::kEpochReset);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // LBA 0-63 read as zeros and consume nothing.
  auto zeros = host.client().Read(0, 4096);
  ASSERT_TRUE(zeros.ok());
  EXPECT_EQ(*zeros, Bytes(4096, 0));
}

TEST_F(EdifHostTest, AuthElsWithoutTargetAgentIsRejected) {
  StartTarget(true);
  StartHost(true);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ASSERT_TRUE(host.Start().ok());
  ASSERT_TRUE(host.WaitType(MessageType::kAuthNeeded).ok());
  mailbox::AuthElsSend els;
  els.target_wwpn = kTargetWwpn;
  els.target_port_id = kTargetPortId;
  els.exchange_id = 3;
  els.flags = mailbox::kElsNewExchange;
  els.frame = Bytes{1, 2, 3};
  auto r = host.CallT(MessageType::kAuthElsSend, els);
  ASSERT_TRUE(r.ok() && r->err == 0);
  auto rej = host.WaitType(MessageType::kElsReceived);
  ASSERT_TRUE(rej.ok());
  auto p = mailbox::DecodePayload(rej->header.type, rej->payload);
  const auto& e = std::get<mailbox::ElsReceived>(*p);
  EXPECT_NE(e.flags & mailbox::kElsReject, 0);
  EXPECT_EQ(e.exchange_id, 3u);
  EXPECT_EQ(driver_->Targets()[0].state, mailbox::TargetState::kLoggedIn);
}

TEST_F(EdifHostTest, SilentAgentTearsDownSecureSessionsAndRestartReauthenticates) {
  StartTarget(true);
  StartHost(true, /*keepalive=*/600ms);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ScriptedAgent tgt(dir_ + "/target-mbox.sock", Secret('t'), kTargetWwpn, kTargetPortId);
  Authenticate(host, tgt);
  auto lun = Lun();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(lun->Write(0, Pattern(4096)).ok());
  // The agent goes silent: after the keepalive timeout the secure session is torn down and the
  // port logs in again in clear, which a require_secure target cannot use.
  bool torn_down = false;
  for (int i = 0; i < 200 && !torn_down; ++i) {
    std::this_thread::sleep_for(20ms);
    auto ts = driver_->Targets();
    torn_down = ts[0].state != mailbox::TargetState::kOnlineSecure;
  }
  ASSERT_TRUE(torn_down);
  Status s = lun->Write(0, Pattern(4096));
  EXPECT_EQ(s.errno_value(), EIO);
  // Agent restart: a new epoch and AUTH_NEEDED for the target again.
  const std::uint64_t old_epoch = host.epoch();
  ASSERT_TRUE(host.Start().ok());
  EXPECT_GT(host.epoch(), old_epoch);
  auto need = host.WaitType(MessageType::kAuthNeeded);
  ASSERT_TRUE(need.ok()) << need.status().ToString();
  EXPECT_EQ(need->header.epoch, host.epoch());
}

TEST_F(EdifHostTest, SoftLimitRaisesSaExpiring) {
  StartTarget(false);
  StartHost(false, 60s, /*soft_frames=*/4);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ScriptedAgent tgt(dir_ + "/target-mbox.sock", Secret('t'), kTargetWwpn, kTargetPortId);
  Authenticate(host, tgt);
  auto lun = Lun();
  ASSERT_TRUE(lun);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(lun->Write(0, Pattern(512)).ok());
  auto exp = host.WaitType(MessageType::kSaExpiring);
  ASSERT_TRUE(exp.ok()) << exp.status().ToString();
  auto p = mailbox::DecodePayload(exp->header.type, exp->payload);
  const auto& e = std::get<mailbox::SaExpiring>(*p);
  EXPECT_EQ(e.target_wwpn, kTargetWwpn);
  EXPECT_EQ(e.reason, mailbox::ExpiryReason::kFrames);
}

TEST_F(EdifHostTest, RekeyUnderSustainedIoLosesNothing) {
  StartTarget(true);
  StartHost(true);
  ScriptedAgent host(dir_ + "/hba0-mbox.sock", Secret('h'), kHostWwpn, kHostPortId);
  ScriptedAgent tgt(dir_ + "/target-mbox.sock", Secret('t'), kTargetWwpn, kTargetPortId);
  Authenticate(host, tgt);
  auto lun = Lun();
  ASSERT_TRUE(lun);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, writes{0};
  std::thread io([&] {
    for (std::uint32_t i = 0; !stop.load() && writes.load() < 100000; ++i) {
      const std::uint64_t off = (i % 256) * 4096ull;
      Bytes block(4096, static_cast<std::uint8_t>(i));
      if (!lun->Write(off, block).ok()) ++errors;
      auto back = lun->Read(off, 4096);
      if (!back.ok() || *back != block) ++errors;
      ++writes;
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, io};
  // Make-before-break: new RX on both sides, switch both TX, delete the old RX.
  using D = mailbox::SaDirection;
  ASSERT_TRUE(host.InstallSa(kTargetWwpn, kTargetPortId, D::kRx, 0x3333, 0xC3).ok());
  ASSERT_TRUE(tgt.InstallSa(kHostWwpn, kHostPortId, D::kRx, 0x4444, 0xD4).ok());
  ASSERT_TRUE(tgt.InstallSa(kHostWwpn, kHostPortId, D::kTx, 0x3333, 0xC3).ok());
  ASSERT_TRUE(host.InstallSa(kTargetWwpn, kTargetPortId, D::kTx, 0x4444, 0xD4).ok());
  for (auto del : {host.DeleteSa(kTargetWwpn, kTargetPortId, D::kRx, 0x1111),
                   tgt.DeleteSa(kHostWwpn, kHostPortId, D::kRx, 0x2222)}) {
    ASSERT_TRUE(del.ok());
    EXPECT_TRUE(*del == 0 || *del == ENOENT) << *del;
  }
  const int before = writes.load();
  while (writes.load() < before + 50) std::this_thread::sleep_for(5ms);
  stop = true;
  io.join();
  EXPECT_TRUE(driver_->port("hba0")->SessionOf("t1")->sas().rx_spis() ==
              std::vector<std::uint32_t>{0x3333});
  EXPECT_EQ(errors.load(), 0);
  auto hs = driver_->port("hba0")->SessionStats(kTargetWwpn);
  ASSERT_TRUE(hs.ok());
  EXPECT_EQ(hs->rekeys, 1u);
  EXPECT_EQ(hs->drops_total(), 0u);
  EXPECT_EQ(*driver_->port("hba0")->SessionOf("t1")->sas().tx_spi(), 0x4444u);
}

// Through the driver: an RX SA superseded by a rekey raises no SA_EXPIRING when it crosses its
// soft limit, and idle rekeys (old RX SAs waiting for retirement) never fill the RX slots.
TEST_F(EdifHostTest, RekeyedRxSaStaysSilentAndIdleRekeysDoNotFillRxSlots) {
  StartTarget(false);
  StartHost(false, 60s, /*soft_frames=*/4);
  auto lun = AuthenticatedLun();
  ASSERT_TRUE(lun);
  ScriptedAgent& host = *host_agent_;
  using D = mailbox::SaDirection;
  // The host's new RX SA supersedes 0x1111 while the target still sends on 0x1111.
  ASSERT_TRUE(host.InstallSa(kTargetWwpn, kTargetPortId, D::kRx, 0x3333, 0xC3).ok());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(lun->Write(0, Pattern(512)).ok());
  auto is_expiring = [](D d) {
    return [d](const Message& m) {
      if (m.header.type != MessageType::kSaExpiring) return false;
      auto p = mailbox::DecodePayload(m.header.type, m.payload);
      return p.ok() && std::get<mailbox::SaExpiring>(*p).direction == d;
    };
  };
  // The host's TX SA (current) crossed its soft limit and signals...
  auto tx = host.WaitFor(is_expiring(D::kTx));
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  // ...the superseded RX SA 0x1111 crossed it too (6 replies opened on it) but stays silent.
  auto session = driver_->port("hba0")->SessionOf("t1");
  ASSERT_TRUE(session);
  auto& sas = session->sas();
  EXPECT_EQ(host.WaitFor(is_expiring(D::kRx), 1s).status().code(), Status::Code::kTimeout);
  EXPECT_EQ(sas.stats().expiring_signals, 1u);

  // Idle rekeys: each new RX SA, then delete the previous one (no traffic retires it).
  std::uint32_t prev = 0x1111;
  for (std::uint32_t spi : {0x3333u, 0x5001u, 0x5002u, 0x5003u, 0x5004u, 0x5005u}) {
    if (spi != 0x3333u) {
      ASSERT_TRUE(host.InstallSa(kTargetWwpn, kTargetPortId, D::kRx, spi, 0xE0).ok()) << spi;
    }
    auto del = host.DeleteSa(kTargetWwpn, kTargetPortId, D::kRx, prev);
    ASSERT_TRUE(del.ok() && *del == 0) << prev;
    prev = spi;
  }
  const std::vector<std::uint32_t> rx = sas.rx_spis();
  EXPECT_EQ(rx.size(), 4u);
  EXPECT_NE(std::find(rx.begin(), rx.end(), 0x5005u), rx.end());
  EXPECT_EQ(sas.stats().rx_evicted, 3u);
}

TEST_F(EdifHostTest, TargetDropsClearDataForRequireSecureLun) {
  StartTarget(true);
  StartHost(false);
  std::shared_ptr<hba::RemoteSession> s;
  for (int i = 0; i < 100 && !s; ++i) {
    s = driver_->port("hba0")->SessionOf("t1");
    if (!s) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(s);
  // What a rogue initiator would send: a clear WRITE straight onto the fabric.
  hba::DataRequest wr;
  wr.cmd = hba::DataCmd::kWrite;
  wr.length = 512;
  wr.data = Bytes(512, 0xEE);
  ASSERT_TRUE(s->Send(link::FrameType::kData, 99, 0, *hba::EncodeDataRequest(wr)).ok());
  link::LinkStats ts;
  for (int i = 0; i < 100; ++i) {
    ts = *target_->SessionStats(kHostWwpn);
    if (ts.drop(link::DropReason::kCleartext) != 0) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(ts.drop(link::DropReason::kCleartext), 1u);
  EXPECT_EQ(FileBytes(0, 512), Bytes(512, 0));
}

}  // namespace
}  // namespace cafs::edif
