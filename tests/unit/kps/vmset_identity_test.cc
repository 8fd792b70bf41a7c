// VM set GUIDs (vmset_identity.h, issue 16 defect 6): a GUID minted at creation and shown by
// the API, a rename that keeps keys, KEK and policies, a reused name that gets a new GUID and
// none of the old keys, the upgrade of a store written before GUIDs, and policy ids per VM
// set (issue 20 class 7: creating an id another tenant uses answers as for a fresh id).
#include "kps/vmset_identity.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "crypto/key_wrap.h"
#include "crypto/rng.h"
#include "policy/policy_descriptor.h"
#include "unit/kps/api_fixture.h"
#include "unit/kps/postgres_server.h"
#include "util/uuid.h"

namespace cafs::kps {
namespace {

using nlohmann::json;

constexpr const char* kClearKey = "01010101-0101-0101-0101-010101010101";
constexpr const char* kPolicyA = "11111111-2222-4333-8444-555555555555";
constexpr const char* kPolicyB = "99999999-2222-4333-8444-555555555555";
constexpr const char* kFresh = "77777777-2222-4333-8444-555555555555";

std::string PolicyXml(const std::string& key) {
  return "<vobj-list><vobj><vglob>*</vglob><symkey>" + key +
         "</symkey><storepol>default_pool</storepol><access>at_all_times</access>"
         "<audit>none</audit></vobj></vobj-list>";
}

class VmSetIdentityTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
  }

