// Shallow rekey and crypto-shred through the REST API (docs/kps.md "Shallow rekey and
// crypto-shred"): a key version is destroyed only when every gateway approved for its VM set
// has reported an inventory, taken after it knew the key's newest version, in which no file
// uses that version; the refusal lists the files (GUID and path) or names the gateway not
// heard from; force destroys anyway and says what became unreadable. A VM set's KEK rotates
// (every DEK version re-wrapped, the DEK bytes unchanged) and is destroyed as a whole (every
// key of the VM set unreadable, the gateway fetch lists them as destroyed).
#include <gtest/gtest.h>

#include "unit/kps/api_fixture.h"

namespace cafs::kps {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = "11111111-2222-4333-8444-555555555555";
constexpr const char* kFileGuid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
constexpr const char* kFilePath = "/my_vmset/vm1/osdisk1";

class CryptoShredTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
    ASSERT_EQ(Call(sec_, "POST", "/v1/vmsets",
                   json{{"name", "my_vmset"}, {"mount_point", "/nfs"}, {"servers", {"s1"}}})
                  .status,
              201);
    ASSERT_NO_FATAL_FAILURE(AllowPools("my_vmset", {"p"}));
    auto k = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
    ASSERT_EQ(k.status, 201);
    key_ = k.body["id"];
    json policy = {{"id", kPolicy},
                   {"vmset", "my_vmset"},
                   {"xml", "<vobj-list><vobj><vglob>*</vglob><symkey>" + key_ +
                               "</symkey><storepol>p</storepol><access>at_all_times</access>"
                               "<audit>none</audit></vobj></vobj-list>"}};
    ASSERT_EQ(Call(ten_, "POST", "/v1/policies", policy).status, 201);
    ASSERT_EQ(Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"policy_id", kPolicy}, {"version", 1}})
                  .status,
              200);
  }

  // The gateway's inventory: `known` = the newest version of key_ it knew (0: VM set not
  // cached), `files` files under version `version`.
  ApiResponse Report(std::uint32_t known, std::uint32_t version, std::uint64_t files) {
    json keys = json::array();
    if (files > 0) {
      keys.push_back({{"id", key_},
                      {"version", version},
                      {"files", files},
                      {"bytes", files * 8192},
                      {"listed", {{{"guid", kFileGuid}, {"path", kFilePath}}}}});
    }
    json vs = {{"vmset", "my_vmset"}, {"keys", keys}, {"unreadable", 0}};
    vs["known"] = known == 0 ? json() : json{{key_, known}};
    return Call(gate_, "POST", "/v1/inventory", json{{"time_ms", 1}, {"vmsets", {vs}}});
  }

  ApiResponse Destroy(json body) {
    return Call(keys_, "POST", "/v1/keys/" + key_ + "/destroy", std::move(body));
  }

  std::string key_;
};

