// Listening with Asio, as the NFS RPC server and the NBD server both do it:
//   OpenTcpAcceptor   parse a numeric address, open, SO_REUSEADDR, bind, listen;
//   PostAndWait       run a function on an executor (an acceptor strand) and wait for it.
//
// Header-only: it compiles with the including target's Asio configuration (ASIO_STANDALONE).
// Errors are Status values, keeping the errno of the failed bind/listen (EADDRINUSE, EACCES
// for a privileged port); `what` starts every message ("rpc listen", "nbd listen").
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <asio.hpp>

#include "util/result.h"
#include "util/status.h"

namespace cafs {

// A listening acceptor on `host` ("127.0.0.1", "0.0.0.0", "::", ...) port `port` (0: the
// kernel picks one; read it from local_endpoint()). Not yet accepting.
inline Result<std::shared_ptr<asio::ip::tcp::acceptor>> OpenTcpAcceptor(asio::io_context& io,
                                                                        const std::string& host,
                                                                        std::uint16_t port,
                                                                        const std::string& what) {
  std::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument(what + ": bad address '" + host + "'");
  auto acceptor = std::make_shared<asio::ip::tcp::acceptor>(io);
  const asio::ip::tcp::endpoint endpoint(address, port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::FromErrno(ec.value(), what + " " + host + ":" + std::to_string(port));
  return acceptor;
}

// Runs `fn` on `executor` and returns once it has run. Must not be called from a thread that
// `executor` needs in order to run `fn` (it would wait for itself).
template <typename Executor, typename Fn>
void PostAndWait(const Executor& executor, Fn&& fn) {
  std::promise<void> done;
  asio::post(executor, [&fn, &done] {
    std::forward<Fn>(fn)();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace cafs
