// Portmapper v2 and MOUNT v3 (src/frontend/nfs/portmap.h, mount3.h) served by RpcServer over
// TCP, called through RpcClient and Debian's rpcinfo; rpcbind registration against the running
// rpcbind (skipped when none runs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

#include "frontend/nfs/mount3.h"
#include "frontend/nfs/portmap.h"
#include "frontend/nfs/rpc_client.h"
#include "frontend/nfs/rpc_server.h"
#include "nfs_rpc_test_util.h"

namespace cafs::frontend::nfs {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kFakeMountPort = 20048;
constexpr std::uint16_t kFakeNfsPort = 2049;

std::vector<PortMapping> Table() {
  return {{kPortmapProgram, kPortmapVersion, kIpProtoTcp, kPortmapPort},
          {kMountProgram, kMountVersion3, kIpProtoTcp, kFakeMountPort},
          {100003, 3, kIpProtoTcp, kFakeNfsPort}};
}

Bytes PathArgs(const std::string& path) {
  XdrEncoder e;
  e.String(path);
  return e.ToBytes();
}

Bytes MappingArgs(std::uint32_t prog, std::uint32_t vers, std::uint32_t prot) {
  XdrEncoder e;
  e.U32(prog);
  e.U32(vers);
  e.U32(prot);
  e.U32(0);
  return e.ToBytes();
}

// Runs a command and returns its exit status and stdout.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string out;
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return {-1, out};
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class MountPortmapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ExportConfig vmset;
    vmset.path = "/my_vmset";
    vmset.clients = {"127.0.0.0/8"};
    vmset.squash = Squash::kNoRootSquash;
    ExportConfig other;
    other.path = "/other";
    other.clients = {"192.0.2.10"};
    auto exports = Exports::Create({vmset, other});
    ASSERT_TRUE(exports.ok()) << exports.status().ToString();
    exports_ = std::make_unique<Exports>(std::move(*exports));
    portmap_ = std::make_unique<PortmapProgram>(Table());
    mount_ = std::make_unique<Mount3Program>(
        exports_.get(),
        [](std::string_view path) -> Result<Bytes> {
          if (path == "/my_vmset/disk.vmdk") return Status::FromErrno(ENOTDIR, "not a directory");
          if (path == "/my_vmset/gone") return Status::NotFound("gone");
          if (path == "/my_vmset/huge") return Bytes(65, 1);
          const std::string h = "H:" + std::string(path);
          return Bytes(h.begin(), h.end());
        },
        [](std::string_view client, std::string_view path) -> Result<bool> {
          EXPECT_EQ(client, "127.0.0.1");
          if (path == "/my_vmset/osdisk.img") return false;  // a regular file
          if (path == "/my_vmset/denied.img") return Status::PermissionDenied("policy");
          return true;
        });
    server_.AddProgram(portmap_.get());
    server_.AddProgram(mount_.get());
    auto port = server_.Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }
  void TearDown() override { server_.Stop(); }

  RpcClient Client() {
    auto c = RpcClient::ConnectTcp("127.0.0.1", port_, 10s);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(*c);
  }

  // MNT: returns (mountstat3, handle, flavors).
  std::tuple<std::uint32_t, Bytes, std::vector<std::uint32_t>> Mount(RpcClient& c,
                                                                     const std::string& path) {
    auto reply = c.Call(kMountProgram, kMountVersion3, 1, PathArgs(path));
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return {};
    XdrDecoder d(*reply);
    const std::uint32_t stat = d.U32();
    Bytes handle;
    std::vector<std::uint32_t> flavors;
    if (stat == 0) {
      handle = d.Opaque(64);
      flavors.resize(d.U32());
      for (auto& f : flavors) f = d.U32();
    }
    EXPECT_TRUE(d.ok());
    EXPECT_EQ(d.remaining(), 0u);
    return {stat, handle, flavors};
  }

  std::vector<MountEntry> Dump(RpcClient& c) {
    auto reply = c.Call(kMountProgram, kMountVersion3, 2, {});
    EXPECT_TRUE(reply.ok());
    std::vector<MountEntry> out;
    XdrDecoder d(*reply);
    while (d.Bool()) {
      MountEntry e;
      e.client = d.String(255);
      e.path = d.String(1024);
      out.push_back(e);
    }
    EXPECT_TRUE(d.ok());
    return out;
  }

  std::unique_ptr<Exports> exports_;
  std::unique_ptr<PortmapProgram> portmap_;
  std::unique_ptr<Mount3Program> mount_;
  RpcServer server_;
  std::uint16_t port_ = 0;
};

