#include "util/transfer_all_uncapped.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <asio.hpp>

namespace cafs {
namespace {

TEST(TransferAllUncappedTest, NoCapUntilAnError) {
  const TransferAllUncapped condition;
  EXPECT_GT(condition(std::error_code(), 0), std::size_t{1} << 40);
  EXPECT_GT(condition(std::error_code(), 5 << 20), std::size_t{1} << 40);
  EXPECT_EQ(condition(std::make_error_code(std::errc::broken_pipe), 10), 0u);
}

// Several MiB (more than any socket buffer) cross a socket pair whole, in order, both ways
// driven by the condition; a closed peer ends the write with an error instead of looping.
TEST(TransferAllUncappedTest, MovesEveryByteAndStopsOnError) {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  std::vector<std::uint8_t> sent(5 << 20), got(sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(i * 131 + 7);
  std::error_code write_ec, read_ec;
  std::size_t written = 0, read = 0;
  const auto on_written = [&](std::error_code ec, std::size_t n) {
    write_ec = ec;
    written = n;
  };
  asio::async_write(a, asio::buffer(sent), TransferAllUncapped(), on_written);
  asio::async_read(b, asio::buffer(got), TransferAllUncapped(),
                   [&](std::error_code ec, std::size_t n) {
                     read_ec = ec;
                     read = n;
                   });
  io.run();
  EXPECT_FALSE(write_ec);
  EXPECT_FALSE(read_ec);
  EXPECT_EQ(written, sent.size());
  EXPECT_EQ(read, sent.size());
  EXPECT_EQ(got, sent);

  b.close();
  io.restart();
  asio::async_write(a, asio::buffer(sent), TransferAllUncapped(), on_written);
  io.run();
  EXPECT_TRUE(write_ec);
  EXPECT_LT(written, sent.size());
}

}  // namespace
}  // namespace cafs
