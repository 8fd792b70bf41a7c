// kpsd: the CAFS key & policy server.
//   kpsd init  --data-dir DIR [--passphrase-file F] [--admin NAME] [--server-name N]...
//   kpsd serve --data-dir DIR [--listen 127.0.0.1:PORT] [--passphrase-file F] [--store SPEC]
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
#include "kps/master_key.h"
#include "kps/rest_api.h"
#include "kps/tls_server.h"
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

int Serve(const std::string& dir, const std::string& listen, const std::string& passphrase_file,
          const std::string& store_spec) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "kpsd: --listen wants HOST:PORT, e.g. 127.0.0.1:0\n";
    return 2;
  }
  const std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    std::cerr << "kpsd: bad port in --listen " << listen << "\n";
    return 2;
  }
  auto pass = Passphrase(passphrase_file);
  if (!pass.ok()) return Fail(pass.status());
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
  Keyring keyring(*master, **store, SystemClock::Instance());
  RestApi api(keyring, **store, *ca, SystemClock::Instance());
  auto server = TlsServer::Create(api, dir);
  if (!server.ok()) return Fail(server.status());
  auto bound = (*server)->Bind(host, port);
  if (!bound.ok()) return Fail(bound.status());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*server)->Stop();
  });
  std::cout << "kpsd listening on " << host << ":" << *bound << " store " << (*store)->Describe()
            << std::endl;
  Status s = (*server)->Run();
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (!s.ok()) return Fail(s);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : 2;
  }
  if (*init) return Init(dir, passphrase_file, admin, names);
  return Serve(dir, listen, passphrase_file, store);
}
