// Conformance of the two key providers (issue 16 defect 1): the same VM set and policy XML,
// given to the local-keys path (LocalKeyProvider reading a key directory) and to kpsd
// (uploaded through its REST API, fetched through the gateway endpoint and parsed by
// KpsKeyProvider::ParseBundle, the parser the gateway runs on kpsd's answer), must reach the
// gateway as the same VM set and descriptor, and give the same decision for every caller, path
// and instant of two weeks that contain the Europe/Berlin DST changes of 2026 (Mar 29 and
// Oct 25), every 15 minutes. Only the TLS transport of kpsd is left out (tls_server_test and
// the cafs_kps integration test cover it).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cafs/key_provider.h"
#include "cafs/kps_key_provider.h"
#include "cafs/policy_cache.h"
#include "cafs/pool_identity.h"
#include "kps/pool_registry.h"
#include "policy/evaluator.h"
#include "unit/kps/api_fixture.h"
#include "unit/policy/test_time.h"

namespace cafs::core {
namespace {

using nlohmann::json;
using policy::testing::Utc;

constexpr const char* kPolicyId = "45aa9e57-bf64-11df-8d3e-000c29abeb4d";

// Every element of the VM set XML, extensions included, with non-default values.
constexpr const char* kVmSetXml = R"(<?xml version="1.0" encoding="ISO-8859-1"?>
<vmset>
<name>my_vmset</name>
<mnt>/nfs</mnt>
<pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>
<vmserv>755083456, esx-01.example.com</vmserv>
<position>1</position>
<timezone>Europe/Berlin</timezone>
<audit-dest>kps</audit-dest>
<audit-dest>/var/log/cafs/my_vmset.log</audit-dest>
<audit-dest>syslog:udp:127.0.0.1:5514</audit-dest>
<capacity-threshold>70</capacity-threshold>
</vmset>
)";

// Every element of the policy XML; windows on both sides of midnight and of the DST changes.
std::string PolicyXml(const std::string& key) {
  return R"(<policy-descriptor guid="45aa9e57-bf64-11df-8d3e-000c29abeb4d" vmset="my_vmset">
<vobj-list>
<vobj>
<vglob>*osdisk*</vglob>
<symkey>)" +
         key + R"(</symkey>
<storepol>mirrored_pool_A</storepol>
<access>Mon-Fri(9am-5pm)</access>
<audit>all_records</audit>
<cipher>aes-256-cbc-essiv</cipher>
<sector-size>512</sector-size>
<replicas>1</replicas>
<capacity-threshold>60</capacity-threshold>
<shred-on-free>yes</shred-on-free>
</vobj>
<vobj>
<vglob>*.log</vglob>
<symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>default_pool</storepol>
<access>Sat-Sun(10pm-2:30am),Mon(01:00-03:30)</access>
<audit>denials</audit>
</vobj>
<vobj>
<vglob>hc_default</vglob>
<symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>default_pool</storepol>
<access>Mon-Fri(7am-7pm)</access>
<audit>none</audit>
</vobj>
</vobj-list>
</policy-descriptor>
)";
}

