// Server identity (issue 16 defect 5): an NFS client is admitted as the registered servers
// that hold its address, never by its address written into <vmserv>.
#include "policy/server_registry.h"

#include <gtest/gtest.h>

#include "policy/evaluator.h"
#include "unit/policy/seed_xml.h"
#include "unit/policy/test_time.h"

namespace cafs::policy {
namespace {

using testing::Utc;

// The seed's VM set (<vmserv>755083456</vmserv>) with extra <vmserv> ids, and the seed's
// policy with its window widened (hc_default at_all_times, *osdisk* Mon-Fri(9am-5pm)).
Evaluator SeedEvaluator(std::vector<std::string> extra_servers, std::vector<RegisteredServer> reg) {
  auto v = VmSet::Parse(testing::kSeedVmSet);
  EXPECT_TRUE(v.ok());
  for (auto& s : extra_servers) v->servers.push_back(std::move(s));
  auto d = PolicyDescriptor::Parse(testing::kSeedVobjList);
  EXPECT_TRUE(d.ok());
  auto registry = ServerRegistry::Create(std::move(reg));
  EXPECT_TRUE(registry.ok()) << registry.status().ToString();
  auto e = Evaluator::Create(*v, *d, TimeZone::kDefaultZoneinfoDir, std::move(*registry));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return *e;
}

// Mon 2026-11-23 10:00 UTC: inside the seed's Mon-Fri(9am-5pm).
const Clock::TimePoint kMonday = Utc(2026, 11, 23, 10, 0);

// The decision for the NFS client at `address` (a path always matches a vobj here).
Decision Decide(const Evaluator& e, const char* address, const char* path = "vm/x",
                Clock::TimePoint when = kMonday) {
  auto d = e.Evaluate(Requester{{}, address}, path, when);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : Decision{};
}

TEST(ServerRegistryTest, RegisteredIdIsAdmittedFromItsAddress) {
  const Evaluator e = SeedEvaluator({}, {{"755083456", {"192.0.2.10", "2001:db8::10"}}});
  for (const char* address : {"192.0.2.10", "::ffff:192.0.2.10", "2001:DB8::10"}) {
    const Decision d = Decide(e, address, "windows_xp/osdisk1.vmdk");
    EXPECT_TRUE(d.allowed) << address << ": " << d.reason;
    EXPECT_EQ(d.server, "755083456");
  }
  // The window still applies to a registered server.
  const Decision sat = Decide(e, "192.0.2.10", "windows_xp/osdisk1.vmdk", Utc(2026, 11, 21, 10, 0));
  EXPECT_FALSE(sat.allowed);
  EXPECT_EQ(sat.server, "755083456");
}

TEST(ServerRegistryTest, UnknownAddressIsDenied) {
  const Evaluator e = SeedEvaluator({}, {{"755083456", {"192.0.2.10"}}});
  const Decision d = Decide(e, "192.0.2.11", "windows_xp/osdisk1.vmdk");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.server, "");
  EXPECT_EQ(d.reason,
            "client 192.0.2.11 is not a registered address of a listed virtualization server of "
            "VM set my_vmset");
  // An NFS client that sends the listed id as its address text is not that server either.
  const Decision spoof = Decide(e, "755083456", "windows_xp/osdisk1.vmdk");
  EXPECT_FALSE(spoof.allowed);
}

// A tenant admin writes an address into <vmserv>: that admits no host the registry does not
// know, only the one a server of that id is registered at.
TEST(ServerRegistryTest, RawAddressInVmservDoesNotAdmitAnUnregisteredHost) {
  const Evaluator unregistered = SeedEvaluator({"198.51.100.7"}, {{"755083456", {"192.0.2.10"}}});
  const Decision d = Decide(unregistered, "198.51.100.7");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("client 198.51.100.7 is not a registered address"), std::string::npos)
      << d.reason;

