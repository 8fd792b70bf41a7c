// The REST API's route table (rest_api.h RestApi::Endpoints): every endpoint is reached by
// its method and pattern, its role check runs before its handler (a role that may not do the
// endpoint's action gets 403 naming the action, whatever the body), and a path that matches
// no pattern is 404 "no endpoint".
// Hardening (issue 20): a request that is not UTF-8 is refused with 400 and leaves the store
// working; an audit record that cannot be stored fails the request with 503.
#include <gtest/gtest.h>

#include <atomic>

#include "unit/kps/api_fixture.h"

namespace cafs::kps {
namespace {

using nlohmann::json;

class RestApiTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
  }

  // The pattern with every {placeholder} replaced by `value`.
  static std::string PathOf(std::string_view pattern, const std::string& value) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] == '{') {
        i = pattern.find('}', i);
        out += value;
      } else {
        out += pattern[i];
      }
    }
    return out;
  }

  // A policy descriptor for `vmset` naming `key` (the clear-text key when empty).
  static json PolicyBody(const std::string& id, const std::string& vmset,
                         const std::string& key = "") {
    const std::string k = key.empty() ? "01010101-0101-0101-0101-010101010101" : key;
    return {{"id", id},
            {"vmset", vmset},
            {"xml", "<vobj-list><vobj><vglob>*</vglob><symkey>" + k +
                        "</symkey><storepol>default_pool</storepol><access>at_all_times</access>"
                        "<audit>none</audit></vobj></vobj-list>"}};
  }

  // my_vmset (tenant ten) and other_vmset (tenant other), each with a policy and a key.
  void SetUpTwoTenants() {
    for (const char* name : {"my_vmset", "other_vmset"}) {
      ASSERT_EQ(
          Call(sec_, "POST", "/v1/vmsets",
               json{{"name", name}, {"mount_point", "/nfs"}, {"position", 1}, {"servers", {"s1"}}})
              .status,
          201);
    }
    AllowPools("my_vmset");
    AllowPools("other_vmset");
    auto k1 = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
    auto k2 = Call(keys_, "POST", "/v1/keys", json{{"vmset", "other_vmset"}});
    ASSERT_EQ(k1.status, 201);
    ASSERT_EQ(k2.status, 201);
    my_key_ = k1.body["id"];
    other_key_ = k2.body["id"];
    ASSERT_EQ(Call(ten_, "POST", "/v1/policies", PolicyBody(kMyPolicy, "my_vmset", my_key_)).status,
              201);
    ASSERT_EQ(
        Call(other_, "POST", "/v1/policies", PolicyBody(kOtherPolicy, "other_vmset", other_key_))
            .status,
        201);
  }

  std::uint64_t VersionOf(const std::string& path) {
    return Call(sec_, "GET", path).body.value("version", std::uint64_t{0});
  }

  static constexpr const char* kMyPolicy = "11111111-2222-4333-8444-555555555555";
  static constexpr const char* kOtherPolicy = "99999999-2222-4333-8444-555555555555";
  static constexpr const char* kNoPolicy = "77777777-2222-4333-8444-555555555555";
  std::string my_key_, other_key_;

  std::vector<std::pair<PeerIdentity, Role>> Everyone() const {
    return {{sec_, Role::kSecurityAdmin}, {ten_, Role::kTenantAdmin}, {keys_, Role::kKeyAdmin},
            {stor_, Role::kStorageAdmin}, {aud_, Role::kAuditor},     {gate_, Role::kGateway}};
  }
};

bool NoEndpoint(const ApiResponse& r) {
  return r.status == 404 && r.body.value("reason", "").find("no endpoint") != std::string::npos;
}

TEST_F(RestApiTest, EveryEndpointRoutesAndChecksItsRoleFirst) {
  const auto endpoints = RestApi::Endpoints();
  ASSERT_GE(endpoints.size(), 30u);
  for (const auto& e : endpoints) {
    const std::string path = PathOf(e.pattern, "my_vmset");
    const std::string method(e.method);
    for (const auto& [peer, role] : Everyone()) {
      Principal who{peer.name, role, {}};
      const bool may = Authorize(who, e.action).ok();
      // A body no endpoint accepts: a refused role must get 403 before it is looked at.
      auto r = Call(peer, method, path, json{{"no_such_field", 1}});
      SCOPED_TRACE(method + " " + path + " as " + peer.name + ": " + r.body.dump());
      EXPECT_FALSE(NoEndpoint(r));
      if (!may) {
        EXPECT_EQ(r.status, 403);
        EXPECT_NE(r.body.value("reason", "").find(std::string(ActionName(e.action))),
                  std::string::npos);
      }
    }
  }
}