class ProviderConformanceTest : public kps::testing::ApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    ASSERT_NO_FATAL_FAILURE(SetUpPrincipals());
  }

  void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    ASSERT_TRUE(f.good()) << path;
  }

  // Uploads the documents to kpsd as its administrators would and fetches the bundle as the
  // gateway does.
  VmSetBundle FromKpsd(std::string* key_id) {
    auto vs = Call(sec_, "POST", "/v1/vmsets", json{{"xml", kVmSetXml}});
    EXPECT_EQ(vs.status, 201) << vs.body.dump();
    AllowPools("my_vmset");
    auto key = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
    EXPECT_EQ(key.status, 201) << key.body.dump();
    *key_id = key.body.value("id", "");
    auto pol = Call(ten_, "POST", "/v1/policies",
                    json{{"id", kPolicyId}, {"vmset", "my_vmset"}, {"xml", PolicyXml(*key_id)}});
    EXPECT_EQ(pol.status, 201) << pol.body.dump();
    auto fetch = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
    EXPECT_EQ(fetch.status, 200) << fetch.body.dump();
    auto b = KpsKeyProvider::ParseBundle(fetch.body, "my_vmset", "kps:test");
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(b).value() : VmSetBundle{};
  }

  // The same documents in a key directory; the VM set's GUID (kpsd mints it) as <vmset-id>.
  VmSetBundle FromLocal(const std::string& key_id, const Uuid& vmset_id) {
    const std::string dir = local_.path() + "/my_vmset";
    EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
    std::string xml = kVmSetXml;
    xml.insert(xml.rfind("</vmset>"), "<vmset-id>" + vmset_id.ToString() + "</vmset-id>\n");
    WriteFile(dir + "/vmset.xml", xml);
    WriteFile(dir + "/policy.xml", PolicyXml(key_id));
    WriteFile(dir + "/keys", key_id + " 1 " + std::string(128, 'a') + "\n");
    LocalKeyProvider local(local_.path());
    auto b = local.FetchVmSet("my_vmset");
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(b).value() : VmSetBundle{};
  }

  // The VM set created in kpsd with its pools allowed, and a key of it: the key's id.
  std::string KpsdKey() {
    EXPECT_EQ(Call(sec_, "POST", "/v1/vmsets", json{{"xml", kVmSetXml}}).status, 201);
    AllowPools("my_vmset");
    auto key = Call(keys_, "POST", "/v1/keys", json{{"vmset", "my_vmset"}});
    EXPECT_EQ(key.status, 201);
    return key.body.value("id", "");
  }

  kps::ApiResponse UploadPolicy(const std::string& xml) {
    return Call(ten_, "POST", "/v1/policies",
                json{{"id", kPolicyId}, {"vmset", "my_vmset"}, {"xml", xml}});
  }

  // The local-keys path given the VM set and `policy_xml` (and a DEK for `key_id` if given).
  Result<VmSetBundle> FromLocalXml(const std::string& policy_xml, const std::string& key_id = "") {
    const std::string dir = local_.path() + "/my_vmset";
    EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
    WriteFile(dir + "/vmset.xml", kVmSetXml);
    WriteFile(dir + "/policy.xml", policy_xml);
    if (!key_id.empty()) WriteFile(dir + "/keys", key_id + " 1 " + std::string(128, 'a') + "\n");
    return LocalKeyProvider(local_.path()).FetchVmSet("my_vmset");
  }

  kps::testing::TempDir local_;
};

// Every 15 minutes from `from` for a week.
std::vector<Clock::TimePoint> Week(Clock::TimePoint from) {
  std::vector<Clock::TimePoint> out;
  for (int i = 0; i <= 7 * 24 * 4; ++i) out.push_back(from + std::chrono::minutes(15 * i));
  return out;
}

TEST_F(ProviderConformanceTest, SameXmlSameDecisionsAcrossDstWeeks) {
  std::string key_id;
  const VmSetBundle kps = FromKpsd(&key_id);
  ASSERT_FALSE(key_id.empty());
  ASSERT_FALSE(kps.vmset.id.IsNil());
  const VmSetBundle local = FromLocal(key_id, kps.vmset.id);
  ASSERT_FALSE(HasFailure());

  // What the gateway holds is the same, field by field.
  EXPECT_EQ(kps.vmset.ToXml(), local.vmset.ToXml());
  EXPECT_EQ(kps.vmset, local.vmset);
  EXPECT_EQ(kps.descriptor, local.descriptor);
  EXPECT_EQ(kps.vmset.time_zone, "Europe/Berlin");
  EXPECT_EQ(kps.vmset.capacity_threshold_percent, 70u);
  EXPECT_EQ(
      kps.vmset.audit_destinations,
      (std::vector<std::string>{"kps", "/var/log/cafs/my_vmset.log", "syslog:udp:127.0.0.1:5514"}));

  auto from_kps = policy::Evaluator::Create(kps.vmset, kps.descriptor);
  ASSERT_TRUE(from_kps.ok()) << from_kps.status().ToString();
  auto from_local = policy::Evaluator::Create(local.vmset, local.descriptor);
  ASSERT_TRUE(from_local.ok()) << from_local.status().ToString();

  // The zone matters: Mon 2026-03-23 08:30 UTC is 09:30 in Berlin (CET), inside 9am-5pm; a
  // week later 07:30 UTC is 09:30 CEST.
  for (auto t : {Utc(2026, 3, 23, 8, 30), Utc(2026, 3, 30, 7, 30)}) {
    auto d = from_kps->Evaluate("755083456", "vm1/osdisk1.vmdk", t);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->allowed) << d->reason;
  }

  std::size_t allowed = 0, denied = 0;
  const std::vector<std::string> servers = {"755083456", "ESX-01.example.com", "10.2.45.68"};
  const std::vector<std::string> paths = {"vm1/osdisk1.vmdk", "vm1/app.log", "vm2/data.img"};
  // Mon 2026-03-23 and Mon 2026-10-19, 00:00 UTC: the weeks of the spring and autumn changes.
  for (auto start : {Utc(2026, 3, 23, 0, 0), Utc(2026, 10, 19, 0, 0)}) {
    for (auto t : Week(start)) {
      for (const auto& server : servers) {
        for (const auto& path : paths) {
          auto a = from_kps->Evaluate(server, path, t);
          auto b = from_local->Evaluate(server, path, t);
          ASSERT_EQ(a.ok(), b.ok());
          if (!a.ok()) continue;
          ASSERT_EQ(a->allowed, b->allowed)
              << server << " " << path << " at " << std::chrono::system_clock::to_time_t(t);
          ASSERT_EQ(a->reason, b->reason);
          ASSERT_EQ(a->vobj_index, b->vobj_index);
          ASSERT_EQ(a->audit, b->audit);
          ++(a->allowed ? allowed : denied);
        }
      }
    }
  }
  // Both outcomes occur (the comparison is not vacuous).
  EXPECT_GT(allowed, 1000u);
  EXPECT_GT(denied, 1000u);
}

