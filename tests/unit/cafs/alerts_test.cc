// Alerts to the VM set policy's destinations (issue 16 defects 2 and 3), with receivers the
// test starts on loopback and in its temporary directory (CI machines have no /dev/log):
//  - AlertSink delivers the RFC 5424 message to a UNIX datagram socket, UDP, TCP (octet
//    counting) and a file; a missing/down destination falls back (gateway log; the audit
//    record reaches kpsd), is warned once and retried after the retry interval;
//  - the gateway sends denials and capacity alerts to the VM set's <audit-dest>, naming the
//    VM set;
//  - the capacity alert on a small filesystem as the pool (a 1 MiB tmpfs mounted in a private
//    mount namespace of the test process, so it is gone on every exit path): crossing the
//    threshold up, down and up again gives exactly one record and one message per crossing,
//    however many writes happen in between.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "audit/audit_log.h"
#include "cafs/alert_sink.h"
#include "cafs/gateway.h"
#include "crypto/rng.h"
#include "policy/seed_examples.h"
#include "pool/posix_pool.h"
#include "unit/cafs/seed_gateway.h"
#include "util/bytes.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::kOsdiskKey;
using testing::kServer;
using testing::Weekday10am;

class TempRoot {
 public:
  TempRoot() {
    char tmpl[] = "/tmp/cafs-alerts-test-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempRoot() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A bound socket the test reads: UNIX datagram at a path, UDP or TCP on 127.0.0.1.
class Receiver {
 public:
  static Receiver Unix(const std::string& path) {
    Receiver r;
    r.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    EXPECT_EQ(::bind(r.fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path;
    return r;
  }
  static Receiver Inet(int type) {
    Receiver r;
    r.fd_ = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(r.fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(r.fd_, reinterpret_cast<sockaddr*>(&a), &len);
    r.port_ = ntohs(a.sin_port);
    if (type == SOCK_STREAM) {
      EXPECT_EQ(::listen(r.fd_, 4), 0);
    }
    r.stream_ = type == SOCK_STREAM;
    return r;
  }
  Receiver(Receiver&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        conn_(std::exchange(o.conn_, -1)),
        port_(o.port_),
        stream_(o.stream_) {}
  ~Receiver() {
    if (conn_ >= 0) ::close(conn_);
    if (fd_ >= 0) ::close(fd_);
  }
  unsigned port() const { return port_; }

  // The next message ("" when none arrives within 5 s; `wait` false: only one already there).
  std::string Next(bool wait = true) {
    int fd = fd_;
    if (stream_) {
      if (conn_ < 0) {
        if (!Ready(fd_, wait)) return "";
        conn_ = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      }
      fd = conn_;
      // RFC 6587 octet counting: "<len> <msg>".
      std::string len;
      char c = 0;
      while (Ready(fd, wait) && ::read(fd, &c, 1) == 1 && c != ' ') len += c;
      if (len.empty()) return "";
      std::string msg(std::stoul(len), '\0');
      std::size_t off = 0;
      while (off < msg.size() && Ready(fd, true)) {
        const ssize_t n = ::read(fd, msg.data() + off, msg.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      return msg.substr(0, off);
    }
    if (!Ready(fd, wait)) return "";
    std::string buf(65536, '\0');
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    return n > 0 ? buf.substr(0, static_cast<std::size_t>(n)) : "";
  }

 private:
  Receiver() = default;
  static bool Ready(int fd, bool wait) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, wait ? 5000 : 0) == 1;
  }
  int fd_ = -1;
  int conn_ = -1;
  unsigned port_ = 0;
  bool stream_ = false;
};

std::vector<std::string> Lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(AlertSinkTest, DeliversRfc5424ToEveryTransport) {
  TempRoot root;
  ManualClock clock(Weekday10am() + 123ms);
  AlertSink sink(&clock, AlertSinkOptions{.hostname = "gw1"});
  const std::string sock = (root.path() / "log.sock").string();
  Receiver unix_rx = Receiver::Unix(sock);
  Receiver udp_rx = Receiver::Inet(SOCK_DGRAM);
  Receiver tcp_rx = Receiver::Inet(SOCK_STREAM);
  const std::string file = (root.path() / "alerts.log").string();
  const std::vector<std::string> dests = {
      "syslog:unix:" + sock, "syslog:udp:127.0.0.1:" + std::to_string(udp_rx.port()),
      "syslog:tcp:127.0.0.1:" + std::to_string(tcp_rx.port()), file, "kps"};

  const Alert alert{AlertKind::kCapacity, "my \"vm\"set]",
                    "pool p is 81.0% full (threshold 80%)\nsecond line"};
  sink.Send(alert, dests);
  const std::string expected = "<108>1 2026-11-18T10:00:00.123Z gw1 cafsd " +
                               std::to_string(::getpid()) +
                               " capacity [cafs@32473 vmset=\"my \\\"vm\\\"set\\]\"] pool p is "
                               "81.0% full (threshold 80%)?second line";
  EXPECT_EQ(sink.Format(alert, clock.Now()), expected);
  EXPECT_EQ(unix_rx.Next(), expected);
  EXPECT_EQ(udp_rx.Next(), expected);
  EXPECT_EQ(tcp_rx.Next(), expected);
  EXPECT_EQ(Lines(file), std::vector<std::string>{expected});
  EXPECT_EQ(sink.fallbacks(), 0u);

  // Severity per kind: denial notice (13*8+5), data error (13*8+3); the TCP connection is
  // kept and reused.
  sink.Send({AlertKind::kDenial, "v", "denied"}, dests);
  sink.Send({AlertKind::kDataError, "v", "eio"}, dests);
  EXPECT_EQ(tcp_rx.Next().substr(0, 6), "<109>1");
  EXPECT_EQ(tcp_rx.Next().substr(0, 6), "<107>1");
  EXPECT_NE(unix_rx.Next().find(" denial [cafs@32473 vmset=\"v\"] denied"), std::string::npos);
  EXPECT_NE(unix_rx.Next().find(" data-error [cafs@32473 vmset=\"v\"] eio"), std::string::npos);
  EXPECT_EQ(Lines(file).size(), 3u);
}

TEST(AlertSinkTest, MissingOrDownDestinationFallsBackWarnsOnceAndRetries) {
  TempRoot root;
  ManualClock clock(Weekday10am());
  AlertSink sink(&clock, AlertSinkOptions{.retry_interval = 5s});
  const std::string sock = (root.path() / "later.sock").string();
  // A TCP port with nobody listening: bind one, note its port, close it.
  unsigned closed_port = 0;
  {
    Receiver gone = Receiver::Inet(SOCK_STREAM);
    closed_port = gone.port();
  }
  const std::string unix_dest = "syslog:unix:" + sock;
  const std::string tcp_dest = "syslog:tcp:127.0.0.1:" + std::to_string(closed_port);
  const std::string file_dest = (root.path() / "no-such-dir/alerts.log").string();
  const std::vector<std::string> dests = {unix_dest, tcp_dest, file_dest};

  sink.Send({AlertKind::kDenial, "v", "one"}, dests);
  EXPECT_TRUE(sink.IsDown(unix_dest));
  EXPECT_TRUE(sink.IsDown(tcp_dest));
  EXPECT_TRUE(sink.IsDown(file_dest));
  EXPECT_EQ(sink.fallbacks(), 3u);

  // The receiver appears; within the retry interval the destination is not tried again
  // (the message goes to the gateway's log), after it the next message is delivered.
  Receiver rx = Receiver::Unix(sock);
  clock.Advance(4s);
  sink.Send({AlertKind::kDenial, "v", "two"}, {unix_dest});
  EXPECT_EQ(rx.Next(/*wait=*/false), "");
  EXPECT_EQ(sink.fallbacks(), 4u);
  clock.Advance(2s);
  sink.Send({AlertKind::kDenial, "v", "three"}, {unix_dest});
  const std::string got = rx.Next();
  EXPECT_NE(got.find("[cafs@32473 vmset=\"v\"] three"), std::string::npos) << got;
  EXPECT_FALSE(sink.IsDown(unix_dest));
  EXPECT_EQ(sink.fallbacks(), 4u);
  // A destination that stays down is retried, and stays down.
  sink.Send({AlertKind::kDenial, "v", "four"}, {tcp_dest});
  EXPECT_TRUE(sink.IsDown(tcp_dest));
  EXPECT_EQ(sink.fallbacks(), 5u);
}

// The gateway on temporary directories, the seed's policy, and a VM set whose <audit-dest>
// names a UNIX datagram socket and a file of the test.
class GatewayAlertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(root_.path().empty());
    for (const char* d :
         {"backing", "pools/mirrored_pool_A", "pools/default_pool", "keys/my_vmset"})
      fs::create_directories(root_.path() / d);
    sock_ = (root_.path() / "log.sock").string();
    file_ = (root_.path() / "alerts.log").string();
  }

  // Starts the gateway; the VM set has `extra` elements added.
  void Start(const std::string& extra) {
    std::string xml = policy::seed_examples::kSeedVmSet;
    xml.replace(xml.find("</vmset>"), 8,
                "<audit-dest>syslog:unix:" + sock_ + "</audit-dest>\n<audit-dest>" + file_ +
                    "</audit-dest>\n" + extra + "</vmset>");
    Write(root_.path() / "keys/my_vmset/vmset.xml", xml);
    Write(root_.path() / "keys/my_vmset/policy.xml", policy::seed_examples::kSeedVobjList);
    Bytes key(64);
    ASSERT_TRUE(crypto::RandomBytes(key).ok());
    Write(root_.path() / "keys/my_vmset/keys", std::string(kOsdiskKey) + " 1 " + ToHex(key));
    for (const char* name : {"mirrored_pool_A", "default_pool"}) {
      ASSERT_TRUE(pools_
                      .Add(std::make_unique<pool::PosixPool>(
                          name, (root_.path() / "pools" / name).string(), env::Env::Default()))
                      .ok());
    }
    provider_ = std::make_unique<LocalKeyProvider>((root_.path() / "keys").string());
    cache_ = std::make_unique<PolicyCache>(provider_.get(), &clock_, PolicyCacheOptions{});
    auto volume = Volume::Open((root_.path() / "backing").string(), &pools_);
    ASSERT_TRUE(volume.ok()) << volume.status().ToString();
    volume_ = std::move(*volume);
    auto log = audit::AuditLog::Open((root_.path() / "audit.log").string(),
                                     audit::AuditLogOptions{.sync_every_record = false});
    ASSERT_TRUE(log.ok());
    audit_ = std::move(*log);
    gw_ = std::make_unique<Gateway>(cache_.get(), volume_.get(), audit_.get(), &clock_,
                                    GatewayOptions{.alerts = &sink_});
    ASSERT_TRUE(gw_->MakeDir(caller_, "/my_vmset", 0755).ok());
    ASSERT_TRUE(gw_->MakeDir(caller_, "/my_vmset/vm1", 0755).ok());
  }

  void TearDown() override {
    gw_.reset();
    audit_.reset();
    volume_.reset();
    cache_.reset();
  }

  static void Write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::trunc) << text;
  }

  std::vector<audit::AuditRecord> CapacityRecords() {
    std::vector<audit::AuditRecord> out;
    auto all = audit::ReadAuditLog((root_.path() / "audit.log").string());
    EXPECT_TRUE(all.ok());
    if (all.ok()) {
      for (const auto& r : *all)
        if (r.op == "capacity") out.push_back(r);
    }
    return out;
  }

  TempRoot root_;
  std::string sock_, file_;
  ManualClock clock_{Weekday10am()};
  AlertSink sink_{&clock_, AlertSinkOptions{.hostname = "gw1"}};
  Caller caller_{kServer, static_cast<std::uint32_t>(::getuid()),
                 static_cast<std::uint32_t>(::getgid())};
  pool::PoolMapper pools_;
  std::unique_ptr<LocalKeyProvider> provider_;
  std::unique_ptr<PolicyCache> cache_;
  std::unique_ptr<Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(GatewayAlertsTest, DenialGoesToTheVmSetsDestinationsNamingIt) {
  Receiver rx = Receiver::Unix(sock_);
  ASSERT_NO_FATAL_FAILURE(Start(""));
  Caller stranger{"10.2.45.68", 0, 0};
  EXPECT_EQ(gw_->GetAttr(stranger, "/my_vmset/vm1").status().errno_value(), EACCES);
  const std::string got = rx.Next();
  EXPECT_NE(got.find(" cafsd "), std::string::npos) << got;
  EXPECT_NE(got.find(" denial [cafs@32473 vmset=\"my_vmset\"] denied getattr of /my_vmset/vm1 to "
                     "10.2.45.68: server 10.2.45.68 is not a listed virtualization server of VM "
                     "set my_vmset"),
            std::string::npos)
      << got;
  ASSERT_EQ(Lines(file_).size(), 1u);
  EXPECT_EQ(Lines(file_)[0], got);
}

// Issue 16 defect 3, on a 1 MiB tmpfs as the pool mirrored_pool_A.
TEST_F(GatewayAlertsTest, CapacityAlertOncePerCrossingOnASmallFilesystem) {
  // A private mount namespace: the tmpfs vanishes with the process, whatever happens.
  if (::unshare(CLONE_NEWNS) != 0) {
    GTEST_SKIP() << "no mount namespace (needs CAP_SYS_ADMIN): " << std::strerror(errno);
  }
  ASSERT_EQ(::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  // mirrored_pool_A (the *osdisk* files) on 1 MiB; default_pool on 64 MiB, so that only
  // the small one crosses (the test's /tmp may be fuller than 50%).
  const std::string pool_dir = (root_.path() / "pools/mirrored_pool_A").string();
  const std::string default_dir = (root_.path() / "pools/default_pool").string();
  struct Unmount {
    std::vector<std::string> dirs;
    ~Unmount() {
      for (const auto& d : dirs) ::umount2(d.c_str(), MNT_DETACH);
    }
  } unmount;
  for (const auto& [dir, size] :
       {std::pair{pool_dir, "size=1m,mode=0700"}, std::pair{default_dir, "size=64m,mode=0700"}}) {
    if (::mount("cafs-test", dir.c_str(), "tmpfs", 0, size) != 0) {
      GTEST_SKIP() << "cannot mount tmpfs: " << std::strerror(errno);
    }
    unmount.dirs.push_back(dir);
  }

  Receiver rx = Receiver::Unix(sock_);
  ASSERT_NO_FATAL_FAILURE(Start("<capacity-threshold>50</capacity-threshold>\n"));
  ASSERT_TRUE(gw_->CheckCapacity().size() == 2u);  // below: nothing
  EXPECT_TRUE(CapacityRecords().empty());

  auto created = gw_->Create(caller_, "/my_vmset/vm1/osdisk1.vmdk", 0600, true);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const std::string chunk(64 * 1024, 'x');
  auto used = [&] {
    for (const auto& p : gw_->CheckCapacity())
      if (p.pool == "mirrored_pool_A") return p.space.UsedPercent();
    return -1.0;
  };
  // Up: write 64 KiB at a time, checking after every write, to about 75%.
  std::uint64_t off = 0;
  int writes_over = 0;
  while (writes_over < 4) {
    ASSERT_TRUE(gw_->Write(caller_, created->handle, off, AsBytes(chunk)).ok());
    ASSERT_TRUE(gw_->Fsync(caller_, created->handle).ok());
    off += chunk.size();
    ASSERT_LT(off, 1u << 20) << "the pool never crossed 50%";
    if (used() >= 50.0) ++writes_over;
  }
  ASSERT_TRUE(gw_->Release(caller_, created->handle).ok());
  auto records = CapacityRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].vmset, "my_vmset");
  EXPECT_EQ(records[0].file, "mirrored_pool_A");
  EXPECT_EQ(records[0].result, audit::Result::kAlert);
  EXPECT_NE(records[0].reason.find("pool mirrored_pool_A is "), std::string::npos);
  EXPECT_NE(records[0].reason.find("% full (threshold 50%)"), std::string::npos);
  std::string msg = rx.Next();
  EXPECT_NE(msg.find(" capacity [cafs@32473 vmset=\"my_vmset\"] " + records[0].reason),
            std::string::npos)
      << msg;
  EXPECT_EQ(rx.Next(/*wait=*/false), "");  // one message, not one per write

  // Down: shrink the file; checks after that give one "back below" each crossing only.
  SetAttrRequest shrink;
  shrink.size = 0;
  ASSERT_TRUE(gw_->SetAttr(caller_, "/my_vmset/vm1/osdisk1.vmdk", shrink).ok());
  EXPECT_LT(used(), 50.0);
  EXPECT_LT(used(), 50.0);
  records = CapacityRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_NE(records[1].reason.find("pool mirrored_pool_A is back below its threshold"),
            std::string::npos)
      << records[1].reason;
  msg = rx.Next();
  EXPECT_NE(msg.find("vmset=\"my_vmset\"] pool mirrored_pool_A is back below"), std::string::npos)
      << msg;

  // Up again: one more alert.
  auto again = gw_->Open(caller_, "/my_vmset/vm1/osdisk1.vmdk", true);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (std::uint64_t o = 0; o < 12 * chunk.size(); o += chunk.size()) {
    ASSERT_TRUE(gw_->Write(caller_, again->handle, o, AsBytes(chunk)).ok());
    ASSERT_TRUE(gw_->Fsync(caller_, again->handle).ok());
    (void)used();
  }
  ASSERT_TRUE(gw_->Release(caller_, again->handle).ok());
  EXPECT_GE(used(), 50.0);
  records = CapacityRecords();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_NE(records[2].reason.find("% full (threshold 50%)"), std::string::npos);
  EXPECT_NE(rx.Next().find("vmset=\"my_vmset\"] pool mirrored_pool_A is "), std::string::npos);
  EXPECT_EQ(rx.Next(/*wait=*/false), "");
  EXPECT_EQ(Lines(file_).size(), 3u);
}

}  // namespace
}  // namespace cafs::core
