#include "policy/policy_descriptor.h"

#include <gtest/gtest.h>

#include "unit/policy/seed_xml.h"

namespace cafs::policy {
namespace {

PolicyDescriptor ParseOk(std::string_view xml) {
  auto d = PolicyDescriptor::Parse(xml);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : PolicyDescriptor{};
}

TEST(PolicyDescriptorTest, SeedVobjListVerbatim) {
  const PolicyDescriptor d = ParseOk(testing::kSeedVobjList);
  ASSERT_EQ(d.objects.size(), 2u);
  EXPECT_FALSE(d.guid.has_value());
  const VirtualObject& os = d.objects[0];
  EXPECT_EQ(os.vglob.pattern(), "*osdisk*");
  EXPECT_EQ(os.symkey.ToString(), "062b9056-bf64-11df-8d3e-000c29abeb4d");
  EXPECT_FALSE(os.IsClearText());
  EXPECT_EQ(os.storage_pool, "mirrored_pool_A");
  EXPECT_EQ(os.access.ToString(), "Mon-Fri(9am-5pm)");
  EXPECT_EQ(os.audit, AuditLevel::kAllRecords);
  EXPECT_EQ(os.cipher, crypto::CipherId::kAes256Xts);
  EXPECT_EQ(os.sector_size, 4096u);
  EXPECT_EQ(os.replicas, 1u);
  EXPECT_FALSE(os.capacity_threshold_percent.has_value());
  const VirtualObject& def = d.objects[1];
  EXPECT_TRUE(def.vglob.IsCatchAll());
  EXPECT_TRUE(def.IsClearText());
  EXPECT_EQ(def.cipher, crypto::CipherId::kNone);
  EXPECT_EQ(def.storage_pool, "default_pool");
  EXPECT_EQ(def.access.kind(), AccessSchedule::Kind::kAlways);
  EXPECT_EQ(def.audit, AuditLevel::kNone);
}

TEST(PolicyDescriptorTest, SeedMatchingFirstMatchWins) {
  const PolicyDescriptor d = ParseOk(testing::kSeedVobjList);
  for (const char* p : {"windows_xp/osdisk1.vmdk", "windows_xp/osdisk2.vmdk",
                        "rh_linux/linux_osdisk.vmdk", "rh_linux/root_osdisk.vmdk"}) {
    auto m = d.Match(p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(*m, &d.objects[0]) << p;
  }
  for (const char* p : {"windows_xp/data.vmdk", "windows_xp/windows_xp.vmx", "rh_linux/nvram"}) {
    auto m = d.Match(p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(*m, &d.objects[1]) << p;
    EXPECT_EQ((*m)->storage_pool, "default_pool");
  }
}

TEST(PolicyDescriptorTest, HcDefaultFirstShadowsEverything) {
  const PolicyDescriptor d = ParseOk(R"(<vobj-list>
<vobj><vglob>hc_default</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey>
<storepol>p0</storepol><access>at_all_times</access><audit>none</audit></vobj>
<vobj><vglob>*osdisk*</vglob><symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>
<storepol>p1</storepol><access>at_all_times</access><audit>none</audit></vobj>
</vobj-list>)");
  auto m = d.MatchIndex("windows_xp/osdisk1.vmdk");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, 0u);
}

TEST(PolicyDescriptorTest, NoMatchWithoutCatchAllIsNotFound) {
  const PolicyDescriptor d = ParseOk(R"(<vobj-list><vobj><vglob>*osdisk*</vglob>
<symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey><storepol>p</storepol>
<access>at_all_times</access><audit>denials</audit></vobj></vobj-list>)");
  auto m = d.Match("vm/data.vmdk");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsNotFound());
  EXPECT_EQ(m.status().message(),
            "no virtual object matches 'vm/data.vmdk' and the policy descriptor has no "
            "hc_default catch-all");
}

TEST(PolicyDescriptorTest, WrapperAndExtensionsRoundTrip) {
  const PolicyDescriptor d = ParseOk(R"(<?xml version="1.0" encoding="UTF-8"?>
<policy-descriptor guid="45AA9E57-BF64-11DF-8D3E-000C29ABEB4D" vmset="my_vmset">
  <vobj-list>
    <vobj>
      <vglob>*osdisk*</vglob>
      <symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>
      <storepol>mirrored_pool_A</storepol>
      <access>Mon-Fri(9am-5pm),Sat(10:00-13:00)</access>
      <audit>denials</audit>
      <cipher>aes-256-cbc-essiv</cipher>
      <sector-size>512</sector-size>
      <replicas>1</replicas>
      <capacity-threshold>70</capacity-threshold>
      <rotation-period>90 days</rotation-period>
      <shred-on-free>yes</shred-on-free>
    </vobj>
    <vobj>
      <vglob>*.vmx</vglob>
      <shred-on-free>no</shred-on-free>
      <symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>
      <storepol>p.q-r_s</storepol>
      <access>never</access>
      <audit>all_records</audit>
      <cipher>aes-256-xts</cipher>
      <replicas>3</replicas>
      <replica-pool>mirror_b</replica-pool>
      <replica-pool>mirror_c</replica-pool>
    </vobj>
    <vobj>
      <vglob>hc_default</vglob>
      <symkey>01010101-0101-0101-0101-010101010101</symkey>
      <storepol>default_pool</storepol>
      <access>at_all_times</access>
      <audit>none</audit>
      <cipher>none</cipher>
    </vobj>
  </vobj-list>
</policy-descriptor>)");
  ASSERT_EQ(d.objects.size(), 3u);
  EXPECT_EQ(d.guid->ToString(), "45aa9e57-bf64-11df-8d3e-000c29abeb4d");
  EXPECT_EQ(d.vmset_name, "my_vmset");
  EXPECT_EQ(d.objects[0].cipher, crypto::CipherId::kAes256CbcEssiv);
  EXPECT_EQ(d.objects[0].sector_size, 512u);
  EXPECT_EQ(d.objects[0].replicas, 1u);
  EXPECT_EQ(d.objects[0].capacity_threshold_percent, 70u);
  EXPECT_EQ(d.objects[0].rotation_period_days, 90u);
  EXPECT_EQ(d.objects[1].rotation_period_days, std::nullopt);
  EXPECT_TRUE(d.objects[0].shred_on_free);
  EXPECT_FALSE(d.objects[1].shred_on_free);
  EXPECT_FALSE(d.objects[2].shred_on_free);
  EXPECT_EQ(d.objects[1].storage_pool, "p.q-r_s");
  EXPECT_EQ(d.objects[1].replicas, 3u);  // mirrored (issue 15 item 3): copies 2 and 3
  EXPECT_EQ(d.objects[1].replica_pools, (std::vector<std::string>{"mirror_b", "mirror_c"}));
  EXPECT_EQ(d.objects[2].cipher, crypto::CipherId::kNone);
  const std::string xml = d.ToXml();
  auto again = PolicyDescriptor::Parse(xml);
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << xml;
  EXPECT_EQ(*again, d);
  EXPECT_EQ(again->ToXml(), xml);
  // The default cipher is not written out.
  EXPECT_EQ(xml.find("aes-256-xts"), std::string::npos);
}

TEST(PolicyDescriptorTest, SeedRoundTripIsCanonical) {
  const PolicyDescriptor d = ParseOk(testing::kSeedVobjList);
  const std::string xml = d.ToXml();
  EXPECT_EQ(xml, R"(<?xml version="1.0" encoding="UTF-8"?>
<vobj-list>
  <vobj>
    <vglob>*osdisk*</vglob>
    <symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>
    <storepol>mirrored_pool_A</storepol>
    <access>Mon-Fri(9am-5pm)</access>
    <audit>all_records</audit>
  </vobj>
  <vobj>
    <vglob>hc_default</vglob>
    <symkey>01010101-0101-0101-0101-010101010101</symkey>
    <storepol>default_pool</storepol>
    <access>at_all_times</access>
    <audit>none</audit>
  </vobj>
</vobj-list>
)");
  auto again = PolicyDescriptor::Parse(xml);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, d);
}

// A valid vobj with one element replaced; line numbers: <vobj-list> 1, <vobj> 2, children 3..7.
std::string Vobj(std::string_view replace_tag, std::string_view with) {
  std::string out = "<vobj-list>\n<vobj>\n";
  const std::pair<const char*, const char*> fields[] = {
      {"vglob", "<vglob>*osdisk*</vglob>"},
      {"symkey", "<symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>"},
      {"storepol", "<storepol>pool</storepol>"},
      {"access", "<access>Mon-Fri(9am-5pm)</access>"},
      {"audit", "<audit>all_records</audit>"},
  };
  for (const auto& [tag, xml] : fields) {
    out += (tag == replace_tag) ? std::string(with) : std::string(xml);
    out += "\n";
  }
  if (replace_tag == "extra") out += std::string(with) + "\n";
  return out + "</vobj>\n</vobj-list>\n";
}

TEST(PolicyDescriptorTest, EveryErrorNamesTheLine) {
  const std::string cases[][2] = {
      {Vobj("audit", "<audit>some</audit>"),
       "policy line 7: <audit> must be none, denials or all_records, got 'some'"},
      {Vobj("audit", "<audit>ALL_RECORDS</audit>"),
       "policy line 7: <audit> must be none, denials or all_records, got 'ALL_RECORDS'"},
      {Vobj("access", "<access>Mon-Fry(9am-5pm)</access>"),
       "policy line 6: <access> access 'Mon-Fry(9am-5pm)': unknown day 'Fry' (expected Mon, "
       "Tue, Wed, Thu, Fri, Sat or Sun) at 'Fry(9am-5pm)'"},
      {Vobj("vglob", "<vglob>disk[0-9</vglob>"),
       "policy line 3: <vglob> 'disk[0-9': '[' without a closing ']'"},
      {Vobj("vglob", "<vglob></vglob>"),
       "policy line 3: <vglob> '': empty pattern (use hc_default to match everything)"},
      {Vobj("symkey", "<symkey>xyz</symkey>"),
       "policy line 4: <symkey> must be a key GUID (or the clear-text key "
       "01010101-0101-0101-0101-010101010101), got 'xyz'"},
      {Vobj("storepol", "<storepol>../etc</storepol>"),
       "policy line 5: <storepol> must be a pool name of 1..178 letters, digits, '_', '-' and "
       "'.', got '../etc'"},
      {Vobj("storepol", "<storepol>" + std::string(179, 'p') + "</storepol>"),
       "policy line 5: <storepol> must be a pool name of 1..178 letters, digits, '_', '-' and "
       "'.', got '" +
           std::string(179, 'p') + "'"},
      {Vobj("extra", "<vglob>x</vglob>"), "policy line 8: duplicate <vglob>"},
      {Vobj("extra", "<audti>none</audti>"),
       "policy line 8: unknown element <audti> in <vobj> (expected vglob, symkey, storepol, "
       "access, audit, cipher, sector-size, replicas, replica-pool, capacity-threshold, "
       "rotation-period or shred-on-free)"},
      {Vobj("extra", "<shred-on-free>true</shred-on-free>"),
       "policy line 8: <shred-on-free> must be yes or no, got 'true'"},
      {Vobj("extra", "<shred-on-free>yes</shred-on-free><shred-on-free>no</shred-on-free>"),
       "policy line 8: duplicate <shred-on-free>"},
      {Vobj("extra", "<cipher>rot13</cipher>"),
       "policy line 8: <cipher> must be none, aes-128-xts, aes-256-xts, aes-128-cbc-essiv or "
       "aes-256-cbc-essiv, got 'rot13'"},
      {Vobj("extra", "<cipher>none</cipher>"),
       "policy line 8: <cipher> none needs the clear-text <symkey> "
       "01010101-0101-0101-0101-010101010101"},
      {Vobj("extra", "<sector-size>1024</sector-size>"),
       "policy line 8: <sector-size> must be 512 or 4096, got '1024'"},
      {Vobj("extra", "<replicas>17</replicas>"),
       "policy line 8: <replicas> must be a number 1..16, got '17'"},
      // Defect 7 of issue 16: no element is accepted and ignored: <replicas> N names the pools
      // of copies 2..N (issue 15 item 3), or it is refused.
      {Vobj("extra", "<replicas>2</replicas>"),
       "policy line 8: <replicas> 2 needs 1 <replica-pool> element(s) naming the pools of "
       "copies 2..2, got 0"},
      {Vobj("extra", "<replicas>3</replicas>\n<replica-pool>b</replica-pool>"),
       "policy line 8: <replicas> 3 needs 2 <replica-pool> element(s) naming the pools of "
       "copies 2..3, got 1"},
      {Vobj("extra", "<replica-pool>b</replica-pool>"),
       "policy line 8: <replicas> 1 needs 0 <replica-pool> element(s) naming the pools of "
       "copies 2..1, got 1"},
      {Vobj("extra", "<replicas>2</replicas>\n<replica-pool>pool</replica-pool>"),
       "policy line 9: <replica-pool> pool is the <storepol>: each copy needs its own pool"},
      {Vobj("extra",
            "<replicas>3</replicas>\n<replica-pool>b</replica-pool>\n"
            "<replica-pool>b</replica-pool>"),
       "policy line 10: <replica-pool> b is named twice: each copy needs its own pool"},
      {Vobj("extra", "<replicas>2</replicas>\n<replica-pool>../x</replica-pool>"),
       "policy line 9: <replica-pool> must be a pool name of 1..178 letters, digits, '_', '-' "
       "and '.', got '../x'"},
      {Vobj("extra", "<capacity-threshold>0</capacity-threshold>"),
       "policy line 8: <capacity-threshold> must be a number 1..100, got '0'"},
      {Vobj("extra", "<rotation-period>ninety</rotation-period>"),
       "policy line 8: <rotation-period> must be a number of days such as '90 days' (1..3650 "
       "days), got 'ninety'"},
      {Vobj("extra", "<rotation-period>3651 days</rotation-period>"),
       "policy line 8: <rotation-period> must be a number of days such as '90 days' (1..3650 "
       "days), got '3651 days'"},
      {"<vobj-list>\n<vobj><vglob>hc_default</vglob>"
       "<symkey>01010101-0101-0101-0101-010101010101</symkey><storepol>p</storepol>"
       "<access>at_all_times</access><audit>none</audit>\n"
       "<rotation-period>30 days</rotation-period></vobj></vobj-list>",
       "policy line 3: <rotation-period> needs a key to rotate, but <symkey> is the clear-text "
       "key"},
      {Vobj("audit", ""), "policy line 2: <vobj> has no <audit>"},
      {Vobj("vglob", ""), "policy line 2: <vobj> has no <vglob>"},
      {"<vobj-list>\n<vobj><vglob>hc_default</vglob>"
       "<symkey>01010101-0101-0101-0101-010101010101</symkey><storepol>p</storepol>"
       "<access>at_all_times</access><audit>none</audit>\n<cipher>aes-256-xts</cipher></vobj>"
       "</vobj-list>",
       "policy line 3: <cipher> aes-256-xts needs a key, but <symkey> is the clear-text key"},
      {"<vobj-list>\n</vobj-list>", "policy line 1: <vobj-list> has no <vobj>"},
      {"<vobj-list>\n<vob/>\n</vobj-list>",
       "policy line 2: unknown element <vob> in <vobj-list> (expected vobj)"},
      {"<policy>\n</policy>",
       "policy line 1: root element must be <vobj-list> or <policy-descriptor>, got <policy>"},
      {"<policy-descriptor guid=\"nope\"/>",
       "policy line 1: <policy-descriptor guid> must be a GUID, got 'nope'"},
      {"<policy-descriptor owner=\"x\"/>",
       "policy line 1: unknown attribute 'owner' of <policy-descriptor> (expected guid or "
       "vmset)"},
      {"<policy-descriptor vmset=\"a/b\"/>",
       "policy line 1: <policy-descriptor vmset> must be a VM set name, got 'a/b'"},
      {"<policy-descriptor vmset=\"a\" vmset=\"b\"/>",
       "policy line 1: duplicate attribute 'vmset' of <policy-descriptor>"},
      {"<policy-descriptor>\n</policy-descriptor>",
       "policy line 1: <policy-descriptor> has no <vobj-list>"},
      {"<policy-descriptor>\n<vobj-list><vobj/></vobj-list>\n<vobj-list/>\n</policy-descriptor>",
       "policy line 2: <vobj> has no <vglob>"},
      {"<policy-descriptor>\n<extra/>\n</policy-descriptor>",
       "policy line 2: unknown element <extra> in <policy-descriptor> (expected vobj-list or "
       "replica)"},
      {"<vobj-list>\n<vobj>\n<vglob>*</vglob>\n</vobj>\n</vobj-list",
       "policy line 5: malformed XML: Error parsing end element tag"},
  };
  for (const auto& c : cases) {
    auto d = PolicyDescriptor::Parse(c[0]);
    ASSERT_FALSE(d.ok()) << c[0];
    EXPECT_TRUE(d.status().IsInvalidArgument());
    EXPECT_EQ(d.status().message(), c[1]) << c[0];
  }
}

TEST(PolicyDescriptorTest, DuplicateVobjListInWrapperIsAnError) {
  const std::string vobj =
      "<vobj><vglob>hc_default</vglob><symkey>01010101-0101-0101-0101-010101010101</symkey>"
      "<storepol>p</storepol><access>at_all_times</access><audit>none</audit></vobj>";
  auto d = PolicyDescriptor::Parse("<policy-descriptor>\n<vobj-list>" + vobj +
                                   "</vobj-list>\n<vobj-list>" + vobj +
                                   "</vobj-list>\n</policy-descriptor>");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "policy line 3: duplicate <vobj-list>");
}

