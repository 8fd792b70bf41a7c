// PostgresServer: a throwaway PostgreSQL server for tests, from the Debian `postgresql`
// package (/usr/lib/postgresql/<ver>/bin): initdb + pg_ctl in a temp dir, listening only on a
// Unix socket in that dir. As root it runs the server as the `postgres` user (runuser).
// Stop() (also from the destructor and at exit) stops it with pg_ctl -m immediate and removes
// the directory.
//
// Under CTest the `postgres` fixture (tests/integration/lib/postgres_fixture.sh) starts one
// server for the whole run and names its URI in the file $CAFS_TEST_POSTGRES_URI_FILE:
// Shared() then creates a database of this process's own on that server (dropped at exit)
// instead of starting a server per test process (docs/ci.md "Shared fixtures").
#pragma once

#include <string>

namespace cafs::kps::testing {

class PostgresServer {
 public:
  PostgresServer() = default;
  ~PostgresServer() { Stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Starts the server; false with `why` set when it cannot (binaries missing, ...).
  bool Start(std::string* why);
  void Stop();
  // libpq URI of the started server's "postgres" database.
  const std::string& uri() const { return uri_; }

  // A process-wide server started on first use (stopped at exit), or nullptr with `why`; with
  // the fixture, a database of this process's own on the fixture's server.
  static PostgresServer* Shared(std::string* why);

 private:
  // Creates database cafs_test_<pid> on the fixture's server named in `uri_file`.
  bool UseFixture(const std::string& uri_file, std::string* why);

  std::string fixture_uri_;  // the fixture server's "postgres" database; empty: own server
  std::string database_;     // the database created on the fixture's server
  std::string bin_;
  std::string dir_;
  std::string uri_;
  bool running_ = false;
};

}  // namespace cafs::kps::testing
