// ApiFixture: the key & policy server core in a temporary directory, for tests that talk to
// the RestApi (in process or through the TLS listener): master key, CA, SQLite store,
// keyring and RestApi, created by SetUpApi() (call it first in SetUp; it asserts).
// SetUpPrincipals() adds one enrolled principal per role (records only: the PeerIdentity
// members stand for their certificates) and Call() sends a request as one of them.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kps/catalog.h"
#include "kps/pool_registry.h"
#include "kps/rest_api.h"
#include "unit/kps/test_dir.h"

namespace cafs::kps::testing {

class ApiFixture : public ::testing::Test {
 protected:
  // `clock` (not owned) must outlive the fixture; tests of time-driven rules pass a ManualClock.
  void SetUpApi(const Clock& clock = SystemClock::Instance()) {
    const std::string& dir = dir_.path();
    auto mk = MasterKey::Create(dir, std::nullopt);
    ASSERT_TRUE(mk.ok()) << mk.status().ToString();
    master_.emplace(std::move(mk).value());
    auto ca = CertificateAuthority::Create(dir, {});
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    ca_.emplace(std::move(ca).value());
    auto st = OpenStore("", dir);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    keyring_.emplace(*master_, *store_, clock);
    api_.emplace(*keyring_, *store_, *ca_, clock);
  }

  // security-admin "sec", tenant-admin "ten" of my_vmset, tenant-admin "other" of
  // other_vmset, key-admin "keys", storage-admin "stor", auditor "aud", gateway "gw" enrolled
  // and approved for my_vmset.
  void SetUpPrincipals() {
    std::vector<AdminRecord> admins = {
        {"sec", Role::kSecurityAdmin, {}, "11", "", false, 0},
        {"ten", Role::kTenantAdmin, {"my_vmset"}, "12", "", false, 0},
        {"other", Role::kTenantAdmin, {"other_vmset"}, "13", "", false, 0},
        {"keys", Role::kKeyAdmin, {}, "14", "", false, 0},
        {"stor", Role::kStorageAdmin, {}, "15", "", false, 0},
        {"aud", Role::kAuditor, {}, "16", "", false, 0}};
    GatewayRecord gw{"gw", "17", "", {"my_vmset"}, 0, false, 0};
    gw.approved = {"my_vmset"};  // its tenant-admin approved the scope (rbac.h)
    Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
      for (auto& a : admins) CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
      return PutRecord(txn, gw);
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  ApiResponse Call(const PeerIdentity& who, const std::string& method, const std::string& path,
                   const nlohmann::json& body = nullptr,
                   std::map<std::string, std::string> query = {}) {
    ApiRequest req;
    req.method = method;
    req.path = path;
    req.query = std::move(query);
    if (!body.is_null()) req.body = body.dump();
    req.peer = who;
    return api_->Handle(req);
  }

  // Storage-admin work a policy upload needs (pool_registry.h): creates each pool of `pools`
  // that has no record yet and allows existing VM set `vmset` on it.
  void AllowPools(const std::string& vmset,
                  const std::vector<std::string>& pools = {"default_pool", "mirrored_pool_A"}) {
    Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
      for (const auto& pool : pools) {
        if (txn.Get(ObjectKind::kPool, pool).status().IsNotFound()) {
          CAFS_RETURN_IF_ERROR(CreatePool(txn, pool, {}, 0).status());
        }
        CAFS_RETURN_IF_ERROR(SetPoolAllowed(txn, pool, vmset, true).status());
      }
      return Status::OK();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The audit trail, after checking its chain.
  std::vector<AuditRecord> AuditTrail() {
    std::vector<AuditRecord> all;
    Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(all, ListAuditRecords(txn, 0, 100000));
      return VerifyAuditChain(txn);
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return all;
  }

  const PeerIdentity sec_{"sec", "security-admin", "11", ""};
  const PeerIdentity ten_{"ten", "tenant-admin", "12", ""};
  const PeerIdentity other_{"other", "tenant-admin", "13", ""};
  const PeerIdentity keys_{"keys", "key-admin", "14", ""};
  const PeerIdentity stor_{"stor", "storage-admin", "15", ""};
  const PeerIdentity aud_{"aud", "auditor", "16", ""};
  const PeerIdentity gate_{"gw", "gateway", "17", ""};

  TempDir dir_;
  std::optional<MasterKey> master_;
  std::optional<CertificateAuthority> ca_;
  std::unique_ptr<Store> store_;
  std::optional<Keyring> keyring_;
  std::optional<RestApi> api_;
};

}  // namespace cafs::kps::testing
