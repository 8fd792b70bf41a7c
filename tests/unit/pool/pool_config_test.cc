// cafsd's [[pool]] tables (apps/cafsd/config.h, docs/pools.md "Configuration"): name and kind,
// the kind's keys as text, and errors that name the file, the line, the pool and the key.
#include <gtest/gtest.h>

#include "config.h"
#include "pool/pool_kinds.h"

namespace cafs::cafsd {
namespace {

constexpr const char* kBase = R"([gateway]
server_id = "s1"
backing_store = "/b"
mountpoint = "/m"
[local_keys]
dir = "/k"
[audit]
log = "/a.log"
)";

Result<Config> Parse(const std::string& pools) { return ParseConfig(kBase + pools, "t.toml"); }

TEST(PoolConfigTest, PosixIsTheDefaultKind) {
  auto c = Parse("[[pool]]\nname = \"p\"\npath = \"/p\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->pools.size(), 1u);
  EXPECT_EQ(c->pools[0].name, "p");
  EXPECT_EQ(c->pools[0].kind, "posix");
  EXPECT_EQ(c->pools[0].values, (std::map<std::string, std::string>{{"path", "/p"}}));
}

TEST(PoolConfigTest, ErrorsNameLineAndKey) {
  auto typo = Parse("[[pool]]\nname = \"p\"\npath = \"/p\"\npaht = \"/q\"\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("t.toml line 9"), std::string::npos)
      << typo.status().message();
  EXPECT_NE(typo.status().message().find("[[pool]] 'p' unknown key 'paht'"), std::string::npos)
      << typo.status().message();
  auto missing = Parse("[[pool]]\nname = \"p\"\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("path is required"), std::string::npos);
  auto kind = Parse("[[pool]]\nname = \"p\"\nkind = \"tape\"\n");
  ASSERT_FALSE(kind.ok());
  EXPECT_NE(kind.status().message().find("kind 'tape' is not built"), std::string::npos);
  auto array = Parse("[[pool]]\nname = \"p\"\npath = [\"/p\"]\n");
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.status().message().find("path must be a string, an integer or a boolean"),
            std::string::npos);
}

TEST(PoolConfigTest, RadosKeysReachTheKindAsText) {
  if (pool::BuiltinPoolKinds().Find("rados") == nullptr) GTEST_SKIP() << "rados kind not built";
  auto c = Parse(R"([[pool]]
name = "cold"
kind = "rados"
rados_pool = "cafs"
namespace = "gw1"
op_timeout_s = 20
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->pools[0].kind, "rados");
  EXPECT_EQ(c->pools[0].values.at("op_timeout_s"), "20");
  EXPECT_EQ(c->pools[0].values.at("namespace"), "gw1");
  auto bad = Parse(
      "[[pool]]\nname = \"cold\"\nkind = \"rados\"\nrados_pool = \"c\"\n"
      "op_timeout_s = -1\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("op_timeout_s must be an integer in [1, 3600]"),
            std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace cafs::cafsd
