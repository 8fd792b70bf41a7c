// Two Agents (initiator side and target side), each on an NbdBlockChannel to its own mailbox
// disk served by our NbdServer + MailboxEndpoint, with a fake driver pair that relays AUTH_ELS
// between the two endpoints and "installs" SAs. Proves the mailbox side of the agent end to
// end without edifd.
#include "edif/agent/agent.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "edif/agent/nbd_block_channel.h"
#include "edif/mailbox/endpoint.h"
#include "edif/nbd/client.h"
#include "edif/nbd/server.h"
#include "test_pki.h"

namespace cafs::edif::agent {
namespace {

namespace mbx = cafs::edif::mailbox;

// The NBD export of one mailbox disk.
class MailboxDisk final : public nbd::BlockDevice {
 public:
  explicit MailboxDisk(mbx::MailboxEndpoint& ep) : ep_(ep) {}
  std::uint64_t Size() const override { return 1 << 20; }
  nbd::DeviceFeatures Features() const override {
    nbd::DeviceFeatures f;
    f.trim = f.write_zeroes = f.fua = false;
    return f;
  }
  void Read(std::uint64_t off, std::uint32_t len, ReadCallback done) override {
    auto shared = std::make_shared<ReadCallback>(std::move(done));
    Status st = ep_.Read(off, len, [shared](Bytes b) { (*shared)(Status::OK(), std::move(b)); });
    if (!st.ok()) (*shared)(st, {});
  }
  void Write(std::uint64_t off, Bytes data, bool, DoneCallback done) override {
    done(ep_.Write(off, data));
  }
  void Flush(DoneCallback done) override { done(Status::OK()); }
  void Trim(std::uint64_t, std::uint32_t, DoneCallback done) override { done(Status::OK()); }

 private:
  mbx::MailboxEndpoint& ep_;
};

struct Sa {
  Bytes key;
  std::array<std::uint8_t, 4> salt;
};

class FakeDriver final : public mbx::MailboxDelegate {
 public:
  FakeDriver(std::uint64_t wwpn, std::uint32_t port_id) : wwpn_(wwpn), port_id_(port_id) {}
  void Wire(mbx::MailboxEndpoint* self, FakeDriver* peer, bool list_peer) {
    self_ = self;
    peer_ = peer;
    list_peer_ = list_peer;
  }
  mbx::MailboxEndpoint* endpoint() { return self_; }

  mbx::Reply Execute(const mbx::Request& r) override {
    if (std::get_if<mbx::GetPortInfo>(&r.payload)) {
      mbx::PortInfo pi{wwpn_, wwpn_ + 1, port_id_, mbx::LinkStateValue::kUp, mbx::kPortEdifCapable,
                       10000};
      return mbx::Reply::WithPayload(mbx::MessageType::kPortInfo, mbx::EncodePayload(pi));
    }
    if (std::get_if<mbx::GetTargets>(&r.payload)) {
      mbx::TargetList tl;
      if (list_peer_) {
        tl.entries.push_back({peer_->wwpn_, peer_->port_id_, mbx::TargetState::kLoggedIn,
                              mbx::TargetAuthState::kNone, mbx::kTargetRequireSecure});
      }
      tl.total = static_cast<std::uint32_t>(tl.entries.size());
      return mbx::Reply::WithPayload(mbx::MessageType::kTargetList, mbx::EncodePayload(tl).value());
    }
    if (const auto* els = std::get_if<mbx::AuthElsSend>(&r.payload)) {
      mbx::ElsReceived in;
      static_cast<mbx::ElsFrame&>(in) = *els;
      in.target_wwpn = wwpn_;  // from the receiver's view: the remote port is us
      in.target_port_id = port_id_;
      {
        std::lock_guard lock(mu_);
        if (drop_els_) return mbx::Reply::Ok();
      }
      auto enc = mbx::EncodePayload(static_cast<const mbx::ElsFrame&>(in));
      EXPECT_TRUE(enc.ok());
      EXPECT_TRUE(peer_->self_->Post(mbx::MessageType::kElsReceived, *enc).ok());
      return mbx::Reply::Ok();
    }
    if (const auto* sa = std::get_if<mbx::SaUpdate>(&r.payload)) {
      {
        std::lock_guard lock(mu_);
        auto& table = sa->direction == mbx::SaDirection::kRx ? rx_ : tx_;
        if (sa->op == mbx::SaOp::kAdd) {
          table[sa->spi] = {Bytes(sa->key.data(), sa->key.data() + sa->key.size()), sa->salt};
          if (sa->direction == mbx::SaDirection::kTx) current_tx_ = sa->spi;
        } else {
          table.erase(sa->spi);
          ++deletes_;
        }
      }
      mbx::SaUpdateComplete c{
          sa->target_wwpn, sa->target_port_id, sa->spi, sa->direction, sa->op, 0};
      EXPECT_TRUE(self_->PostEvent(mbx::MessageType::kSaUpdateComplete, c).ok());
      return mbx::Reply::Ok();
    }
    if (const auto* ar = std::get_if<mbx::AuthResult>(&r.payload)) {
      std::lock_guard lock(mu_);
      (ar->outcome == mbx::AuthOutcome::kOk ? auth_ok_ : auth_fail_)++;
      if (ar->outcome != mbx::AuthOutcome::kOk) last_fail_reason_ = ar->reason;
      return mbx::Reply::Ok();
    }
    return mbx::Reply::Ok();
  }

