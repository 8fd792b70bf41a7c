// PostgresServer: a throwaway PostgreSQL server for tests, from the Debian `postgresql`
// package (/usr/lib/postgresql/<ver>/bin): initdb + pg_ctl in a temp dir, listening only on a
// Unix socket in that dir. As root it runs the server as the `postgres` user (runuser).
// Stop() (also from the destructor and at exit) stops it with pg_ctl -m immediate and removes
// the directory.
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

  // A process-wide server started on first use (stopped at exit), or nullptr with `why`.
  static PostgresServer* Shared(std::string* why);

 private:
  std::string bin_;
  std::string dir_;
  std::string uri_;
  bool running_ = false;
};

}  // namespace cafs::kps::testing
