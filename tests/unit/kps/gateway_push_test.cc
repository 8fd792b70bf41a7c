// kpsd's side of what gateways push: POST /v1/audit with {"gateway_records": [...]} keeps each
// record once (repeats of the chain are dropped, a new chain is kept, a gap is noted, an
// edited record is refused), and POST/GET /v1/usage store and show usage snapshots with the
// RBAC of docs/kps-api.md (tenant admins see their own VM sets and no pools).
#include <gtest/gtest.h>

#include <optional>

#include "audit/audit_log.h"
#include "audit/audit_record.h"
#include "audit/text_field.h"
#include "kps/catalog.h"
#include "unit/kps/api_fixture.h"

namespace cafs::kps {
namespace {

using nlohmann::json;

class GatewayPushTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    GatewayRecord gw{"gw1", "01", "", {"my_vmset", "other"}, 0, false, 0};
    gw.approved = {"my_vmset", "other"};  // their tenant-admins approved the scope (rbac.h)
    std::vector<AdminRecord> admins = {
        {"aud", Role::kAuditor, {}, "02", "", false, 0},
        {"ten", Role::kTenantAdmin, {"my_vmset"}, "03", "", false, 0},
        {"keys", Role::kKeyAdmin, {}, "04", "", false, 0}};
    ASSERT_TRUE(store_
                    ->InTransaction([&](StoreTxn& txn) -> Status {
                      CAFS_RETURN_IF_ERROR(PutRecord(txn, gw));
                      for (auto& a : admins) CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
                      return Status::OK();
                    })
                    .ok());
  }

  // A gateway chain: records seq 1..n (as the gateway's AuditLog writes them).
  static std::vector<audit::AuditRecord> Chain(int n, const std::string& file_prefix,
                                               const std::string& vmset = "my_vmset") {
    std::vector<audit::AuditRecord> out;
    std::string prev(audit::GenesisHash());
    for (int i = 1; i <= n; ++i) {
      audit::AuditRecord r;
      r.seq = static_cast<std::uint64_t>(i);
      r.time_ms = r.end_ms = 1700000000000 + i;
      r.server = "vs-1";
      r.vmset = vmset;
      r.vm = "windows_xp";
      r.file = file_prefix + std::to_string(i);
      r.op = i % 2 ? "write" : "read";
      r.bytes = 4096u * static_cast<std::uint64_t>(i);
      r.prev_hash = prev;
      r.hash = r.ComputeHash();
      prev = r.hash;
      out.push_back(r);
    }
    return out;
  }

  static json Body(const std::vector<audit::AuditRecord>& rs, std::size_t from, std::size_t to) {
    json list = json::array();
    for (std::size_t i = from; i < to; ++i) {
      json j = rs[i].ToCanonicalJson();
      j["hash"] = rs[i].hash;
      list.push_back(j);
    }
    return json{{"gateway_records", list}};
  }

  // The gateway records kpsd holds, as (file, gateway seq).
  std::vector<std::pair<std::string, std::uint64_t>> Held() {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    std::vector<AuditRecord> all;
    EXPECT_TRUE(store_
                    ->InTransaction([&](StoreTxn& txn) -> Status {
                      CAFS_ASSIGN_OR_RETURN(all, ListAuditRecords(txn, 0, 10000));
                      return VerifyAuditChain(txn);
                    })
                    .ok());
    for (const auto& r : all) {
      if (r.access.is_null()) continue;
      out.emplace_back(r.access.value("file", ""), r.access.value("seq", std::uint64_t{0}));
    }
    return out;
  }

  const PeerIdentity gw_{"gw1", "gateway", "01", ""};
  const PeerIdentity auditor_{"aud", "auditor", "02", ""};
  const PeerIdentity tenant_{"ten", "tenant-admin", "03", ""};
  const PeerIdentity key_admin_{"keys", "key-admin", "04", ""};
};

