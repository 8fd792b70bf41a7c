// BlockChannel implementations: NbdBlockChannel (libnbd) against our in-process NbdServer, and
// DeviceBlockChannel on a temporary file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "edif/agent/device_block_channel.h"
#include "edif/agent/nbd_block_channel.h"
#include "edif/nbd/memory_block_device.h"
#include "edif/nbd/server.h"

namespace cafs::edif::agent {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/edif-agent-chan-XXXXXX";
  return mkdtemp(tmpl) ? tmpl : "";
}

Bytes Pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 7);
  return b;
}

// Polls until `pred` or ~5 s.
template <typename Pred>
bool PollUntil(BlockChannel& ch, Pred pred) {
  for (int i = 0; i < 500 && !pred(); ++i) {
    if (!ch.Poll(std::chrono::milliseconds(10)).ok()) return pred();
  }
  return pred();
}

// The common contract, run on both implementations.
void ExerciseChannel(BlockChannel& ch) {
  ASSERT_GE(ch.Size(), 1u << 20);
  // Several writes and reads in flight at once at LBA >= 64.
  int writes_done = 0;
  for (int i = 0; i < 8; ++i) {
    ch.Write((64 + static_cast<std::uint64_t>(i) * 8) * 512,
             Pattern(4096, static_cast<std::uint8_t>(i)), [&](Status st) {
               EXPECT_TRUE(st.ok()) << st.ToString();
               ++writes_done;
             });
  }
  EXPECT_EQ(ch.in_flight(), 8u);
  ASSERT_TRUE(PollUntil(ch, [&] { return writes_done == 8; }));
  int reads_done = 0;
  for (int i = 0; i < 8; ++i) {
    ch.Read((64 + static_cast<std::uint64_t>(i) * 8) * 512, 4096, [&, i](Status st, Bytes data) {
      ASSERT_TRUE(st.ok()) << st.ToString();
      EXPECT_EQ(data, Pattern(4096, static_cast<std::uint8_t>(i)));
      ++reads_done;
    });
  }
  ASSERT_TRUE(PollUntil(ch, [&] { return reads_done == 8; }));
  EXPECT_EQ(ch.in_flight(), 0u);
  // Misaligned requests fail through their callback, never inside the call.
  Status bad;
  bool called = false;
  ch.Read(100, 512, [&](Status st, Bytes) {
    bad = st;
    called = true;
  });
  EXPECT_FALSE(called);
  ASSERT_TRUE(PollUntil(ch, [&] { return called; }));
  EXPECT_TRUE(bad.IsInvalidArgument());
  called = false;
  ch.Write(512, Bytes(100), [&](Status st) {
    bad = st;
    called = true;
  });
  ASSERT_TRUE(PollUntil(ch, [&] { return called; }));
  EXPECT_TRUE(bad.IsInvalidArgument());
}

TEST(NbdBlockChannelTest, ReadsAndWritesThroughLibnbd) {
  const std::string dir = TempDir();
  nbd::NbdServer server;
  auto dev = std::make_shared<nbd::MemoryBlockDevice>(1 << 20);
  ASSERT_TRUE(server.AddExport("mbox", dev).ok());
  ASSERT_TRUE(server.ListenUnix(dir + "/s.sock").ok());
  auto ch = NbdBlockChannel::Connect("nbd+unix:///mbox?socket=" + dir + "/s.sock");
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  ExerciseChannel(**ch);
  // The bytes really reached the server's device.
  EXPECT_EQ(dev->Snapshot(64 * 512, 4096), Pattern(4096, 0));
  ch->reset();
  server.Stop();
  std::filesystem::remove_all(dir);
}

TEST(NbdBlockChannelTest, ServerGoneFailsPendingRequestsAndPoll) {
  const std::string dir = TempDir();
  auto server = std::make_unique<nbd::NbdServer>();
  ASSERT_TRUE(server->AddExport("mbox", std::make_shared<nbd::MemoryBlockDevice>(1 << 20)).ok());
  ASSERT_TRUE(server->ListenUnix(dir + "/s.sock").ok());
  auto ch = NbdBlockChannel::Connect("nbd+unix:///mbox?socket=" + dir + "/s.sock");
  ASSERT_TRUE(ch.ok());
  server->Stop();
  Status last;
  bool called = false;
  (*ch)->Read(64 * 512, 512, [&](Status st, Bytes) {
    last = st;
    called = true;
  });
  Status poll;
  for (int i = 0; i < 200 && poll.ok(); ++i) poll = (*ch)->Poll(std::chrono::milliseconds(10));
  EXPECT_FALSE(poll.ok());
  EXPECT_TRUE(called);
  EXPECT_FALSE(last.ok());
  EXPECT_FALSE(NbdBlockChannel::Connect("nbd+unix:///mbox?socket=" + dir + "/none.sock").ok());
  std::filesystem::remove_all(dir);
}

TEST(DeviceBlockChannelTest, ReadsAndWritesAFile) {
  // /var/tmp is disk-backed on most systems (O_DIRECT works); tmpfs refuses O_DIRECT, in which
  // case the test runs the buffered fallback and says so.
  std::string dir = "/var/tmp";
  char tmpl[] = "/var/tmp/edif-agent-dev-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) GTEST_SKIP() << "no writable /var/tmp";
  dir = tmpl;
  const std::string path = dir + "/mbox.img";
  {
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
  }
  auto ch = DeviceBlockChannel::Open(path);
  if (!ch.ok() && ch.status().code() == Status::Code::kNotSupported) {
    std::fprintf(stderr, "O_DIRECT not supported on %s: testing the buffered fallback\n",
                 dir.c_str());
    ch = DeviceBlockChannel::Open(path, {8, true});
  }
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  ExerciseChannel(**ch);
  ch->reset();
  // The bytes are in the file.
  int fd = ::open(path.c_str(), O_RDONLY);
  Bytes got(4096);
  ASSERT_EQ(::pread(fd, got.data(), got.size(), 64 * 512), 4096);
  ::close(fd);
  EXPECT_EQ(got, Pattern(4096, 0));
  EXPECT_TRUE(DeviceBlockChannel::Open(dir + "/missing").status().IsNotFound());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cafs::edif::agent