TEST_F(RestApiTest, EveryPatternIsUnique) {
  const auto endpoints = RestApi::Endpoints();
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    for (std::size_t j = i + 1; j < endpoints.size(); ++j) {
      EXPECT_FALSE(endpoints[i].method == endpoints[j].method &&
                   endpoints[i].pattern == endpoints[j].pattern)
          << endpoints[i].method << " " << endpoints[i].pattern;
    }
  }
}

TEST_F(RestApiTest, PathsMatchingNoPatternAre404) {
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/"},
                                                        {"GET", "/v1"},
                                                        {"GET", "/v2/vmsets"},
                                                        {"GET", "/v1/vmsets/a/b"},
                                                        {"GET", "/v1/servers/a/b"},
                                                        {"POST", "/v1/keys/a/explode"},
                                                        {"PATCH", "/v1/vmsets/a"},
                                                        {"GET", "/v1/gateway/vmsets"},
                                                        {"DELETE", "/v1/audit"}}) {
    auto r = Call(sec_, method, path);
    EXPECT_TRUE(NoEndpoint(r)) << method << " " << path << ": " << r.body.dump();
  }
}

// Issue 20 class 6: PUT merges (a field the body does not name keeps its stored value).
TEST_F(RestApiTest, APartialPutKeepsTheFieldsItDoesNotName) {
  ASSERT_NO_FATAL_FAILURE(SetUpTwoTenants());
  auto r = Call(ten_, "PUT", "/v1/vmsets/my_vmset",
                json{{"policy_id", kMyPolicy}, {"version", VersionOf("/v1/vmsets/my_vmset")}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  r = Call(ten_, "PUT", "/v1/vmsets/my_vmset",
           json{{"mount_point", "/x"}, {"version", VersionOf("/v1/vmsets/my_vmset")}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  auto v = Call(sec_, "GET", "/v1/vmsets/my_vmset").body;
  EXPECT_EQ(v["mount_point"], "/x");
  EXPECT_EQ(v["position"], 1);
  EXPECT_EQ(v["servers"], json({"s1"}));
  EXPECT_EQ(v["policy_id"], kMyPolicy);
  // A field given empty is cleared; a stale version is a conflict and changes nothing.
  const std::uint64_t ver = VersionOf("/v1/vmsets/my_vmset");
  EXPECT_EQ(
      Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"servers", json::array()}, {"version", ver}})
          .status,
      200);
  EXPECT_EQ(
      Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"position", 7}, {"version", ver}}).status,
      409);
  v = Call(sec_, "GET", "/v1/vmsets/my_vmset").body;
  EXPECT_TRUE(v["servers"].empty());
  EXPECT_EQ(v["position"], 1);
  EXPECT_EQ(Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"position", 2}}).status, 400);

  // Servers and policies merge the same way.
  ASSERT_EQ(Call(stor_, "POST", "/v1/servers",
                 json{{"id", "s1"}, {"name", "esx"}, {"addresses", {"10.0.0.1"}}})
                .status,
            201);
  ASSERT_EQ(Call(stor_, "PUT", "/v1/servers/s1", json{{"name", "esx-1"}, {"version", 1}}).status,
            200);
  auto s = Call(stor_, "GET", "/v1/servers/s1").body;
  EXPECT_EQ(s["addresses"], json({"10.0.0.1"}));
  EXPECT_EQ(s["name"], "esx-1");
  ASSERT_EQ(Call(ten_, "PUT", std::string("/v1/policies/") + kMyPolicy,
                 json{{"name", "renamed"}, {"version", 1}})
                .status,
            200);
  auto p = Call(ten_, "GET", std::string("/v1/policies/") + kMyPolicy).body;
  EXPECT_EQ(p["name"], "renamed");
  EXPECT_EQ(p["vmset"], "my_vmset");
  EXPECT_NE(p["xml"].get<std::string>().find(my_key_), std::string::npos);
}

