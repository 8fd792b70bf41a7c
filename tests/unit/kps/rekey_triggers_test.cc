// Rekey triggers (kps/rekey_triggers.h, docs/kps.md "Rekey triggers"): a policy's
// <rotation-period> rotates a key once its active version is that old (evaluated with a manual
// clock) and queues a deep-rekey request for the old version; a version marked compromised
// queues an urgent request that gateways get before scheduled ones; gateways report progress
// that administrators read per VM set. Bad progress bodies and requests out of a gateway's
// scope are refused.
#include "kps/rekey_triggers.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kmip/message.h"
#include "kps/kmip_service.h"
#include "unit/kps/api_fixture.h"

namespace cafs::kps {
namespace {

using nlohmann::json;
using std::chrono::hours;

constexpr const char* kPolicy = "11111111-2222-4333-8444-555555555555";
constexpr auto kDay = hours(24);

std::string Vobj(const std::string& glob, const std::string& key, const std::string& extra) {
  return "<vobj><vglob>" + glob + "</vglob><symkey>" + key +
         "</symkey><storepol>p</storepol><access>at_all_times</access><audit>none</audit>" + extra +
         "</vobj>";
}

class RekeyTriggersTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi(clock_));
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
    ASSERT_EQ(Call(sec_, "POST", "/v1/vmsets",
                   json{{"name", "my_vmset"}, {"mount_point", "/nfs"}, {"servers", {"s1"}}})
                  .status,
              201);
    ASSERT_NO_FATAL_FAILURE(AllowPools("my_vmset", {"p"}));
    scheduled_ = NewKey();
    urgent_ = NewKey();
  }

  std::string NewKey() {
    auto k = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
    EXPECT_EQ(k.status, 201) << k.body.dump();
    return k.body.value("id", "");
  }

  // Uploads the VM set's policy: `scheduled_` with a rotation period, `urgent_` without.
  ApiResponse UploadPolicy(const std::string& period) {
    json policy = {{"id", kPolicy},
                   {"vmset", "my_vmset"},
                   {"xml", "<vobj-list>" +
                               Vobj("*osdisk*", scheduled_,
                                    "<rotation-period>" + period + "</rotation-period>") +
                               Vobj("hc_default", urgent_, "") + "</vobj-list>"}};
    return Call(ten_, "POST", "/v1/policies", policy);
  }

  void Govern() {
    ASSERT_EQ(UploadPolicy("90 days").status, 201);
    ASSERT_EQ(Call(ten_, "PUT", "/v1/vmsets/my_vmset", json{{"policy_id", kPolicy}, {"version", 1}})
                  .status,
              200);
  }

  RekeyTriggerResult Evaluate() {
    auto r = EvaluateRekeyTriggers(*keyring_, *store_, clock_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RekeyTriggerResult{};
  }

  json KeyJson(const std::string& id) { return Call(keys_, "GET", "/v1/keys/" + id).body; }

  std::vector<std::string> GatewayQueue() {
    auto r = Call(gate_, "GET", "/v1/gateway/rekey-requests");
    EXPECT_EQ(r.status, 200) << r.body.dump();
    std::vector<std::string> ids;
    for (const auto& q : r.body) ids.push_back(q.value("id", ""));
    return ids;
  }

  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000))};
  std::string scheduled_, urgent_;
};