TEST_F(MountPortmapTest, PortmapGetPortDumpAndRefusedSet) {
  RpcClient c = Client();
  auto r = c.Call(kPortmapProgram, kPortmapVersion, 3, MappingArgs(kMountProgram, 3, 6));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(XdrDecoder(*r).U32(), kFakeMountPort);
  r = c.Call(kPortmapProgram, kPortmapVersion, 3, MappingArgs(100003, 3, 6));
  EXPECT_EQ(XdrDecoder(*r).U32(), kFakeNfsPort);
  r = c.Call(kPortmapProgram, kPortmapVersion, 3, MappingArgs(100003, 3, 17));  // no UDP
  EXPECT_EQ(XdrDecoder(*r).U32(), 0u);
  r = c.Call(kPortmapProgram, kPortmapVersion, 3, MappingArgs(100021, 4, 6));  // no NLM
  EXPECT_EQ(XdrDecoder(*r).U32(), 0u);

  r = c.Call(kPortmapProgram, kPortmapVersion, 4, {});
  ASSERT_TRUE(r.ok());
  std::vector<PortMapping> dumped;
  XdrDecoder d(*r);
  while (d.Bool()) {
    PortMapping m;
    m.program = d.U32();
    m.version = d.U32();
    m.protocol = d.U32();
    m.port = d.U32();
    dumped.push_back(m);
  }
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(dumped, Table());

  r = c.Call(kPortmapProgram, kPortmapVersion, 1, MappingArgs(400000, 1, 6));
  ASSERT_TRUE(r.ok());
  XdrDecoder set(*r);
  EXPECT_FALSE(set.Bool());
  EXPECT_TRUE(set.ok());
  // CALLIT is not offered; a garbage GETPORT is GARBAGE_ARGS.
  EXPECT_EQ(c.Call(kPortmapProgram, kPortmapVersion, 5, {}).status().code(),
            Status::Code::kNotSupported);
  EXPECT_TRUE(
      c.Call(kPortmapProgram, kPortmapVersion, 3, Bytes{0, 0, 0, 1}).status().IsInvalidArgument());
  // rpcbind v3/v4 clients get PROG_MISMATCH and fall back to v2.
  EXPECT_EQ(c.Call(kPortmapProgram, 4, 0, {}).status().code(), Status::Code::kNotSupported);
}

TEST_F(MountPortmapTest, PortmapAcceptsAuthNone) {
  testing::TestClient c(port_);
  auto r = c.Call(
      testing::CallMessage(1, kPortmapProgram, 2, 3, 0, {}, MappingArgs(kMountProgram, 3, 6)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reply_stat, 0u);
  EXPECT_EQ(r->stat, 0u);
  EXPECT_EQ(XdrDecoder(r->body).U32(), kFakeMountPort);
}

TEST_F(MountPortmapTest, MountUnmountDump) {
  RpcClient c = Client();
  auto [stat, handle, flavors] = Mount(c, "/my_vmset");
  EXPECT_EQ(stat, 0u);
  EXPECT_EQ(std::string(handle.begin(), handle.end()), "H:/my_vmset");
  EXPECT_EQ(flavors, (std::vector<std::uint32_t>{1}));
  // A subdirectory of an export, given with a trailing slash: normalized.
  auto [stat2, handle2, flavors2] = Mount(c, "/my_vmset/sub/");
  EXPECT_EQ(stat2, 0u);
  EXPECT_EQ(std::string(handle2.begin(), handle2.end()), "H:/my_vmset/sub");
  EXPECT_EQ(Dump(c),
            (std::vector<MountEntry>{{"127.0.0.1", "/my_vmset"}, {"127.0.0.1", "/my_vmset/sub"}}));
  EXPECT_EQ(mount_->mounts().size(), 2u);

  ASSERT_TRUE(c.Call(kMountProgram, kMountVersion3, 3, PathArgs("/my_vmset")).ok());
  EXPECT_EQ(Dump(c), (std::vector<MountEntry>{{"127.0.0.1", "/my_vmset/sub"}}));
  ASSERT_TRUE(c.Call(kMountProgram, kMountVersion3, 4, {}).ok());
  EXPECT_TRUE(Dump(c).empty());
}

TEST_F(MountPortmapTest, MountErrors) {
  RpcClient c = Client();
  EXPECT_EQ(std::get<0>(Mount(c, "/other")), 13u);               // MNT3ERR_ACCES: not our address
  EXPECT_EQ(std::get<0>(Mount(c, "/nothing")), 2u);              // MNT3ERR_NOENT: no export
  EXPECT_EQ(std::get<0>(Mount(c, "/my_vmset/gone")), 2u);        // NOENT from the handle source
  EXPECT_EQ(std::get<0>(Mount(c, "/my_vmset/disk.vmdk")), 20u);  // MNT3ERR_NOTDIR
  EXPECT_EQ(std::get<0>(Mount(c, "/my_vmset/../other")), 22u);   // MNT3ERR_INVAL
  EXPECT_EQ(std::get<0>(Mount(c, "relative")), 22u);
  EXPECT_EQ(std::get<0>(Mount(c, "/my_vmset/huge")), 10006u);  // handle over FHSIZE3
  EXPECT_TRUE(Dump(c).empty());
  // A path over MNTPATHLEN does not decode.
  EXPECT_TRUE(c.Call(kMountProgram, kMountVersion3, 1, PathArgs("/" + std::string(1024, 'a')))
                  .status()
                  .IsInvalidArgument());
  // MOUNT v1/v2 are not served.
  EXPECT_EQ(c.Call(kMountProgram, 1, 0, {}).status().code(), Status::Code::kNotSupported);
  EXPECT_EQ(c.Call(kMountProgram, kMountVersion3, 9, {}).status().code(),
            Status::Code::kNotSupported);
}

// RFC 1813: MNT of a path that is not a directory is MNT3ERR_NOTDIR, and nothing is mounted.
// When the type cannot be learned (a policy denial) the handle stands.
TEST_F(MountPortmapTest, MountOfAFileIsNotDir) {
  RpcClient c = Client();
  EXPECT_EQ(std::get<0>(Mount(c, "/my_vmset/osdisk.img")), 20u);  // MNT3ERR_NOTDIR
  EXPECT_TRUE(Dump(c).empty());
  auto [stat, handle, flavors] = Mount(c, "/my_vmset/denied.img");
  EXPECT_EQ(stat, 0u);
  EXPECT_EQ(std::string(handle.begin(), handle.end()), "H:/my_vmset/denied.img");
}

TEST_F(MountPortmapTest, Export) {
  RpcClient c = Client();
  auto r = c.Call(kMountProgram, kMountVersion3, 5, {});
  ASSERT_TRUE(r.ok());
  XdrDecoder d(*r);
  std::vector<std::pair<std::string, std::vector<std::string>>> list;
  while (d.Bool()) {
    std::string dir = d.String(1024);
    std::vector<std::string> groups;
    while (d.Bool()) groups.push_back(d.String(255));
    list.emplace_back(dir, groups);
  }
  EXPECT_TRUE(d.ok());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].first, "/my_vmset");
  EXPECT_EQ(list[0].second, (std::vector<std::string>{"127.0.0.0/8"}));
  EXPECT_EQ(list[1].first, "/other");
  EXPECT_EQ(list[1].second, (std::vector<std::string>{"192.0.2.10"}));
}

