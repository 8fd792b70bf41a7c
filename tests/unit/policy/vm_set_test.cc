#include "policy/vm_set.h"

#include <gtest/gtest.h>

#include "unit/policy/seed_xml.h"

namespace cafs::policy {
namespace {

void ExpectSeedVmSet(const VmSet& v) {
  EXPECT_EQ(v.name, "my_vmset");
  EXPECT_EQ(v.mount_point, "/nfs");
  EXPECT_EQ(v.policy_descriptor.ToString(), "45aa9e57-bf64-11df-8d3e-000c29abeb4d");
  ASSERT_EQ(v.servers.size(), 1u);
  EXPECT_EQ(v.servers[0], "755083456");
  EXPECT_EQ(v.position, 1u);
  EXPECT_EQ(v.time_zone, "UTC");
  EXPECT_TRUE(v.audit_destinations.empty());
  EXPECT_EQ(v.capacity_threshold_percent, 80u);
  EXPECT_TRUE(v.IsServerListed("755083456"));
  EXPECT_FALSE(v.IsServerListed("10.2.45.68"));
}

TEST(VmSetTest, SeedXmlVerbatimWithTypographicQuotes) {
  for (const char* xml : {testing::kSeedVmSetOneLine, testing::kSeedVmSet}) {
    auto v = VmSet::Parse(xml);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ExpectSeedVmSet(*v);
  }
}

TEST(VmSetTest, PlainDeclarationAndLatin1Text) {
  auto v = VmSet::Parse(
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><vmset><name>caf\xE9</name>"
      "<mnt>/nfs</mnt><pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd><vmserv>a</vmserv></vmset>");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->name, "caf\xC3\xA9");  // UTF-8
}

TEST(VmSetTest, ExtensionsAndServerLists) {
  auto v = VmSet::Parse(R"(<vmset>
  <name>vmset-A</name>
  <mnt>/exports/cloud</mnt>
  <pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>
  <vmserv>755083456, esx-01.example.com</vmserv>
  <vmserv>10.2.45.67</vmserv>
  <position>2</position>
  <timezone>Europe/Berlin</timezone>
  <audit-dest>syslog</audit-dest>
  <audit-dest>/var/log/cafs/vmset-A.audit</audit-dest>
  <capacity-threshold>90</capacity-threshold>
</vmset>)");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->servers,
            (std::vector<std::string>{"755083456", "esx-01.example.com", "10.2.45.67"}));
  EXPECT_TRUE(v->IsServerListed("ESX-01.example.COM"));
  EXPECT_EQ(v->position, 2u);
  EXPECT_EQ(v->time_zone, "Europe/Berlin");
  EXPECT_EQ(v->audit_destinations,
            (std::vector<std::string>{"syslog", "/var/log/cafs/vmset-A.audit"}));
  EXPECT_EQ(v->capacity_threshold_percent, 90u);
  // Round trip through the canonical form.
  const std::string xml = v->ToXml();
  auto again = VmSet::Parse(xml);
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << xml;
  EXPECT_EQ(*again, *v);
  EXPECT_EQ(again->ToXml(), xml);
}

TEST(VmSetTest, SeedRoundTrip) {
  auto v = VmSet::Parse(testing::kSeedVmSet);
  ASSERT_TRUE(v.ok());
  const std::string xml = v->ToXml();
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vmset>\n  <name>my_vmset</name>\n"
            "  <mnt>/nfs</mnt>\n  <pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>\n"
            "  <vmserv>755083456</vmserv>\n</vmset>\n");
  auto again = VmSet::Parse(xml);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *v);
}

struct ErrorCase {
  const char* xml;
  const char* message;  // exact
};