TEST_F(RekeyTriggersTest, RotationPeriodRotatesWhenDueAndQueuesTheOldVersion) {
  ASSERT_NO_FATAL_FAILURE(Govern());
  clock_.Advance(89 * kDay);
  auto early = Evaluate();
  EXPECT_TRUE(early.rotated.empty());
  EXPECT_TRUE(early.requests.empty());
  EXPECT_EQ(KeyJson(scheduled_)["versions"].size(), 1u);

  clock_.Advance(kDay);
  auto due = Evaluate();
  EXPECT_EQ(due.rotated, std::vector<std::string>{scheduled_});
  EXPECT_EQ(due.requests, std::vector<std::string>{scheduled_ + ".1"});
  const json k = KeyJson(scheduled_);
  ASSERT_EQ(k["versions"].size(), 2u);
  EXPECT_EQ(k["versions"][0]["state"], "deactivated");
  EXPECT_EQ(k["versions"][1]["state"], "active");
  EXPECT_EQ(KeyJson(urgent_)["versions"].size(), 1u) << "no period, no rotation";

  // Idempotent: the next evaluation finds nothing to do (version 2 is new).
  auto again = Evaluate();
  EXPECT_TRUE(again.rotated.empty());
  EXPECT_TRUE(again.requests.empty());

  auto list = Call(keys_, "GET", "/v1/rekey-requests", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(list.status, 200) << list.body.dump();
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["reason"], "scheduled");
  EXPECT_EQ(list.body[0]["from_version"], 1);
  EXPECT_EQ(list.body[0]["to_version"], 2);
  EXPECT_EQ(list.body[0]["state"], "pending");
  ASSERT_EQ(list.body[0]["gateways"].size(), 1u);
  EXPECT_EQ(list.body[0]["gateways"][0]["gateway"], "gw");
  EXPECT_EQ(list.body[0]["gateways"][0]["state"], "not started");

  // 90 days after version 2 was made, it is rotated in turn and version 2 queued; the request
  // of version 1, not done yet, now goes straight to version 3 (retargeted).
  clock_.Advance(90 * kDay);
  auto next = Evaluate();
  EXPECT_EQ(next.rotated, std::vector<std::string>{scheduled_});
  EXPECT_EQ(next.requests, (std::vector<std::string>{scheduled_ + ".1", scheduled_ + ".2"}));
  list = Call(keys_, "GET", "/v1/rekey-requests", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(list.body.size(), 2u);
  for (const auto& r : list.body) EXPECT_EQ(r["to_version"], 3) << r.dump();

  // Rotations and requests are audited, by kpsd.
  int rotations = 0, requests = 0;
  for (const auto& a : AuditTrail()) {
    if (a.actor != "kpsd") continue;
    rotations += a.action == "rotate key (rekey trigger)";
    requests += a.action == "rekey request";
  }
  EXPECT_EQ(rotations, 2);
  EXPECT_EQ(requests, 3);  // two made, one retargeted
}

// Issue 14 item 4: a request whose target is superseded before it is done follows the newest
// version (a compromised target would otherwise be rekeyed into); a request every gateway
// reported done is pruned kDoneRekeyRequestRetention later and not made again.
TEST_F(RekeyTriggersTest, SupersededTargetIsRetargetedAndDoneRequestsArePruned) {
  const auto compromise = [&](int version) {
    auto r = Call(keys_, "POST", "/v1/keys/" + urgent_ + "/state",
                  json{{"version", version}, {"state", "compromised"}});
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body;
  };
  const auto report = [&](const std::string& id, const json& body) {
    EXPECT_EQ(Call(gate_, "POST", "/v1/gateway/rekey-requests/" + id + "/progress", body).status,
              200);
  };
  const std::string first = urgent_ + ".1", second = urgent_ + ".2";
  EXPECT_EQ(compromise(1)["rekey_requests"], json::array({first}));
  report(first, json{{"state", "running"}, {"done_bytes", 4096}, {"total_bytes", 8192}});
  // Version 2, the target, is compromised too before the gateway finished.
  EXPECT_EQ(compromise(2)["rekey_requests"], json::array({first, second}));
  auto list = Call(aud_, "GET", "/v1/rekey-requests");
  ASSERT_EQ(list.body.size(), 2u);
  for (const auto& r : list.body) {
    EXPECT_EQ(r["to_version"], 3) << r.dump();
    EXPECT_EQ(r["state"], "pending") << "the report about the old target is dropped";
  }

  report(first, json{{"state", "done"}, {"done_bytes", 8192}, {"total_bytes", 8192}});
  report(second, json{{"state", "done"}, {"done_bytes", 0}, {"total_bytes", 0}});
  clock_.Advance(29 * kDay);
  EXPECT_TRUE(Evaluate().pruned.empty());
  EXPECT_EQ(Call(aud_, "GET", "/v1/rekey-requests").body.size(), 2u);
  clock_.Advance(2 * kDay);
  auto pruned = Evaluate().pruned;
  std::sort(pruned.begin(), pruned.end());
  std::vector<std::string> want{first, second};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(pruned, want);
  EXPECT_TRUE(Call(aud_, "GET", "/v1/rekey-requests").body.empty());
  auto again = Evaluate();
  EXPECT_TRUE(again.requests.empty()) << "a pruned request is not made again";
  int audited = 0;
  for (const auto& a : AuditTrail()) audited += a.action == "prune rekey request";
  EXPECT_EQ(audited, 2);
}

// Issue 14 item 4: a gateway's poll of its rekey requests is audited when the answer changed,
// not once per poll.
TEST_F(RekeyTriggersTest, UnchangedRekeyPollIsNotAuditedAgain) {
  const auto polls = [&] {
    int n = 0;
    for (const auto& a : AuditTrail()) {
      n += a.actor == "gw" && a.action.find("rekey-requests") != std::string::npos;
    }
    return n;
  };
  GatewayQueue();
  GatewayQueue();
  GatewayQueue();
  EXPECT_EQ(polls(), 1);
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + urgent_ + "/state",
                 json{{"version", 1}, {"state", "compromised"}})
                .status,
            200);
  GatewayQueue();
  GatewayQueue();
  EXPECT_EQ(polls(), 2);
}

