// Storage pools in kpsd (pool_registry.h, issue 16 defect 4): records with a GUID and a name,
// an allow list a storage-admin keeps, a policy naming a pool its VM set may not use refused at
// upload (403 naming the pool and the VM set, audited), what the gateway fetch shows, the
// upgrade of a store written before pool records, and scoped key- and storage-admins.
#include "kps/pool_registry.h"

#include <gtest/gtest.h>

#include "kps/audit_scope.h"
#include "unit/kps/api_fixture.h"
#include "util/uuid.h"

namespace cafs::kps {
namespace {

using nlohmann::json;

constexpr const char* kClearKey = "01010101-0101-0101-0101-010101010101";
constexpr const char* kPolicy = "11111111-2222-4333-8444-555555555555";

json PolicyBody(const std::string& vmset, const std::string& pool) {
  return {{"id", kPolicy},
          {"vmset", vmset},
          {"xml", std::string("<vobj-list><vobj><vglob>*</vglob><symkey>") + kClearKey +
                      "</symkey><storepol>" + pool +
                      "</storepol><access>at_all_times</access><audit>none</audit></vobj>"
                      "</vobj-list>"}};
}

class PoolRegistryTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
    for (const char* name : {"my_vmset", "other_vmset"}) {
      auto r = Call(sec_, "POST", "/v1/vmsets", json{{"name", name}, {"mount_point", "/nfs"}});
      ASSERT_EQ(r.status, 201) << r.body.dump();
    }
  }

  std::size_t Denied(const std::string& action) {
    std::size_t n = 0;
    for (const auto& r : AuditTrail()) n += r.result == "denied" && r.action == action ? 1u : 0u;
    return n;
  }
};

TEST_F(PoolRegistryTest, APoolHasAGuidANameAndAnAllowList) {
  auto created = Call(stor_, "POST", "/v1/pools", json{{"name", "mirrored_pool_A"}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  const std::string guid = created.body.value("guid", "");
  EXPECT_TRUE(Uuid::Parse(guid).ok()) << guid;
  EXPECT_EQ(created.body["vmsets"], json::array());
  // Names are unique, and must be names a policy can say; a GUID may be given once.
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", "mirrored_pool_A"}}).status, 409);
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", "a/b"}}).status, 400);
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", "x"}, {"kind", "ceph"}}).status, 400);
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", "dup"}, {"guid", guid}}).status, 409);
  const std::string given = Uuid::Random().ToString();
  auto ceph = Call(stor_, "POST", "/v1/pools", json{{"name", "ceph_pool"}, {"guid", given}});
  ASSERT_EQ(ceph.status, 201) << ceph.body.dump();
  EXPECT_EQ(ceph.body["guid"], given);
  // Only a storage-admin writes pools (403, audited).
  EXPECT_EQ(Call(sec_, "POST", "/v1/pools", json{{"name", "p2"}}).status, 403);
  EXPECT_EQ(
      Call(ten_, "POST", "/v1/pools/mirrored_pool_A/allow", json{{"vmset", "my_vmset"}}).status,
      403);

  auto allowed =
      Call(stor_, "POST", "/v1/pools/mirrored_pool_A/allow", json{{"vmset", "my_vmset"}});
  ASSERT_EQ(allowed.status, 200) << allowed.body.dump();
  EXPECT_EQ(allowed.body["vmsets"], json::array({"my_vmset"}));
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools/mirrored_pool_A/allow", json{{"vmset", "nope"}}).status,
            404);
  // A tenant-admin sees the pools its VM sets may use, not the others (as if absent).
  auto mine = Call(ten_, "GET", "/v1/pools");
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.body.size(), 1u) << mine.body.dump();
  EXPECT_EQ(mine.body[0]["guid"], guid);
  EXPECT_EQ(Call(other_, "GET", "/v1/pools").body, json::array());
  EXPECT_EQ(Call(other_, "GET", "/v1/pools/mirrored_pool_A").status, 404);
  EXPECT_EQ(Call(sec_, "GET", "/v1/pools").body.size(), 2u);
  EXPECT_EQ(Call(aud_, "GET", "/v1/pools/ceph_pool").status, 200);

  // The gateway fetch names the pools of the VM set with their GUIDs.
  auto fetch = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_EQ(fetch.status, 200) << fetch.body.dump();
  EXPECT_EQ(fetch.body["pools"], json::array({{{"name", "mirrored_pool_A"}, {"guid", guid}}}));
}

