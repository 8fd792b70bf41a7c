// TlsFixture: ApiFixture plus kpsd's REST listener (TlsServer) on a loopback port, a
// security-admin bundle, and clients: cpp-httplib (Call), raw TCP from any 127.0.0.0/8
// source address (ConnectFrom), raw TLS bytes (RawTls). The server runs on a thread of its
// own from SetUp (or StartServer) to TearDown (or StopServer).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "kps/file_util.h"
#include "kps/tls_server.h"
#include "unit/kps/api_fixture.h"

namespace cafs::kps::testing {

class TlsFixture : public ApiFixture {
 protected:
  void SetUp() override {
    // RawTls writes to connections kpsd has cut off (as kpsd, the test ignores SIGPIPE).
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_NO_FATAL_FAILURE(SetUpApi());
    auto bundle = api_->BootstrapSecurityAdmin("admin");
    ASSERT_TRUE(bundle.ok()) << bundle.status().ToString();
    admin_ = WriteBundle("admin", *bundle);
    ASSERT_NO_FATAL_FAILURE(StartServer(TlsServer::Options()));
  }

  void TearDown() override { StopServer(); }

  void StartServer(const TlsServer::Options& options) {
    auto server = TlsServer::Create(*api_, dir_.path(), options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto port = server_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    thread_ = std::thread([this] { (void)server_->Run(); });
  }

  void StopServer() {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  // A plain TCP connection to the listener from `source` (any 127.0.0.0/8 address).
  int ConnectFrom(const char* source) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), 0);
    return fd;
  }

  // True when kpsd closes `fd` (EOF or reset) within `seconds`. Bytes that arrive before
  // (TLS records: session tickets, a response) are read and dropped.
  static bool ClosedWithin(int fd, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
    }
  }

  // A TLS connection as the holder of `bundle` that sends raw bytes and reads raw bytes.
  class RawTls {
   public:
    RawTls(int fd, const std::string& bundle) : fd_(fd) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      SSL_CTX_use_certificate_chain_file(ctx_, bundle.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, bundle.c_str(), SSL_FILETYPE_PEM);
      ssl_ = SSL_new(ctx_);
      SSL_set_fd(ssl_, fd_);
      timeval tv{5, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      connected_ = SSL_connect(ssl_) == 1;
    }
    ~RawTls() {
      SSL_free(ssl_);
      SSL_CTX_free(ctx_);
      ::close(fd_);
    }
    bool connected() const { return connected_; }
    int fd() const { return fd_; }
    bool Send(const std::string& bytes) {
      return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) > 0;
    }
    // What arrives until kpsd stops sending for a second or closes.
    std::string Receive() {
      std::string out;
      char buf[4096];
      timeval tv{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      for (int r; (r = SSL_read(ssl_, buf, sizeof buf)) > 0;) out.append(buf, buf + r);
      return out;
    }

   private:
    int fd_;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    bool connected_ = false;
  };

  std::string WriteBundle(const std::string& name, const std::string& pem) {
    const std::string path = dir_.path() + "/" + name + ".pem";
    EXPECT_TRUE(WriteFileAtomic(path, pem, 0600, false).ok());
    return path;
  }

  // GET/POST as the holder of `bundle`; nullopt when no HTTP answer came (TLS refused).
  std::optional<std::pair<int, nlohmann::json>> Call(const std::string& bundle,
                                                     const std::string& method,
                                                     const std::string& path,
                                                     const std::string& body = "{}",
                                                     int read_timeout = 10) {
    httplib::SSLClient cli("127.0.0.1", port_, bundle, bundle);
    cli.set_ca_cert_path(CertificateAuthority::CaCertPath(dir_.path()).c_str());
    cli.enable_server_certificate_verification(true);
    cli.set_connection_timeout(5, 0);
    cli.set_read_timeout(read_timeout, 0);
    auto res =
        method == "GET" ? cli.Get(path.c_str()) : cli.Post(path.c_str(), body, "application/json");
    if (!res) return std::nullopt;
    return std::make_pair(res->status, nlohmann::json::parse(res->body, nullptr, false));
  }

  // An admin's request is answered (200) within 5 s: the listener serves others.
  void ExpectOthersServed() {
    auto r = Call(admin_, "GET", "/v1/vmsets", "{}", /*read_timeout=*/5);
    ASSERT_TRUE(r.has_value()) << "an admin's request got no answer within 5 s";
    EXPECT_EQ(r->first, 200);
  }

  std::vector<AuditRecord> Audit() {
    std::vector<AuditRecord> out;
    EXPECT_TRUE(store_
                    ->InTransaction([&](StoreTxn& txn) -> Status {
                      CAFS_ASSIGN_OR_RETURN(out, ListAuditRecords(txn, 0, 10000));
                      return Status::OK();
                    })
                    .ok());
    return out;
  }

  std::unique_ptr<TlsServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string admin_;
};

}  // namespace cafs::kps::testing