  // Creates VM set `name` (as the security-admin) and returns its GUID.
  std::string CreateVmSet(const std::string& name) {
    auto r =
        Call(sec_, "POST", "/v1/vmsets",
             json{{"name", name}, {"mount_point", "/nfs"}, {"position", 1}, {"servers", {"s1"}}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    AllowPools(name);
    return r.body.value("guid", "");
  }

  std::string CreateKey(const std::string& vmset) {
    auto r = Call(keys_, "POST", "/v1/keys", json{{"vmset", vmset}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("id", "");
  }

  // Tenant `who` uploads policy `id` for `vmset` naming `key` and makes it the VM set's.
  void GovernWith(const PeerIdentity& who, const std::string& vmset, const std::string& id,
                  const std::string& key) {
    auto p = Call(who, "POST", "/v1/policies",
                  json{{"id", id}, {"vmset", vmset}, {"xml", PolicyXml(key)}});
    ASSERT_EQ(p.status, 201) << p.body.dump();
    auto v = Call(sec_, "GET", "/v1/vmsets/" + vmset);
    auto u = Call(who, "PUT", "/v1/vmsets/" + vmset,
                  json{{"policy_id", id}, {"version", v.body["version"]}});
    ASSERT_EQ(u.status, 200) << u.body.dump();
  }

  // The gateway fetch's key bytes by key id.
  std::map<std::string, std::string> Fetched(const std::string& vmset) {
    auto f = Call(gate_, "GET", "/v1/gateway/vmsets/" + vmset);
    EXPECT_EQ(f.status, 200) << f.body.dump();
    std::map<std::string, std::string> out;
    for (const auto& k : f.body.value("keys", json::array())) out[k["id"]] = k["key"];
    return out;
  }
};

TEST_F(VmSetIdentityTest, AGuidIsMintedAtCreationAndNeverChanges) {
  const std::string guid = CreateVmSet("my_vmset");
  ASSERT_TRUE(Uuid::Parse(guid).ok()) << guid;
  EXPECT_NE(CreateVmSet("other_vmset"), guid);
  auto got = Call(ten_, "GET", "/v1/vmsets/my_vmset");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["guid"], guid);
  // kpsd mints it: a create naming one, or an update naming another, is refused.
  EXPECT_EQ(
      Call(sec_, "POST", "/v1/vmsets", json{{"name", "third"}, {"guid", Uuid::Random().ToString()}})
          .status,
      400);
  const auto version = got.body["version"];
  EXPECT_EQ(Call(sec_, "PUT", "/v1/vmsets/my_vmset",
                 json{{"guid", Uuid::Random().ToString()}, {"version", version}})
                .status,
            400);
  // Repeating the GUID read (GET, edit, PUT) is fine and keeps it.
  json edited = got.body;
  edited["mount_point"] = "/other";
  auto put = Call(sec_, "PUT", "/v1/vmsets/my_vmset", edited);
  ASSERT_EQ(put.status, 200) << put.body.dump();
  EXPECT_EQ(put.body["guid"], guid);
  // The key a key-admin creates is bound to the GUID and shows both.
  auto key = Call(keys_, "GET", "/v1/keys/" + CreateKey("my_vmset"));
  EXPECT_EQ(key.body["vmset"], "my_vmset");
  EXPECT_EQ(key.body["vmset_id"], guid);
  EXPECT_EQ(Call(keys_, "GET", "/v1/keks/my_vmset").body["id"], guid);
}

TEST_F(VmSetIdentityTest, RenameKeepsGuidKeysKekPoliciesAndScopes) {
  const std::string guid = CreateVmSet("my_vmset");
  const std::string key = CreateKey("my_vmset");
  ASSERT_NO_FATAL_FAILURE(GovernWith(ten_, "my_vmset", kPolicyA, key));
  const auto before = Fetched("my_vmset");
  ASSERT_EQ(before.size(), 1u);
  const auto kek_before = Call(keys_, "GET", "/v1/keks/my_vmset").body;

  // A tenant-admin may rename only to a name in its own scope.
  auto denied = Call(ten_, "POST", "/v1/vmsets/my_vmset/rename", json{{"name", "renamed"}});
  EXPECT_EQ(denied.status, 403) << denied.body.dump();
  // Nobody renames onto a name another principal's scope already holds.
  auto claimed = Call(sec_, "POST", "/v1/vmsets/my_vmset/rename", json{{"name", "other_vmset"}});
  EXPECT_EQ(claimed.status, 409) << claimed.body.dump();

  auto r = Call(sec_, "POST", "/v1/vmsets/my_vmset/rename", json{{"name", "renamed"}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["name"], "renamed");
  EXPECT_EQ(r.body["guid"], guid);
  EXPECT_EQ(Call(sec_, "GET", "/v1/vmsets/my_vmset").status, 404);
  EXPECT_EQ(Call(sec_, "GET", "/v1/vmsets/renamed").body["policy_id"], kPolicyA);

  // The tenant-admin's and the gateway's scopes followed; keys, KEK, policy are the same.
  auto k = Call(ten_, "GET", "/v1/keys/" + key);
  ASSERT_EQ(k.status, 200) << k.body.dump();
  EXPECT_EQ(k.body["vmset"], "renamed");
  EXPECT_EQ(k.body["vmset_id"], guid);
  auto kek = Call(keys_, "GET", "/v1/keks/renamed");
  ASSERT_EQ(kek.status, 200);
  EXPECT_EQ(kek.body["id"], kek_before["id"]);
  EXPECT_EQ(kek.body["versions"], kek_before["versions"]);
  auto p = Call(ten_, "GET", std::string("/v1/policies/") + kPolicyA);
  ASSERT_EQ(p.status, 200) << p.body.dump();
  EXPECT_EQ(p.body["vmset"], "renamed");
  EXPECT_EQ(Fetched("renamed"), before);
  // The gateway's scope names the new name now, not the old one.
  EXPECT_EQ(Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset").status, 403);

  // The old name is free again, for a new VM set with a new GUID and nothing of the old one.
  EXPECT_NE(CreateVmSet("my_vmset"), guid);
  EXPECT_EQ(Call(keys_, "GET", "/v1/keks/my_vmset").status, 404);
}

// Issue 16 defect 6 (rename) with the <policy-descriptor vmset="..."> wrapper: the gateway
// refuses a descriptor that names another VM set (policy::Evaluator::Create), so a rename
// rewrites the stored XML's vmset attribute; before, the renamed VM set could no longer be
// served by any gateway.
TEST_F(VmSetIdentityTest, RenameKeepsAPolicyThatNamesItsVmSetValid) {
  CreateVmSet("my_vmset");
  const std::string key = CreateKey("my_vmset");
  const std::string wrapped = std::string("<policy-descriptor guid=\"") + kPolicyA +
                              "\" vmset=\"my_vmset\">" + PolicyXml(key) + "</policy-descriptor>";
  auto p = Call(ten_, "POST", "/v1/policies",
                json{{"id", kPolicyA}, {"vmset", "my_vmset"}, {"xml", wrapped}});
  ASSERT_EQ(p.status, 201) << p.body.dump();
  auto v = Call(sec_, "GET", "/v1/vmsets/my_vmset");
  ASSERT_EQ(Call(ten_, "PUT", "/v1/vmsets/my_vmset",
                 json{{"policy_id", kPolicyA}, {"version", v.body["version"]}})
                .status,
            200);
  ASSERT_EQ(Call(sec_, "POST", "/v1/vmsets/my_vmset/rename", json{{"name", "renamed"}}).status,
            200);
  auto f = Call(gate_, "GET", "/v1/gateway/vmsets/renamed");
  ASSERT_EQ(f.status, 200) << f.body.dump();
  auto pd = policy::PolicyDescriptor::Parse(f.body["policy"]["xml"].get<std::string>());
  ASSERT_TRUE(pd.ok()) << pd.status().ToString();
  EXPECT_EQ(pd->vmset_name, "renamed");
  ASSERT_TRUE(pd->guid.has_value());
  EXPECT_EQ(pd->guid->ToString(), kPolicyA);
  EXPECT_EQ(pd->objects.size(), 1u);
}

TEST_F(VmSetIdentityTest, AReusedNameGetsANewGuidAndNoneOfTheOldKeys) {
  const std::string old_guid = CreateVmSet("my_vmset");
  const std::string old_key = CreateKey("my_vmset");
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + old_key + "/destroy", json{{"force", true}}).status,
            200);
  ASSERT_EQ(Call(sec_, "DELETE", "/v1/vmsets/my_vmset").status, 200);

  const std::string new_guid = CreateVmSet("my_vmset");
  EXPECT_NE(new_guid, old_guid);
  // The old GUID is a tombstone, never handed out again.
  Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(VmSetGuidRecord g, GetRecord<VmSetGuidRecord>(txn, old_guid));
    EXPECT_TRUE(g.deleted);
    EXPECT_EQ(g.name, "my_vmset");
    CAFS_ASSIGN_OR_RETURN(std::string live, VmSetGuidOf(txn, "my_vmset"));
    EXPECT_EQ(live, new_guid);
    CAFS_ASSIGN_OR_RETURN(std::string shown, VmSetNameOf(txn, old_guid));
    EXPECT_EQ(shown, "(deleted VM set " + old_guid + ")");
    return Status::OK();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  // No KEK and no key of the old VM set belongs to the new one.
  EXPECT_EQ(Call(keys_, "GET", "/v1/keks/my_vmset").status, 404);
  const std::string new_key = CreateKey("my_vmset");
  auto listed = Call(ten_, "GET", "/v1/keys", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.body.size(), 1u) << listed.body.dump();
  EXPECT_EQ(listed.body[0]["id"], new_key);
  EXPECT_EQ(Call(keys_, "GET", "/v1/keks/my_vmset").body["id"], new_guid);
}

// Issue 20 class 7: POST /v1/policies with an id another tenant's policy holds answers as
// for a fresh id (201), because ids are per VM set; each VM set's gateway gets its own policy.
TEST_F(VmSetIdentityTest, PolicyIdsArePerVmSetSoCreateIsNoExistenceOracle) {
  CreateVmSet("my_vmset");
  CreateVmSet("other_vmset");
  const std::string mine = CreateKey("my_vmset");
  const std::string theirs = CreateKey("other_vmset");
  ASSERT_NO_FATAL_FAILURE(GovernWith(other_, "other_vmset", kPolicyB, theirs));

  auto taken = Call(ten_, "POST", "/v1/policies",
                    json{{"id", kPolicyB}, {"vmset", "my_vmset"}, {"xml", PolicyXml(mine)}});
  auto fresh = Call(ten_, "POST", "/v1/policies",
                    json{{"id", kFresh}, {"vmset", "my_vmset"}, {"xml", PolicyXml(kClearKey)}});
  EXPECT_EQ(taken.status, 201) << taken.body.dump();
  EXPECT_EQ(fresh.status, 201) << fresh.body.dump();
  // Its own id again is a conflict, as before.
  EXPECT_EQ(Call(ten_, "POST", "/v1/policies",
                 json{{"id", kFresh}, {"vmset", "my_vmset"}, {"xml", PolicyXml(kClearKey)}})
                .status,
            409);

  // Each tenant sees its own policy under the shared id; a global reader names the VM set.
  auto t = Call(ten_, "GET", std::string("/v1/policies/") + kPolicyB);
  ASSERT_EQ(t.status, 200);
  EXPECT_EQ(t.body["vmset"], "my_vmset");
  EXPECT_EQ(Call(other_, "GET", std::string("/v1/policies/") + kPolicyB).body["vmset"],
            "other_vmset");
  EXPECT_EQ(Call(sec_, "GET", std::string("/v1/policies/") + kPolicyB).status, 400);
  EXPECT_EQ(Call(sec_, "GET", std::string("/v1/policies/") + kPolicyB, nullptr,
                 {{"vmset", "other_vmset"}})
                .body["vmset"],
            "other_vmset");

  // my_vmset governed by its kPolicyB: the gateway gets my key, never the other tenant's.
  auto v = Call(sec_, "GET", "/v1/vmsets/my_vmset");
  ASSERT_EQ(Call(ten_, "PUT", "/v1/vmsets/my_vmset",
                 json{{"policy_id", kPolicyB}, {"version", v.body["version"]}})
                .status,
            200);
  const auto keys = Fetched("my_vmset");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys.begin()->first, mine);
  // Deleting mine leaves theirs.
  EXPECT_EQ(Call(ten_, "DELETE", std::string("/v1/policies/") + kFresh).status, 200);
  EXPECT_EQ(Call(other_, "GET", std::string("/v1/policies/") + kPolicyB).status, 200);
}

// The upgrade on both store back-ends: SQLite, and PostgreSQL (skipped without a server).
class VmSetUpgradeTest : public VmSetIdentityTest,
                         public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    if (GetParam() == "postgresql") {
      std::string why;
      testing::PostgresServer* server = testing::PostgresServer::Shared(&why);
      if (server == nullptr) GTEST_SKIP() << "PostgreSQL store not tested: " << why;
      // From empty tables (the server is shared within this process).
      PGconn* c = PQconnectdb(server->uri().c_str());
      ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
      PQclear(PQexec(c, "SET client_min_messages = warning"));
      PQclear(PQexec(c, "DROP TABLE IF EXISTS kps_objects, kps_audit"));
      PQfinish(c);
      api_.reset();
      keyring_.reset();
      auto st = OpenStore(server->uri(), dir_.path());
      ASSERT_TRUE(st.ok()) << st.status().ToString();
      store_ = std::move(st).value();
      keyring_.emplace(*master_, *store_, SystemClock::Instance());
      api_.emplace(*keyring_, *store_, *ca_, SystemClock::Instance());
    }
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
  }
};