TEST_F(CryptoShredTest, RefusedUntilTheGatewayHasReported) {
  auto r = Destroy(json{{"version", 1}});
  EXPECT_EQ(r.status, 409) << r.body.dump();
  EXPECT_NE(r.body["reason"].get<std::string>().find("gateway gw has not reported"),
            std::string::npos)
      << r.body.dump();
  // Nothing was destroyed.
  EXPECT_TRUE(keyring_->UnwrapKey(key_, 1).ok());
  ASSERT_EQ(Report(1, 1, 0).status, 201);
  r = Destroy(json{{"version", 1}});
  EXPECT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(keyring_->UnwrapKey(key_, 1).status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(CryptoShredTest, RefusalListsTheDependentFilesAndForceSaysWhatWasLost) {
  ASSERT_EQ(Report(1, 1, 3).status, 201);
  auto r = Destroy(json{{"version", 1}});
  ASSERT_EQ(r.status, 409) << r.body.dump();
  const std::string reason = r.body["reason"];
  EXPECT_NE(reason.find("3 file(s)"), std::string::npos) << reason;
  EXPECT_NE(reason.find(kFileGuid), std::string::npos) << reason;
  EXPECT_NE(reason.find(kFilePath), std::string::npos) << reason;
  EXPECT_NE(reason.find("force"), std::string::npos) << reason;
  EXPECT_TRUE(keyring_->UnwrapKey(key_, 1).ok());
  // The refusal is audited.
  bool audited = false;
  for (const auto& a : AuditTrail()) {
    audited |= a.action == "POST /v1/keys/" + key_ + "/destroy" && a.result == "error" &&
               a.reason.find(kFilePath) != std::string::npos;
  }
  EXPECT_TRUE(audited);
  r = Destroy(json{{"version", 1}, {"force", true}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const std::string warning = r.body.value("warning", "");
  EXPECT_NE(warning.find("unreadable"), std::string::npos) << warning;
  EXPECT_NE(warning.find(kFilePath), std::string::npos) << warning;
  EXPECT_EQ(r.body["versions"][0]["state"], "destroyed");
  EXPECT_EQ(Destroy(json{{"force", "yes"}}).status, 400);
}

TEST_F(CryptoShredTest, AGatewayThatHasNotReportedSinceTheRotationRefuses) {
  ASSERT_EQ(Report(1, 1, 0).status, 201);
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + key_ + "/rotate", json::object()).status, 200);
  // Its last inventory knew version 1 only: files may have been written since under 1.
  auto r = Destroy(json{{"version", 1}});
  ASSERT_EQ(r.status, 409) << r.body.dump();
  EXPECT_NE(r.body["reason"].get<std::string>().find("gateway gw has not reported since key " +
                                                     key_ + " was rotated to version 2"),
            std::string::npos)
      << r.body.dump();
  // A stale inventory that lists files under version 1: the refusal names both the files and
  // the gateway not heard from since the rotation.
  ASSERT_EQ(Report(1, 1, 2).status, 201);
  r = Destroy(json{{"version", 1}});
  ASSERT_EQ(r.status, 409) << r.body.dump();
  const std::string both = r.body["reason"];
  EXPECT_NE(both.find(kFilePath), std::string::npos) << both;
  EXPECT_NE(both.find("2 file(s)"), std::string::npos) << both;
  EXPECT_NE(both.find("has not reported since key"), std::string::npos) << both;
  // Reported after it saw version 2, no file under version 1: destroyed; version 2 lives on.
  ASSERT_EQ(Report(2, 2, 1).status, 201);
  r = Destroy(json{{"version", 1}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_TRUE(keyring_->UnwrapKey(key_, 2).ok());
  // A VM set the gateway had not cached counts as known (it cannot write under an old one).
  ASSERT_EQ(Report(0, 2, 0).status, 201);
  EXPECT_EQ(Destroy(json{{"version", 2}}).status, 200);
}

TEST_F(CryptoShredTest, RevokedGatewaysAndBadInventoriesAndScope) {
  // An inventory for a VM set outside the gateway's scope is refused (and audited).
  json vs = {{"vmset", "other_vmset"}, {"known", nullptr}, {"keys", json::array()}};
  EXPECT_EQ(Call(gate_, "POST", "/v1/inventory", json{{"vmsets", {vs}}}).status, 403);
  EXPECT_EQ(Call(gate_, "POST", "/v1/inventory", json{{"vmsets", 1}}).status, 400);
  json bad = {{"vmset", "my_vmset"}, {"keys", {{{"id", key_}, {"version", 1}}}}};
  EXPECT_EQ(Call(gate_, "POST", "/v1/inventory", json{{"vmsets", {bad}}}).status, 400);
  // Files the gateway could not read: their versions are unknown, so it refuses.
  json unread = {
      {"vmset", "my_vmset"}, {"known", nullptr}, {"keys", json::array()}, {"unreadable", 2}};
  ASSERT_EQ(Call(gate_, "POST", "/v1/inventory", json{{"vmsets", {unread}}}).status, 201);
  auto r = Destroy(json{{"version", 1}});
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.body["reason"].get<std::string>().find("could not read"), std::string::npos);
  // A revoked gateway is not waited for.
  ASSERT_EQ(Call(sec_, "POST", "/v1/gateways/gw/revoke", json::object()).status, 200);
  EXPECT_EQ(Destroy(json{{"version", 1}}).status, 200);
}

TEST_F(CryptoShredTest, InventoryIsReadByKeyMetadataReadersInTheirScope) {
  ASSERT_EQ(Report(1, 1, 1).status, 201);
  auto r = Call(keys_, "GET", "/v1/inventory");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 1u);
  EXPECT_EQ(r.body[0]["gateway"], "gw");
  EXPECT_EQ(r.body[0]["vmsets"][0]["keys"][0]["listed"][0]["path"], kFilePath);
  // Another tenant sees no VM set of this one.
  r = Call(other_, "GET", "/v1/inventory");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body[0]["vmsets"].empty());
  EXPECT_EQ(Call(stor_, "GET", "/v1/inventory").status, 403);
}

TEST_F(CryptoShredTest, KekRotationRewrapsEveryVersionAndKeepsTheDeks) {
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + key_ + "/rotate", json::object()).status, 200);
  auto v1 = keyring_->UnwrapKey(key_, 1);
  auto v2 = keyring_->UnwrapKey(key_, 2);
  ASSERT_TRUE(v1.ok() && v2.ok());
  auto before = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_EQ(before.status, 200) << before.body.dump();
  auto r = Call(keys_, "POST", "/v1/keks/my_vmset/rotate", json::object());
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["rewrapped"], 2);
  ASSERT_EQ(r.body["versions"].size(), 2u);
  EXPECT_EQ(r.body["versions"][0]["state"], "destroyed");
  EXPECT_EQ(r.body["versions"][1]["state"], "active");
  EXPECT_FALSE(r.body["versions"][1].contains("wrapped"));
  EXPECT_TRUE(keyring_->UnwrapKey(key_, 1)->Equals(*v1));
  EXPECT_TRUE(keyring_->UnwrapKey(key_, 2)->Equals(*v2));
  // The gateway gets the very same key bytes: its files need nothing.
  auto after = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.body["keys"], before.body["keys"]);
  EXPECT_EQ(Call(keys_, "GET", "/v1/keks/my_vmset").body["versions"].size(), 2u);
  // Roles and scope: a tenant-admin reads its own KEK's metadata but may not rotate it; the
  // other tenant is told it does not exist.
  EXPECT_EQ(Call(ten_, "GET", "/v1/keks/my_vmset").status, 200);
  EXPECT_EQ(Call(ten_, "POST", "/v1/keks/my_vmset/rotate", json::object()).status, 403);
  EXPECT_EQ(Call(other_, "GET", "/v1/keks/my_vmset").status, 404);
  EXPECT_EQ(Call(keys_, "POST", "/v1/keks/no_such/rotate", json::object()).status, 404);
}