TEST_F(GatewayPushTest, RepeatsAreDroppedAndTheFieldsAreKept) {
  auto chain = Chain(5, "f");
  auto r = Call(gw_, "POST", "/v1/audit", Body(chain, 0, 3));
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["accepted"], 3);
  // At-least-once: the pusher sends 2..5 again after a lost acknowledgement.
  r = Call(gw_, "POST", "/v1/audit", Body(chain, 1, 5));
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["accepted"], 2);
  EXPECT_EQ(r.body["repeats"], 2);
  EXPECT_EQ(r.body["gaps"], 0);
  auto held = Held();
  ASSERT_EQ(held.size(), 5u);
  for (std::size_t i = 0; i < held.size(); ++i) {
    EXPECT_EQ(held[i].first, "f" + std::to_string(i + 1));
    EXPECT_EQ(held[i].second, i + 1);
  }
  // What an auditor reads: the gateway's fields.
  auto list = Call(auditor_, "GET", "/v1/audit");
  ASSERT_EQ(list.status, 200);
  const json& last = list.body.back();
  EXPECT_EQ(last["actor"], "gw1");
  EXPECT_EQ(last["action"], "gateway write");
  EXPECT_EQ(last["object"], "my_vmset/windows_xp/f5");
  EXPECT_EQ(last["access"]["server"], "vs-1");
  EXPECT_EQ(last["access"]["bytes"], 5 * 4096);
  EXPECT_EQ(last["access"]["hash"], chain[4].hash);
}

TEST_F(GatewayPushTest, ANewChainIsKeptAndAGapIsNoted) {
  auto chain = Chain(3, "a");
  ASSERT_EQ(Call(gw_, "POST", "/v1/audit", Body(chain, 0, 3)).status, 201);
  auto fresh = Chain(2, "b");  // the gateway's log was replaced
  auto r = Call(gw_, "POST", "/v1/audit", Body(fresh, 0, 2));
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.body["accepted"], 2);
  auto longer = Chain(6, "b");
  r = Call(gw_, "POST", "/v1/audit", Body(longer, 4, 6));  // 3 and 4 never arrived
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.body["accepted"], 2);
  EXPECT_EQ(r.body["gaps"], 1);
  EXPECT_EQ(Held().size(), 7u);
  auto list = Call(auditor_, "GET", "/v1/audit");
  bool noted = false;
  for (const auto& rec : list.body) {
    noted = noted || rec.value("reason", "").find("gap: kpsd has seq 2") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST_F(GatewayPushTest, AnEditedRecordIsRefusedAndNothingOfItsBatchIsKept) {
  auto chain = Chain(3, "f");
  json body = Body(chain, 0, 3);
  body["gateway_records"][1]["bytes"] = 1;
  auto r = Call(gw_, "POST", "/v1/audit", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["reason"].get<std::string>().find("hash does not match"), std::string::npos);
  EXPECT_TRUE(Held().empty());
  // Only gateways push.
  EXPECT_EQ(Call(auditor_, "POST", "/v1/audit", Body(chain, 0, 3)).status, 403);
}

// Names are bytes (docs/audit.md "Names that are not UTF-8"): a gateway log holding a file
// name that is not UTF-8 verifies on the gateway, is accepted by kpsd at once (not refused
// and retried forever), and kpsd's own chain verifies with the exact bytes kept.
TEST_F(GatewayPushTest, ANameThatIsNotUtf8IsAcceptedAndBothChainsVerify) {
  const std::string name = "osdisk\xff\xfe.img";
  const std::string log_path = dir_.path() + "/gateway-audit.log";
  {
    auto log = audit::AuditLog::Open(log_path);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (const char* op : {"create", "write"}) {
      audit::AuditRecord r;
      r.time_ms = r.end_ms = 1700000000000;
      r.server = "vs-1";
      r.vmset = "my_vmset";
      r.vm = "vm\x80";
      r.file = name;
      r.op = op;
      r.reason = std::string(op) == "write" ? "short write to " + name : "";
      ASSERT_TRUE((*log)->Append(r).ok());
    }
  }
  auto verified = audit::VerifyAuditLog(log_path);
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok) << verified->problem;
  auto records = audit::ReadAuditLog(log_path);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].file, name);  // the exact bytes come back from the line

  auto r = Call(gw_, "POST", "/v1/audit", Body(*records, 0, 2));
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["accepted"], 2);
  ASSERT_EQ(Held().size(), 2u);  // Held() verifies kpsd's chain
  auto list = Call(auditor_, "GET", "/v1/audit");
  ASSERT_EQ(list.status, 200);
  const json& last = list.body.back();
  EXPECT_EQ(last["object"], "my_vmset/vm\uFFFD/osdisk\uFFFD\uFFFD.img");
  EXPECT_EQ(last["access"]["file_b64"], audit::Base64Encode(name));
  // The record kpsd keeps still proves the gateway's hash over the exact bytes.
  auto again = audit::AuditRecord::FromLine(last["access"].dump());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->file, name);
  EXPECT_EQ(again->ComputeHash(), (*records)[1].hash);
  // A repeat push is a repeat, not an error.
  r = Call(gw_, "POST", "/v1/audit", Body(*records, 0, 2));
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["repeats"], 2);
}

