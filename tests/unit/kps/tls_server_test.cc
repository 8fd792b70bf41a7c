// kpsd's mutual-TLS listener in process: a client certificate is required and verified, an
// expired certificate (issued by kpsd's own CA with a notAfter in the past) is refused at
// the handshake, and a revoked certificate gets 403 and an audit record.
#include "kps/tls_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <optional>
#include <thread>

#include "kps/file_util.h"
#include "unit/kps/api_fixture.h"

namespace cafs::kps {
namespace {

class TlsServerTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    const std::string& dir = dir_.path();
    auto bundle = api_->BootstrapSecurityAdmin("admin");
    ASSERT_TRUE(bundle.ok()) << bundle.status().ToString();
    admin_ = WriteBundle("admin", *bundle);
    auto server = TlsServer::Create(*api_, dir);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto port = server_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    thread_ = std::thread([this] { (void)server_->Run(); });
  }

  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  std::string WriteBundle(const std::string& name, const std::string& pem) {
    const std::string path = dir_.path() + "/" + name + ".pem";
    EXPECT_TRUE(WriteFileAtomic(path, pem, 0600, false).ok());
    return path;
  }

  // GET/POST as the holder of `bundle`; nullopt when no HTTP answer came (TLS refused).
  std::optional<std::pair<int, nlohmann::json>> Call(const std::string& bundle,
                                                     const std::string& method,
                                                     const std::string& path,
                                                     const std::string& body = "{}") {
    httplib::SSLClient cli("127.0.0.1", port_, bundle, bundle);
    cli.set_ca_cert_path(CertificateAuthority::CaCertPath(dir_.path()).c_str());
    cli.enable_server_certificate_verification(true);
    cli.set_connection_timeout(5, 0);
    cli.set_read_timeout(10, 0);
    auto res =
        method == "GET" ? cli.Get(path.c_str()) : cli.Post(path.c_str(), body, "application/json");
    if (!res) return std::nullopt;
    return std::make_pair(res->status, nlohmann::json::parse(res->body, nullptr, false));
  }

  std::vector<AuditRecord> Audit() {
    std::vector<AuditRecord> out;
    EXPECT_TRUE(store_
                    ->InTransaction([&](StoreTxn& txn) -> Status {
                      CAFS_ASSIGN_OR_RETURN(out, ListAuditRecords(txn, 0, 10000));
                      return Status::OK();
                    })
                    .ok());
    return out;
  }

  std::unique_ptr<TlsServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string admin_;
};

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

}  // namespace
}  // namespace cafs::kps
