#include "kps/objects.h"

#include <gtest/gtest.h>

#include "kps/policy_validation.h"
#include "policy/seed_examples.h"

namespace cafs::kps {
namespace {

TEST(ObjectsTest, RolesAndStatesRoundTrip) {
  for (auto r : {Role::kSecurityAdmin, Role::kTenantAdmin, Role::kKeyAdmin, Role::kStorageAdmin,
                 Role::kAuditor, Role::kGateway}) {
    EXPECT_EQ(*ParseRole(RoleName(r)), r);
  }
  EXPECT_TRUE(ParseRole("root").status().IsInvalidArgument());
  EXPECT_EQ(*ParseKeyState("pre-active"), KeyState::kPreActive);
  EXPECT_FALSE(KeyStateTransitionAllowed(KeyState::kDeactivated, KeyState::kActive));
  EXPECT_TRUE(KeyStateTransitionAllowed(KeyState::kPreActive, KeyState::kActive));
}

TEST(ObjectsTest, KeyJsonHidesWrappedBytesUnlessAsked) {
  KeyRecord k;
  k.id = "062b9056-bf64-11df-8d3e-000c29abeb4d";
  k.vmset = "my_vmset";
  k.cipher = "aes-256-xts";
  k.versions.push_back({1, KeyState::kActive, Bytes{1, 2, 3}, 10, 10});
  EXPECT_FALSE(ToJson(k, false)["versions"][0].contains("wrapped"));
  auto back = KeyFromJson(ToJson(k, true));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->versions[0].wrapped, (Bytes{1, 2, 3}));
}

TEST(ObjectsTest, StrictParsing) {
  EXPECT_TRUE(VmSetFromJson(nlohmann::json{{"name", 5}}).status().IsInvalidArgument());
  EXPECT_TRUE(
      CheckKnownFields(nlohmann::json{{"name", "a"}, {"evil", 1}}, {"name"}).IsInvalidArgument());
  EXPECT_TRUE(CheckKnownFields(nlohmann::json{{"name", "a"}}, {"name"}).ok());
}

TEST(PolicyValidationTest, SeedExampleAndErrorsNameTheLine) {
  const char* seed = policy::seed_examples::kSeedVobjList;
  auto ok = ValidatePolicyXml(seed);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->key_ids.size(), 2u);
  auto bad = ValidatePolicyXml("<vobj-list>\n<vobj>\n<vglob>x</vobj>\n</vobj-list>");
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("line 3"), std::string::npos) << bad.status().ToString();
  auto badkey = ValidatePolicyXml("<vobj-list>\n<vobj><symkey>nope</symkey></vobj></vobj-list>");
  EXPECT_NE(badkey.status().message().find("line 2"), std::string::npos);
}

}  // namespace
}  // namespace cafs::kps
