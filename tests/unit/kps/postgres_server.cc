#include "unit/kps/postgres_server.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

namespace cafs::kps::testing {

namespace {

std::string FindBin() {
  std::error_code ec;
  for (const char* v : {"17", "16", "15", "14", "13"}) {
    std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
    if (std::filesystem::exists(dir + "/initdb", ec) &&
        std::filesystem::exists(dir + "/pg_ctl", ec)) {
      return dir;
    }
  }
  return {};
}

// Runs a shell command, as the postgres user when we are root.
int Run(const std::string& cmd) {
  std::string full = ::geteuid() == 0 ? "runuser -u postgres -- sh -c '" + cmd + "'" : cmd;
  return std::system(full.c_str());
}

}  // namespace

bool PostgresServer::Start(std::string* why) {
  bin_ = FindBin();
  if (bin_.empty()) {
    *why =
        "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
        "(apt-get install postgresql)";
    return false;
  }
  struct passwd* pw = nullptr;
  if (::geteuid() == 0) {
    pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      *why = "running as root but there is no 'postgres' user to run the server";
      return false;
    }
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "cafs-pg-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    *why = "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;
  if (pw != nullptr && ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    *why = "chown of the server dir failed";
    return false;
  }
  const std::string data = dir_ + "/data";
  if (Run(bin_ + "/initdb -D " + data + " -A trust -U postgres >" + dir_ + "/initdb.log 2>&1") !=
      0) {
    *why = "initdb failed, see " + dir_ + "/initdb.log";
    return false;
  }
  const std::string opts = "-k " + dir_ + " -c listen_addresses= -c fsync=off";
  if (Run(bin_ + "/pg_ctl -D " + data + " -w -t 60 -l " + dir_ + "/server.log -o \"" + opts +
          "\" start >/dev/null 2>&1") != 0) {
    *why = "pg_ctl start failed, see " + dir_ + "/server.log";
    return false;
  }
  running_ = true;
  uri_ = "postgresql://postgres@/postgres?host=" + dir_;
  return true;
}

void PostgresServer::Stop() {
  if (running_) {
    Run(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1");
    running_ = false;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

PostgresServer* PostgresServer::Shared(std::string* why) {
  static std::string failure;
  static PostgresServer* server = [] {
    auto* s = new PostgresServer();
    if (!s->Start(&failure)) {
      s->Stop();
      delete s;
      return static_cast<PostgresServer*>(nullptr);
    }
    std::atexit([] {
      if (server != nullptr) server->Stop();
    });
    return s;
  }();
  if (server == nullptr) *why = failure;
  return server;
}

}  // namespace cafs::kps::testing
