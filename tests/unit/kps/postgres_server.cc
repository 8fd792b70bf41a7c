#include "unit/kps/postgres_server.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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

// Runs one SQL command on `uri`; false with `why` set on failure.
bool Exec(const std::string& uri, const std::string& sql, std::string* why) {
  PGconn* c = PQconnectdb(uri.c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, sql.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
  }
  if (!ok) *why = sql + ": " + PQerrorMessage(c);
  PQfinish(c);
  return ok;
}

}  // namespace

bool PostgresServer::UseFixture(const std::string& uri_file, std::string* why) {
  std::ifstream in(uri_file);
  std::string uri;
  if (!std::getline(in, uri) || uri.empty()) {
    *why = "no fixture URI in " + uri_file;
    return false;
  }
  const std::string db = "cafs_test_" + std::to_string(::getpid());
  std::string ignored;
  Exec(uri, "DROP DATABASE IF EXISTS " + db, &ignored);  // a crashed earlier process's
  if (!Exec(uri, "CREATE DATABASE " + db, why)) return false;
  const std::string prefix = "postgresql://postgres@/postgres?";
  if (uri.rfind(prefix, 0) != 0) {
    *why = "unexpected fixture URI " + uri;
    return false;
  }
  fixture_uri_ = uri;
  database_ = db;
  uri_ = "postgresql://postgres@/" + db + "?" + uri.substr(prefix.size());
  return true;
}

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
  if (!database_.empty()) {
    std::string ignored;
    Exec(fixture_uri_, "DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)", &ignored);
    database_.clear();
  }
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
    const char* uri_file = std::getenv("CAFS_TEST_POSTGRES_URI_FILE");
    const bool fixture = uri_file != nullptr && std::filesystem::exists(uri_file) &&
                         s->UseFixture(uri_file, &failure);
    if (!fixture && !s->Start(&failure)) {
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
