// KpsKeyProvider: parsing of kpsd's gateway fetch answer and the mapping of HTTP failures.
#include "cafs/kps_key_provider.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy/seed_examples.h"

namespace cafs::core {
namespace {

using nlohmann::json;

constexpr const char* kKeyId = "062b9056-bf64-11df-8d3e-000c29abeb4d";

json Answer() {
  return json{{"vmset",
               {{"name", "my_vmset"},
                {"mount_point", "/nfs"},
                {"position", 1},
                {"servers", {"755083456"}},
                {"policy_id", "45aa9e57-bf64-11df-8d3e-000c29abeb4d"},
                {"version", 3}}},
              {"policy",
               {{"id", "45aa9e57-bf64-11df-8d3e-000c29abeb4d"},
                {"xml", policy::seed_examples::kSeedVobjList}}},
              {"keys",
               {{{"id", kKeyId}, {"version", 1}, {"state", "deactivated"}, {"key", "AAECAw=="}},
                {{"id", kKeyId}, {"version", 2}, {"state", "active"}, {"key", "/////w=="}},
                {{"id", kKeyId}, {"version", 3}, {"state", "compromised"}, {"key", "YWJj"}}}}};
}

TEST(KpsKeyProviderTest, ParsesBundle) {
  auto b = KpsKeyProvider::ParseBundle(Answer(), "my_vmset", "kps:https://127.0.0.1:1");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->vmset.name, "my_vmset");
  EXPECT_EQ(b->vmset.mount_point, "/nfs");
  EXPECT_TRUE(b->vmset.IsServerListed("755083456"));
  EXPECT_EQ(b->vmset.policy_descriptor.ToString(), "45aa9e57-bf64-11df-8d3e-000c29abeb4d");
  EXPECT_EQ(b->kps_locator, "kps:https://127.0.0.1:1");
  const Uuid id = *Uuid::Parse(kKeyId);
  ASSERT_EQ(b->keys.size(), 3u);
  const SecureBuffer& v1 = b->keys.at({id, 1});
  ASSERT_EQ(v1.size(), 4u);
  EXPECT_EQ(v1.data()[0], 0);
  EXPECT_EQ(v1.data()[3], 3);
  const SecureBuffer& v2 = b->keys.at({id, 2});
  ASSERT_EQ(v2.size(), 4u);
  EXPECT_EQ(v2.data()[2], 0xff);
  const SecureBuffer& v3 = b->keys.at({id, 3});
  ASSERT_EQ(v3.size(), 3u);
  EXPECT_EQ(v3.data()[0], 'a');
  // The active version is current even though a higher (compromised) one exists.
  EXPECT_EQ(b->current_version.at(id), 2u);
}

// Issue 16: the fetch's `pools` (the VM set's allow list, [{name, guid}]) reaches the bundle;
// absent (a kpsd before pool records) is "no allow list"; a malformed entry refuses the answer.
TEST(KpsKeyProviderTest, PoolRecordsOfTheFetchReachTheBundle) {
  auto none = KpsKeyProvider::ParseBundle(Answer(), "my_vmset", "kps:x");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->pools.has_value());
  json a = Answer();
  a["pools"] = json::array({{{"name", "default_pool"}, {"guid", kKeyId}}});
  auto b = KpsKeyProvider::ParseBundle(a, "my_vmset", "kps:x");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE(b->pools.has_value());
  EXPECT_EQ(*b->pools, (std::vector<PoolRecordRef>{{"default_pool", *Uuid::Parse(kKeyId)}}));
  EXPECT_TRUE(b->Clone().pools == b->pools);
  for (const json& bad :
       {json("default_pool"), json::array({{{"name", "default_pool"}}}),
        json::array({{{"name", "a/b"}, {"guid", kKeyId}}}),
        json::array({{{"name", "p"}, {"guid", "nope"}}}),
        json::array({{{"name", "p"}, {"guid", kKeyId}}, {{"name", "p"}, {"guid", kKeyId}}})}) {
    a["pools"] = bad;
    auto r = KpsKeyProvider::ParseBundle(a, "my_vmset", "kps:x");
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("kpsd answer: pools"), std::string::npos)
        << r.status().message();
  }
}

TEST(KpsKeyProviderTest, NoActiveVersionUsesHighest) {
  json a = Answer();
  a["keys"][1]["state"] = "deactivated";
  auto b = KpsKeyProvider::ParseBundle(a, "my_vmset", "kps:x");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->current_version.at(*Uuid::Parse(kKeyId)), 3u);
}

