// edif-agent: the EDIF security agent. It reaches its HBA port's transport driver only through
// block I/O on the port's mailbox disk (an NBD URI, or a raw device inside a VM), proves it is
// authorized, authenticates the peer agents with TLS 1.3 carried in AUTH_ELS frames, and
// installs the link SAs. docs/edif-agent.md.
//
// Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 start-up failure, 2 usage error.
#include <atomic>
#include <csignal>
#include <fstream>
#include <iterator>
#include <thread>

#include <CLI/CLI.hpp>

#include "edif/agent/agent.h"
#include "edif/agent/device_block_channel.h"
#include "edif/agent/nbd_block_channel.h"
#include "edif/agent/psk_identity.h"
#include "util/logging.h"

namespace {

using namespace cafs;
using namespace cafs::edif::agent;

std::atomic<bool> g_stop{false};
std::atomic<Agent*> g_agent{nullptr};

void OnSignal(int) {
  g_stop = true;
  if (Agent* a = g_agent.load()) a->RequestStop();  // atomic store + eventfd write
}

Result<SecureBuffer> ReadSecret(const std::string& path, std::size_t min_size, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, std::string("open ") + what + " " + path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!s.empty() && s.back() == '\n') s.pop_back();  // one trailing newline is not part of it
  SecureBuffer out(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  std::fill(s.begin(), s.end(), '\0');
  if (out.size() < min_size) {
    return Status::InvalidArgument(std::string(what) + " " + path + " must hold at least " +
                                   std::to_string(min_size) + " bytes");
  }
  return out;
}

Result<std::unique_ptr<BlockChannel>> OpenChannel(const std::string& mailbox,
                                                  const std::string& device, bool buffered) {
  const std::string& target = mailbox.empty() ? device : mailbox;
  if (target.rfind("nbd", 0) == 0) {
    CAFS_ASSIGN_OR_RETURN(auto ch, NbdBlockChannel::Connect(target));
    return std::unique_ptr<BlockChannel>(std::move(ch));
  }
  CAFS_ASSIGN_OR_RETURN(auto ch, DeviceBlockChannel::Open(target, {8, buffered}));
  if (!ch->direct()) CAFS_LOG_WARN("{}: O_DIRECT refused, using buffered I/O", target);
  return std::unique_ptr<BlockChannel>(std::move(ch));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "edif-agent: EDIF security agent. Talks to its HBA port's transport driver only through "
      "the port's mailbox disk; authenticates peer agents with TLS 1.3 (mutual X.509 or "
      "external PSK) inside AUTH_ELS frames and installs the link keys."};
  std::string mailbox, device, secret_file, ca, cert, key, psk_file, role = "initiator";
  std::string log_level = "info", app_id = "cafs-edif-agent";
  unsigned handshake_ms = 10'000, reads = 4;
  bool buffered = false, once = false;
  auto* src = app.add_option("--mailbox", mailbox,
                             "mailbox disk as an NBD URI, e.g. nbd+unix:///mailbox?socket=PATH");
  app.add_option("--device", device,
                 "mailbox disk as a block device or file (O_DIRECT), e.g. /dev/vdb; an nbd URI "
                 "is accepted too")
      ->excludes(src);
  app.add_option("--secret-file", secret_file, "APP_START secret shared with the driver")
      ->required();
  app.add_option("--ca", ca, "CA certificate (PEM) that issued the peer agents' certificates");
  app.add_option("--cert", cert, "this agent's certificate (PEM)");
  app.add_option("--key", key, "this agent's private key (PEM)");
  app.add_option("--psk-file", psk_file,
                 "external PSK secret (>= 32 bytes) instead of certificates");
  app.add_option("--role", role, "initiator (host side, TLS client) or target (TLS server)")
      ->check(CLI::IsMember({"initiator", "target"}));
  app.add_option("--app-id", app_id, "application id sent in APP_START");
  app.add_option("--handshake-timeout-ms", handshake_ms, "per-target handshake timeout");
  app.add_option("--reads", reads, "mailbox READs kept posted")->check(CLI::Range(1u, 32u));
  app.add_flag("--allow-buffered", buffered, "fall back to buffered I/O if O_DIRECT is refused");
  app.add_flag("--once", once, "exit when the mailbox disk goes away instead of reconnecting");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  logging::Level level;
  if (!logging::ParseLevel(log_level, &level)) {
    std::fprintf(stderr, "edif-agent: bad --log-level %s\n", log_level.c_str());
    return 2;
  }
  logging::Init("edif-agent", level);
  if (mailbox.empty() && device.empty()) {
    std::fprintf(stderr, "edif-agent: one of --mailbox or --device is required\n");
    return 2;
  }

  AgentConfig config;
  config.role = role == "target" ? TlsRole::kServer : TlsRole::kClient;
  config.app_id = app_id;
  config.posted_reads = reads;
  config.handshake_timeout = std::chrono::milliseconds(handshake_ms);
  auto secret = ReadSecret(secret_file, 16, "secret file");
  if (!secret.ok()) {
    CAFS_LOG_ERROR("{}", secret.status().ToString());
    return 1;
  }
  config.secret = std::move(secret).value();
  if (!psk_file.empty()) {
    auto psk = ReadSecret(psk_file, kMinPskSecret, "PSK file");
    if (!psk.ok()) {
      CAFS_LOG_ERROR("{}", psk.status().ToString());
      return 1;
    }
    config.credentials.psk_secret = std::move(psk).value();
  } else {
    if (ca.empty() || cert.empty() || key.empty()) {
      std::fprintf(stderr, "edif-agent: --ca, --cert and --key are required without --psk-file\n");
      return 2;
    }
    config.credentials.ca_file = ca;
    config.credentials.cert_file = cert;
    config.credentials.key_file = key;
  }

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  bool first = true;
  while (!g_stop) {
    auto channel = OpenChannel(mailbox, device, buffered);
    if (!channel.ok()) {
      if (first && !channel.status().retryable()) {
        CAFS_LOG_ERROR("cannot open the mailbox disk: {}", channel.status().ToString());
        return 1;
      }
      CAFS_LOG_WARN("mailbox disk not reachable ({}); retrying", channel.status().ToString());
      if (once) return 1;
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    auto agent = Agent::Create(config.Clone(), **channel, SystemClock::Instance());
    if (!agent.ok()) {
      CAFS_LOG_ERROR("{}", agent.status().ToString());
      return 1;
    }
    first = false;
    CAFS_LOG_INFO("mailbox disk open ({} bytes), role {}, {}", (*channel)->Size(), role,
                  config.credentials.psk_secret.empty() ? "X.509" : "external PSK");
    g_agent = agent->get();
    if (g_stop) (*agent)->RequestStop();
    Status st = (*agent)->Run();
    g_agent = nullptr;
    if (st.ok()) break;  // stopped by a signal
    CAFS_LOG_WARN("mailbox disk lost: {}", st.ToString());
    if (once) return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  CAFS_LOG_INFO("edif-agent: stopped");
  return 0;
}
