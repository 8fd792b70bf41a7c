// cafsd's [nfs] configuration (apps/cafsd/config.h): defaults, exports, and errors that name
// the line and the key.
#include <gtest/gtest.h>

#include "config.h"

namespace cafs::cafsd {
namespace {

constexpr const char* kBase = R"([gateway]
server_id = "s1"
backing_store = "/b"
[local_keys]
dir = "/k"
[[pool]]
name = "p"
path = "/p"
[audit]
log = "/a.log"
)";

// The server registry [nfs] needs with [local_keys] (docs/nfs.md "Server identity"), after
// `extra` so the line numbers of errors in `extra` stay those of kBase + extra.
constexpr const char* kServer = R"(
[[server]]
id = "s1"
addresses = ["192.0.2.1"]
)";

Result<Config> Parse(const std::string& extra) {
  return ParseConfig(kBase + extra + kServer, "t.toml");
}

TEST(NfsConfigTest, DefaultsAndNfsOnly) {
  auto c = Parse(R"([nfs]
[[nfs.export]]
path = "/my_vmset"
clients = ["192.0.2.0/24", "esx1.example"]
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->mountpoint.empty());
  EXPECT_TRUE(c->nfs.enabled);
  EXPECT_EQ(c->nfs.listen, "0.0.0.0");
  EXPECT_EQ(c->nfs.port, 2049);
  EXPECT_EQ(c->nfs.mount_port, 20048);
  EXPECT_EQ(c->nfs.portmap_port, 0);
  EXPECT_FALSE(c->nfs.register_rpcbind);
  ASSERT_EQ(c->nfs.exports.size(), 1u);
  const auto& e = c->nfs.exports[0];
  EXPECT_EQ(e.path, "/my_vmset");
  EXPECT_EQ(e.clients, (std::vector<std::string>{"192.0.2.0/24", "esx1.example"}));
  EXPECT_FALSE(e.read_only);
  EXPECT_EQ(e.squash, frontend::nfs::Squash::kRootSquash);
}

TEST(NfsConfigTest, AllKeys) {
  auto c = Parse(R"([nfs]
listen = "::"
port = 3049
mount_port = 30048
portmap_port = 111
register_rpcbind = true
compute_threads = 3
worker_threads = 4
idle_timeout_s = 60
[[nfs.export]]
path = "/"
clients = ["*"]
access = "ro"
squash = "all_squash"
anon_uid = 1000
anon_gid = 1001
[[nfs.export]]
path = "/my_vmset"
clients = ["10.0.0.1"]
squash = "no_root_squash"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->nfs.listen, "::");
  EXPECT_EQ(c->nfs.port, 3049);
  EXPECT_EQ(c->nfs.mount_port, 30048);
  EXPECT_EQ(c->nfs.portmap_port, 111);
  EXPECT_TRUE(c->nfs.register_rpcbind);
  EXPECT_EQ(c->nfs.compute_threads, 3u);
  EXPECT_EQ(c->nfs.worker_threads, 4u);
  EXPECT_EQ(c->nfs.idle_timeout_s, 60);
  ASSERT_EQ(c->nfs.exports.size(), 2u);
  EXPECT_TRUE(c->nfs.exports[0].read_only);
  EXPECT_EQ(c->nfs.exports[0].squash, frontend::nfs::Squash::kAllSquash);
  EXPECT_EQ(c->nfs.exports[0].anon_uid, 1000u);
  EXPECT_EQ(c->nfs.exports[0].anon_gid, 1001u);
  EXPECT_EQ(c->nfs.exports[1].squash, frontend::nfs::Squash::kNoRootSquash);
}

TEST(NfsConfigTest, NoFrontEndIsAnError) {
  auto c = Parse("");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("mountpoint is required"), std::string::npos);
  c = Parse("[nfs]\nenabled = false\n");
  EXPECT_FALSE(c.ok());
}

void ExpectError(const std::string& extra, const std::string& want) {
  auto c = Parse(extra);
  ASSERT_FALSE(c.ok()) << extra;
  EXPECT_NE(c.status().message().find(want), std::string::npos) << c.status().message();
}

