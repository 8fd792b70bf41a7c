// The REST API's route table (rest_api.h RestApi::Endpoints): every endpoint is reached by
// its method and pattern, its role check runs before its handler (a role that may not do the
// endpoint's action gets 403 naming the action, whatever the body), and a path that matches
// no pattern is 404 "no endpoint".
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cafs::kps