  std::mutex mu_;
  std::map<std::uint32_t, Sa> rx_, tx_;
  std::uint32_t current_tx_ = 0;
  int auth_ok_ = 0, auth_fail_ = 0, deletes_ = 0;
  std::uint32_t last_fail_reason_ = 0;
  bool drop_els_ = false;  // AUTH_ELS accepted but never delivered (a peer that stays silent)

 private:
  std::uint64_t wwpn_;
  std::uint32_t port_id_;
  mbx::MailboxEndpoint* self_ = nullptr;
  FakeDriver* peer_ = nullptr;
  bool list_peer_ = false;
};

constexpr std::uint64_t kHostWwpn = 0x2100'0024'ff00'0001ull;
constexpr std::uint64_t kTargetWwpn = 0x5000'0c29'0000'0002ull;

SecureBuffer Secret(std::uint8_t fill) {
  SecureBuffer s(32);
  for (auto& b : s.mutable_view()) b = fill;
  return s;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edif-agent-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    pki_ = testing::MakePki(dir_, "fabric", "host-agent", kHostWwpn, "target-agent", kTargetWwpn);
    rogue_ = testing::MakePki(dir_, "rogue", "rogue-host", kHostWwpn, "rogue-target", kTargetWwpn);
    mbx::EndpointConfig hc;
    hc.wwpn = kHostWwpn;
    hc.port_id = 0x010100;
    hc.initial_epoch = 10;
    mbx::EndpointConfig tc;
    tc.wwpn = kTargetWwpn;
    tc.port_id = 0x020200;
    tc.initial_epoch = 500;
    host_ep_ =
        std::make_unique<mbx::MailboxEndpoint>(hc, Secret(1), host_drv_, SystemClock::Instance());
    target_ep_ =
        std::make_unique<mbx::MailboxEndpoint>(tc, Secret(2), target_drv_, SystemClock::Instance());
    host_drv_.Wire(host_ep_.get(), &target_drv_, true);
    target_drv_.Wire(target_ep_.get(), &host_drv_, false);
    ASSERT_TRUE(server_.AddExport("host", std::make_shared<MailboxDisk>(*host_ep_)).ok());
    ASSERT_TRUE(server_.AddExport("target", std::make_shared<MailboxDisk>(*target_ep_)).ok());
    ASSERT_TRUE(server_.ListenUnix(dir_ + "/m.sock").ok());
  }
  void TearDown() override {
    host_.reset();
    target_.reset();
    host_ch_.reset();
    target_ch_.reset();
    host_ep_->Shutdown();
    target_ep_->Shutdown();
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }

