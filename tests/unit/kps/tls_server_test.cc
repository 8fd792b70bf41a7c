// kpsd's mutual-TLS listener in process: a client certificate is required and verified, an
// expired certificate (issued by kpsd's own CA with a notAfter in the past) is refused at
// the handshake, and a revoked certificate gets 403 and an audit record. The listener's
// limits: idle and slow clients neither stall others nor hold a connection past its
// deadline, a flood from one address is capped there, malformed heads get their status.
#include "kps/tls_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "unit/kps/tls_fixture.h"

namespace cafs::kps {
namespace {

class TlsServerTest : public testing::TlsFixture {};

TEST_F(TlsServerTest, EnrolledCertificateIsServed) {
  auto r = Call(admin_, "GET", "/v1/vmsets");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 200);
  EXPECT_TRUE(r->second.is_array());
}

TEST_F(TlsServerTest, ExpiredCertificateIsRefusedAtTheHandshake) {
  // Issued by kpsd's own CA and enrolled (the store knows its serial): only the date is wrong.
  auto cert = ca_->IssueClient("old-auditor", Role::kAuditor, /*days=*/-1);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  AdminRecord a;
  a.name = "old-auditor";
  a.role = Role::kAuditor;
  a.cert_serial = cert->serial;
  a.cert_fingerprint = cert->fingerprint;
  ASSERT_TRUE(store_->InTransaction([&](StoreTxn& txn) { return PutRecord(txn, a); }).ok());
  const std::string expired = WriteBundle("old", cert->Bundle(ca_->ca_pem()));
  EXPECT_FALSE(Call(expired, "GET", "/v1/vmsets").has_value());

  // The same identity with a valid certificate is served (control).
  auto fresh = ca_->IssueClient("old-auditor", Role::kAuditor, 1);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(AdminRecord cur,
                                          GetRecord<AdminRecord>(txn, "old-auditor"));
                    cur.cert_serial = fresh->serial;
                    return PutRecord(txn, cur);
                  })
                  .ok());
  auto r = Call(WriteBundle("fresh", fresh->Bundle(ca_->ca_pem())), "GET", "/v1/vmsets");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 200);
}

TEST_F(TlsServerTest, RevokedCertificatesGet403AndAreAudited) {
  auto enrolled = Call(admin_, "POST", "/v1/admins", R"({"name":"kate","role":"key-admin"})");
  ASSERT_TRUE(enrolled.has_value());
  ASSERT_EQ(enrolled->first, 201) << enrolled->second.dump();
  const std::string kate = WriteBundle("kate", enrolled->second["bundle"].get<std::string>());
  auto gw = Call(admin_, "POST", "/v1/gateways", R"({"name":"gw1","vmsets":["my_vmset"]})");
  ASSERT_TRUE(gw.has_value());
  ASSERT_EQ(gw->first, 201);
  const std::string gateway = WriteBundle("gw1", gw->second["bundle"].get<std::string>());

  auto before = Call(kate, "GET", "/v1/keys");
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->first, 200);

  for (const char* path : {"/v1/admins/kate/revoke", "/v1/gateways/gw1/revoke"}) {
    auto rv = Call(admin_, "POST", path);
    ASSERT_TRUE(rv.has_value());
    EXPECT_EQ(rv->first, 200) << path << " " << rv->second.dump();
  }
  auto after = Call(kate, "GET", "/v1/keys");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->first, 403);
  EXPECT_NE(after->second.value("reason", "").find("revoked"), std::string::npos);
  auto fetch = Call(gateway, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_TRUE(fetch.has_value());
  EXPECT_EQ(fetch->first, 403);

  std::vector<std::string> denied;
  for (const auto& rec : Audit()) {
    if (rec.result == "denied") denied.push_back(rec.actor + " " + rec.action);
  }
  EXPECT_EQ(denied,
            (std::vector<std::string>{"kate GET /v1/keys", "gw1 GET /v1/gateway/vmsets/my_vmset"}));
}

TEST_F(TlsServerTest, EnrollingATakenNameIsAConflict) {
  auto first = Call(admin_, "POST", "/v1/admins", R"({"name":"al","role":"auditor"})");
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->first, 201);
  const std::string old_bundle = WriteBundle("al1", first->second["bundle"].get<std::string>());
  // A second certificate of the same name is refused while the first is enrolled...
  auto again = Call(admin_, "POST", "/v1/admins", R"({"name":"al","role":"auditor"})");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->first, 409);
  // ...and the old one still works.
  auto r = Call(old_bundle, "GET", "/v1/audit");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 200);
}