TEST_F(GatewayPushTest, UsageSnapshotsAreStoredPerGatewayAndShownByRole) {
  const json snapshot = {
      {"time_ms", 1700000000000},
      {"vmsets",
       {{{"vmset", "my_vmset"}, {"pool", "mirrored_pool_A"}, {"bytes", 67108864}},
        {{"vmset", "other"}, {"pool", "default_pool"}, {"bytes", 4096}}}},
      {"pools",
       {{{"pool", "mirrored_pool_A"},
         {"total_bytes", 1000},
         {"free_bytes", 100},
         {"used_percent", 90.0},
         {"threshold_percent", 80},
         {"available", true},
         {"error", ""}}}}};
  EXPECT_EQ(Call(gw_, "POST", "/v1/usage", snapshot).status, 201);
  json newer = snapshot;
  newer["time_ms"] = 1700000001000;
  ASSERT_EQ(Call(gw_, "POST", "/v1/usage", newer).status, 201);

  auto all = Call(auditor_, "GET", "/v1/usage");
  ASSERT_EQ(all.status, 200) << all.body.dump();
  ASSERT_EQ(all.body.size(), 1u);  // one snapshot per gateway: the latest
  EXPECT_EQ(all.body[0]["gateway"], "gw1");
  EXPECT_EQ(all.body[0]["time_ms"], 1700000001000);
  EXPECT_EQ(all.body[0]["vmsets"].size(), 2u);
  EXPECT_EQ(all.body[0]["pools"][0]["threshold_percent"], 80);

  auto mine = Call(tenant_, "GET", "/v1/usage");
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.body[0]["vmsets"].size(), 1u);
  EXPECT_EQ(mine.body[0]["vmsets"][0]["vmset"], "my_vmset");
  EXPECT_TRUE(mine.body[0]["pools"].empty());

  auto filtered = Call(auditor_, "GET", "/v1/usage", nullptr, {{"vmset", "other"}});
  ASSERT_EQ(filtered.body[0]["vmsets"].size(), 1u);
  EXPECT_EQ(filtered.body[0]["vmsets"][0]["bytes"], 4096);

  EXPECT_EQ(Call(key_admin_, "GET", "/v1/usage").status, 403);
  EXPECT_EQ(Call(auditor_, "POST", "/v1/usage", snapshot).status, 403);
  json bad = snapshot;
  bad["vmsets"][0]["bytes"] = "lots";
  EXPECT_EQ(Call(gw_, "POST", "/v1/usage", bad).status, 400);
}

// Issue 16 defect 4: a tenant-admin reads the audit records of its own VM sets (as it reads
// its own usage) and nothing else; the auditor reads all of them.
TEST_F(GatewayPushTest, ATenantAdminReadsTheAuditOfItsOwnVmSetsOnly) {
  ASSERT_EQ(Call(gw_, "POST", "/v1/audit", Body(Chain(2, "mine"), 0, 2)).status, 201);
  ASSERT_EQ(Call(gw_, "POST", "/v1/audit", Body(Chain(3, "theirs", "other"), 0, 3)).status, 201);
  // kpsd's own records: one about my_vmset (a refused KEK rotation), one about "other".
  EXPECT_EQ(Call(tenant_, "POST", "/v1/keks/my_vmset/rotate", json::object()).status, 403);
  EXPECT_EQ(Call(tenant_, "GET", "/v1/vmsets/other").status, 403);

  auto all = Call(auditor_, "GET", "/v1/audit");
  ASSERT_EQ(all.status, 200) << all.body.dump();
  auto mine = Call(tenant_, "GET", "/v1/audit");
  ASSERT_EQ(mine.status, 200) << mine.body.dump();
  std::size_t gateway_records = 0;
  for (const auto& r : mine.body) {
    const std::string object = r.value("object", "");
    EXPECT_TRUE(object == "my_vmset" || object.rfind("my_vmset/", 0) == 0) << r.dump();
    if (r.contains("access")) {
      EXPECT_EQ(r["access"]["vmset"], "my_vmset");
      ++gateway_records;
    }
  }
  EXPECT_EQ(gateway_records, 2u);
  EXPECT_LT(mine.body.size(), all.body.size());
  // Paging: a page of one record at a time still reaches every readable record.
  std::uint64_t after = 0;
  std::size_t paged = 0;
  for (int i = 0; i < 100; ++i) {
    auto page = Call(tenant_, "GET", "/v1/audit", nullptr,
                     {{"after", std::to_string(after)}, {"limit", "1"}});
    ASSERT_EQ(page.status, 200);
    if (page.body.empty()) break;
    after = page.body[0]["seq"].get<std::uint64_t>();
    ++paged;
  }
  EXPECT_EQ(paged, mine.body.size());
  // Its read of the audit is not itself a record another tenant sees.
  EXPECT_EQ(Call(key_admin_, "GET", "/v1/audit").status, 403);
}

