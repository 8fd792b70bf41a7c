// NFS exports (src/frontend/nfs/exports.h): allow lists (exact, CIDR v4/v6, "*", host names),
// longest-prefix matching, path normalization and squashing.
#include <gtest/gtest.h>

#include "frontend/nfs/exports.h"

namespace cafs::frontend::nfs {
namespace {

ExportConfig Config(std::string path, std::vector<std::string> clients) {
  ExportConfig c;
  c.path = std::move(path);
  c.clients = std::move(clients);
  return c;
}

TEST(NfsExportsTest, ExactAndCidrV4) {
  auto exports = Exports::Create({Config("/", {"192.0.2.10", "198.51.100.0/24", "10.0.0.0/9"})});
  ASSERT_TRUE(exports.ok()) << exports.status().ToString();
  const Export& e = exports->all().front();
  EXPECT_TRUE(e.Admits("192.0.2.10"));
  EXPECT_FALSE(e.Admits("192.0.2.11"));
  EXPECT_TRUE(e.Admits("198.51.100.0"));
  EXPECT_TRUE(e.Admits("198.51.100.255"));
  EXPECT_FALSE(e.Admits("198.51.101.1"));
  EXPECT_TRUE(e.Admits("10.127.255.255"));
  EXPECT_FALSE(e.Admits("10.128.0.0"));
  // An IPv4-mapped IPv6 peer (a dual-stack listener) is the IPv4 client.
  EXPECT_TRUE(e.Admits("::ffff:192.0.2.10"));
  EXPECT_FALSE(e.Admits("not-an-address"));
  EXPECT_FALSE(e.Admits(""));
}

TEST(NfsExportsTest, CidrV6AndAny) {
  auto exports =
      Exports::Create({Config("/v6", {"2001:db8:1::/48", "::1"}), Config("/any", {"*"})});
  ASSERT_TRUE(exports.ok()) << exports.status().ToString();
  const Export* v6 = exports->Find("/v6");
  ASSERT_NE(v6, nullptr);
  EXPECT_TRUE(v6->Admits("2001:db8:1:ffff::1"));
  EXPECT_FALSE(v6->Admits("2001:db8:2::1"));
  EXPECT_TRUE(v6->Admits("::1"));
  EXPECT_FALSE(v6->Admits("127.0.0.1"));
  const Export* any = exports->Find("/any");
  ASSERT_NE(any, nullptr);
  EXPECT_TRUE(any->Admits("203.0.113.7"));
  EXPECT_TRUE(any->Admits("fe80::1"));
}

TEST(NfsExportsTest, HostNameResolvedAtLoad) {
  auto exports = Exports::Create({Config("/", {"localhost"})});
  ASSERT_TRUE(exports.ok()) << exports.status().ToString();
  EXPECT_TRUE(exports->all().front().Admits("127.0.0.1"));
  EXPECT_FALSE(exports->all().front().Admits("192.0.2.1"));

  auto bad = Exports::Create({Config("/", {"no-such-host.invalid"})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no-such-host.invalid"), std::string::npos);
}

TEST(NfsExportsTest, BadEntriesAreRejected) {
  for (const char* entry :
       {"192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2.0/x", "300.1.1.1/8", ""}) {
    auto exports = Exports::Create({Config("/", {entry})});
    EXPECT_FALSE(exports.ok()) << entry;
    EXPECT_TRUE(exports.status().IsInvalidArgument()) << entry;
  }
  EXPECT_FALSE(Exports::Create({Config("relative", {"*"})}).ok());
  EXPECT_FALSE(Exports::Create({Config("/a/../b", {"*"})}).ok());
  EXPECT_FALSE(Exports::Create({Config("/a", {"*"}), Config("/a/", {"*"})}).ok());
}

TEST(NfsExportsTest, PathNormalization) {
  EXPECT_EQ(*NormalizeExportPath("/"), "/");
  EXPECT_EQ(*NormalizeExportPath("//"), "/");
  EXPECT_EQ(*NormalizeExportPath("/my_vmset/"), "/my_vmset");
  EXPECT_EQ(*NormalizeExportPath("//my_vmset//a"), "/my_vmset/a");
  EXPECT_FALSE(NormalizeExportPath("").ok());
  EXPECT_FALSE(NormalizeExportPath("/./a").ok());
}

TEST(NfsExportsTest, MatchPicksLongestPrefixAdmittingTheClient) {
  auto exports = Exports::Create({Config("/", {"10.0.0.0/8"}), Config("/my_vmset", {"192.0.2.10"}),
                                  Config("/my_vmset/deep", {"10.1.1.1"})});
  ASSERT_TRUE(exports.ok());
  auto m = exports->Match("/my_vmset", "192.0.2.10");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->path(), "/my_vmset");
  m = exports->Match("/my_vmset/osdisk", "192.0.2.10");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->path(), "/my_vmset");
  // A component prefix, not a string prefix.
  m = exports->Match("/my_vmset2", "192.0.2.10");
  EXPECT_TRUE(m.status().IsPermissionDenied());
  // 10.x is not on /my_vmset's list but "/" admits it.
  m = exports->Match("/my_vmset", "10.2.3.4");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->path(), "/");
  m = exports->Match("/my_vmset/deep/x", "10.1.1.1");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->path(), "/my_vmset/deep");
  // Nobody admits 203.0.113.9: the denial names the client.
  m = exports->Match("/my_vmset", "203.0.113.9");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsPermissionDenied());
  EXPECT_NE(m.status().message().find("203.0.113.9"), std::string::npos);
}

TEST(NfsExportsTest, MatchUncoveredPathIsNotFound) {
  auto exports = Exports::Create({Config("/my_vmset", {"*"})});
  ASSERT_TRUE(exports.ok());
  auto m = exports->Match("/other", "192.0.2.1");
  EXPECT_TRUE(m.status().IsNotFound());
  EXPECT_FALSE(exports->Match("relative", "192.0.2.1").ok());
}

TEST(NfsExportsTest, Squash) {
  ExportConfig root = Config("/r", {"*"});
  root.anon_uid = 1000;
  root.anon_gid = 2000;
  ExportConfig none = Config("/n", {"*"});
  none.squash = Squash::kNoRootSquash;
  ExportConfig all = Config("/a", {"*"});
  all.squash = Squash::kAllSquash;
  auto exports = Exports::Create({root, none, all});
  ASSERT_TRUE(exports.ok());

  const Export* r = exports->Find("/r");
  EXPECT_EQ(r->Credentials(0, 0, {0, 5}), (AuthIdentity{1000, 2000, {2000, 5}}));
  EXPECT_EQ(r->Credentials(7, 8, {9}), (AuthIdentity{7, 8, {9}}));
  const Export* n = exports->Find("/n");
  EXPECT_EQ(n->Credentials(0, 0, {0}), (AuthIdentity{0, 0, {0}}));
  const Export* a = exports->Find("/a");
  EXPECT_EQ(a->Credentials(7, 8, {9}), (AuthIdentity{kNobodyId, kNobodyId, {}}));

  EXPECT_EQ(*ParseSquash("no_root_squash"), Squash::kNoRootSquash);
  EXPECT_EQ(SquashName(Squash::kAllSquash), "all_squash");
  EXPECT_FALSE(ParseSquash("squash").ok());
}

TEST(NfsExportsTest, IpAddressText) {
  EXPECT_EQ(IpAddress::Parse("::ffff:192.0.2.1")->ToString(), "192.0.2.1");
  EXPECT_EQ(IpAddress::Parse("2001:DB8::1")->ToString(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::Parse("192.0.2").ok());
}

}  // namespace
}  // namespace cafs::frontend::nfs
