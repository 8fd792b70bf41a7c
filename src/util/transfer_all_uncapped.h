// TransferAllUncapped: an Asio completion condition for async_write / async_read that moves
// every byte of the buffers, offering the kernel all that is left in each write_some /
// read_some.
//
// asio::transfer_all() (the default) caps each call at asio's default_max_transfer_size,
// 64 KiB: a 1 MiB NFS READ reply went out in 16 sendmsg calls, each with its own reactor
// round (perf stat: 8388 sendmsg and 4476 epoll_wait for 512 READ replies; with this
// condition 302 and 526, and seq read went from ~1.7 to ~2.4 GB/s on loopback). Large WRITE
// bodies and NBD payloads were read 64 KiB at a time the same way.
//
// Stateless; usable from any thread. Header-only (no Asio include: Asio passes
// std::error_code in standalone mode).

#pragma once

#include <cstddef>
#include <limits>
#include <system_error>

namespace cafs {

struct TransferAllUncapped {
  // 0 ends the write (on an error); otherwise no cap on the next write_some.
  std::size_t operator()(const std::error_code& ec, std::size_t /*transferred*/) const {
    return ec ? 0 : std::numeric_limits<std::size_t>::max();
  }
};

}  // namespace cafs