// Issue 20 class 6: no cross-tenant reference, in any endpoint that stores one.
TEST_F(RestApiTest, CrossTenantReferencesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(SetUpTwoTenants());
  std::uint64_t ver = VersionOf("/v1/vmsets/my_vmset");
  // A VM set naming another VM set's policy id: policy ids are per VM set (docs/kps.md), so
  // that is my_vmset's own policy of that id, not uploaded yet: a tenant may not name one
  // (below); a security-admin may, and the gateway gets nothing of the other VM set.
  auto named =
      Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"policy_id", kOtherPolicy}, {"version", ver}});
  EXPECT_EQ(named.status, 403) << named.body.dump();
  named =
      Call(sec_, "PUT", "/v1/vmsets/my_vmset", json{{"policy_id", kOtherPolicy}, {"version", ver}});
  EXPECT_EQ(named.status, 200) << named.body.dump();
  EXPECT_EQ(Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset").status, 404);
  ver = VersionOf("/v1/vmsets/my_vmset");
  auto created = Call(ten_, "POST", "/v1/vmsets", json{{"name", "my_vmset"}});
  EXPECT_EQ(created.status, 409);  // (exists; tenants cannot create other names at all)
  // A policy not uploaded yet: a security-admin may name it (the seed XML does), a tenant not.
  EXPECT_EQ(
      Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"policy_id", kNoPolicy}, {"version", ver}})
          .status,
      403);
  EXPECT_EQ(
      Call(sec_, "PUT", "/v1/vmsets/my_vmset", json{{"policy_id", kNoPolicy}, {"version", ver}})
          .status,
      200);
  // A policy naming another VM set's key (or a key that does not exist).
  for (const std::string& key : {other_key_, std::string("88888888-2222-4333-8444-555555555555")}) {
    auto r = Call(ten_, "POST", "/v1/policies",
                  PolicyBody("66666666-2222-4333-8444-555555555555", "my_vmset", key));
    EXPECT_EQ(r.status, 403) << r.body.dump();
    EXPECT_NE(r.body.value("reason", "").find("is not a key of VM set 'my_vmset'"),
              std::string::npos);
  }
  // Its own policy is fine.
  ASSERT_EQ(Call(sec_, "PUT", "/v1/vmsets/my_vmset",
                 json{{"policy_id", kMyPolicy}, {"version", VersionOf("/v1/vmsets/my_vmset")}})
                .status,
            200);
  // The gateway of my_vmset gets only my_vmset's keys.
  auto fetch = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_EQ(fetch.status, 200) << fetch.body.dump();
  for (const auto& k : fetch.body["keys"]) EXPECT_EQ(k["id"], my_key_);
}