TEST_F(CryptoShredTest, ADestroyedKekMakesEveryKeyOfTheVmSetUnreadable) {
  auto k2 = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
  ASSERT_EQ(k2.status, 201);
  const std::string key2 = k2.body["id"];
  ASSERT_EQ(Report(1, 1, 1).status, 201);
  auto r = Call(keys_, "POST", "/v1/keks/my_vmset/destroy", json::object());
  ASSERT_EQ(r.status, 409) << r.body.dump();
  EXPECT_NE(r.body["reason"].get<std::string>().find(kFilePath), std::string::npos);
  EXPECT_TRUE(keyring_->UnwrapKey(key2, 1).ok());
  r = Call(keys_, "POST", "/v1/keks/my_vmset/destroy", json{{"force", true}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["keys_destroyed"], 2);
  EXPECT_NE(r.body.value("warning", "").find(kFilePath), std::string::npos);
  for (const auto& id : {key_, key2}) {
    EXPECT_EQ(keyring_->UnwrapKey(id, 1).status().code(), Status::Code::kFailedPrecondition);
    EXPECT_EQ(Call(keys_, "GET", "/v1/keys/" + id).body["versions"][0]["state"], "destroyed");
  }
  // The gateway is given no bytes, and told the version is destroyed (not damaged).
  auto fetch = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_EQ(fetch.status, 200) << fetch.body.dump();
  EXPECT_TRUE(fetch.body["keys"].empty());
  ASSERT_EQ(fetch.body["unusable"].size(), 1u);
  EXPECT_EQ(fetch.body["unusable"][0]["id"], key_);
  EXPECT_EQ(fetch.body["unusable"][0]["state"], "destroyed");
  // A new KEK for new keys.
  ASSERT_EQ(Call(keys_, "POST", "/v1/keks/my_vmset/rotate", json::object()).status, 200);
  auto k3 = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
  ASSERT_EQ(k3.status, 201);
  EXPECT_TRUE(keyring_->UnwrapKey(k3.body["id"].get<std::string>(), 1).ok());
}

}  // namespace
}  // namespace cafs::kps
