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

// Issue 16: `guid` maps a pool to kpsd's record (docs/gateway.md "Pool identity"): a GUID,
// [kps] only, one pool per GUID; every error names the line, the pool and the key.
TEST(PoolConfigTest, GuidIsKpsdsRecordCheckedAndNamedInErrors) {
  const std::string kps = R"([gateway]
server_id = "s1"
backing_store = "/b"
mountpoint = "/m"
[kps]
url = "https://127.0.0.1:8443"
cert = "/g.pem"
[audit]
log = "/a.log"
)";
  const char* kGuid = "3f2b6c1e-5d4a-4b7e-9c0d-1a2b3c4d5e6f";
  auto c = ParseConfig(kps + "[[pool]]\nname = \"p\"\nguid = \"" + kGuid +
                           "\"\npath = \"/p\"\n[[pool]]\nname = \"q\"\npath = \"/q\"\n",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->pools.size(), 2u);
  ASSERT_TRUE(c->pools[0].guid.has_value());
  EXPECT_EQ(c->pools[0].guid->ToString(), kGuid);
  EXPECT_EQ(c->pools[0].values.count("guid"), 0u) << "not a key of the kind";
  EXPECT_FALSE(c->pools[1].guid.has_value());
  for (const char* bad : {"\"not-a-guid\"", "42", "\"00000000-0000-0000-0000-000000000000\""}) {
    auto r =
        ParseConfig(kps + "[[pool]]\nname = \"p\"\npath = \"/p\"\nguid = " + bad + "\n", "t.toml");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("t.toml line 13: [[pool]] 'p' guid must be the GUID"),
              std::string::npos)
        << r.status().message();
  }
  auto twice =
      ParseConfig(kps + "[[pool]]\nname = \"p\"\npath = \"/p\"\nguid = \"" + kGuid +
                      "\"\n[[pool]]\nname = \"q\"\npath = \"/q\"\nguid = \"" + kGuid + "\"\n",
                  "t.toml");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("line 17: [[pool]] 'q' guid is also the guid of "
                                          "[[pool]] 'p'"),
            std::string::npos)
      << twice.status().message();
  // With local keys there is no record to map to: refused, not ignored.
  auto local =
      Parse(std::string("[[pool]]\nname = \"p\"\npath = \"/p\"\nguid = \"") + kGuid + "\"\n");
  ASSERT_FALSE(local.ok());
  EXPECT_NE(local.status().message().find("t.toml line 12: [[pool]] 'p' guid maps the pool to "
                                          "kpsd's pool record: only with [kps]"),
            std::string::npos)
      << local.status().message();
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