// Issue 16: the one list of the pools a policy names — what kpsd checks against the VM set's
// allow list at upload and the gateway again on every fetch: each <storepol> and
// <replica-pool>, in document order, once.
TEST(PolicyDescriptorTest, PoolsListsStorepolAndReplicaPoolsOnce) {
  const std::string clear = "<symkey>01010101-0101-0101-0101-010101010101</symkey>";
  const std::string tail = "<access>at_all_times</access><audit>none</audit></vobj>";
  const PolicyDescriptor d = ParseOk(
      "<vobj-list><vobj><vglob>*osdisk*</vglob>" + clear + "<storepol>a</storepol>" +
      tail.substr(0, tail.size() - 7) +
      "<replicas>3</replicas><replica-pool>b</replica-pool><replica-pool>c</replica-pool></vobj>"
      "<vobj><vglob>*.log</vglob>" +
      clear + "<storepol>b</storepol>" + tail + "<vobj><vglob>hc_default</vglob>" + clear +
      "<storepol>d</storepol>" + tail + "</vobj-list>");
  EXPECT_EQ(d.Pools(), (std::vector<std::string>{"a", "b", "c", "d"}));
}

// --- <replica> (scheduled DR replicas, replica_schedule.h) ---

std::string WithReplicas(const std::string& replicas) {
  return "<policy-descriptor vmset=\"s\">\n<vobj-list><vobj><vglob>hc_default</vglob>"
         "<symkey>01010101-0101-0101-0101-010101010101</symkey><storepol>p</storepol>"
         "<access>at_all_times</access><audit>none</audit></vobj></vobj-list>\n" +
         replicas + "\n</policy-descriptor>";
}