// Issue 20 class 7: a tenant-admin (or a gateway) gets byte for byte the same answer for an
// object of another tenant as for one that does not exist, on every endpoint of the route
// table that takes an id or a VM set name (and the list filters). The answers are taken
// while other_vmset, its policy and its key exist, then again after they were removed.
TEST_F(RestApiTest, NotYoursAndDoesNotExistAnswerTheSame) {
  ASSERT_NO_FATAL_FAILURE(SetUpTwoTenants());
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> targets;
  for (const auto& e : RestApi::Endpoints()) {
    const std::string method(e.method);
    if (e.pattern.find('{') == std::string_view::npos) {
      if (method == "GET") {
        for (const std::string& q :
             std::vector<std::string>{"other_vmset", kOtherPolicy, other_key_}) {
          targets.push_back({method + " " + std::string(e.pattern), {{"vmset", q}}});
        }
      }
      continue;
    }
    for (const std::string& id :
         std::vector<std::string>{"other_vmset", kOtherPolicy, other_key_}) {
      targets.push_back({method + " " + PathOf(e.pattern, id), {}});
    }
  }
  auto answers = [&]() {
    std::vector<std::string> out;
    for (const PeerIdentity& who : {ten_, gate_}) {
      for (const auto& [target, query] : targets) {
        const auto space = target.find(' ');
        const std::string method = target.substr(0, space);
        auto r = Call(who, method, target.substr(space + 1),
                      method == "GET" || method == "DELETE" ? json(nullptr) : json{{"version", 1}},
                      query);
        out.push_back(who.name + " " + target + " -> " + std::to_string(r.status) + " " +
                      r.body.dump());
      }
    }
    return out;
  };
  const auto while_theirs = answers();
  const std::string other_guid = Call(sec_, "GET", "/v1/vmsets/other_vmset").body["guid"];
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    for (auto [kind, id] : std::vector<std::pair<ObjectKind, std::string>>{
                             {ObjectKind::kVmSet, "other_vmset"},
                             {ObjectKind::kPolicy, PolicyStoreId(other_guid, kOtherPolicy)},
                             {ObjectKind::kKey, other_key_}}) {
                      CAFS_ASSIGN_OR_RETURN(StoredObject o, txn.Get(kind, id));
                      CAFS_RETURN_IF_ERROR(txn.Delete(kind, id, o.version));
                    }
                    return Status::OK();
                  })
                  .ok());
  const auto when_absent = answers();
  ASSERT_EQ(while_theirs.size(), when_absent.size());
  for (std::size_t i = 0; i < while_theirs.size(); ++i) {
    EXPECT_EQ(while_theirs[i], when_absent[i]);
  }
  // The refusals are still audited as refusals, with the true reason.
  const std::vector<AuditRecord> all = AuditTrail();
  bool hidden_audited = false;
  for (const auto& rec : all) {
    hidden_audited = hidden_audited || (rec.actor == "ten" && rec.result == "denied" &&
                                        rec.action == "GET /v1/keys/" + other_key_ &&
                                        rec.reason.find("not in charge of VM set 'other_vmset'") !=
                                            std::string::npos);
  }
  EXPECT_TRUE(hidden_audited);
}

// Issue 20 class 5: gate_ is enrolled for my_vmset only; its pushes for other_vmset (audit
// records in both forms, usage figures) are refused, audited, and nothing of them is kept.
TEST_F(RestApiTest, AGatewayPushesOnlyForItsOwnVmSets) {
  auto chained = [](const std::string& vmset) {
    return json{{"records", json::array({json{{"vmset", vmset}, {"file", "f"}, {"bytes", 1}}})}};
  };
  auto usage = [](const std::string& vmset) {
    return json{{"time_ms", 1},
                {"vmsets", json::array({json{{"vmset", vmset}, {"pool", "p"}, {"bytes", 5}}})},
                {"pools", json::array()}};
  };
  const json forged_chain = {
      {"gateway_records",
       json::array({json{{"seq", 1}, {"vmset", "other_vmset"}, {"time_ms", 1}, {"hash", "x"}}})}};
  for (const auto& [path, body] :
       std::vector<std::pair<std::string, json>>{{"/v1/audit", chained("other_vmset")},
                                                 {"/v1/audit", forged_chain},
                                                 {"/v1/usage", usage("other_vmset")}}) {
    auto r = Call(gate_, "POST", path, body);
    EXPECT_EQ(r.status, 403) << path << " " << r.body.dump();
    EXPECT_NE(r.body.value("reason", "").find("not in charge of VM set 'other_vmset'"),
              std::string::npos);
  }
  EXPECT_EQ(Call(gate_, "POST", "/v1/audit", chained("my_vmset")).status, 201);
  EXPECT_EQ(Call(gate_, "POST", "/v1/usage", usage("my_vmset")).status, 201);
  // other_vmset's tenant sees no forged usage; the refusals are in the audit trail.
  auto seen = Call(other_, "GET", "/v1/usage");
  ASSERT_EQ(seen.status, 200);
  for (const auto& doc : seen.body) EXPECT_TRUE(doc["vmsets"].empty()) << seen.body.dump();
  const std::vector<AuditRecord> all = AuditTrail();
  int denied = 0;
  for (const auto& rec : all) {
    if (rec.actor == "gw" && rec.result == "denied") ++denied;
    EXPECT_EQ(rec.object.find("other_vmset/"), std::string::npos) << rec.object;
  }
  EXPECT_EQ(denied, 3);
}