  // Registered under another id that the VM set does not list: still denied, naming the id.
  const Evaluator other =
      SeedEvaluator({"198.51.100.7"}, {{"755083456", {"192.0.2.10"}}, {"esx-9", {"198.51.100.7"}}});
  const Decision o = Decide(other, "198.51.100.7");
  EXPECT_FALSE(o.allowed);
  EXPECT_EQ(o.server, "esx-9");
  EXPECT_EQ(o.reason,
            "server esx-9 (client 198.51.100.7) is not a listed virtualization server of VM set "
            "my_vmset");

  // The administrators registered a server whose id is that address: admitted as that id.
  const Evaluator registered =
      SeedEvaluator({"198.51.100.7"}, {{"198.51.100.7", {"198.51.100.7"}}});
  const Decision r = Decide(registered, "198.51.100.7");
  EXPECT_TRUE(r.allowed) << r.reason;
  EXPECT_EQ(r.server, "198.51.100.7");
}

// FUSE callers keep their configured id; an address-less requester is matched by id alone.
TEST(ServerRegistryTest, ConfiguredServerIdIsMatchedAsBefore) {
  const Evaluator e = SeedEvaluator({}, {});
  auto d = e.Evaluate(Requester{"755083456", {}}, "vm/x", kMonday);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->allowed);
  EXPECT_EQ(d->server, "755083456");
  auto by_id = e.Evaluate("755083456", "vm/x", kMonday);
  ASSERT_TRUE(by_id.ok());
  EXPECT_TRUE(by_id->allowed);
  // With an address, the configured id is not used: the registry decides.
  const auto nfs = e.Evaluate(Requester{"755083456", "192.0.2.10"}, "vm/x", kMonday);
  ASSERT_TRUE(nfs.ok());
  EXPECT_FALSE(nfs->allowed);
}

TEST(ServerRegistryTest, SeveralIdsAtOneAddress) {
  const Evaluator e = SeedEvaluator(
      {"esx-2"},
      {{"esx-1", {"192.0.2.10"}}, {"755083456", {"192.0.2.10"}}, {"ESX-2", {"192.0.2.10"}}});
  const Decision d = Decide(e, "192.0.2.10");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.server, "755083456,ESX-2");  // the listed ones (ids compare case-insensitively)
}

TEST(ServerRegistryTest, CreateChecksEntries) {
  EXPECT_TRUE(ServerRegistry::Create({{"esx-1", {"192.0.2.1"}}}).ok());
  auto host = ServerRegistry::Create({{"esx-1", {"esx1.example.com"}}});
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.status().message(), "server esx-1: not an IP address: 'esx1.example.com'");
  EXPECT_FALSE(ServerRegistry::Create({{"esx-1", {"192.0.2.0/24"}}}).ok());
  EXPECT_FALSE(ServerRegistry::Create({{"", {"192.0.2.1"}}}).ok());
  EXPECT_FALSE(ServerRegistry::Create({{"a b", {"192.0.2.1"}}}).ok());
  EXPECT_FALSE(ServerRegistry::Create({{"a,b", {"192.0.2.1"}}}).ok());
  auto twice = ServerRegistry::Create({{"esx-1", {"192.0.2.1"}}, {"ESX-1", {"192.0.2.2"}}});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(), "server ESX-1 is registered twice");
}

TEST(ServerRegistryTest, ListedByKeepsOnlyTheVmSetsServers) {
  const std::vector<RegisteredServer> all = {
      {"755083456", {"192.0.2.10"}}, {"esx-9", {"192.0.2.99"}}, {"ESX-2", {"192.0.2.2"}}};
  EXPECT_EQ(
      ServersListedBy({"755083456", "esx-2"}, all),
      (std::vector<RegisteredServer>{{"755083456", {"192.0.2.10"}}, {"ESX-2", {"192.0.2.2"}}}));
  EXPECT_TRUE(ServersListedBy({"other"}, all).empty());
}

}  // namespace
}  // namespace cafs::policy