// Issue 16: `GET /v1/audit?vmset=V` (what `cafsctl audit list --vmset V` asks) answers with the
// records about V by kpsd's one rule (audit_scope.h): a record about "my_vmset_x" is not about
// "my_vmset" (cafsctl's own filter matched any action containing "/my_vmset"); a tenant-admin
// gets the same records with and without the filter; a VM set outside a reader's scope is 403
// and audited, not an empty list.
TEST_F(GatewayPushTest, AuditOfOneVmSetIsKpsdsRule) {
  ASSERT_EQ(Call(gw_, "POST", "/v1/audit", Body(Chain(2, "mine"), 0, 2)).status, 201);
  ASSERT_EQ(Call(gw_, "POST", "/v1/audit", Body(Chain(3, "theirs", "other"), 0, 3)).status, 201);
  EXPECT_EQ(Call(tenant_, "POST", "/v1/keks/my_vmset/rotate", json::object()).status, 403);
  EXPECT_EQ(Call(tenant_, "GET", "/v1/vmsets/my_vmset_x").status, 403);

  auto about = Call(auditor_, "GET", "/v1/audit", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(about.status, 200) << about.body.dump();
  std::size_t gateway_records = 0, kek = 0;
  for (const auto& r : about.body) {
    const std::string object = r.value("object", "");
    EXPECT_NE(object, "my_vmset_x") << r.dump();
    EXPECT_TRUE(object == "my_vmset" || object.rfind("my_vmset/", 0) == 0) << r.dump();
    if (r.contains("access")) {
      EXPECT_EQ(r["access"]["vmset"], "my_vmset");
      ++gateway_records;
    }
    if (r.value("action", "") == "POST /v1/keks/my_vmset/rotate") ++kek;
  }
  EXPECT_EQ(gateway_records, 2u);
  EXPECT_EQ(kek, 1u);
  // The tenant-admin of my_vmset: the filter is its scope's rule, so the same records.
  auto mine = Call(tenant_, "GET", "/v1/audit");
  auto mine_about = Call(tenant_, "GET", "/v1/audit", nullptr, {{"vmset", "my_vmset"}});
  ASSERT_EQ(mine_about.status, 200) << mine_about.body.dump();
  EXPECT_EQ(mine.body, mine_about.body);
  // Another tenant's VM set: refused and audited, not answered with an empty list.
  const std::size_t before = AuditTrail().size();
  auto theirs = Call(tenant_, "GET", "/v1/audit", nullptr, {{"vmset", "other"}});
  EXPECT_EQ(theirs.status, 403) << theirs.body.dump();
  auto trail = AuditTrail();
  ASSERT_EQ(trail.size(), before + 1);
  EXPECT_EQ(trail.back().result, "denied");
  EXPECT_EQ(trail.back().object, "other");
  EXPECT_EQ(Call(auditor_, "GET", "/v1/audit", nullptr, {{"vmset", ""}}).status, 400);
  EXPECT_EQ(Call(key_admin_, "GET", "/v1/audit", nullptr, {{"vmset", "my_vmset"}}).status, 403);
}

}  // namespace
}  // namespace cafs::kps
