// Two AuthSessions wired back to back in memory (no driver, no mailbox): the handshake, key
// derivation, SPI exchange, rekey and the failure cases.
#include "edif/agent/auth_session.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>

#include "edif/agent/cert_wwpn.h"
#include "edif/agent/psk_identity.h"
#include "test_pki.h"

namespace cafs::edif::agent {
namespace {

constexpr std::uint64_t kInitiator = 0x2100'0024'ff00'0001ull;
constexpr std::uint64_t kTarget = 0x5000'0c29'0000'0002ull;

struct InstalledSa {
  std::uint32_t spi;
  Bytes key;
  std::array<std::uint8_t, 4> salt;
  std::uint32_t generation;
};

// One side: a session plus what it asked the (imaginary) driver to install.
struct Side {
  std::unique_ptr<AuthSession> s;
  std::map<std::uint32_t, InstalledSa> rx;  // by SPI
  std::vector<InstalledSa> tx;              // in order
  std::vector<std::uint32_t> deleted_rx;
  int authenticated = 0;
  int rekeyed = 0;
  std::string failed;
  std::deque<Bytes> outbox;  // frames to the peer
  bool auto_install = true;
};

void Handle(Side& side, std::vector<AuthAction> actions) {
  std::deque<std::vector<AuthAction>> work;
  work.push_back(std::move(actions));
  while (!work.empty()) {
    auto batch = std::move(work.front());
    work.pop_front();
    for (auto& a : batch) {
      switch (a.kind) {
        case AuthAction::Kind::kSendFrame:
          side.outbox.push_back(a.frame);
          break;
        case AuthAction::Kind::kInstallRx:
          side.rx[a.spi] = {a.spi, Bytes(a.key.data(), a.key.data() + a.key.size()), a.salt,
                            a.generation};
          if (side.auto_install) work.push_back(side.s->OnSaInstalled(SaDir::kRx, a.spi, 0));
          break;
        case AuthAction::Kind::kInstallTx:
          side.tx.push_back(
              {a.spi, Bytes(a.key.data(), a.key.data() + a.key.size()), a.salt, a.generation});
          if (side.auto_install) work.push_back(side.s->OnSaInstalled(SaDir::kTx, a.spi, 0));
          break;
        case AuthAction::Kind::kDeleteRx:
          side.deleted_rx.push_back(a.spi);
          break;
        case AuthAction::Kind::kAuthenticated:
          ++side.authenticated;
          break;
        case AuthAction::Kind::kRekeyed:
          ++side.rekeyed;
          break;
        case AuthAction::Kind::kFailed:
          side.failed = a.reason;
          break;
      }
    }
  }
}

// Moves frames both ways until both outboxes are empty.
void Pump(Side& a, Side& b) {
  for (int i = 0; i < 100 && (!a.outbox.empty() || !b.outbox.empty()); ++i) {
    while (!a.outbox.empty()) {
      Bytes f = std::move(a.outbox.front());
      a.outbox.pop_front();
      Handle(b, b.s->OnFrame(f));
    }
    while (!b.outbox.empty()) {
      Bytes f = std::move(b.outbox.front());
      b.outbox.pop_front();
      Handle(a, a.s->OnFrame(f));
    }
  }
}

class AuthSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edif-agent-pki-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    pki_ = testing::MakePki(dir_, "fabric", "host-agent", kInitiator, "target-agent", kTarget);
    rogue_ = testing::MakePki(dir_, "rogue", "rogue-host", kInitiator, "rogue-target", kTarget);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static TlsCredentials Creds(const testing::PemFiles& p) {
    TlsCredentials c;
    c.ca_file = p.ca;
    c.cert_file = p.cert;
    c.key_file = p.key;
    return c;
  }
  static TlsCredentials Psk(std::uint8_t fill) {
    TlsCredentials c;
    c.psk_secret = SecureBuffer(32);
    for (auto& b : c.psk_secret.mutable_view()) b = fill;
    return c;
  }

