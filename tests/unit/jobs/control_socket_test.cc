// The control socket under hostile clients (issue 20: every listener is attacked), over a real
// ControlServer, ControlService and JobManager (a temp backing store):
//  - a client that sends nothing, or a byte at a time, holds neither the server nor the
//    others: a normal call is answered meanwhile, and the slow client is dropped at its
//    whole-request deadline (not per read);
//  - an idle flood beyond the connection cap: the oldest idle connections are dropped, a
//    normal call is answered;
//  - a line over 64 KiB, text that is not JSON, not UTF-8, or nested too deep: an error reply
//    (invalid argument) on the same connection, and the server goes on;
//  - a peer of another uid (root only: the socket chmod'ed open) is refused by SO_PEERCRED.
#include "jobs/control_socket.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "env/env.h"
#include "jobs/job_manager.h"
#include "util/clock.h"
#include "util/unique_fd.h"

namespace cafs::jobs {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cafs-control-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto log = audit::AuditLog::Open((root_ / "audit.log").string(), {});
    ASSERT_TRUE(log.ok());
    audit_ = std::move(*log);
    auto m = JobManager::Open(env::Env::Default(), root_.string(),
                              JobAuditor(audit_.get(), &SystemClock::Instance(), 1), {});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    service_ = std::make_unique<ControlService>(manager_.get());
    sock_ = (root_ / kControlSocketName).string();
  }
  void TearDown() override {
    server_.reset();
    service_.reset();
    manager_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void StartServer(ControlServerOptions options = {}) {
    auto s = ControlServer::Start(sock_, service_.get(), options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }

  // A raw client connection.
  UniqueFd Connect() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, sock_.c_str(), sizeof(sa.sun_path) - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)), 0)
        << std::strerror(errno);
    return fd;
  }

  // Everything the server sends until it closes (or 10 s pass: a failure).
  static std::string ReadToClose(int fd) {
    std::string out;
    char buf[4096];
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ADD_FAILURE() << "the server did not close the connection";
    return out;
  }

  static void Send(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // A normal `list` call is answered.
  void ExpectServed() {
    auto r = ControlCall(sock_, {{"op", "list"}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)["ok"], true) << r->dump();
  }

  // The reply to one raw line.
  json Ask(std::string_view line) {
    UniqueFd fd = Connect();
    Send(fd.get(), line);
    const std::string reply = ReadToClose(fd.get());
    auto parsed = json::parse(reply, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << reply;
    return parsed;
  }

  fs::path root_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<ControlServer> server_;
  std::string sock_;
};

TEST_F(ControlSocketTest, SocketIsOwnerOnly) {
  StartServer();
  struct stat st {};
  ASSERT_EQ(::lstat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ControlSocketTest, SlowAndIdleClientsHoldNobody) {
  StartServer({.request_timeout = 1000ms});
  UniqueFd idle = Connect();
  UniqueFd slow = Connect();
  Send(slow.get(), "{\"op\":");
  ExpectServed();  // while both are connected
  // A byte every 100 ms: more than the 1 s deadline for the whole line, though every wait
  // between two bytes is short. The server drops it before the line is complete.
  const std::string rest = "\"list\"                                           }\n";
  bool dropped = false;
  for (char ch : rest) {
    if (::send(slow.get(), &ch, 1, MSG_NOSIGNAL) != 1) {
      dropped = true;
      break;
    }
    pollfd p{slow.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char c;
      if (::recv(slow.get(), &c, 1, MSG_DONTWAIT) == 0) {
        dropped = true;
        break;
      }
    }
  }
  EXPECT_TRUE(dropped) << "a byte-a-while client was not dropped at its request deadline";
  EXPECT_EQ(ReadToClose(idle.get()), "");  // the idle one is gone too, without a reply
  ExpectServed();
}

TEST_F(ControlSocketTest, IdleFloodBeyondTheCapDropsTheOldest) {
  StartServer({.max_connections = 8});
  std::vector<UniqueFd> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(Connect());
  ExpectServed();
  // The earliest of the flood were dropped to make room.
  EXPECT_EQ(ReadToClose(flood.front().get()), "");
  ExpectServed();
}

TEST_F(ControlSocketTest, BadLinesGetErrorReplies) {
  StartServer();
  const std::string too_long(kMaxControlRequest + 10, 'a');
  EXPECT_EQ(Ask(too_long)["code"], "invalid argument");
  EXPECT_EQ(Ask("{not json\n")["code"], "invalid argument");
  EXPECT_EQ(Ask("{\"op\":\"get\",\"id\":\"\xff\xfe\"}\n")["code"], "invalid argument");
  EXPECT_EQ(Ask(std::string(10000, '[') + "\n")["code"], "invalid argument");
  EXPECT_EQ(Ask("[]\n")["code"], "invalid argument");
  EXPECT_EQ(Ask("{\"op\":7}\n")["code"], "invalid argument");
  EXPECT_EQ(Ask("{\"op\":\"start\",\"spec\":{\"parallel\":-1}}\n")["code"], "invalid argument");
  EXPECT_EQ(Ask("{\"op\":\"start\",\"spec\":{\"kind\":\"nope\",\"target\":{}}}\n")["ok"], false);
  EXPECT_EQ(Ask("{\"op\":\"get\",\"id\":\"nope\"}\n")["errno"], ENOENT);
  // A request without its '\n' is taken when the client half-closes.
  UniqueFd fd = Connect();
  Send(fd.get(), "{\"op\":\"list\"}");
  ::shutdown(fd.get(), SHUT_WR);
  EXPECT_EQ(json::parse(ReadToClose(fd.get()))["ok"], true);
  ExpectServed();
}

TEST_F(ControlSocketTest, OtherUidIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  StartServer();
  ASSERT_EQ(::chmod(sock_.c_str(), 0666), 0);  // the mode no longer keeps others out
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the child: nobody
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    auto r = ControlCall(sock_, {{"op", "list"}});
    const std::string out = r.ok() ? r->dump() : "transport: " + r.status().ToString();
    (void)!::write(pipefd[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof(buf))) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto reply = json::parse(out, nullptr, false);
  ASSERT_FALSE(reply.is_discarded()) << out;
  EXPECT_EQ(reply["code"], "permission denied") << out;
  EXPECT_NE(reply["error"].get<std::string>().find("uid 65534"), std::string::npos) << out;
  ExpectServed();
}

}  // namespace
}  // namespace cafs::jobs