TEST_F(TlsServerTest, AnIdleFloodFromOneAddressIsCappedThereAndStallsNoOne) {
  StopServer();
  TlsServer::Options o;
  o.max_connections_per_address = 8;
  ASSERT_NO_FATAL_FAILURE(StartServer(o));
  // 100 connections that never start a handshake, from 127.0.0.2: more than every worker and
  // I/O thread together, and more than the cap of that address.
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(ConnectFrom("127.0.0.2"));
  // The requests of others are served meanwhile (within 5 s)...
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(ExpectOthersServed());
  // ...and all but the first 8 of the flood were closed at once.
  int closed = 0;
  for (std::size_t i = 8; i < idle.size(); ++i) closed += ClosedWithin(idle[i], 5) ? 1 : 0;
  EXPECT_EQ(closed, 92);
  for (int fd : idle) ::close(fd);
}

TEST_F(TlsServerTest, ClientsThatSendNothingOrTrickleAreCutOffAtTheirDeadline) {
  StopServer();
  TlsServer::Options o;
  // Short enough that the trickle below (a byte per 100 ms, 3.8 s in all) outlasts the head
  // deadline, long enough that a TLS handshake and one request on a loaded ASan build fit.
  o.handshake_timeout = std::chrono::milliseconds(1500);
  o.head_timeout = std::chrono::milliseconds(1500);
  o.idle_timeout = std::chrono::milliseconds(1500);
  ASSERT_NO_FATAL_FAILURE(StartServer(o));
  // No handshake at all.
  const int silent = ConnectFrom("127.0.0.1");
  EXPECT_TRUE(ClosedWithin(silent, 5));
  ::close(silent);
  // A handshake, then a request head a byte every 100 ms: the head is not done when its
  // deadline passes, and kpsd closes the connection (EOF, or a reset for our later bytes).
  RawTls slow(ConnectFrom("127.0.0.1"), admin_);
  ASSERT_TRUE(slow.connected());
  for (char c : std::string("GET /v1/vmsets HTTP/1.1\r\nHost: kpsd\r\n")) {
    if (!slow.Send(std::string(1, c))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(ClosedWithin(slow.fd(), 5));
  // The same after a request: the keep-alive wait has its deadline too.
  RawTls idle(ConnectFrom("127.0.0.1"), admin_);
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.Send("GET /v1/vmsets HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(idle.Receive().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_TRUE(ClosedWithin(idle.fd(), 5));
  ExpectOthersServed();
}

TEST_F(TlsServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawTls c(ConnectFrom("127.0.0.1"), admin_);
  ASSERT_TRUE(c.connected());
  // Two requests pipelined in one write, then a third.
  ASSERT_TRUE(
      c.Send("GET /v1/vmsets HTTP/1.1\r\nHost: k\r\n\r\n"
             "GET /v1/nothing-here HTTP/1.1\r\nHost: k\r\n\r\n"));
  const std::string two = c.Receive();
  EXPECT_EQ(two.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << two;
  EXPECT_NE(two.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos) << two;
  ASSERT_TRUE(c.Send("GET /v1/vmsets HTTP/1.1\r\nConnection: close\r\n\r\n"));
  const std::string last = c.Receive();
  EXPECT_EQ(last.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << last;
  EXPECT_NE(last.find("Connection: close"), std::string::npos);
}

TEST_F(TlsServerTest, MalformedAndOversizedRequestsGetTheirStatusAndTheConnectionCloses) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"GET /v1/%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
      {"POST /v1/keys HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 411 "},
      {"POST /v1/keys HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", "HTTP/1.1 413 "},
      {"GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", "HTTP/1.1 431 "},
      {std::string(20000, 'A'), "HTTP/1.1 431 "},
      {"PATCH /v1/keys HTTP/1.1\r\nConnection: close\r\n\r\n", "HTTP/1.1 405 "},
  };
  for (const auto& [request, status] : cases) {
    RawTls c(ConnectFrom("127.0.0.1"), admin_);
    ASSERT_TRUE(c.connected());
    c.Send(request);
    const std::string reply = c.Receive();
    EXPECT_EQ(reply.rfind(status, 0), 0u) << request.substr(0, 60) << " -> " << reply;
    EXPECT_NE(reply.find("\"reason\""), std::string::npos) << reply;
  }
  ExpectOthersServed();
}

TEST_F(TlsServerTest, AnExpectContinueBodyIsServed) {
  RawTls c(ConnectFrom("127.0.0.1"), admin_);
  ASSERT_TRUE(c.connected());
  const std::string body = R"({"name":"ed","role":"auditor"})";
  ASSERT_TRUE(c.Send("POST /v1/admins HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n"));
  EXPECT_EQ(c.Receive(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send(body));
  const std::string reply = c.Receive();
  EXPECT_EQ(reply.rfind("HTTP/1.1 201 Created\r\n", 0), 0u) << reply;
}

}  // namespace
}  // namespace cafs::kps