// Issue 20 class 12: a deleted VM set leaves nothing a new VM set of the same name inherits.
TEST_F(RestApiTest, ADeletedVmSetsNameInheritsNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpTwoTenants());
  ASSERT_EQ(Call(ten_, "PUT", "/v1/vmsets/my_vmset",
                 json{{"policy_id", kMyPolicy}, {"version", VersionOf("/v1/vmsets/my_vmset")}})
                .status,
            200);
  const std::string guid = Call(sec_, "GET", "/v1/vmsets/my_vmset").body["guid"];
  // Refused while a key can still decrypt: the key-admin shreds keys, not the tenant.
  auto r = Call(ten_, "DELETE", "/v1/vmsets/my_vmset");
  EXPECT_EQ(r.status, 409) << r.body.dump();
  // The gateway approved for my_vmset reported that no file uses the key (key_inventory.h).
  json inventory = {{"vmset", "my_vmset"}, {"known", nullptr}, {"keys", json::array()}};
  ASSERT_EQ(Call(gate_, "POST", "/v1/inventory", json{{"vmsets", {inventory}}}).status, 201);
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + my_key_ + "/destroy", json::object()).status, 200);
  r = Call(ten_, "DELETE", "/v1/vmsets/my_vmset");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["kek_destroyed"], true);
  EXPECT_EQ(r.body["keys_removed"], 1);
  EXPECT_EQ(r.body["policies_removed"], 1);
  // Nothing is left bound to its GUID, and a new VM set of the same name starts empty.
  ASSERT_TRUE(
      store_
          ->InTransaction([&](StoreTxn& txn) -> Status {
            EXPECT_TRUE(txn.Get(ObjectKind::kKek, guid).status().IsNotFound());
            EXPECT_TRUE(txn.Get(ObjectKind::kKey, my_key_).status().IsNotFound());
            EXPECT_TRUE(
                txn.Get(ObjectKind::kPolicy, PolicyStoreId(guid, kMyPolicy)).status().IsNotFound());
            return Status::OK();
          })
          .ok());
  ASSERT_EQ(Call(sec_, "POST", "/v1/vmsets", json{{"name", "my_vmset"}}).status, 201);
  auto keys = Call(ten_, "GET", "/v1/keys", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(keys.status, 200);
  EXPECT_TRUE(keys.body.empty()) << keys.body.dump();
  auto fresh = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
  ASSERT_EQ(fresh.status, 201);
  EXPECT_NE(fresh.body["id"], my_key_);
  // Keys are created only for VM sets that exist.
  EXPECT_EQ(Call(keys_, "POST", "/v1/keys", json{{"vmset", "later_vmset"}}).status, 404);
  // The audit trail holds the delete.
  const std::vector<AuditRecord> all = AuditTrail();
  bool deleted = false;
  for (const auto& rec : all) {
    deleted = deleted || (rec.action == "DELETE /v1/vmsets/my_vmset" && rec.result == "ok");
  }
  EXPECT_TRUE(deleted);
}

// Issue 20 class 2: ~150,000 levels of nesting fit in a 1 MiB body and overflowed the
// parser's stack; any enrolled admin (even an auditor) could send them.
TEST_F(RestApiTest, DeeplyNestedJsonIsRefusedBeforeParsing) {
  const std::size_t deep = 150000;
  std::string objects;
  for (std::size_t i = 0; i < deep / 8; ++i) objects += "{\"a\":";
  objects += "1" + std::string(deep / 8, '}');
  for (const std::string& body :
       {"{\"id\":" + std::string(deep, '[') + std::string(deep, ']') + "}", objects,
        std::string(deep, '[')}) {
    ASSERT_LT(body.size(), std::size_t{1} << 20);
    for (const PeerIdentity& who : {aud_, sec_, gate_}) {
      ApiRequest req{"POST", "/v1/servers", {}, body, who};
      ApiResponse r = api_->Handle(req);
      EXPECT_EQ(r.status, 400) << r.body.dump();
      EXPECT_NE(r.body.value("reason", "").find("nested deeper than 64 levels"), std::string::npos)
          << r.body.dump();
    }
  }
  // Documents read back from the store are bounded the same way: a tampered row is a
  // Corruption (500) or skipped, never a crash.
  const std::string deep_doc = std::string(deep, '[') + std::string(deep, ']');
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kVmSet, "deep", deep_doc, 0).status());
                    return txn.Put(ObjectKind::kUsage, "gw", deep_doc, 0).status();
                  })
                  .ok());
  auto vmsets = Call(sec_, "GET", "/v1/vmsets");
  EXPECT_EQ(vmsets.status, 500);
  EXPECT_NE(vmsets.body.value("reason", "").find("nested deeper"), std::string::npos);
  EXPECT_EQ(Call(sec_, "GET", "/v1/usage").status, 200);
  EXPECT_EQ(Call(sec_, "GET", "/v1/servers").status, 200);
}