TEST(PolicyDescriptorTest, ReplicaSchedulesParseMatchAndRoundTrip) {
  const PolicyDescriptor d =
      ParseOk(WithReplicas("<replica vm=\"db*\" interval=\"15m\" keep=\"7\" pool=\"dr_fast\"/>\n"
                           "<replica interval=\"1d\" pool=\"dr_pool\"/>"));
  ASSERT_EQ(d.replica_schedules.size(), 2u);
  EXPECT_EQ(d.replica_schedules[0].interval, std::chrono::minutes(15));
  EXPECT_EQ(d.replica_schedules[0].keep, 7u);
  EXPECT_EQ(d.replica_schedules[1].keep, ReplicaSchedule::kDefaultKeep);
  EXPECT_EQ(d.replica_schedules[1].interval, std::chrono::hours(24));
  // First match wins; "*" (no vm attribute) takes every other VM.
  ASSERT_NE(d.ReplicaScheduleFor("db1"), nullptr);
  EXPECT_EQ(d.ReplicaScheduleFor("db1")->pool, "dr_fast");
  ASSERT_NE(d.ReplicaScheduleFor("web"), nullptr);
  EXPECT_EQ(d.ReplicaScheduleFor("web")->pool, "dr_pool");
  EXPECT_EQ(ParseOk(d.ToXml()), d);
  EXPECT_EQ(ParseOk(testing::kSeedVobjList).ReplicaScheduleFor("vm1"), nullptr);
}