// A VM set written as JSON fields (not XML) is held to the XML's rules: what VmSet::Parse
// refuses in the XML, kpsd refuses in JSON, naming the element.
TEST_F(ProviderConformanceTest, JsonFormRefusesWhatXmlRefuses) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"time_zone", "Mars/Olympus_Mons"}}, "<timezone>"},
      {{{"time_zone", "../etc/passwd"}}, "<timezone>"},
      {{{"capacity_threshold", 0}}, "<capacity-threshold> must be a number 1..100"},
      {{{"capacity_threshold", 101}}, "<capacity-threshold> must be a number 1..100"},
      {{{"audit_destinations", {"email"}}}, "<audit-dest> must be syslog"},
      {{{"audit_destinations", {"kps", "kps"}}}, "duplicate <audit-dest> 'kps'"},
      {{{"audit_destinations", {"syslog:udp:127.0.0.1:0"}}}, "port must be 1..65535"},
      {{{"position", 65}}, "<position> must be a number 1..64"},
      {{{"mount_point", "/nfs/"}}, "<mnt> must be an absolute path"},
      {{{"servers", {"a b"}}}, "contains white space"},
  };
  for (const auto& [fields, expected] : cases) {
    json body = fields;
    body["name"] = "my_vmset";
    auto r = Call(sec_, "POST", "/v1/vmsets", body);
    EXPECT_EQ(r.status, 400) << body.dump();
    EXPECT_NE(r.body.value("reason", "").find(expected), std::string::npos)
        << body.dump() << " -> " << r.body.dump();
  }
  json ok = {{"name", "my_vmset"},
             {"time_zone", "America/New_York"},
             {"capacity_threshold", 90},
             {"audit_destinations", {"syslog:tcp:[::1]:6514"}}};
  auto r = Call(sec_, "POST", "/v1/vmsets", ok);
  ASSERT_EQ(r.status, 201) << r.body.dump();
  EXPECT_EQ(r.body["time_zone"], "America/New_York");
  EXPECT_EQ(r.body["capacity_threshold"], 90);
  EXPECT_EQ(r.body["audit_destinations"], json({"syslog:tcp:[::1]:6514"}));
}

// Issue 16 defect 7: an element value the gateway cannot honour is refused at upload, with
// the element and the line, by kpsd and by the local-keys path alike (<replicas> 2 without the
// pool of copy 2: mirroring, issue 15 item 3, needs it named).
TEST_F(ProviderConformanceTest, UnimplementedElementsAreRefusedAtUpload) {
  std::string xml = PolicyXml(KpsdKey());
  xml.replace(xml.find("<replicas>1</replicas>"), 22, "<replicas>2</replicas>");
  const std::string expected =
      "policy line 11: <replicas> 2 needs 1 <replica-pool> element(s) naming the pools of copies "
      "2..2, got 0";
  auto pol = UploadPolicy(xml);
  EXPECT_EQ(pol.status, 400);
  EXPECT_EQ(pol.body.value("reason", ""), expected) << pol.body.dump();
  auto b = FromLocalXml(xml);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), expected);
}