TEST(VmSetTest, EveryErrorNamesTheLine) {
  const std::string head =
      "<vmset>\n<name>v</name>\n<mnt>/nfs</mnt>\n"
      "<pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>\n<vmserv>s</vmserv>\n";
  const std::string cases[][2] = {
      {"<vmset>\n<name>v</name>\n<mnt>/nfs</mnt>\n</vmset",
       "vmset line 4: malformed XML: Error parsing end element tag"},
      {"", "vmset line 1: malformed XML: No document element found"},
      {"<!-- only a comment -->", "vmset line 1: malformed XML: No document element found"},
      {"<vmset/><vmset/>", "vmset line 1: more than one root element"},
      {"<vset/>", "vmset line 1: root element must be <vmset>, got <vset>"},
      {head + "<nmae>x</nmae>\n</vmset>",
       "vmset line 6: unknown element <nmae> in <vmset> (expected name, mnt, pd, vmserv, "
       "position, timezone, audit-dest, capacity-threshold or vmset-id)"},
      {head + "<name>w</name>\n</vmset>", "vmset line 6: duplicate <name>"},
      {head + "<mnt>/a</mnt>\n</vmset>", "vmset line 6: duplicate <mnt>"},
      {head + "<pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>\n</vmset>",
       "vmset line 6: duplicate <pd>"},
      {head + "<vmserv>s</vmserv>\n</vmset>", "vmset line 6: <vmserv> lists server 's' twice"},
      {head + "<vmserv>a,,b</vmserv>\n</vmset>",
       "vmset line 6: <vmserv> has an empty server id in 'a,,b'"},
      {head + "<vmserv>a b</vmserv>\n</vmset>",
       "vmset line 6: <vmserv> server id 'a b' contains white space (separate ids with ',')"},
      {"<vmset>\n<name>a/b</name>\n</vmset>",
       "vmset line 2: <name> must be one path component (no '/', not . or ..), got 'a/b'"},
      {"<vmset>\n\n<mnt>nfs</mnt>\n</vmset>",
       "vmset line 3: <mnt> must be an absolute path without empty, . or .. components or a "
       "trailing '/', got 'nfs'"},
      {"<vmset>\n<mnt>/nfs/../etc</mnt>\n</vmset>",
       "vmset line 2: <mnt> must be an absolute path without empty, . or .. components or a "
       "trailing '/', got '/nfs/../etc'"},
      {"<vmset>\n<pd>not-a-guid</pd>\n</vmset>",
       "vmset line 2: <pd> must be a GUID such as 45aa9e57-bf64-11df-8d3e-000c29abeb4d, got "
       "'not-a-guid'"},
      {head + "<position>0</position>\n</vmset>",
       "vmset line 6: <position> must be a number 1..64, got '0'"},
      {head + "<position>x</position>\n</vmset>",
       "vmset line 6: <position> must be a number 1..64, got 'x'"},
      {head + "<capacity-threshold>101</capacity-threshold>\n</vmset>",
       "vmset line 6: <capacity-threshold> must be a number 1..100, got '101'"},
      {head + "<timezone>../../etc/shadow</timezone>\n</vmset>",
       "vmset line 6: <timezone>: time zone '../../etc/shadow' is not an IANA name such as "
       "Europe/Berlin, UTC or UTC+hh:mm"},
      {head + "<timezone>Europe/./Berlin</timezone>\n</vmset>",
       "vmset line 6: <timezone>: time zone 'Europe/./Berlin' is not an IANA name such as "
       "Europe/Berlin, UTC or UTC+hh:mm"},
      {head + "<audit-dest>email</audit-dest>\n</vmset>",
       "vmset line 6: <audit-dest> must be syslog, syslog:unix:/path, syslog:udp:host:port, "
       "syslog:tcp:host:port, kps or an absolute file path, got 'email'"},
      {head + "<audit-dest>kps</audit-dest>\n<audit-dest>kps</audit-dest>\n</vmset>",
       "vmset line 7: duplicate <audit-dest> 'kps'"},
      {"<vmset>\n<name a=\"1\">x</name>\n</vmset>",
       "vmset line 2: <name> takes no attribute, got 'a'"},
      {"<vmset x=\"1\"/>", "vmset line 1: <vmset> takes no attribute, got 'x'"},
      {"<vmset>\n<name><b/></name>\n</vmset>", "vmset line 2: <name> must contain text, not <b>"},
      {head + "stray text\n</vmset>", "vmset line 5: unexpected text 'stray text' in <vmset>"},
      {"<vmset>\n<mnt>/nfs</mnt>\n</vmset>", "vmset line 1: <vmset> has no <name>"},
      {"<vmset>\n<name>v</name>\n</vmset>", "vmset line 1: <vmset> has no <mnt>"},
      {"<vmset><name>v</name><mnt>/n</mnt></vmset>", "vmset line 1: <vmset> has no <pd>"},
      {"<vmset><name>v</name><mnt>/n</mnt><pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd></vmset>",
       "vmset line 1: <vmset> has no <vmserv>"},
      {"<?xml version=\"1.0\" encoding=\"UTF-16\"?><vmset/>",
       "vmset line 1: unsupported encoding 'utf-16' (expected UTF-8 or ISO-8859-1)"},
      {"<vmset>\n<name>a&#1;b</name></vmset>", "vmset line 2: <name> contains a control character"},
  };
  for (const auto& c : cases) {
    auto v = VmSet::Parse(c[0]);
    ASSERT_FALSE(v.ok()) << c[0];
    EXPECT_TRUE(v.status().IsInvalidArgument());
    EXPECT_EQ(v.status().message(), c[1]) << c[0];
  }
}

}  // namespace
}  // namespace cafs::policy