// Every principal kpsd may meet: enrolled ones of each role, a revoked admin and a
// certificate nobody enrolled; each sends non-UTF-8 requests, and after each the store must
// still answer everyone (issue 20 class 1: a transaction was left open and every later
// request failed "cannot start a transaction within a transaction").
TEST_F(RestApiTest, NonUtf8RequestsAreRefusedAndLeaveTheStoreWorking) {
  AdminRecord revoked{"gone", Role::kSecurityAdmin, {}, "20", "", true, 0};
  ASSERT_TRUE(store_->InTransaction([&](StoreTxn& txn) { return PutRecord(txn, revoked); }).ok());
  const PeerIdentity gone{"gone", "security-admin", "20", ""};
  const PeerIdentity stranger{"nobody", "security-admin", "99", ""};
  const std::string bad = "\xff\xfe";
  struct Probe {
    std::string method, path;
    std::map<std::string, std::string> query;
    std::string body;
  };
  const std::vector<Probe> probes = {
      {"GET", "/v1/vmsets/" + bad, {}, ""},
      {"DELETE", "/v1/vmsets/" + bad, {}, ""},
      {"PUT", "/v1/vmsets/" + bad, {}, R"({"version":1})"},
      {"GET", "/v1/gateway/vmsets/" + bad, {}, ""},
      {"POST", "/v1/keys/" + bad + "/rotate", {}, "{}"},
      {"GET", "/v1/keys", {{"vmset", bad}}, ""},
      {"GET", "/v1/usage", {{bad, "x"}}, ""},
      {"POST", "/v1/vmsets", {}, "{\"name\":\"" + bad + "\"}"},
      {"POST", "/v1/audit", {}, "{\"records\":[{\"file\":\"" + bad + "\"}]}"},
  };
  for (const PeerIdentity& who : {sec_, gate_, ten_, aud_, gone, stranger}) {
    for (const auto& p : probes) {
      ApiRequest req;
      req.method = p.method;
      req.path = p.path;
      req.query = p.query;
      req.body = p.body;
      req.peer = who;
      ApiResponse r = api_->Handle(req);
      SCOPED_TRACE(who.name + " " + p.method + " " + AuditText(p.path));
      const bool enrolled = who.name != "gone" && who.name != "nobody";
      EXPECT_EQ(r.status, enrolled ? 400 : 403) << r.body.dump();
      EXPECT_NO_THROW((void)r.body.dump());
      auto next = Call(sec_, "GET", "/v1/vmsets");
      EXPECT_EQ(next.status, 200) << next.body.dump();
    }
  }
  // The refusals are audited, with the path as it was on the wire, and the chain verifies.
  const std::vector<AuditRecord> all = AuditTrail();
  bool seen = false;
  for (const auto& rec : all) seen = seen || rec.action == "GET /v1/vmsets/%FF%FE";
  EXPECT_TRUE(seen);
  EXPECT_EQ(Call(sec_, "POST", "/v1/servers", json{{"id", "s1"}}).status, 201);
}