TEST_F(PoolRegistryTest, APolicyNamingAPoolItsVmSetMayNotUseIsRefused) {
  ASSERT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", "mirrored_pool_A"}}).status, 201);
  // No record at all, and a record that does not allow the VM set: the same 403.
  for (const char* pool : {"no_such_pool", "mirrored_pool_A"}) {
    const std::size_t before = Denied("POST /v1/policies");
    auto r = Call(ten_, "POST", "/v1/policies", PolicyBody("my_vmset", pool));
    EXPECT_EQ(r.status, 403) << r.body.dump();
    EXPECT_NE(r.body.value("reason", "")
                  .find(std::string("policy names pool '") + pool +
                        "', which VM set 'my_vmset' may not use"),
              std::string::npos)
        << r.body.dump();
    EXPECT_EQ(Denied("POST /v1/policies"), before + 1) << "the refusal is audited";
  }
  ASSERT_EQ(
      Call(stor_, "POST", "/v1/pools/mirrored_pool_A/allow", json{{"vmset", "my_vmset"}}).status,
      200);
  auto ok = Call(ten_, "POST", "/v1/policies", PolicyBody("my_vmset", "mirrored_pool_A"));
  ASSERT_EQ(ok.status, 201) << ok.body.dump();
  // Another VM set may not name it (the allow list is per VM set).
  EXPECT_EQ(
      Call(other_, "POST", "/v1/policies", PolicyBody("other_vmset", "mirrored_pool_A")).status,
      403);
  // An update is checked too.
  json update = PolicyBody("my_vmset", "no_such_pool");
  update["version"] = ok.body["version"];
  EXPECT_EQ(Call(ten_, "PUT", std::string("/v1/policies/") + kPolicy, update).status, 403);
  // While the policy names the pool, the grant stays and the pool cannot be deleted (409).
  auto withdraw = Call(stor_, "POST", "/v1/pools/mirrored_pool_A/allow",
                       json{{"vmset", "my_vmset"}, {"withdraw", true}});
  EXPECT_EQ(withdraw.status, 409) << withdraw.body.dump();
  EXPECT_NE(withdraw.body.value("reason", "").find(kPolicy), std::string::npos);
  EXPECT_EQ(Call(stor_, "DELETE", "/v1/pools/mirrored_pool_A").status, 409);
  ASSERT_EQ(Call(ten_, "DELETE", std::string("/v1/policies/") + kPolicy).status, 200);
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools/mirrored_pool_A/allow",
                 json{{"vmset", "my_vmset"}, {"withdraw", true}})
                .status,
            200);
  EXPECT_EQ(Call(ten_, "POST", "/v1/policies", PolicyBody("my_vmset", "mirrored_pool_A")).status,
            403);
  EXPECT_EQ(Call(stor_, "DELETE", "/v1/pools/mirrored_pool_A").status, 200);
}