TEST_F(RekeyTriggersTest, RotationPeriodIsValidatedAtUpload) {
  for (const char* bad : {"ninety days", "0 days", "3651 days", "90", "90 weeks", "-1 days"}) {
    auto r = UploadPolicy(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.body.value("reason", "").find("<rotation-period> must be a number of days"),
              std::string::npos)
        << r.body.dump();
  }
  json clear = {{"id", kPolicy},
                {"vmset", "my_vmset"},
                {"xml", "<vobj-list>" +
                            Vobj("*", "01010101-0101-0101-0101-010101010101",
                                 "<rotation-period>30 days</rotation-period>") +
                            "</vobj-list>"}};
  auto r = Call(ten_, "POST", "/v1/policies", clear);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.value("reason", "").find("clear-text key"), std::string::npos) << r.body.dump();
  EXPECT_EQ(UploadPolicy("1 day").status, 201);
}

TEST_F(RekeyTriggersTest, CompromisedVersionIsRotatedAndQueuedBeforeScheduledOnes) {
  ASSERT_NO_FATAL_FAILURE(Govern());
  clock_.Advance(90 * kDay);
  ASSERT_EQ(Evaluate().requests, std::vector<std::string>{scheduled_ + ".1"});
  clock_.Advance(hours(1));

  // The only version of `urgent_` is compromised: kpsd gives the key a new version and
  // queues every file under version 1, ahead of the older scheduled request.
  auto marked = Call(keys_, "POST", "/v1/keys/" + urgent_ + "/state",
                     json{{"version", 1}, {"state", "compromised"}});
  ASSERT_EQ(marked.status, 200) << marked.body.dump();
  EXPECT_EQ(marked.body["rekey_requests"], json::array({urgent_ + ".1"}));
  ASSERT_EQ(marked.body["versions"].size(), 2u);
  EXPECT_EQ(marked.body["versions"][0]["state"], "compromised");
  EXPECT_EQ(marked.body["versions"][1]["state"], "active");
  EXPECT_EQ(GatewayQueue(), (std::vector<std::string>{urgent_ + ".1", scheduled_ + ".1"}));

  // Marking the scheduled request's version compromised makes that request urgent too; the
  // older urgent one stays first.
  clock_.Advance(hours(1));
  auto upgraded = Call(keys_, "POST", "/v1/keys/" + scheduled_ + "/state",
                       json{{"version", 1}, {"state", "compromised"}});
  ASSERT_EQ(upgraded.status, 200) << upgraded.body.dump();
  EXPECT_EQ(upgraded.body["rekey_requests"], json::array({scheduled_ + ".1"}));
  auto list = Call(aud_, "GET", "/v1/rekey-requests");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body.size(), 2u);
  EXPECT_EQ(list.body[0]["id"], scheduled_ + ".1") << "older (created at the schedule)";
  EXPECT_EQ(list.body[0]["reason"], "compromised");
  EXPECT_EQ(list.body[1]["reason"], "compromised");
}