TEST(PolicyDescriptorTest, ReplicaIntervalTextRoundTrips) {
  for (const char* t : {"10s", "59s", "1m", "90m", "1h", "25h", "1d", "366d"}) {
    auto i = ParseReplicaInterval(t);
    ASSERT_TRUE(i.ok()) << t << ": " << i.status().ToString();
    EXPECT_EQ(ReplicaIntervalText(*i), t);
  }
  EXPECT_EQ(ReplicaIntervalText(std::chrono::seconds(7200)), "2h");
  EXPECT_EQ(*ParseReplicaInterval("120m"), std::chrono::hours(2));
}

TEST(PolicyDescriptorTest, ReplicaErrorsNameTheLine) {
  const std::string cases[][2] = {
      {WithReplicas("<replica interval=\"1 hour\" pool=\"dr\"/>"),
       "policy line 3: <replica interval> must be a duration such as '1h' (a number and s, m, "
       "h or d; 10 s .. 366 days), got '1 hour'"},
      {WithReplicas("<replica interval=\"9s\" pool=\"dr\"/>"),
       "policy line 3: <replica interval> must be a duration such as '1h' (a number and s, m, "
       "h or d; 10 s .. 366 days), got '9s'"},
      {WithReplicas("<replica interval=\"367d\" pool=\"dr\"/>"),
       "policy line 3: <replica interval> must be a duration such as '1h' (a number and s, m, "
       "h or d; 10 s .. 366 days), got '367d'"},
      {WithReplicas("<replica pool=\"dr\"/>"),
       "policy line 3: <replica> has no interval (such as interval=\"1h\")"},
      {WithReplicas("<replica interval=\"1h\"/>"),
       "policy line 3: <replica> has no pool (the DR pool)"},
      {WithReplicas("<replica interval=\"1h\" pool=\"../dr\"/>"),
       "policy line 3: <replica pool> must be a pool name of letters, digits, '_', '-' and '.', "
       "got '../dr'"},
      {WithReplicas("<replica interval=\"1h\" pool=\"dr\" keep=\"0\"/>"),
       "policy line 3: <replica keep> must be a number of replicas 1..1000, got '0'"},
      {WithReplicas("<replica interval=\"1h\" pool=\"dr\" keep=\"1001\"/>"),
       "policy line 3: <replica keep> must be a number of replicas 1..1000, got '1001'"},
      {WithReplicas("<replica interval=\"1h\" pool=\"dr\" every=\"x\"/>"),
       "policy line 3: unknown attribute 'every' of <replica> (expected vm, interval, keep or "
       "pool)"},
      {WithReplicas("<replica vm=\"[\" interval=\"1h\" pool=\"dr\"/>"),
       "policy line 3: <replica vm> must be a vglob: <vglob> '[': '[' without a closing ']'"},
      {WithReplicas("<replica interval=\"1h\" pool=\"dr\"><x/></replica>"),
       "policy line 3: <replica> takes attributes only (vm, interval, keep, pool)"},
      {WithReplicas("<replica interval=\"1h\" pool=\"dr\">x</replica>"),
       "policy line 3: unexpected text 'x' in <replica>"},
      {"<policy-descriptor>\n<replica interval=\"1h\" pool=\"dr\"/>\n</policy-descriptor>",
       "policy line 2: <replica> must follow the <vobj-list>"},
  };
  for (const auto& c : cases) {
    auto d = PolicyDescriptor::Parse(c[0]);
    ASSERT_FALSE(d.ok()) << c[0];
    EXPECT_TRUE(d.status().IsInvalidArgument());
    EXPECT_EQ(d.status().message(), c[1]) << c[0];
  }
}

}  // namespace
}  // namespace cafs::policy