  AgentConfig Config(TlsRole role, const testing::PemFiles& pem, std::uint8_t secret) {
    AgentConfig c;
    c.role = role;
    c.credentials.ca_file = pem.ca;
    c.credentials.cert_file = pem.cert;
    c.credentials.key_file = pem.key;
    c.secret = Secret(secret);
    c.retry_delay = std::chrono::milliseconds(200);
    c.start_timeout = std::chrono::milliseconds(300);
    return c;
  }

  void StartAgents(AgentConfig host, AgentConfig target) {
    auto hc = NbdBlockChannel::Connect("nbd+unix:///host?socket=" + dir_ + "/m.sock");
    auto tc = NbdBlockChannel::Connect("nbd+unix:///target?socket=" + dir_ + "/m.sock");
    ASSERT_TRUE(hc.ok() && tc.ok());
    host_ch_ = std::move(hc).value();
    target_ch_ = std::move(tc).value();
    auto h = Agent::Create(std::move(host), *host_ch_, SystemClock::Instance());
    auto t = Agent::Create(std::move(target), *target_ch_, SystemClock::Instance());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    host_ = std::move(h).value();
    target_ = std::move(t).value();
  }

  template <typename Pred>
  bool RunUntil(Pred pred, int ms = 8000) {
    for (int i = 0; i < ms / 4 && !pred(); ++i) {
      if (!host_->RunOnce(std::chrono::milliseconds(2)).ok()) return false;
      if (!target_->RunOnce(std::chrono::milliseconds(2)).ok()) return false;
    }
    return pred();
  }

  bool BothAuthenticated() {
    auto h = host_->targets();
    auto t = target_->targets();
    return h.size() == 1 && t.size() == 1 && h[0].authenticated && t[0].authenticated;
  }

  // The host driver's TX SA equals the target driver's RX SA of the same SPI, and back.
  void ExpectKeysMatch() {
    std::scoped_lock lock(host_drv_.mu_, target_drv_.mu_);
    const auto htx = host_drv_.current_tx_, ttx = target_drv_.current_tx_;
    ASSERT_TRUE(target_drv_.rx_.count(htx));
    ASSERT_TRUE(host_drv_.rx_.count(ttx));
    EXPECT_EQ(host_drv_.tx_.at(htx).key, target_drv_.rx_.at(htx).key);
    EXPECT_EQ(host_drv_.tx_.at(htx).salt, target_drv_.rx_.at(htx).salt);
    EXPECT_EQ(target_drv_.tx_.at(ttx).key, host_drv_.rx_.at(ttx).key);
    EXPECT_EQ(host_drv_.tx_.at(htx).key.size(), 32u);
  }