INSTANTIATE_TEST_SUITE_P(Stores, VmSetUpgradeTest, ::testing::Values("sqlite", "postgresql"));

// A store written before VM set GUIDs: VM sets without a GUID, KEKs and keys keyed by name,
// policies keyed by id alone, and a KMIP clients' key of a name without a VM set record.
TEST_P(VmSetUpgradeTest, AStoreWrittenBeforeGuidsIsUpgradedOnce) {
  auto kek = crypto::RandomKey(kKekSize);
  auto dek = crypto::RandomKey(64);
  auto kmip_kek = crypto::RandomKey(kKekSize);
  auto kmip_dek = crypto::RandomKey(32);
  ASSERT_TRUE(kek.ok() && dek.ok() && kmip_kek.ok() && kmip_dek.ok());
  auto wrap = [](const auto& under, const SecureBuffer& what) {
    auto w = crypto::WrapKey(under, what.view());
    EXPECT_TRUE(w.ok());
    return ToHex(*w);
  };
  auto version = [](const std::string& wrapped) {
    return json::array({json{
        {"number", 1}, {"state", "active"}, {"created", 1}, {"changed", 1}, {"wrapped", wrapped}}});
  };
  const std::string key_id = Uuid::Random().ToString();
  const std::string kmip_key_id = Uuid::Random().ToString();
  Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
    auto put = [&](ObjectKind kind, const std::string& id, const json& doc) {
      return txn.Put(kind, id, doc.dump(), 0).status();
    };
    CAFS_RETURN_IF_ERROR(put(ObjectKind::kVmSet, "my_vmset",
                             {{"name", "my_vmset"},
                              {"mount_point", "/nfs"},
                              {"position", 1},
                              {"servers", {"s1"}},
                              {"policy_id", kPolicyA}}));
    CAFS_RETURN_IF_ERROR(put(ObjectKind::kKek, "my_vmset",
                             {{"id", "my_vmset"},
                              {"vmset", "my_vmset"},
                              {"cipher", "aes-256-kwp"},
                              {"versions", version(wrap(master_->key(), *kek))}}));
    CAFS_RETURN_IF_ERROR(put(ObjectKind::kKey, key_id,
                             {{"id", key_id},
                              {"vmset", "my_vmset"},
                              {"cipher", "aes-256-xts"},
                              {"versions", version(wrap(*kek, *dek))}}));
    CAFS_RETURN_IF_ERROR(
        put(ObjectKind::kPolicy, kPolicyA,
            {{"id", kPolicyA}, {"vmset", "my_vmset"}, {"xml", PolicyXml(key_id)}}));
    CAFS_RETURN_IF_ERROR(put(ObjectKind::kKek, "kmip",
                             {{"id", "kmip"},
                              {"vmset", "kmip"},
                              {"cipher", "aes-256-kwp"},
                              {"versions", version(wrap(master_->key(), *kmip_kek))}}));
    return put(ObjectKind::kKey, kmip_key_id,
               {{"id", kmip_key_id},
                {"vmset", "kmip"},
                {"cipher", "aes-256"},
                {"versions", version(wrap(*kmip_kek, *kmip_dek))}});
  });
  ASSERT_TRUE(s.ok()) << s.ToString();

  ASSERT_TRUE(UpgradeStoreVmSetIdentity(*store_, SystemClock::Instance()).ok());
  const std::size_t audits = AuditTrail().size();
  EXPECT_EQ(AuditTrail().back().action, "upgrade vmset-guids");
  // Idempotent: a second start changes nothing and audits nothing.
  ASSERT_TRUE(UpgradeStoreVmSetIdentity(*store_, SystemClock::Instance()).ok());
  EXPECT_EQ(AuditTrail().size(), audits);

  auto v = Call(sec_, "GET", "/v1/vmsets/my_vmset");
  ASSERT_EQ(v.status, 200);
  const std::string guid = v.body["guid"];
  ASSERT_TRUE(Uuid::Parse(guid).ok());
  auto k = Call(keys_, "GET", "/v1/keys/" + key_id);
  EXPECT_EQ(k.body["vmset"], "my_vmset");
  EXPECT_EQ(k.body["vmset_id"], guid);
  EXPECT_EQ(Call(keys_, "GET", "/v1/keks/my_vmset").body["id"], guid);
  auto p = Call(sec_, "GET", std::string("/v1/policies/") + kPolicyA);
  ASSERT_EQ(p.status, 200) << p.body.dump();
  EXPECT_EQ(p.body["vmset_id"], guid);
  // The keys still unwrap to the same bytes through their KEKs, now found by GUID.
  auto clear = keyring_->UnwrapKey(key_id, 0);
  ASSERT_TRUE(clear.ok()) << clear.status().ToString();
  EXPECT_EQ(ToHex(clear->view()), ToHex(dek->view()));
  auto kmip_clear = keyring_->UnwrapKey(kmip_key_id, 0);
  ASSERT_TRUE(kmip_clear.ok()) << kmip_clear.status().ToString();
  EXPECT_EQ(ToHex(kmip_clear->view()), ToHex(kmip_dek->view()));
  // The KMIP clients' name got a GUID of its own; a tenant VM set may not take that name.
  auto kmip = keyring_->GetKek("kmip");
  ASSERT_TRUE(kmip.ok());
  EXPECT_NE(kmip->id, guid);
  EXPECT_EQ(Call(sec_, "POST", "/v1/vmsets", json{{"name", "kmip"}}).status, 409);
  // The gateway fetch finds the VM set's policy under its GUID.
  EXPECT_EQ(Fetched("my_vmset").size(), 1u);
}

}  // namespace
}  // namespace cafs::kps