  void Make(const TlsCredentials& client, const TlsCredentials& server, Side& i, Side& t) {
    auto cctx = TlsContext::Create(TlsRole::kClient, client);
    auto sctx = TlsContext::Create(TlsRole::kServer, server);
    ASSERT_TRUE(cctx.ok()) << cctx.status().ToString();
    ASSERT_TRUE(sctx.ok()) << sctx.status().ToString();
    AuthSessionConfig ic{TlsRole::kClient, kInitiator, kTarget, 7, std::chrono::seconds(10)};
    AuthSessionConfig tc{TlsRole::kServer, kTarget, kInitiator, 0, std::chrono::seconds(10)};
    auto is = AuthSession::Create(*cctx, ic, clock_);
    auto ts = AuthSession::Create(*sctx, tc, clock_);
    ASSERT_TRUE(is.ok() && ts.ok());
    i.s = std::move(is).value();
    t.s = std::move(ts).value();
  }

  // Make, then run the handshake to its end.
  void Handshake(const TlsCredentials& client, const TlsCredentials& server, Side& i, Side& t) {
    Make(client, server, i, t);
    Handle(i, i.s->Start());
    Pump(i, t);
  }
  // Neither side authenticated nor sent a TX SA; `checker` failed saying `why` and installed
  // nothing. (A TLS 1.3 client may have asked for its RX SA before the server's alert came.)
  static void ExpectRefused(const Side& checker, const Side& other, const std::string& why) {
    EXPECT_EQ(checker.authenticated + other.authenticated, 0);
    EXPECT_NE(checker.failed.find(why), std::string::npos) << checker.failed;
    EXPECT_FALSE(other.failed.empty());
    EXPECT_TRUE(checker.rx.empty());
    EXPECT_TRUE(checker.tx.empty());
    EXPECT_TRUE(other.tx.empty());
  }

  static void ExpectPairedKeys(const Side& i, const Side& t, std::uint32_t gen) {
    // Initiator TX lands in the target's RX with the same SPI, key and salt; and back.
    const InstalledSa& itx = i.tx.back();
    const InstalledSa& ttx = t.tx.back();
    ASSERT_TRUE(t.rx.count(itx.spi));
    ASSERT_TRUE(i.rx.count(ttx.spi));
    EXPECT_EQ(itx.key, t.rx.at(itx.spi).key);
    EXPECT_EQ(itx.salt, t.rx.at(itx.spi).salt);
    EXPECT_EQ(ttx.key, i.rx.at(ttx.spi).key);
    EXPECT_EQ(ttx.salt, i.rx.at(ttx.spi).salt);
    EXPECT_NE(itx.key, ttx.key);  // one key per direction
    EXPECT_EQ(itx.key.size(), 32u);
    EXPECT_EQ(itx.generation, gen);
    EXPECT_EQ(ttx.generation, gen);
    EXPECT_EQ(i.s->tx_spi(), t.s->rx_spi());
    EXPECT_EQ(t.s->tx_spi(), i.s->rx_spi());
  }

  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(1000))};
  std::string dir_;
  testing::TestPki pki_;
  testing::TestPki rogue_;
};

TEST_F(AuthSessionTest, MutualX509DerivesTheSameKeysPerDirection) {
  Side i, t;
  Make(Creds(pki_.a), Creds(pki_.b), i, t);
  Handle(i, i.s->Start());
  ASSERT_EQ(i.outbox.size(), 1u);  // ClientHello
  Pump(i, t);
  EXPECT_EQ(i.failed, "");
  EXPECT_EQ(t.failed, "");
  EXPECT_EQ(i.authenticated, 1);
  EXPECT_EQ(t.authenticated, 1);
  EXPECT_EQ(i.s->state(), AuthSession::State::kEstablished);
  ExpectPairedKeys(i, t, 1);
  EXPECT_NE(i.s->rx_spi(), 0u);
  EXPECT_NE(t.s->rx_spi(), 0u);
  EXPECT_EQ(t.s->session_epoch(), 7u);  // adopted from the initiator's frames
  EXPECT_NE(i.s->peer_description().find("target-agent"), std::string::npos);
  EXPECT_NE(t.s->peer_description().find("host-agent"), std::string::npos);
}

