// KpsClient's report of a request that got no answer names the real cause (what cafsd and
// cafsctl log): connection refused, no answer in time, kpsd hung up (its connection cap),
// our certificate expired or from another CA, kpsd's certificate not trusted. An HTTP error
// is an answer (the caller explains its status), not a transport failure.
#include "kps/client/kps_client.h"

#include <gtest/gtest.h>

#include "unit/kps/tls_fixture.h"

namespace cafs::kps {
namespace {

using client::ClientTimeouts;
using client::KpsClient;

class KpsClientTest : public testing::TlsFixture {
 protected:
  // The message of a GET that must fail for want of an answer.
  std::string FailureOf(const std::string& bundle, int port = 0) {
    ClientTimeouts t;
    t.connect = std::chrono::seconds(2);
    t.read = std::chrono::seconds(2);
    auto c =
        KpsClient::Connect("https://127.0.0.1:" + std::to_string(port ? port : port_), bundle, t);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return "";
    auto r = (*c)->Call("GET", "/v1/vmsets");
    EXPECT_FALSE(r.ok()) << "an answer came: HTTP " << r->status;
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
    return r.status().message();
  }

  // A listening TCP socket on a free loopback port that never accepts: a connection to it
  // completes (the kernel's backlog) but no TLS handshake ever answers.
  int SilentListener(int* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return fd;
  }

  // Another kpsd's CA (other_).
  void CreateOtherCa() {
    auto other = CertificateAuthority::Create(other_dir_.path(), {});
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    other_.emplace(std::move(other).value());
  }

  testing::TempDir other_dir_;
  std::optional<CertificateAuthority> other_;
};

TEST_F(KpsClientTest, AnHttpErrorIsAnAnswer) {
  auto c = KpsClient::Connect("https://127.0.0.1:" + std::to_string(port_), admin_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto r = (*c)->Call("GET", "/v1/no-such-route");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(r->ok());
  EXPECT_FALSE(r->Reason().empty());
}

TEST_F(KpsClientTest, ConnectionRefused) {
  int port = 0;
  ::close(SilentListener(&port));  // nothing listens there any more
  const std::string m = FailureOf(admin_, port);
  EXPECT_NE(m.find("connection refused"), std::string::npos) << m;
  EXPECT_EQ(m.find("certificate"), std::string::npos) << m;
}

TEST_F(KpsClientTest, NoAnswerInTimeIsATimeout) {
  int port = 0;
  const int fd = SilentListener(&port);
  const std::string m = FailureOf(admin_, port);
  ::close(fd);
  EXPECT_NE(m.find("did not answer in time"), std::string::npos) << m;
  EXPECT_EQ(m.find("certificate"), std::string::npos) << m;
}

TEST_F(KpsClientTest, AConnectionCapHangUpIsReportedAsSuch) {
  StopServer();
  TlsServer::Options o;
  o.max_connections_per_address = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(o));
  const int held = ConnectFrom("127.0.0.1");  // takes the one slot of 127.0.0.1
  const std::string m = FailureOf(admin_);
  ::close(held);
  EXPECT_NE(m.find("closed the connection before answering"), std::string::npos) << m;
  EXPECT_EQ(m.find("certificate"), std::string::npos) << m;
}

TEST_F(KpsClientTest, AnExpiredCertificateIsNamed) {
  auto cert = ca_->IssueClient("old", Role::kAuditor, /*days=*/-1);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  const std::string m = FailureOf(WriteBundle("old", cert->Bundle(ca_->ca_pem())));
  EXPECT_NE(m.find("rejected our certificate: it has expired"), std::string::npos) << m;
}

TEST_F(KpsClientTest, ACertificateFromAnotherCaIsNamed) {
  ASSERT_NO_FATAL_FAILURE(CreateOtherCa());
  auto cert = other_->IssueClient("stranger", Role::kAuditor);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  // Our CA as the trust anchor (kpsd is trusted), a certificate kpsd's CA did not issue.
  const std::string m = FailureOf(WriteBundle("stranger", cert->Bundle(ca_->ca_pem())));
  EXPECT_NE(m.find("rejected our certificate"), std::string::npos) << m;
  EXPECT_NE(m.find("another kpsd's CA"), std::string::npos) << m;
}

TEST_F(KpsClientTest, AServerOutsideOurCaIsNotTrusted) {
  ASSERT_NO_FATAL_FAILURE(CreateOtherCa());
  auto cert = ca_->IssueClient("admin2", Role::kAuditor);
  ASSERT_TRUE(cert.ok());
  const std::string m = FailureOf(WriteBundle("wrong-anchor", cert->Bundle(other_->ca_pem())));
  EXPECT_NE(m.find("is not trusted"), std::string::npos) << m;
}

TEST(KpsClientClassifyTest, AlertsWinOverTheTransportError) {
  using client::ClassifyNoAnswer;
  using client::NoAnswer;
  const int read = static_cast<int>(httplib::Error::Read);
  EXPECT_EQ(ClassifyNoAnswer(read, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED, false),
            NoAnswer::kCertificateExpired);
  EXPECT_EQ(ClassifyNoAnswer(read, SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED, false),
            NoAnswer::kCertificateRevoked);
  EXPECT_EQ(ClassifyNoAnswer(read, SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, false),
            NoAnswer::kCertificateRejected);
  EXPECT_EQ(ClassifyNoAnswer(read, 0, true), NoAnswer::kTimeout);
  EXPECT_EQ(ClassifyNoAnswer(read, 0, false), NoAnswer::kClosed);
  // kpsd's hang-up that reached a loaded client late is still a hang-up, not a timeout.
  EXPECT_EQ(ClassifyNoAnswer(read, SSL_R_UNEXPECTED_EOF_WHILE_READING, true), NoAnswer::kClosed);
  EXPECT_EQ(ClassifyNoAnswer(static_cast<int>(httplib::Error::Connection), 0, false),
            NoAnswer::kRefused);
  EXPECT_EQ(ClassifyNoAnswer(static_cast<int>(httplib::Error::SSLConnection),
                             SSL_R_WRONG_VERSION_NUMBER, false),
            NoAnswer::kTlsFailed);
}

}  // namespace
}  // namespace cafs::kps