// A <replica> schedule sends the VM set's ciphertext to its DR pool: that pool must be on the
// VM set's allow list too, and a malformed schedule is refused at upload naming the line.
TEST_F(PoolRegistryTest, AReplicaScheduleDrPoolMustBeAllowedAndWellFormed) {
  for (const char* pool : {"mirrored_pool_A", "dr_pool"}) {
    ASSERT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", pool}}).status, 201);
  }
  ASSERT_EQ(
      Call(stor_, "POST", "/v1/pools/mirrored_pool_A/allow", json{{"vmset", "my_vmset"}}).status,
      200);
  auto with_replica = [](const std::string& replica) {
    json body = PolicyBody("my_vmset", "mirrored_pool_A");
    std::string xml = body["xml"];
    body["xml"] = "<policy-descriptor vmset=\"my_vmset\">" + xml + replica + "</policy-descriptor>";
    return body;
  };
  const std::size_t before = Denied("POST /v1/policies");
  auto r = Call(ten_, "POST", "/v1/policies",
                with_replica("<replica interval=\"1h\" keep=\"2\" pool=\"dr_pool\"/>"));
  EXPECT_EQ(r.status, 403) << r.body.dump();
  EXPECT_NE(r.body.value("reason", "")
                .find("policy names pool 'dr_pool', which VM set "
                      "'my_vmset' may not use"),
            std::string::npos)
      << r.body.dump();
  EXPECT_EQ(Denied("POST /v1/policies"), before + 1);
  auto bad = Call(ten_, "POST", "/v1/policies",
                  with_replica("<replica interval=\"hourly\" pool=\"dr_pool\"/>"));
  EXPECT_EQ(bad.status, 400) << bad.body.dump();
  EXPECT_NE(bad.body.dump().find("<replica interval> must be a duration such as '1h'"),
            std::string::npos)
      << bad.body.dump();
  ASSERT_EQ(Call(stor_, "POST", "/v1/pools/dr_pool/allow", json{{"vmset", "my_vmset"}}).status,
            200);
  auto ok = Call(ten_, "POST", "/v1/policies",
                 with_replica("<replica interval=\"1h\" keep=\"2\" pool=\"dr_pool\"/>"));
  ASSERT_EQ(ok.status, 201) << ok.body.dump();
  // While the schedule names the DR pool its grant stays (as for a <storepol>).
  EXPECT_EQ(Call(stor_, "POST", "/v1/pools/dr_pool/allow",
                 json{{"vmset", "my_vmset"}, {"withdraw", true}})
                .status,
            409);
}

TEST_F(PoolRegistryTest, ADeletedVmSetLeavesNoGrantAndARenamedOneKeepsIt) {
  ASSERT_EQ(Call(stor_, "POST", "/v1/pools", json{{"name", "p"}}).status, 201);
  ASSERT_NO_FATAL_FAILURE(AllowPools("other_vmset", {"p"}));
  ASSERT_NO_FATAL_FAILURE(AllowPools("my_vmset", {"p"}));
  // other_vmset's tenant-admin is "other": free the name for the rename first.
  auto renamed = Call(sec_, "POST", "/v1/vmsets/my_vmset/rename", json{{"name", "my_vmset2"}});
  ASSERT_EQ(renamed.status, 200) << renamed.body.dump();
  EXPECT_EQ(Call(sec_, "GET", "/v1/pools/p").body["vmsets"],
            json::array({"other_vmset", "my_vmset2"}));
  ASSERT_EQ(Call(sec_, "DELETE", "/v1/vmsets/other_vmset").status, 200);
  ASSERT_EQ(
      Call(sec_, "POST", "/v1/vmsets", json{{"name", "other_vmset"}, {"mount_point", "/n"}}).status,
      201);
  EXPECT_EQ(Call(sec_, "GET", "/v1/pools/p").body["vmsets"], json::array({"my_vmset2"}))
      << "a VM set created later under a deleted one's name inherits no grant";
}

// A store written before pool records: every pool its policies name gets a record allowing
// their VM sets, once.
TEST_F(PoolRegistryTest, TheUpgradeGivesStoredPoliciesTheirPools) {
  ASSERT_NO_FATAL_FAILURE(AllowPools("my_vmset", {"default_pool"}));
  ASSERT_EQ(Call(ten_, "POST", "/v1/policies", PolicyBody("my_vmset", "default_pool")).status, 201);
  // Back to a store without pool records.
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) {
                    return txn.Delete(ObjectKind::kPool, "default_pool", 2);
                  })
                  .ok());
  ASSERT_TRUE(UpgradeStorePools(*store_, SystemClock::Instance()).ok());
  auto p = Call(sec_, "GET", "/v1/pools/default_pool");
  ASSERT_EQ(p.status, 200) << p.body.dump();
  EXPECT_EQ(p.body["vmsets"], json::array({"my_vmset"}));
  std::size_t upgrades = 0;
  for (const auto& r : AuditTrail()) upgrades += r.action == "upgrade pools" ? 1u : 0u;
  EXPECT_EQ(upgrades, 1u);
  // Idempotent: nothing more to do, nothing more audited.
  std::size_t changed = 1;
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(changed, UpgradePoolRecords(txn, 0));
                    return Status::OK();
                  })
                  .ok());
  EXPECT_EQ(changed, 0u);
}