TEST_F(AuthSessionTest, RxIsInstalledBeforeTx) {
  Side i, t;
  Make(Creds(pki_.a), Creds(pki_.b), i, t);
  i.auto_install = false;
  Handle(i, i.s->Start());
  Pump(i, t);
  // The initiator asked for RX only; no TX until its RX is reported installed.
  ASSERT_EQ(i.rx.size(), 1u);
  EXPECT_TRUE(i.tx.empty());
  EXPECT_EQ(t.authenticated, 0);
  Handle(i, i.s->OnSaInstalled(SaDir::kRx, i.rx.begin()->first, 0));
  Pump(i, t);
  ASSERT_EQ(i.tx.size(), 1u);
  EXPECT_EQ(i.authenticated, 0);  // TX not confirmed yet
  Handle(i, i.s->OnSaInstalled(SaDir::kTx, i.tx[0].spi, 0));
  EXPECT_EQ(i.authenticated, 1);
  EXPECT_EQ(t.authenticated, 1);
  ExpectPairedKeys(i, t, 1);
}

TEST_F(AuthSessionTest, RekeyIsMakeBeforeBreakWithFreshKeys) {
  Side i, t;
  Make(Creds(pki_.a), Creds(pki_.b), i, t);
  Handle(i, i.s->Start());
  Pump(i, t);
  const Bytes old_key = i.tx.back().key;
  const std::uint32_t old_i_rx = i.s->rx_spi(), old_t_rx = t.s->rx_spi();
  // The target side saw SA_EXPIRING: it starts; the initiator follows from the SPI message.
  Handle(t, t.s->StartRekey());
  Pump(i, t);
  EXPECT_EQ(i.rekeyed, 1);
  EXPECT_EQ(t.rekeyed, 1);
  EXPECT_EQ(i.s->generation(), 2u);
  ExpectPairedKeys(i, t, 2);
  EXPECT_NE(i.tx.back().key, old_key);
  // Old RX deleted only after the new TX is in, and both old RX SAs were installed meanwhile.
  EXPECT_EQ(i.deleted_rx, std::vector<std::uint32_t>{old_i_rx});
  EXPECT_EQ(t.deleted_rx, std::vector<std::uint32_t>{old_t_rx});
  // Both start at once: still one consistent generation 3.
  Handle(i, i.s->StartRekey());
  Handle(t, t.s->StartRekey());
  Pump(i, t);
  EXPECT_EQ(i.s->generation(), 3u);
  EXPECT_EQ(t.s->generation(), 3u);
  ExpectPairedKeys(i, t, 3);
}

TEST_F(AuthSessionTest, CertificateFromAnotherCaFailsOnBothSides) {
  Side i, t;
  Make(Creds(pki_.a), Creds(rogue_.b), i, t);  // the target presents a rogue certificate
  Handle(i, i.s->Start());
  Pump(i, t);
  EXPECT_EQ(i.authenticated + t.authenticated, 0);
  EXPECT_NE(i.failed.find("certificate"), std::string::npos) << i.failed;
  EXPECT_FALSE(t.failed.empty());
  EXPECT_TRUE(i.rx.empty());
  EXPECT_TRUE(t.rx.empty());
  EXPECT_EQ(i.s->state(), AuthSession::State::kFailed);
}

TEST_F(AuthSessionTest, ClientWithRogueCertificateIsRefused) {
  Side i, t;
  Make(Creds(rogue_.a), Creds(pki_.b), i, t);
  Handle(i, i.s->Start());
  Pump(i, t);
  EXPECT_EQ(i.authenticated + t.authenticated, 0);
  EXPECT_FALSE(t.failed.empty());
  EXPECT_FALSE(i.failed.empty());
  EXPECT_TRUE(t.rx.empty());
}