// <rotation-period> is carried out by kpsd: uploaded there it is accepted (kpsd rotates the
// key); in a local key directory nothing would ever rotate it, so the local-keys path refuses
// it, naming the element and its line, instead of accepting it and doing nothing.
TEST_F(ProviderConformanceTest, RotationPeriodIsRefusedWithLocalKeys) {
  const std::string key = KpsdKey();
  std::string xml = PolicyXml(key);
  xml.insert(xml.find("<capacity-threshold>60"), "<rotation-period>90 days</rotation-period>\n");
  auto pol = UploadPolicy(xml);
  EXPECT_EQ(pol.status, 201) << pol.body.dump();
  auto b = FromLocalXml(xml, key);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(b.status().message(),
            "policy line 12: <rotation-period> is carried out by kpsd, but this gateway uses "
            "local keys ([local_keys]), where nothing rotates keys: remove the element, or serve "
            "the VM set from kpsd");
}

// <shred-on-free> (issue 14): the same value checks at kpsd's upload and in a key directory.
TEST_F(ProviderConformanceTest, ShredOnFreeIsCheckedAtUploadByBothProviders) {
  std::string xml = PolicyXml(KpsdKey());
  xml.replace(xml.find("<shred-on-free>yes"), 18, "<shred-on-free>maybe");
  const std::string expected = "policy line 13: <shred-on-free> must be yes or no, got 'maybe'";
  auto pol = UploadPolicy(xml);
  EXPECT_EQ(pol.status, 400);
  EXPECT_EQ(pol.body.value("reason", ""), expected) << pol.body.dump();
  auto b = FromLocalXml(xml);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), expected);
}

// Issue 16 (defence in depth): the VM set's allow list reaches the gateway with the fetch, and
// the gateway checks the policy's pools against it itself: a store edited behind kpsd's back
// (a pool taken off the allow list although a stored policy names it, which kpsd's API
// refuses) gives a policy the gateway refuses, naming the pool.
TEST_F(ProviderConformanceTest, GatewayChecksTheFetchedAllowListItself) {
  std::string key;
  VmSetBundle bundle = FromKpsd(&key);
  ASSERT_TRUE(bundle.pools.has_value());
  std::vector<std::string> names;
  for (const PoolRecordRef& p : *bundle.pools) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"default_pool", "mirrored_pool_A"}));
  EXPECT_TRUE(CheckPolicyPools(bundle).ok());
  Status edited = store_->InTransaction([&](kps::StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(kps::PoolRecord p,
                          kps::GetRecord<kps::PoolRecord>(txn, "mirrored_pool_A"));
    p.vmset_ids.clear();
    return kps::PutRecord(txn, p);
  });
  ASSERT_TRUE(edited.ok()) << edited.ToString();
  auto fetch = Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset");
  ASSERT_EQ(fetch.status, 200) << fetch.body.dump();
  auto b = KpsKeyProvider::ParseBundle(fetch.body, "my_vmset", "kps:test");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  Status refused = CheckPolicyPools(*b);
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(refused.message().find("names pool 'mirrored_pool_A'"), std::string::npos)
      << refused.message();
}

// kpsd's gateway fetch in process: what KpsKeyProvider does over mTLS, without the TLS.
class ApiKeyProvider final : public KeyProvider {
 public:
  explicit ApiKeyProvider(std::function<kps::ApiResponse()> fetch) : fetch_(std::move(fetch)) {}
  Result<VmSetBundle> FetchVmSet(const std::string& vmset_name) override {
    kps::ApiResponse r = fetch_();
    if (r.status != 200) return Status::NotFound(r.body.dump());
    return KpsKeyProvider::ParseBundle(r.body, vmset_name, "kps:test");
  }
  std::string Describe() const override { return "kps:in-process"; }

 private:
  std::function<kps::ApiResponse()> fetch_;
};