// Versions without bytes (crypto-shredded, pre-active) come with their state: a file under a
// destroyed one is refused as destroyed (EIO naming the key), and they count as known.
TEST(KpsKeyProviderTest, UnusableVersionsAreKnownAndDestroyedOnesRefusedByName) {
  json a = Answer();
  a["unusable"] = {{{"id", kKeyId}, {"version", 4}, {"state", "destroyed"}},
                   {{"id", kKeyId}, {"version", 5}, {"state", "pre-active"}}};
  auto b = KpsKeyProvider::ParseBundle(a, "my_vmset", "kps:x");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Uuid id = *Uuid::Parse(kKeyId);
  EXPECT_TRUE(b->Destroyed({id, 4}));
  EXPECT_FALSE(b->Destroyed({id, 5}));
  EXPECT_FALSE(b->Destroyed({id, 2}));
  EXPECT_EQ(b->NewestVersions().at(id), 5u);
  EXPECT_EQ(b->current_version.at(id), 2u);  // still the active one
  json bad = Answer();
  bad["unusable"] = {{{"id", kKeyId}, {"version", "4"}, {"state", "destroyed"}}};
  EXPECT_TRUE(KpsKeyProvider::ParseBundle(bad, "my_vmset", "k").status().IsInvalidArgument());
}

TEST(KpsKeyProviderTest, RejectsMalformedAnswers) {
  EXPECT_TRUE(
      KpsKeyProvider::ParseBundle(json::object(), "my_vmset", "k").status().IsInvalidArgument());
  EXPECT_TRUE(KpsKeyProvider::ParseBundle(Answer(), "other", "k").status().IsInvalidArgument());
  json bad_key = Answer();
  bad_key["keys"][0]["key"] = "not base64!";
  auto s = KpsKeyProvider::ParseBundle(bad_key, "my_vmset", "k").status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("keys[0]"), std::string::npos) << s.ToString();
  json dup = Answer();
  dup["keys"][1]["version"] = 1;
  EXPECT_TRUE(KpsKeyProvider::ParseBundle(dup, "my_vmset", "k").status().IsInvalidArgument());
  json bad_guid = Answer();
  bad_guid["vmset"]["policy_id"] = "nope";
  EXPECT_TRUE(KpsKeyProvider::ParseBundle(bad_guid, "my_vmset", "k").status().IsInvalidArgument());
  json no_policy = Answer();
  no_policy.erase("policy");
  EXPECT_TRUE(KpsKeyProvider::ParseBundle(no_policy, "my_vmset", "k").status().IsNotFound());
}

// Issue 16 defect 5: the registered servers the VM set lists come with the answer and are
// checked like cafsd's [[server]] tables; an older kpsd without the member gives none.
TEST(KpsKeyProviderTest, RegisteredServers) {
  json a = Answer();
  a["registered_servers"] = {{{"id", "755083456"}, {"addresses", {"192.0.2.10", "2001:db8::1"}}}};
  auto b = KpsKeyProvider::ParseBundle(a, "my_vmset", "kps:x");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->servers,
            (std::vector<policy::RegisteredServer>{{"755083456", {"192.0.2.10", "2001:db8::1"}}}));
  EXPECT_EQ(b->Clone().servers, b->servers);
  auto old = KpsKeyProvider::ParseBundle(Answer(), "my_vmset", "kps:x");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->servers.empty());
  for (const json& bad : {json("x"), json{{{"id", "s"}}}, json{{{"id", "s"}, {"addresses", {1}}}},
                          json{{{"id", "s"}, {"addresses", {"esx.example.com"}}}},
                          json{{{"id", "s"}, {"addresses", {"192.0.2.1"}}},
                               {{"id", "S"}, {"addresses", {"192.0.2.2"}}}}}) {
    json c = Answer();
    c["registered_servers"] = bad;
    auto s = KpsKeyProvider::ParseBundle(c, "my_vmset", "k").status();
    EXPECT_TRUE(s.IsInvalidArgument()) << bad.dump();
    EXPECT_NE(s.message().find("registered_servers"), std::string::npos) << s.ToString();
  }
}

TEST(KpsKeyProviderTest, MapsHttpFailures) {
  const std::string url = "https://127.0.0.1:9";
  Status denied = KpsKeyProvider::StatusForReply(403, "not a gateway of my_vmset", "v", url);
  EXPECT_TRUE(denied.IsPermissionDenied());
  EXPECT_NE(denied.message().find("not a gateway of my_vmset"), std::string::npos);
  EXPECT_TRUE(KpsKeyProvider::StatusForReply(404, "no", "v", url).IsNotFound());
  Status down = KpsKeyProvider::StatusForReply(503, "store down", "v", url);
  EXPECT_EQ(down.code(), Status::Code::kUnavailable);
  EXPECT_TRUE(down.retryable());
  EXPECT_NE(down.message().find(url), std::string::npos);
  EXPECT_TRUE(KpsKeyProvider::StatusForReply(400, "bad", "v", url).IsInvalidArgument());
}

TEST(KpsKeyProviderTest, CreateRejectsBadUrlAndMissingBundle) {
  EXPECT_TRUE(
      KpsKeyProvider::Create("http://127.0.0.1:1", "/nonexistent").status().IsInvalidArgument());
  EXPECT_FALSE(KpsKeyProvider::Create("https://127.0.0.1:1", "/nonexistent/b.pem").ok());
}

}  // namespace
}  // namespace cafs::core