// Same CA, valid chain, but the certificate names another port (or none): refused on both
// sides, and the checking side says why.
TEST_F(AuthSessionTest, TargetCertificateNamingAnotherWwpnIsRefused) {
  Side i, t;
  Handshake(Creds(pki_.a),
            Creds(testing::IssueLeaf(dir_, "fabric", "impostor-target", 0x5000'0c29'0000'0bad)), i,
            t);
  ExpectRefused(i, t, "names WWPN 50000c2900000bad, but the peer port is 50000c2900000002");
}

TEST_F(AuthSessionTest, InitiatorCertificateNamingAnotherWwpnIsRefused) {
  Side i, t;
  Handshake(Creds(testing::IssueLeaf(dir_, "fabric", "impostor-host", kTarget)), Creds(pki_.b), i,
            t);
  ExpectRefused(t, i, "names WWPN 50000c2900000002, but the peer port is 21000024ff000001");
}

TEST_F(AuthSessionTest, CertificateNamingNoWwpnIsRefused) {
  Side i, t;
  Handshake(Creds(pki_.a),
            Creds(testing::IssueLeaf(dir_, "fabric", "unnamed-target", std::nullopt)), i, t);
  ExpectRefused(i, t, "names no WWPN");
}

X509* ReadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return nullptr;
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return x;
}

TEST_F(AuthSessionTest, CertificateWwpnParsing) {
  EXPECT_EQ(WwpnUri(kTarget), "urn:wwpn:50000c2900000002");
  EXPECT_EQ(*ParseWwpnUri("urn:wwpn:50000C2900000002"), kTarget);
  EXPECT_FALSE(ParseWwpnUri("urn:wwpn:50:00:0c:29:00:00:00:02").ok());
  EXPECT_FALSE(ParseWwpnUri("urn:wwpn:50000c290000000").ok());
  EXPECT_FALSE(ParseWwpnUri("urn:wwpn:50000c29000000zz").ok());
  EXPECT_FALSE(ParseWwpnUri("urn:wwnn:50000c2900000002").ok());

  X509* named = ReadCert(pki_.b.cert);
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(*CertificateWwpn(named), kTarget);
  EXPECT_TRUE(CheckCertificateWwpn(named, kTarget).ok());
  EXPECT_TRUE(CheckCertificateWwpn(named, kInitiator).IsAuthFailed());
  X509_free(named);

  // Two different WWPNs, or a malformed one next to other URIs: names nothing usable.
  const auto two =
      testing::IssueLeaf(dir_, "fabric", "two", std::nullopt,
                         "URI:urn:wwpn:50000c2900000002,URI:urn:wwpn:50000c2900000003");
  const auto bad = testing::IssueLeaf(dir_, "fabric", "bad", std::nullopt,
                                      "URI:https://example.com,URI:urn:wwpn:xyz");
  const auto other = testing::IssueLeaf(dir_, "fabric", "other", std::nullopt,
                                        "URI:https://example.com,DNS:target.example");
  for (const auto& [file, code] : {std::pair{two.cert, Status::Code::kCorruption},
                                   std::pair{bad.cert, Status::Code::kCorruption},
                                   std::pair{other.cert, Status::Code::kNotFound}}) {
    X509* x = ReadCert(file);
    ASSERT_NE(x, nullptr);
    auto w = CertificateWwpn(x);
    EXPECT_EQ(w.status().code(), code) << file << ": " << w.status().ToString();
    EXPECT_TRUE(CheckCertificateWwpn(x, kTarget).IsAuthFailed());
    X509_free(x);
  }
}

TEST_F(AuthSessionTest, ExternalPskWorks) {
  Side i, t;
  Make(Psk(0x5a), Psk(0x5a), i, t);
  Handle(i, i.s->Start());
  Pump(i, t);
  EXPECT_EQ(i.failed, "");
  EXPECT_EQ(i.authenticated, 1);
  EXPECT_EQ(t.authenticated, 1);
  ExpectPairedKeys(i, t, 1);
  EXPECT_EQ(i.s->peer_description().rfind("psk CAFS1R01 21000024ff000001 50000c2900000002 ", 0), 0u)
      << i.s->peer_description();
}

TEST_F(AuthSessionTest, WrongPskFails) {
  Side i, t;
  Make(Psk(0x5a), Psk(0x5b), i, t);
  Handle(i, i.s->Start());
  Pump(i, t);
  EXPECT_EQ(i.authenticated + t.authenticated, 0);
  EXPECT_FALSE(i.failed.empty());
  EXPECT_FALSE(t.failed.empty());
}

TEST_F(AuthSessionTest, PskIdentityBindsBothPortNamesAndTheSecret) {
  SecureBuffer s1(32), s2(32);
  s2.mutable_view()[0] = 1;
  auto a = DerivePskIdentity(s1.view(), kInitiator, kTarget);
  auto b = DerivePskIdentity(s1.view(), kTarget, kInitiator);
  auto c = DerivePskIdentity(s2.view(), kInitiator, kTarget);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_NE(a->identity, b->identity);
  EXPECT_NE(a->identity, c->identity);
  EXPECT_FALSE(a->tls_psk.Equals(c->tls_psk));
  EXPECT_FALSE(DerivePskIdentity(ByteView(s1.data(), 16), kInitiator, kTarget).ok());
}

TEST_F(AuthSessionTest, HandshakeTimesOutAfterTenSeconds) {
  Side i, t;
  Make(Creds(pki_.a), Creds(pki_.b), i, t);
  Handle(i, i.s->Start());
  i.outbox.clear();  // the peer never answers
  clock_.Advance(std::chrono::milliseconds(9'999));
  Handle(i, i.s->Tick());
  EXPECT_EQ(i.failed, "");
  clock_.Advance(std::chrono::milliseconds(2));
  Handle(i, i.s->Tick());
  EXPECT_EQ(i.failed, "handshake timeout");
  ASSERT_FALSE(i.outbox.empty());  // the peer is told (ABORT)
  auto f = DecodeAuthFrame(i.outbox.back());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, AuthFrameKind::kAbort);
}

TEST_F(AuthSessionTest, PeerAbortAndGarbageFail) {
  Side i, t;
  Make(Creds(pki_.a), Creds(pki_.b), i, t);
  Handle(i, i.s->Start());
  Handle(i, i.s->OnFrame(EncodeAuthFrame({AuthFrameKind::kAbort, 7, Bytes{'n', 'o'}})));
  EXPECT_EQ(i.failed, "peer aborted: no");
  Handle(t, t.s->OnFrame(Bytes{1, 2, 3}));
  EXPECT_NE(t.failed.find("auth frame"), std::string::npos);
}

TEST(AuthFrameTest, RoundTripAndRejects) {
  AuthFrame f{AuthFrameKind::kTls, 42, Bytes{9, 8, 7}};
  Bytes b = EncodeAuthFrame(f);
  ASSERT_EQ(b.size(), 23u);
  auto d = DecodeAuthFrame(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->session_epoch, 42u);
  EXPECT_EQ(d->data, f.data);
  Bytes bad = b;
  bad[6] = 1;
  EXPECT_FALSE(DecodeAuthFrame(bad).ok());
  bad = b;
  bad.push_back(0);
  EXPECT_FALSE(DecodeAuthFrame(bad).ok());
  auto t = DecodeTunnelMessage(EncodeTunnelMessage({TunnelType::kSpi, 3, 0xabcdef01}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->generation, 3u);
  EXPECT_EQ(t->spi, 0xabcdef01u);
  EXPECT_FALSE(DecodeTunnelMessage(EncodeTunnelMessage({TunnelType::kSpi, 3, 0})).ok());
}

}  // namespace
}  // namespace cafs::edif::agent