// Issue 16 defect 5: the server registry reaches the gateway with the VM set's bundle — only
// the servers the VM set lists — and a change of a server's addresses in kpsd reaches it with
// the policy cache's refresh (within ttl; the old mapping serves until then).
TEST_F(ProviderConformanceTest, ServerRegistryComesWithTheBundleAndRefreshes) {
  ASSERT_EQ(Call(stor_, "POST", "/v1/servers",
                 json{{"id", "755083456"}, {"name", "esx-1"}, {"addresses", {"192.0.2.10"}}})
                .status,
            201);
  ASSERT_EQ(Call(sec_, "POST", "/v1/servers", json{{"id", "esx-9"}, {"addresses", {"192.0.2.99"}}})
                .status,
            201);
  // Addresses are numeric IP addresses: a host name or a prefix is refused, naming it.
  auto host =
      Call(sec_, "POST", "/v1/servers", json{{"id", "esx-2"}, {"addresses", {"esx2.example.com"}}});
  EXPECT_EQ(host.status, 400);
  EXPECT_EQ(host.body.value("reason", ""), "server esx-2: not an IP address: 'esx2.example.com'");
  EXPECT_EQ(Call(sec_, "POST", "/v1/servers", json{{"id", "esx-2"}, {"addresses", {"10.0.0.0/8"}}})
                .status,
            400);
  std::string key_id;
  const VmSetBundle bundle = FromKpsd(&key_id);
  ASSERT_FALSE(HasFailure());
  // The VM set lists 755083456 and esx-01.example.com (not registered); esx-9 is not its.
  EXPECT_EQ(bundle.servers, (std::vector<policy::RegisteredServer>{{"755083456", {"192.0.2.10"}}}));

  ManualClock clock(Utc(2026, 3, 23, 8, 30));  // Mon 09:30 in Berlin: inside 9am-5pm
  ApiKeyProvider provider([&] { return Call(gate_, "GET", "/v1/gateway/vmsets/my_vmset"); });
  PolicyCache cache(
      &provider, &clock,
      PolicyCacheOptions{.ttl = std::chrono::seconds(30), .grace = std::chrono::minutes(10)});
  auto allowed = [&](const char* address) {
    auto vs = cache.Get("my_vmset");
    EXPECT_TRUE(vs.ok()) << vs.status().ToString();
    if (!vs.ok()) return false;
    auto d =
        (*vs)->evaluator.Evaluate(policy::Requester{{}, address}, "vm1/osdisk1.vmdk", clock.Now());
    EXPECT_TRUE(d.ok());
    return d.ok() && d->allowed;
  };
  EXPECT_TRUE(allowed("192.0.2.10"));
  EXPECT_FALSE(allowed("192.0.2.20"));
  EXPECT_FALSE(allowed("192.0.2.99"));  // registered, but not a server of this VM set

  // The storage admin moves the server to another address.
  auto current = Call(sec_, "GET", "/v1/servers/755083456");
  ASSERT_EQ(current.status, 200);
  ASSERT_EQ(Call(stor_, "PUT", "/v1/servers/755083456",
                 json{{"addresses", {"192.0.2.20"}}, {"version", current.body["version"]}})
                .status,
            200);
  clock.Advance(std::chrono::seconds(10));  // within ttl: the cached mapping
  EXPECT_TRUE(allowed("192.0.2.10"));
  EXPECT_FALSE(allowed("192.0.2.20"));
  clock.Advance(std::chrono::seconds(25));  // ttl passed: refreshed
  EXPECT_FALSE(allowed("192.0.2.10"));
  EXPECT_TRUE(allowed("192.0.2.20"));

  // Removed from the registry: no address identifies it any more.
  ASSERT_EQ(Call(sec_, "DELETE", "/v1/servers/755083456").status, 200);
  clock.Advance(std::chrono::seconds(31));
  EXPECT_FALSE(allowed("192.0.2.20"));
}

// The local-keys path carries the same: cafsd's [[server]] entries that the VM set lists.
TEST_F(ProviderConformanceTest, LocalRegistryCarriesOnlyListedServers) {
  const std::string dir = local_.path() + "/my_vmset";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  WriteFile(dir + "/vmset.xml", kVmSetXml);
  WriteFile(dir + "/policy.xml", PolicyXml(kPolicyId));
  LocalKeyProvider local(local_.path(),
                         {{"esx-9", {"192.0.2.99"}}, {"ESX-01.example.com", {"192.0.2.1"}}});
  auto b = local.FetchVmSet("my_vmset");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->servers,
            (std::vector<policy::RegisteredServer>{{"ESX-01.example.com", {"192.0.2.1"}}}));
}

}  // namespace
}  // namespace cafs::core
