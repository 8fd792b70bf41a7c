#include "policy/vglob.h"

#include <gtest/gtest.h>

namespace cafs::policy {
namespace {

bool M(std::string_view pattern, std::string_view path) {
  auto g = Vglob::Parse(pattern);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() && g->Matches(path);
}

// The seed: "*osdisk*" against files of VM set /nfs/my_vmset (matched on the path inside it).
TEST(VglobTest, SeedOsdiskExamples) {
  for (const char* p : {"windows_xp/osdisk1.vmdk", "windows_xp/osdisk2.vmdk",
                        "rh_linux/linux_osdisk.vmdk", "rh_linux/root_osdisk.vmdk"}) {
    EXPECT_TRUE(M("*osdisk*", p)) << p;
  }
  for (const char* p : {"windows_xp/data.vmdk", "windows_xp/windows_xp.vmx", "rh_linux/swap.vmdk",
                        "osdis/k.vmdk", ""}) {
    EXPECT_FALSE(M("*osdisk*", p)) << p;
  }
}

TEST(VglobTest, StarCrossesSlashAndQuestionMark) {
  EXPECT_TRUE(M("windows_xp/*", "windows_xp/a/b/c.vmdk"));
  EXPECT_TRUE(M("*.vmdk", "vm/disk.vmdk"));
  EXPECT_FALSE(M("*.vmdk", "vm/disk.vmdk.bak"));
  EXPECT_TRUE(M("vm?/x", "vm1/x"));
  EXPECT_TRUE(M("vm?x", "vm/x"));
  EXPECT_FALSE(M("vm?/x", "vm12/x"));
  EXPECT_TRUE(M("*", ""));
  EXPECT_TRUE(M("a**b", "ab"));
  EXPECT_FALSE(M("abc", "abcd"));
  EXPECT_FALSE(M("abc", "ab"));
  EXPECT_TRUE(M("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaab"));
  EXPECT_FALSE(M("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(VglobTest, BracketSetsAndEscapes) {
  EXPECT_TRUE(M("disk[0-9].vmdk", "disk7.vmdk"));
  EXPECT_FALSE(M("disk[0-9].vmdk", "diskx.vmdk"));
  EXPECT_TRUE(M("disk[!0-9].vmdk", "diskx.vmdk"));
  EXPECT_FALSE(M("disk[^0-9].vmdk", "disk1.vmdk"));
  EXPECT_TRUE(M("[]]", "]"));
  EXPECT_TRUE(M("[a-]", "-"));
  EXPECT_TRUE(M("\\*", "*"));
  EXPECT_FALSE(M("\\*", "x"));
  EXPECT_TRUE(M("[\\]]", "]"));
}

TEST(VglobTest, HcDefaultMatchesEverything) {
  auto g = Vglob::Parse("hc_default");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->IsCatchAll());
  EXPECT_TRUE(g->Matches(""));
  EXPECT_TRUE(g->Matches("any/thing.vmdk"));
  EXPECT_TRUE(Vglob().IsCatchAll());
}

TEST(VglobTest, MalformedPatternsAreErrors) {
  for (const char* p : {"", "disk[0-9", "[", "abc\\", "[z-a]"}) {
    auto g = Vglob::Parse(p);
    EXPECT_FALSE(g.ok()) << p;
    if (!g.ok()) {
      EXPECT_TRUE(g.status().IsInvalidArgument());
    }
  }
  EXPECT_NE(Vglob::Parse("disk[0-9").status().message().find("closing ']'"), std::string::npos);
}

}  // namespace
}  // namespace cafs::policy