  std::string dir_;
  testing::TestPki pki_, rogue_;
  FakeDriver host_drv_{kHostWwpn, 0x010100};
  FakeDriver target_drv_{kTargetWwpn, 0x020200};
  std::unique_ptr<mbx::MailboxEndpoint> host_ep_, target_ep_;
  nbd::NbdServer server_;
  std::unique_ptr<NbdBlockChannel> host_ch_, target_ch_;
  std::unique_ptr<Agent> host_, target_;
};

TEST_F(AgentTest, AuthenticatesInstallsSasAndReportsOk) {
  StartAgents(Config(TlsRole::kClient, pki_.a, 1), Config(TlsRole::kServer, pki_.b, 2));
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  EXPECT_TRUE(host_->started());
  EXPECT_EQ(host_->epoch(), 11u);  // initial epoch + 1
  EXPECT_EQ(target_->epoch(), 501u);
  EXPECT_EQ(host_->port_wwpn(), kHostWwpn);
  ASSERT_TRUE(RunUntil([&] {
    std::scoped_lock lock(host_drv_.mu_, target_drv_.mu_);
    return host_drv_.auth_ok_ == 1 && target_drv_.auth_ok_ == 1;
  }));
  ExpectKeysMatch();
  EXPECT_NE(host_->targets()[0].peer.find("target-agent"), std::string::npos);
  EXPECT_EQ(host_ep_->stats().auth_failures, 0u);
}

TEST_F(AgentTest, RekeyOnSaExpiringAndReauthAfterEpochReset) {
  StartAgents(Config(TlsRole::kClient, pki_.a, 1), Config(TlsRole::kServer, pki_.b, 2));
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  const std::uint32_t old_tx = host_->targets()[0].tx_spi;
  // The target's driver says its TX SA is expiring.
  mbx::SaExpiring x{kHostWwpn, 0x010100, target_->targets()[0].tx_spi, mbx::SaDirection::kTx,
                    mbx::ExpiryReason::kBytes};
  ASSERT_TRUE(target_ep_->PostEvent(mbx::MessageType::kSaExpiring, x).ok());
  ASSERT_TRUE(RunUntil([&] {
    return host_->stats().rekeys == 1 && target_->stats().rekeys == 1 && host_drv_.deletes_ >= 1 &&
           target_drv_.deletes_ >= 1;
  }));
  EXPECT_NE(host_->targets()[0].tx_spi, old_tx);
  EXPECT_EQ(host_->targets()[0].generation, 2u);
  ExpectKeysMatch();
  // The host driver restarts: EPOCH_RESET -> APP_START again -> new epoch -> re-authenticate.
  host_ep_->ResetEpoch(1000, 0);
  ASSERT_TRUE(RunUntil([&] { return host_->epoch() == 1001 && host_->stats().auth_ok == 2; }));
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  EXPECT_EQ(host_->stats().app_starts, 2u);
  ExpectKeysMatch();
}

TEST_F(AgentTest, AgentRestartReauthenticates) {
  StartAgents(Config(TlsRole::kClient, pki_.a, 1), Config(TlsRole::kServer, pki_.b, 2));
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  // A new host agent instance (the old one is gone without APP_STOP, as after kill -9). Its
  // reads stay parked in this test's endpoint (it does not implement ReadFor) and swallow the
  // first upstream messages (hba::MailboxDisk drops them with the connection): the new
  // agent's APP_START retries cover that.
  host_.reset();
  host_ch_.reset();
  auto hc = NbdBlockChannel::Connect("nbd+unix:///host?socket=" + dir_ + "/m.sock");
  ASSERT_TRUE(hc.ok());
  host_ch_ = std::move(hc).value();
  host_ = Agent::Create(Config(TlsRole::kClient, pki_.a, 1), *host_ch_, SystemClock::Instance())
              .value();
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  EXPECT_GE(host_->epoch(), 12u);
  EXPECT_EQ(target_->stats().auth_ok, 2u);
  ExpectKeysMatch();
}

TEST_F(AgentTest, ResultsForAnotherWritersRecordsDoNotRestartTheSession) {
  StartAgents(Config(TlsRole::kClient, pki_.a, 1), Config(TlsRole::kServer, pki_.b, 2));
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  const std::uint64_t epoch = host_->epoch();
  // Another writer of the host's mailbox disk sends records from a wrong epoch and before any
  // APP_START of its own, with small request ids (the ones an agent would use): the driver
  // answers each with old_epoch; none of those answers is for the agent.
  auto raw = nbd::NbdClient::Connect(nbd::Endpoint::Unix(dir_ + "/m.sock"), "host");
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  for (std::uint64_t id = 0; id < 64; ++id) {
    mbx::Header h;
    h.type = mbx::MessageType::kGetTargets;
    h.epoch = epoch + 1 + id;
    h.seq = id + 1;
    h.req_id = id;
    h.wwpn = kHostWwpn;
    h.port_id = 0x010100;
    Bytes wire = mbx::EncodeDownstream(h, mbx::EncodePayload(mbx::GetTargets{})).value();
    wire.resize(mbx::kSectorSize);
    ASSERT_TRUE((*raw)->Write(mbx::kReservedBytes, wire).ok());
  }
  RunUntil([] { return false; }, 400);
  EXPECT_EQ(host_->epoch(), epoch);
  EXPECT_EQ(host_->stats().app_starts, 1u);
  EXPECT_TRUE(BothAuthenticated());
}

TEST_F(AgentTest, WrongCertificateReportsAuthFail) {
  StartAgents(Config(TlsRole::kClient, pki_.a, 1), Config(TlsRole::kServer, rogue_.b, 2));
  ASSERT_TRUE(RunUntil([&] {
    std::scoped_lock lock(host_drv_.mu_);
    return host_drv_.auth_fail_ >= 1;
  }));
  EXPECT_FALSE(host_->targets()[0].authenticated);
  EXPECT_FALSE(host_->targets()[0].last_error.empty());
  std::scoped_lock lock(host_drv_.mu_);
  EXPECT_EQ(host_drv_.auth_ok_, 0);
  EXPECT_TRUE(host_drv_.tx_.empty());
}

// A valid certificate of the fabric CA that names another port's WWPN: AUTH_RESULT FAIL on
// the host side, with the reason in the agent's state.
TEST_F(AgentTest, CertificateNamingAnotherWwpnReportsAuthFail) {
  const auto impostor =
      testing::IssueLeaf(dir_, "fabric", "impostor-target", 0x5000'0c29'0000'0bad);
  StartAgents(Config(TlsRole::kClient, pki_.a, 1), Config(TlsRole::kServer, impostor, 2));
  ASSERT_TRUE(RunUntil([&] {
    std::scoped_lock lock(host_drv_.mu_);
    return host_drv_.auth_fail_ >= 1;
  }));
  EXPECT_FALSE(host_->targets()[0].authenticated);
  EXPECT_NE(host_->targets()[0].last_error.find("names WWPN 50000c2900000bad"), std::string::npos)
      << host_->targets()[0].last_error;
  std::scoped_lock lock(host_drv_.mu_);
  EXPECT_EQ(host_drv_.auth_ok_, 0);
  EXPECT_TRUE(host_drv_.tx_.empty());
}

// The peer agent never answers (its frames are lost): the handshake times out, AUTH_RESULT
// FAIL with reason 2 (timeout) reaches the driver; once frames flow again the agent's retry
// authenticates.
TEST_F(AgentTest, HandshakeTimeoutReportsAuthFailThenRetrySucceeds) {
  {
    std::scoped_lock lock(host_drv_.mu_);
    host_drv_.drop_els_ = true;
  }
  AgentConfig hc = Config(TlsRole::kClient, pki_.a, 1);
  hc.handshake_timeout = std::chrono::milliseconds(300);
  StartAgents(std::move(hc), Config(TlsRole::kServer, pki_.b, 2));
  ASSERT_TRUE(RunUntil([&] {
    std::scoped_lock lock(host_drv_.mu_);
    return host_drv_.auth_fail_ >= 1;
  }));
  EXPECT_EQ(host_->targets()[0].last_error, "handshake timeout");
  {
    std::scoped_lock lock(host_drv_.mu_);
    EXPECT_EQ(host_drv_.last_fail_reason_, 2u);
    EXPECT_EQ(host_drv_.auth_ok_, 0);
    host_drv_.drop_els_ = false;
  }
  ASSERT_TRUE(RunUntil([&] { return BothAuthenticated(); }));
  ExpectKeysMatch();
}

TEST_F(AgentTest, WrongSecretNeverStarts) {
  StartAgents(Config(TlsRole::kClient, pki_.a, 9), Config(TlsRole::kServer, pki_.b, 2));
  RunUntil([&] { return host_ep_->stats().auth_failures >= 1; }, 3000);
  EXPECT_GE(host_ep_->stats().auth_failures, 1u);
  ASSERT_TRUE(RunUntil([&] { return target_->started(); }));
  EXPECT_FALSE(host_->started());
}

}  // namespace
}  // namespace cafs::edif::agent