// Issue 14 item 3: a KMIP client (the wire message PyKMIP sends, through KmipService::Handle,
// the KMIP listener's handler) that revokes a key with reason KeyCompromise has the same effect
// as marking the version compromised through REST: the key gets a new active version and the
// urgent request for every file under the old one is queued at once, before any evaluation of
// the timer. Revoke with another reason only deactivates (no request).
TEST_F(RekeyTriggersTest, KmipRevokeForCompromiseQueuesTheUrgentRekeyLikeRest) {
  KmipService kmip(*keyring_, *store_, clock_);
  const auto revoke = [&](const std::string& key, kmip::RevocationReasonCode code) {
    kmip::RequestBatchItem bi;
    bi.operation = static_cast<std::uint32_t>(kmip::Operation::kRevoke);
    bi.payload = kmip::Item::Structure(
        kmip::Tag::kRequestPayload,
        {kmip::Item::TextString(kmip::Tag::kUniqueIdentifier, key),
         kmip::Item::Structure(kmip::Tag::kRevocationReason,
                               {kmip::Item::Enumeration(kmip::Tag::kRevocationReasonCode,
                                                        static_cast<std::uint32_t>(code))})});
    auto reply = kmip.Handle(kmip::Encode(kmip::BuildRequest({1, 2}, {bi})), keys_);
    auto item = kmip::Decode(reply.message);
    EXPECT_TRUE(item.ok());
    auto resp = kmip::ParseResponse(*item);
    EXPECT_TRUE(resp.ok() && resp->items.size() == 1u);
    return resp.ok() && resp->items.size() == 1u ? resp->items[0].status
                                                 : kmip::ResultStatus::kOperationFailed;
  };

  ASSERT_EQ(revoke(urgent_, kmip::RevocationReasonCode::kKeyCompromise),
            kmip::ResultStatus::kSuccess);
  json key = KeyJson(urgent_);
  ASSERT_EQ(key["versions"].size(), 2u) << key.dump();
  EXPECT_EQ(key["versions"][0]["state"], "compromised");
  EXPECT_EQ(key["versions"][1]["state"], "active");
  EXPECT_EQ(GatewayQueue(), std::vector<std::string>{urgent_ + ".1"});
  auto list = Call(aud_, "GET", "/v1/rekey-requests");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["reason"], "compromised");
  EXPECT_EQ(list.body[0]["to_version"], 2);

  // The same through REST on a twin key: the same versions and request.
  auto marked = Call(keys_, "POST", "/v1/keys/" + scheduled_ + "/state",
                     json{{"version", 1}, {"state", "compromised"}});
  ASSERT_EQ(marked.status, 200) << marked.body.dump();
  EXPECT_EQ(marked.body["versions"], KeyJson(scheduled_)["versions"]);
  EXPECT_EQ(KeyJson(scheduled_)["versions"].size(), key["versions"].size());

  // Cessation of operation: deactivated, nothing to rekey.
  const std::string quiet = NewKey();  // created active
  ASSERT_EQ(revoke(quiet, kmip::RevocationReasonCode::kCessationOfOperation),
            kmip::ResultStatus::kSuccess);
  EXPECT_EQ(KeyJson(quiet)["versions"][0]["state"], "deactivated");
  EXPECT_EQ(GatewayQueue().size(), 2u);
}