// Debian's rpcinfo (a client we did not write) calls NULL of each program on our port.
TEST_F(MountPortmapTest, RpcinfoPingsOurPrograms) {
  if (RunCommand("command -v rpcinfo").first != 0) GTEST_SKIP() << "rpcinfo not installed";
  // Universal address of 127.0.0.1:port_ (rpcinfo -a talks to it without asking rpcbind).
  const std::string uaddr =
      "127.0.0.1." + std::to_string(port_ >> 8) + "." + std::to_string(port_ & 0xff);
  auto [rc, out] = RunCommand("timeout 20 rpcinfo -T tcp -a " + uaddr + " 100005 3 2>&1");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ready and waiting"), std::string::npos) << out;
  std::tie(rc, out) = RunCommand("timeout 20 rpcinfo -T tcp -a " + uaddr + " 100000 2 2>&1");
  EXPECT_EQ(rc, 0) << out;
  // Version 1 of MOUNT is not served: rpcinfo reports the mismatch.
  std::tie(rc, out) = RunCommand("timeout 20 rpcinfo -T tcp -a " + uaddr + " 100005 1 2>&1");
  EXPECT_NE(rc, 0) << out;
}

// Registration with the rpcbind that runs on this machine (a unique program number, so other
// users of rpcbind are not disturbed).
TEST(RpcbindRegistrationTest, RegisterShowsInRpcinfoAndUnregisterRemoves) {
  if (::access("/run/rpcbind.sock", F_OK) != 0) GTEST_SKIP() << "no rpcbind running";
  if (RunCommand("command -v rpcinfo").first != 0) GTEST_SKIP() << "rpcinfo not installed";
  const std::uint32_t prog = 0x20000000u + static_cast<std::uint32_t>(::getpid() % 100000);
  const PortMapping m{prog, 3, kIpProtoTcp, 45678};
  {
    RpcbindRegistration reg;
    Status s = reg.Register({m});
    if (s.IsPermissionDenied() && ::geteuid() != 0) GTEST_SKIP() << s.ToString();
    // A stale socket file of an rpcbind that was stopped: nobody to register with.
    if (s.code() == Status::Code::kUnavailable) GTEST_SKIP() << s.ToString();
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto [rc, out] = RunCommand("timeout 20 rpcinfo -p 127.0.0.1 2>&1");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(std::to_string(prog)), std::string::npos) << out;
    EXPECT_NE(out.find("45678"), std::string::npos) << out;
    // Registering again (a restart with a stale entry) works.
    RpcbindRegistration again;
    EXPECT_TRUE(again.Register({m}).ok());
    again.Unregister();
    reg.Unregister();
  }
  auto [rc, out] = RunCommand("timeout 20 rpcinfo -p 127.0.0.1 2>&1");
  EXPECT_EQ(out.find(std::to_string(prog)), std::string::npos) << out;
}

TEST(RpcbindRegistrationTest, NoRpcbindIsUnavailable) {
  RpcbindRegistration reg;
  // A socket path that does not exist falls back to TCP 127.0.0.1:111; point both nowhere by
  // using a path that exists but is not a socket.
  Status s = reg.Register({{400001, 1, kIpProtoTcp, 1}}, "/dev/null");
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace cafs::frontend::nfs