TEST(NfsConfigTest, ErrorsNameLineAndKey) {
  const std::string exp = "[[nfs.export]]\npath = \"/\"\nclients = [\"*\"]\n";
  ExpectError("[nfs]\nport = 70000\n" + exp, "line 12: [nfs] port must be <= 65535");
  ExpectError("[nfs]\nmount_port = 0\n" + exp, "line 12: [nfs] mount_port must be an integer");
  ExpectError("[nfs]\nprot = 1\n" + exp, "line 12: unknown key 'prot' in [nfs]");
  ExpectError("[nfs]\nport = 5\nmount_port = 5\n" + exp, "must differ");
  ExpectError("[nfs]\n", "at least one [[nfs.export]]");
  ExpectError("[nfs]\n[[nfs.export]]\npath = \"/\"\n", "clients must be a non-empty array");
  ExpectError("[nfs]\n[[nfs.export]]\npath = \"/\"\nclients = [\"*\"]\nsquash = \"yes\"\n",
              "line 15: [nfs.export] squash must be");
  ExpectError("[nfs]\n[[nfs.export]]\npath = \"/\"\nclients = [\"*\"]\naccess = \"rx\"\n",
              "line 15: [nfs.export] access must be");
  ExpectError("[nfs]\n[[nfs.export]]\npath = \"/\"\nclients = [1]\n",
              "line 14: [nfs.export] clients must hold non-empty strings");
}

constexpr const char* kExport = R"([nfs]
[[nfs.export]]
path = "/"
clients = ["*"]
)";

// Issue 16 defect 5: NFS clients are identified by the registry; without one, NFS with local
// keys admits no one, so the configuration is refused, naming the table to add.
TEST(NfsConfigTest, NfsWithLocalKeysNeedsTheServerRegistry) {
  auto c = ParseConfig(std::string(kBase) + kExport, "t.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("[nfs] with [local_keys] needs the server registry"),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find(
                "[[server]] id = \"<its <vmserv> id>\" addresses = [\"<its NFS client address>\"]"),
            std::string::npos)
      << c.status().message();
}

TEST(NfsConfigTest, ServerTables) {
  auto c = ParseConfig(std::string(kBase) + kExport + R"(
[[server]]
id = "755083456"
addresses = ["192.0.2.10", "2001:db8::10"]
[[server]]
id = "esx-2"
addresses = ["::ffff:192.0.2.11"]
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->servers,
            (std::vector<policy::RegisteredServer>{{"755083456", {"192.0.2.10", "2001:db8::10"}},
                                                   {"esx-2", {"::ffff:192.0.2.11"}}}));
  auto error = [&](const std::string& tables, const std::string& want) {
    auto bad = ParseConfig(std::string(kBase) + kExport + tables, "t.toml");
    ASSERT_FALSE(bad.ok()) << tables;
    EXPECT_NE(bad.status().message().find(want), std::string::npos) << bad.status().message();
  };
  error("[[server]]\nid = \"e\"\naddresses = [\"esx1.example.com\"]\n",
        "[[server]] server e: not an IP address: 'esx1.example.com'");
  error("[[server]]\nid = \"e\"\naddresses = [\"192.0.2.0/24\"]\n", "not an IP address");
  error("[[server]]\nid = \"e\"\n", "[[server]] addresses must be a non-empty array");
  error("[[server]]\naddresses = [\"192.0.2.1\"]\n", "[server] id is required");
  error("[[server]]\nid = \"e\"\naddresses = [\"192.0.2.1\"]\nname = \"x\"\n",
        "unknown key 'name' in [server]");
  error(
      "[[server]]\nid = \"e\"\naddresses = [\"192.0.2.1\"]\n[[server]]\nid = \"E\"\n"
      "addresses = [\"192.0.2.2\"]\n",
      "server E is registered twice");
  // With kpsd the registry is kpsd's: the tables are refused, not ignored.
  auto kps = ParseConfig(R"([gateway]
server_id = "s1"
backing_store = "/b"
mountpoint = "/m"
[kps]
url = "https://127.0.0.1:1"
cert = "/c.pem"
[[pool]]
name = "p"
path = "/p"
[audit]
log = "/a.log"
[[server]]
id = "e"
addresses = ["192.0.2.1"]
)",
                         "t.toml");
  ASSERT_FALSE(kps.ok());
  EXPECT_NE(kps.status().message().find("with [kps] the server registry is kpsd's"),
            std::string::npos)
      << kps.status().message();
}

}  // namespace
}  // namespace cafs::cafsd
