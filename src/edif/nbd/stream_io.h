// Whole reads and writes on one NBD connection's stream, for the coroutines of both the server
// (server.cc) and the client (client.cc). Each moves every byte (TransferAllUncapped: the
// kernel is offered all that is left in each call) and answers false when the connection
// failed or the peer went away; the caller then closes the connection.
//
// Threading: as the stream's own operations (call on the connection's executor).
#pragma once

#include <system_error>

#include <asio.hpp>

#include "util/bytes.h"
#include "util/transfer_all_uncapped.h"

namespace cafs::edif::nbd {

template <typename Stream, typename Buffers>
asio::awaitable<bool> ReadExactly(Stream& stream, const Buffers& buffers) {
  std::error_code ec;
  co_await asio::async_read(stream, buffers, TransferAllUncapped(),
                            asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

template <typename Stream>
asio::awaitable<bool> WriteAll(Stream& stream, ByteView data) {
  std::error_code ec;
  co_await asio::async_write(stream, asio::buffer(data.data(), data.size()), TransferAllUncapped(),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

}  // namespace cafs::edif::nbd
