// Endpoint: where an NBD server listens or a client connects (TCP host:port or Unix path).
#pragma once

#include <cstdint>
#include <string>

namespace cafs::edif::nbd {

struct Endpoint {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;        // kTcp: a literal address, e.g. "127.0.0.1"
  std::uint16_t port = 0;  // kTcp
  std::string path;        // kUnix

  static Endpoint Tcp(std::string host, std::uint16_t port) {
    return Endpoint{Kind::kTcp, std::move(host), port, {}};
  }
  static Endpoint Unix(std::string path) { return Endpoint{Kind::kUnix, {}, 0, std::move(path)}; }
  // "tcp:127.0.0.1:10809" or "unix:/run/x.sock", for logs.
  std::string ToString() const {
    return kind == Kind::kTcp ? "tcp:" + host + ":" + std::to_string(port) : "unix:" + path;
  }
};

}  // namespace cafs::edif::nbd
