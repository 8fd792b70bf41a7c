// kpsd: the CAFS key & policy server.
//   kpsd init  --data-dir DIR [--passphrase-file F] [--admin NAME] [--server-name N]...
//   kpsd serve --data-dir DIR [--listen 127.0.0.1:PORT] [--passphrase-file F] [--store SPEC]
//              [--max-connections N] [--max-connections-per-address N]
//              [--handshake-timeout S] [--request-timeout S] [--idle-timeout S]
//              [--kmip-listen HOST[:PORT]] [--kmip-vmset NAME] [--kmip-max-connections N]
//              [--kmip-max-connections-per-address N]
//   kpsd rotate-master --data-dir DIR [--passphrase-file F] [--new-passphrase-file F2]
//              [--store SPEC]      (offline: stop every kpsd serving this store first)
// Exit codes: 0 ok, 1 failure (says why), 2 usage error.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>

#include "kps/ca.h"
#include "kps/file_util.h"
#include "kps/keyring.h"
#include "kps/kmip_server.h"
#include "kps/master_key.h"
#include "kps/pool_registry.h"
#include "kps/rekey_triggers.h"
#include "kps/rest_api.h"
#include "kps/tls_server.h"
#include "kps/vmset_identity.h"
#include "util/logging.h"

namespace {

using namespace cafs;
using namespace cafs::kps;

int Fail(const Status& s) {
  std::cerr << "kpsd: " << s.ToString() << "\n";
  return 1;
}

Result<std::optional<std::string>> Passphrase(const std::string& file) {
  if (file.empty()) return std::optional<std::string>();
  CAFS_ASSIGN_OR_RETURN(std::string p, ReadPassphraseFile(file));
  return std::optional<std::string>(std::move(p));
}

int Init(const std::string& dir, const std::string& passphrase_file, const std::string& admin,
         const std::vector<std::string>& names) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail(Status::FromErrno(errno, "mkdir " + dir));
  }
  auto pass = Passphrase(passphrase_file);
  if (!pass.ok()) return Fail(pass.status());
  if (FileExists(dir + "/" + MasterKey::kMetaFile)) {
    return Fail(Status::AlreadyExists(dir + " is already initialized (master.json exists)"));
  }
  auto master = MasterKey::Create(dir, *pass);
  if (!master.ok()) return Fail(master.status());
  auto ca = CertificateAuthority::Create(dir, names);
  if (!ca.ok()) return Fail(ca.status());
  auto store = OpenStore("", dir);
  if (!store.ok()) return Fail(store.status());
  Keyring keyring(*master, **store, SystemClock::Instance());
  RestApi api(keyring, **store, *ca, SystemClock::Instance());
  auto bundle = api.BootstrapSecurityAdmin(admin);
  if (!bundle.ok()) return Fail(bundle.status());
  const std::string bundle_path = dir + "/" + admin + ".pem";
  Status w = WriteFileAtomic(bundle_path, *bundle, 0600, true);
  if (!w.ok()) return Fail(w);
  std::cout << "initialized " << dir << " (master key from " << master->source() << ")\n"
            << "CA certificate: " << CertificateAuthority::CaCertPath(dir) << "\n"
            << "security-admin bundle: " << bundle_path << "\n";
  return 0;
}