TEST_F(RekeyTriggersTest, GatewayProgressIsShownAndADoneRequestLeavesItsQueue) {
  auto marked = Call(keys_, "POST", "/v1/keys/" + urgent_ + "/state",
                     json{{"version", 1}, {"state", "compromised"}});
  ASSERT_EQ(marked.status, 200);
  const std::string id = urgent_ + ".1";
  const std::string progress = "/v1/gateway/rekey-requests/" + id + "/progress";
  auto running = Call(gate_, "POST", progress,
                      json{{"job", "6ebffe18-5946-4bbc-af02-a3279dcbc5f4"},
                           {"state", "running"},
                           {"done_bytes", 4096},
                           {"total_bytes", 8192},
                           {"rate_bps", 1024.5},
                           {"eta_s", 4.0},
                           {"files", 2},
                           {"files_done", 1}});
  ASSERT_EQ(running.status, 200) << running.body.dump();
  auto list = Call(ten_, "GET", "/v1/rekey-requests", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["state"], "running");
  EXPECT_EQ(list.body[0]["done_bytes"], 4096);
  EXPECT_EQ(list.body[0]["total_bytes"], 8192);
  EXPECT_EQ(list.body[0]["gateways"][0]["rate_bps"], 1024.5);
  EXPECT_EQ(GatewayQueue(), std::vector<std::string>{id});

  ASSERT_EQ(Call(gate_, "POST", progress,
                 json{{"state", "done"}, {"done_bytes", 8192}, {"total_bytes", 8192}})
                .status,
            200);
  list = Call(ten_, "GET", "/v1/rekey-requests", nullptr, {{"vmset", "my_vmset"}});
  EXPECT_EQ(list.body[0]["state"], "done");
  EXPECT_TRUE(GatewayQueue().empty());

  // Another tenant sees nothing of it; asking for the VM set by name is refused.
  auto other = Call(other_, "GET", "/v1/rekey-requests");
  ASSERT_EQ(other.status, 200);
  EXPECT_TRUE(other.body.empty());
  EXPECT_EQ(Call(other_, "GET", "/v1/rekey-requests", nullptr, {{"vmset", "my_vmset"}}).status,
            403);
  // Only gateways report, admins cannot.
  EXPECT_EQ(Call(keys_, "POST", progress, json{{"state", "done"}}).status, 403);
}

TEST_F(RekeyTriggersTest, HostileProgressReportsAreRefused) {
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + urgent_ + "/state",
                 json{{"version", 1}, {"state", "compromised"}})
                .status,
            200);
  const std::string progress = "/v1/gateway/rekey-requests/" + urgent_ + ".1/progress";
  const json bad[] = {
      json::object(),
      json{{"state", "finished"}},
      json{{"state", 3}},
      json{{"state", "done"}, {"done_bytes", -1}},
      json{{"state", "done"}, {"done_bytes", "1"}},
      json{{"state", "done"}, {"rate_bps", -2.5}},
      json{{"state", "done"}, {"eta_s", "soon"}},
      json{{"state", "done"}, {"job", std::string(65, 'j')}},
      json{{"state", "done"}, {"error", std::string(5000, 'e')}},
      json{{"state", "done"}, {"gateway", "someone-else"}},
      json{{"state", "done"}, {"files", json::array()}},
  };
  for (const auto& b : bad) {
    EXPECT_EQ(Call(gate_, "POST", progress, b).status, 400) << b.dump();
  }
  // Unknown, malformed and out-of-scope request ids: not found.
  EXPECT_EQ(Call(gate_, "POST", "/v1/gateway/rekey-requests/nope/progress", json{{"state", "done"}})
                .status,
            404);
  EXPECT_EQ(
      Call(gate_, "POST", "/v1/gateway/rekey-requests/%2e%2e/progress", json{{"state", "done"}})
          .status,
      404);
  // Nothing of the refused bodies was kept.
  auto list = Call(aud_, "GET", "/v1/rekey-requests");
  ASSERT_EQ(list.body.size(), 1u);
  EXPECT_EQ(list.body[0]["state"], "pending");
  // A non-gateway cannot fetch the gateway queue.
  EXPECT_EQ(Call(ten_, "GET", "/v1/gateway/rekey-requests").status, 403);
}

TEST_F(RekeyTriggersTest, OutOfScopeGatewayGetsNothingAndCannotReport) {
  ASSERT_EQ(Call(sec_, "POST", "/v1/vmsets",
                 json{{"name", "other_vmset"}, {"mount_point", "/nfs"}, {"servers", {"s1"}}})
                .status,
            201);
  auto k = Call(keys_, "POST", "/v1/keys", json{{"vmset", "other_vmset"}});
  ASSERT_EQ(k.status, 201);
  const std::string other_key = k.body["id"];
  ASSERT_EQ(Call(keys_, "POST", "/v1/keys/" + other_key + "/state",
                 json{{"version", 1}, {"state", "compromised"}})
                .status,
            200);
  EXPECT_TRUE(GatewayQueue().empty()) << "gw is approved for my_vmset only";
  auto r = Call(gate_, "POST", "/v1/gateway/rekey-requests/" + other_key + ".1/progress",
                json{{"state", "done"}});
  EXPECT_EQ(r.status, 404) << r.body.dump();
}

}  // namespace
}  // namespace cafs::kps