// Key- and storage-admins scoped to VM sets (rbac.h): enrolled with `vmsets`, they act on those
// only (403 + audit elsewhere) and their lists show those only. Other roles have no scope.
TEST_F(PoolRegistryTest, ScopedKeyAndStorageAdmins) {
  auto kmy = Call(sec_, "POST", "/v1/admins",
                  json{{"name", "kmy"}, {"role", "key-admin"}, {"vmsets", {"my_vmset"}}});
  ASSERT_EQ(kmy.status, 201) << kmy.body.dump();
  EXPECT_EQ(kmy.body["admin"]["vmsets"], json::array({"my_vmset"}));
  EXPECT_EQ(Call(sec_, "POST", "/v1/admins",
                 json{{"name", "a2"}, {"role", "auditor"}, {"vmsets", {"my_vmset"}}})
                .status,
            400);
  const PeerIdentity kmy_peer{"kmy", "key-admin",
                              kmy.body["admin"]["cert_serial"].get<std::string>(), ""};
  auto mine = Call(kmy_peer, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
  ASSERT_EQ(mine.status, 201) << mine.body.dump();
  auto theirs = Call(keys_, "POST", "/v1/keys", json{{"vmset", "other_vmset"}});
  ASSERT_EQ(theirs.status, 201);
  const std::size_t before = Denied("POST /v1/keys");
  auto refused = Call(kmy_peer, "POST", "/v1/keys", json{{"vmset", "other_vmset"}});
  EXPECT_EQ(refused.status, 403) << refused.body.dump();
  EXPECT_EQ(Denied("POST /v1/keys"), before + 1);
  // A key of another VM set found by id: 403 (not hidden as for a tenant), audited.
  const std::string path = "/v1/keys/" + theirs.body["id"].get<std::string>() + "/rotate";
  EXPECT_EQ(Call(kmy_peer, "POST", path, json::object()).status, 403);
  EXPECT_EQ(Denied("POST " + path), 1u);
  auto listed = Call(kmy_peer, "GET", "/v1/keys");
  ASSERT_EQ(listed.body.size(), 1u) << listed.body.dump();
  EXPECT_EQ(listed.body[0]["vmset"], "my_vmset");
  // An export right outside its scope is not granted.
  EXPECT_EQ(Call(other_, "POST", "/v1/admins/kmy/export", json{{"vmset", "other_vmset"}}).status,
            400);
}

TEST(AuditScopeTest, ARecordIsAboutTheVmSetItNames) {
  AuditRecord gw;
  gw.object = "other_vmset/vm/f";
  gw.access = json{{"vmset", "my_vmset"}};
  EXPECT_TRUE(AuditRecordAbout(gw, "my_vmset")) << "a gateway record: its vmset field";
  EXPECT_FALSE(AuditRecordAbout(gw, "other_vmset"));
  AuditRecord k;
  k.object = "my_vmset";
  EXPECT_TRUE(AuditRecordAbout(k, "my_vmset"));
  EXPECT_FALSE(AuditRecordAbout(k, "my_vmset2"));
  EXPECT_FALSE(AuditRecordAbout(k, "my_"));
  k.object = "my_vmset/gw";
  EXPECT_TRUE(AuditRecordAbout(k, "my_vmset"));
  k.object = "my_vmsetX/gw";
  EXPECT_FALSE(AuditRecordAbout(k, "my_vmset"));
  k.object = kPolicy;
  EXPECT_FALSE(AuditRecordAbout(k, "my_vmset"));
  EXPECT_TRUE(AuditRecordAbout(k, "my_vmset", {kPolicy}));
  EXPECT_FALSE(AuditRecordAbout(k, ""));
}

}  // namespace
}  // namespace cafs::kps