// `kpsd rotate-master` (docs/kps.md "Shallow rekey and crypto-shred"): a new master key in
// master-next/, every KEK re-wrapped under it in one store transaction, then the files
// installed. Run again after an interruption: it finishes the rotation it finds.
int RotateMaster(const std::string& dir, const std::string& passphrase_file,
                 const std::string& new_passphrase_file, const std::string& store_spec) {
  auto pass = Passphrase(passphrase_file);
  if (!pass.ok()) return Fail(pass.status());
  auto new_pass = Passphrase(new_passphrase_file);
  if (!new_pass.ok()) return Fail(new_pass.status());
  const bool resume = MasterKey::RotationPending(dir);
  std::optional<MasterKey> next;
  if (resume) {
    auto n = MasterKey::Open(MasterKey::NextDir(dir), *new_pass);
    if (!n.ok()) return Fail(n.status().WithContext("finishing the interrupted rotation"));
    next.emplace(std::move(n).value());
    std::cout << "finishing the master-key rotation found in " << MasterKey::NextDir(dir) << "\n";
  }
  // The current master key: required for a new rotation; when finishing one, the files may
  // already be half installed, and then every KEK is under the new key already.
  auto old = MasterKey::Open(dir, *pass);
  if (!old.ok() && !resume) return Fail(old.status().WithContext("refusing to rotate"));
  if (!resume) {
    if (Status s = MasterKey::CleanNext(dir); !s.ok()) return Fail(s);
    if (::mkdir(MasterKey::NextDir(dir).c_str(), 0700) != 0) {
      return Fail(Status::FromErrno(errno, "mkdir " + MasterKey::NextDir(dir)));
    }
    auto n = MasterKey::Create(MasterKey::NextDir(dir), *new_pass);
    if (!n.ok()) {
      (void)MasterKey::CleanNext(dir);
      return Fail(n.status());
    }
    next.emplace(std::move(n).value());
  }
  auto store = OpenStore(store_spec, dir);
  if (!store.ok()) return Fail(store.status());
  auto n = RewrapKeks(**store, old.ok() ? &*old : nullptr, *next, SystemClock::Instance(),
                      "kpsd rotate-master (local)");
  if (!n.ok()) {
    if (!resume) (void)MasterKey::CleanNext(dir);  // the store was not changed
    return Fail(n.status());
  }
  if (Status s = MasterKey::InstallNext(dir); !s.ok()) {
    return Fail(
        s.WithContext("the store is re-wrapped but the new key files are not installed: "
                      "run `kpsd rotate-master` again to finish"));
  }
  std::cout << "master key rotated (new key from " << next->source() << "): " << *n
            << " KEK version(s) re-wrapped in " << (*store)->Describe() << "\n";
  return 0;
}

struct KmipConfig {
  std::string listen;  // "" = no KMIP listener
  std::string vmset = "kmip";
  std::size_t max_connections = 64;
  std::size_t max_connections_per_address = 16;
};

// "HOST:PORT" or, when default_port >= 0, also "HOST" (then default_port). False if bad.
bool SplitHostPort(const std::string& s, int default_port, std::string* host, int* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || s.find(']', colon) != std::string::npos) {
    if (default_port < 0 || s.empty()) return false;
    *host = s;
    *port = default_port;
    return true;
  }
  *host = s.substr(0, colon);
  try {
    std::size_t used = 0;
    *port = std::stoi(s.substr(colon + 1), &used);
    return used == s.size() - colon - 1 && *port >= 0 && *port <= 65535;
  } catch (const std::exception&) {
    return false;
  }
}