TEST_F(RestApiTest, AFieldOfTheWrongTypeIs400NotAnException) {
  ASSERT_EQ(Call(sec_, "POST", "/v1/vmsets", json{{"name", "my_vmset"}}).status, 201);
  for (const auto& [peer, path, body] : std::vector<std::tuple<PeerIdentity, std::string, json>>{
           {keys_, "/v1/keys", json{{"vmset", 5}}},
           {keys_, "/v1/keys", json{{"vmset", "my_vmset"}, {"cipher", json::array()}}},
           {sec_, "/v1/admins", json{{"name", "x"}, {"role", 1}}},
           {sec_, "/v1/vmsets", json{{"name", 1}}},
           {gate_, "/v1/audit", json{{"records", json::array({json{{"vmset", 1}}})}}},
       }) {
    auto r = Call(peer, "POST", path, body);
    EXPECT_EQ(r.status, 400) << path << " " << body.dump() << ": " << r.body.dump();
  }
  EXPECT_EQ(Call(sec_, "GET", "/v1/vmsets").status, 200);
}

// A store whose audit appends fail on demand (the rest is the real SQLite store): the fault
// a full disk or a broken database causes for the audit trail alone.
class AuditFaultStore final : public Store {
 public:
  explicit AuditFaultStore(Store& real) : real_(real) {}
  std::atomic<bool> fail_audit{false};

  Status InTransaction(const std::function<Status(StoreTxn&)>& fn) override {
    return real_.InTransaction([&](StoreTxn& txn) {
      Txn wrapped(txn, fail_audit.load());
      return fn(wrapped);
    });
  }
  Status Compact() override { return real_.Compact(); }
  std::string Describe() const override { return real_.Describe(); }

 private:
  class Txn final : public StoreTxn {
   public:
    Txn(StoreTxn& real, bool fail) : real_(real), fail_(fail) {}
    Result<StoredObject> Get(ObjectKind k, std::string_view id) override {
      return real_.Get(k, id);
    }
    Result<std::vector<StoredObject>> List(ObjectKind k) override { return real_.List(k); }
    Result<std::uint64_t> Put(ObjectKind k, std::string_view id, std::string_view body,
                              std::uint64_t v) override {
      return real_.Put(k, id, body, v);
    }
    Status Delete(ObjectKind k, std::string_view id, std::uint64_t v) override {
      return real_.Delete(k, id, v);
    }
    Result<std::uint64_t> AppendAudit(std::string_view body) override {
      if (fail_) return Status::NoSpace("audit table: database or disk is full (injected)");
      return real_.AppendAudit(body);
    }
    Result<StoredAudit> LastAudit() override { return real_.LastAudit(); }
    Result<std::vector<StoredAudit>> ListAudit(std::uint64_t after, std::size_t n) override {
      return real_.ListAudit(after, n);
    }

   private:
    StoreTxn& real_;
    bool fail_;
  };
  Store& real_;
};

TEST_F(RestApiTest, AnAuditRecordThatCannotBeStoredFailsTheRequest) {
  AuditFaultStore faulty(*store_);
  RestApi api(*keyring_, faulty, *ca_, SystemClock::Instance());
  auto call = [&](const PeerIdentity& who, const std::string& method, const std::string& path,
                  const json& body) {
    ApiRequest req;
    req.method = method;
    req.path = path;
    req.body = body.is_null() ? "" : body.dump();
    req.peer = who;
    return api.Handle(req);
  };
  ASSERT_EQ(call(sec_, "POST", "/v1/vmsets", json{{"name", "my_vmset"}}).status, 201);
  faulty.fail_audit = true;
  // A change and a gateway fetch must leave a trace, so each fails.
  auto change = call(sec_, "POST", "/v1/servers", json{{"id", "s1"}});
  EXPECT_EQ(change.status, 503) << change.body.dump();
  EXPECT_NE(change.body["reason"].get<std::string>().find("audit trail"), std::string::npos);
  EXPECT_EQ(call(gate_, "GET", "/v1/gateway/vmsets/my_vmset", nullptr).status, 503);
  // A refusal stays a refusal (nothing happened) and says its trace is missing.
  auto refused = call(aud_, "POST", "/v1/servers", json{{"id", "s2"}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body["reason"].get<std::string>().find("audit record could not be stored"),
            std::string::npos);
  // Reads that are not audited still work.
  EXPECT_EQ(call(sec_, "GET", "/v1/servers", nullptr).status, 200);
  faulty.fail_audit = false;
  EXPECT_EQ(call(sec_, "POST", "/v1/servers", json{{"id", "s3"}}).status, 201);
}

}  // namespace
}  // namespace cafs::kps