int Serve(const std::string& dir, const std::string& listen, const std::string& passphrase_file,
          const std::string& store_spec, const TlsServer::Options& rest, const KmipConfig& kmip,
          int rotation_check_s) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(listen, -1, &host, &port)) {
    std::cerr << "kpsd: --listen wants HOST:PORT, e.g. 127.0.0.1:0\n";
    return 2;
  }
  std::string kmip_host;
  int kmip_port = 0;
  if (!kmip.listen.empty() &&
      !SplitHostPort(kmip.listen, KmipServer::kDefaultPort, &kmip_host, &kmip_port)) {
    std::cerr << "kpsd: --kmip-listen wants HOST or HOST:PORT, e.g. 127.0.0.1:5696\n";
    return 2;
  }
  auto pass = Passphrase(passphrase_file);
  if (!pass.ok()) return Fail(pass.status());
  if (MasterKey::RotationPending(dir)) {
    return Fail(Status::FailedPrecondition(
        "refusing to start: a master-key rotation was interrupted (" + MasterKey::NextDir(dir) +
        " exists): run `kpsd rotate-master --data-dir " + dir + "` again to finish it"));
  }
  // Checked first: a wrong master key stops us before anything is opened or written.
  auto master = MasterKey::Open(dir, *pass);
  if (!master.ok()) return Fail(master.status().WithContext("refusing to start"));
  auto ca = CertificateAuthority::Open(dir);
  if (!ca.ok()) return Fail(ca.status());
  const bool sqlite = store_spec.empty() || store_spec.rfind("sqlite", 0) == 0;
  if (sqlite && ::access(dir.c_str(), W_OK) != 0) {
    // SQLite needs to write its WAL and shm files next to kps.db: say so before trying.
    return Fail(Status::FromErrno(errno, "refusing to start: data directory " + dir +
                                             " is not writable (read-only file system or "
                                             "permissions?); kpsd keeps its store there"));
  }
  auto store = OpenStore(store_spec, dir);
  if (!store.ok()) return Fail(store.status());
  // A store written before VM set GUIDs is upgraded once (docs/kps.md "VM set GUIDs").
  if (Status up = UpgradeStoreVmSetIdentity(**store, SystemClock::Instance()); !up.ok()) {
    return Fail(up.WithContext("refusing to start: upgrading the store to VM set GUIDs"));
  }
  // ... and to pool records for the pools its policies name (docs/kps.md "Storage pools").
  if (Status up = UpgradeStorePools(**store, SystemClock::Instance()); !up.ok()) {
    return Fail(up.WithContext("refusing to start: upgrading the store to pool records"));
  }
  Keyring keyring(*master, **store, SystemClock::Instance());
  RestApi api(keyring, **store, *ca, SystemClock::Instance());
  auto server = TlsServer::Create(api, dir, rest);
  if (!server.ok()) return Fail(server.status());
  // Rotation periods and compromised versions -> rekey requests (docs/kps.md "Rekey triggers").
  RekeyTriggerTimer rekey_triggers(keyring, **store, SystemClock::Instance(),
                                   std::chrono::seconds(rotation_check_s));
  auto bound = (*server)->Bind(host, port);
  if (!bound.ok()) return Fail(bound.status());
  KmipOptions kmip_options;
  kmip_options.vmset = kmip.vmset;
  KmipService kmip_service(keyring, **store, SystemClock::Instance(), kmip_options);
  std::unique_ptr<KmipServer> kmip_server;
  int kmip_bound = 0;
  if (!kmip.listen.empty()) {
    KmipServer::Options o;
    o.max_connections = kmip.max_connections;
    o.max_connections_per_address = kmip.max_connections_per_address;
    auto ks = KmipServer::Create(kmip_service, dir, o);
    if (!ks.ok()) return Fail(ks.status());
    auto kb = (*ks)->Bind(kmip_host, kmip_port);
    if (!kb.ok()) return Fail(kb.status());
    kmip_server = std::move(*ks);
    kmip_bound = *kb;
  }

  // A peer that hangs up while we write (KMIP over plain OpenSSL sockets) must not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*server)->Stop();
    if (kmip_server) kmip_server->Stop();
  });
  Status kmip_status;
  std::thread kmip_thread;
  if (kmip_server) {
    kmip_thread = std::thread([&] { kmip_status = kmip_server->Run(); });
    std::cout << "kpsd KMIP listening on " << kmip_host << ":" << kmip_bound << std::endl;
  }
  std::cout << "kpsd listening on " << host << ":" << *bound << " store " << (*store)->Describe()
            << std::endl;
  Status s = (*server)->Run();
  if (kmip_server) kmip_server->Stop();
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (kmip_thread.joinable()) kmip_thread.join();
  if (!s.ok()) return Fail(s);
  if (!kmip_status.ok()) return Fail(kmip_status);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::umask(077);  // every file in the data dir is private to kpsd
  cafs::logging::Init("kpsd", cafs::logging::Level::kWarn);
  CLI::App app{"kpsd: CAFS key & policy server (mutual-TLS REST API, see docs/kps-api.md)"};
  app.require_subcommand(1);
  std::string dir;
  std::string passphrase_file;
  std::string admin = "admin";
  std::vector<std::string> names;
  auto* init = app.add_subcommand("init", "create master key, CA, server cert, first admin");
  init->add_option("--data-dir", dir, "data directory (created 0700)")->required();
  init->add_option("--passphrase-file", passphrase_file,
                   "derive the master key from this passphrase (scrypt) instead of a key file");
  init->add_option("--admin", admin, "name of the first security-admin")->capture_default_str();
  init->add_option("--server-name", names, "extra DNS name or IP for the server certificate");
  std::string listen = "127.0.0.1:5697";
  std::string store;
  auto* serve = app.add_subcommand("serve", "serve the REST API over mutual TLS");
  serve->add_option("--data-dir", dir, "data directory made by `kpsd init`")->required();
  serve->add_option("--listen", listen, "HOST:PORT (port 0 = any free port, printed)")
      ->capture_default_str();
  serve->add_option("--passphrase-file", passphrase_file, "passphrase of the master key");
  serve->add_option("--store", store, "sqlite (default), sqlite:PATH or postgresql://...");
  // The REST listener's limits (docs/kps.md "The REST listener").
  TlsServer::Options rest;
  int handshake_timeout = 10;
  int request_timeout = 10;
  int idle_timeout = 5;
  serve->add_option("--max-connections", rest.max_connections, "REST connections open at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  serve
      ->add_option("--max-connections-per-address", rest.max_connections_per_address,
                   "REST connections open at once from one source address")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  serve
      ->add_option("--handshake-timeout", handshake_timeout,
                   "seconds a client has to complete the TLS handshake")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve
      ->add_option("--request-timeout", request_timeout,
                   "seconds a request head may take from its first byte (a body gets this plus "
                   "one second per 16 KiB)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve
      ->add_option("--idle-timeout", idle_timeout,
                   "seconds a keep-alive connection may wait for its next request")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  KmipConfig kmip;
  serve->add_option("--kmip-listen", kmip.listen,
                    "also serve KMIP 1.x over TLS on HOST[:PORT] (port 5696 when left out, 0 = "
                    "any free port, printed); off when not given (docs/kmip.md)");
  serve->add_option("--kmip-vmset", kmip.vmset, "VM set whose KEK wraps keys created over KMIP")
      ->capture_default_str();
  serve
      ->add_option("--kmip-max-connections", kmip.max_connections,
                   "KMIP connections served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  serve
      ->add_option("--kmip-max-connections-per-address", kmip.max_connections_per_address,
                   "KMIP connections served at once from one source address")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  int rotation_check = 3600;
  serve
      ->add_option("--rotation-check-interval", rotation_check,
                   "seconds between evaluations of the policies' <rotation-period> and of "
                   "compromised key versions (docs/kps.md \"Rekey triggers\")")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  std::string new_passphrase_file;
  auto* rotate = app.add_subcommand(
      "rotate-master",
      "new master key, every KEK re-wrapped under it in one store transaction (offline: stop "
      "kpsd first; gateways keep serving from their caches)");
  rotate->add_option("--data-dir", dir, "data directory made by `kpsd init`")->required();
  rotate->add_option("--passphrase-file", passphrase_file, "passphrase of the current master key");
  rotate->add_option("--new-passphrase-file", new_passphrase_file,
                     "derive the new master key from this passphrase (default: a new key file)");
  rotate->add_option("--store", store, "sqlite (default), sqlite:PATH or postgresql://...");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : 2;
  }
  if (*init) return Init(dir, passphrase_file, admin, names);
  if (*rotate) return RotateMaster(dir, passphrase_file, new_passphrase_file, store);
  rest.handshake_timeout = std::chrono::seconds(handshake_timeout);
  rest.head_timeout = std::chrono::seconds(request_timeout);
  rest.idle_timeout = std::chrono::seconds(idle_timeout);
  return Serve(dir, listen, passphrase_file, store, rest, kmip, rotation_check);
}
