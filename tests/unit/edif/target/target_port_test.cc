// edifd target's port (TargetPort) facing a hostile initiator on the fabric: a raw
// FabricConnection sends what a rogue or broken initiator would — a LOGIN for another target,
// a second LOGIN, frames before LOGIN, a corrupt frame, a LOGIN spoofing another initiator's
// WWPN on a session, undecodable DATA, unknown LUNs, out-of-range and read-only writes — and
// the target answers each explicitly or drops the connection, and keeps serving.
#include "edif/target/target_port.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "edif/hba/fabric_connection.h"
#include "edif/hba/fabric_payloads.h"

namespace cafs::edif {
namespace {

using link::FrameType;
using namespace std::chrono_literals;

constexpr std::uint64_t kTargetWwpn = 0x5000000000000001ull;
constexpr std::uint32_t kTargetPortId = 0x020100;
constexpr std::uint64_t kInitiatorWwpn = 0x2100000000000001ull;
constexpr std::uint32_t kInitiatorPortId = 0x010100;

// A raw initiator connection: frames received are queued; closing is recorded.
class RawInitiator {
 public:
  explicit RawInitiator(std::uint16_t port) {
    auto c = hba::FabricConnection::Connect("127.0.0.1", port, 2s);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return;
    conn_ = *c;
    conn_->Start(
        [this](link::Frame f) {
          std::lock_guard l(mu_);
          frames_.push_back(std::move(f));
          cv_.notify_all();
        },
        [this](Status) {
          std::lock_guard l(mu_);
          closed_ = true;
          cv_.notify_all();
        });
  }
  ~RawInitiator() {
    if (conn_) conn_->Close();
  }
  link::FrameHeader Header(FrameType type, std::uint32_t xid = 0, std::uint32_t lun = 0,
                           std::uint64_t src = kInitiatorWwpn, std::uint64_t dst = kTargetWwpn) {
    link::FrameHeader h;
    h.type = type;
    h.src_wwpn = src;
    h.src_port_id = kInitiatorPortId;
    h.dst_wwpn = dst;
    h.dst_port_id = kTargetPortId;
    h.exchange_id = xid;
    h.lun = lun;
    return h;
  }
  Status Send(const link::FrameHeader& h, ByteView payload) { return conn_->SendFrame(h, payload); }
  Status SendRaw(ByteView wire) { return conn_->Send(wire); }
  Status Login(std::uint64_t dst = kTargetWwpn, std::uint64_t src = kInitiatorWwpn) {
    return Send(Header(FrameType::kLogin, 0, 0, src, dst), hba::EncodeLogin());
  }
  // LOGIN answered by LOGIN_ACC.
  bool LoginAccepted() {
    if (!Login().ok()) return false;
    auto f = Next();
    return f && f->header.type == FrameType::kLoginAcc;
  }
  // The next received frame (nullopt after 5 s or once the connection closed without one).
  std::optional<link::Frame> Next() {
    std::unique_lock l(mu_);
    cv_.wait_for(l, 5s, [&] { return !frames_.empty() || closed_; });
    if (frames_.empty()) return std::nullopt;
    link::Frame f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }
  bool WaitClosed() {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 5s, [&] { return closed_; });
  }
  // A DATA request; returns the reply's errno (or nullopt without a reply).
  std::optional<std::uint32_t> Data(std::uint32_t xid, std::uint32_t lun, hba::DataRequest r) {
    auto payload = hba::EncodeDataRequest(r);
    EXPECT_TRUE(payload.ok());
    EXPECT_TRUE(Send(Header(FrameType::kData, xid, lun), *payload).ok());
    auto f = Next();
    if (!f || f->header.type != FrameType::kData || f->header.exchange_id != xid) {
      return std::nullopt;
    }
    auto reply = hba::DecodeDataReply(f->payload);
    EXPECT_TRUE(reply.ok());
    return reply.ok() ? std::optional(reply->err) : std::nullopt;
  }

 private:
  std::shared_ptr<hba::FabricConnection> conn_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<link::Frame> frames_;  // guarded by mu_
  bool closed_ = false;             // guarded by mu_
};

hba::DataRequest Write(std::uint64_t offset, std::uint32_t len) {
  hba::DataRequest r;
  r.cmd = hba::DataCmd::kWrite;
  r.offset = offset;
  r.length = len;
  r.data = Bytes(len, 0x5A);
  return r;
}

class TargetPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edif_target_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    for (const char* name : {"lun0.img", "lun1.img"}) {
      std::ofstream(dir_ + "/" + name).close();
      std::filesystem::resize_file(dir_ + "/" + name, 1 << 20);
    }
    target::TargetConfig tc;
    tc.port.name = "target";
    tc.port.identity = {kTargetWwpn, kTargetPortId};
    tc.mailbox_socket = dir_ + "/mbox.sock";
    tc.luns.push_back({0, dir_ + "/lun0.img", false, false});
    tc.luns.push_back({1, dir_ + "/lun1.img", false, true});  // read-only
    std::string s(32, 't');
    auto t = target::TargetPort::Start(
        tc, SecureBuffer(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()),
        SystemClock::Instance());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    target_ = std::move(*t);
  }
  void TearDown() override {
    if (target_) target_->Stop();
    target_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A LOGIN on a fresh connection gets LOGIN_ACC: the target still serves.
  void ExpectStillServes() {
    RawInitiator ok(target_->port());
    ASSERT_TRUE(ok.LoginAccepted());
    auto w = ok.Data(9, 0, Write(0, 512));
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(*w, 0u);
  }
  std::string dir_;
  std::unique_ptr<target::TargetPort> target_;
};

TEST_F(TargetPortTest, LoginForAnotherTargetIsRejected) {
  RawInitiator i(target_->port());
  ASSERT_TRUE(i.Login(/*dst=*/0x5000000000000099ull).ok());
  auto f = i.Next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kLoginRjt);
  EXPECT_EQ(*hba::DecodeLoginRjt(f->payload), static_cast<std::uint32_t>(EINVAL));
  EXPECT_FALSE(target_->SessionStats(kInitiatorWwpn).ok());  // no session
  // A malformed LOGIN payload and a LOGIN without a source WWPN: rejected the same way.
  ASSERT_TRUE(i.Send(i.Header(FrameType::kLogin), Bytes{2, 0, 0, 0, 0, 0, 0, 0}).ok());
  f = i.Next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kLoginRjt);
  ASSERT_TRUE(i.Login(kTargetWwpn, /*src=*/0).ok());
  f = i.Next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kLoginRjt);
  ExpectStillServes();
}

TEST_F(TargetPortTest, SecondLoginOnOneConnectionIsRejected) {
  RawInitiator i(target_->port());
  ASSERT_TRUE(i.LoginAccepted());
  // The same connection now claims to be another initiator.
  ASSERT_TRUE(i.Login(kTargetWwpn, 0x2100000000000bad).ok());
  auto f = i.Next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->header.type, FrameType::kLoginRjt);
  EXPECT_FALSE(target_->SessionStats(0x2100000000000badull).ok());
  // The original session is intact.
  auto w = i.Data(1, 0, Write(0, 512));
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w, 0u);
}

TEST_F(TargetPortTest, FramesBeforeLoginCloseTheConnection) {
  RawInitiator i(target_->port());
  auto payload = hba::EncodeDataRequest(Write(0, 512));
  ASSERT_TRUE(i.Send(i.Header(FrameType::kData, 1), *payload).ok());
  EXPECT_TRUE(i.WaitClosed());
  EXPECT_FALSE(i.Next().has_value());  // never answered
  std::ifstream in(dir_ + "/lun0.img", std::ios::binary);
  Bytes head(512);
  in.read(reinterpret_cast<char*>(head.data()), 512);
  EXPECT_EQ(head, Bytes(512, 0));  // not executed
  ExpectStillServes();
}

TEST_F(TargetPortTest, FrameFromAnotherWwpnOnASessionClosesIt) {
  RawInitiator i(target_->port());
  ASSERT_TRUE(i.LoginAccepted());
  auto payload = hba::EncodeDataRequest(Write(0, 512));
  ASSERT_TRUE(i.Send(i.Header(FrameType::kData, 2, 0, /*src=*/0x2100000000000bad), *payload).ok());
  EXPECT_TRUE(i.WaitClosed());
  ExpectStillServes();
}

TEST_F(TargetPortTest, CorruptFrameClosesTheConnectionOnly) {
  RawInitiator i(target_->port());
  ASSERT_TRUE(i.LoginAccepted());
  auto wire = link::EncodeFrame(i.Header(FrameType::kData, 3), Bytes(32, 1));
  ASSERT_TRUE(wire.ok());
  (*wire)[link::kLengthPrefixSize] ^= 0xFF;  // frame version byte
  ASSERT_TRUE(i.SendRaw(*wire).ok());
  EXPECT_TRUE(i.WaitClosed());
  ExpectStillServes();
}

TEST_F(TargetPortTest, BadDataRequestsGetErrorsOrAreDroppedAndTheSessionGoesOn) {
  RawInitiator i(target_->port());
  ASSERT_TRUE(i.LoginAccepted());
  // Undecodable DATA payload: dropped, no reply, session kept.
  ASSERT_TRUE(i.Send(i.Header(FrameType::kData, 10), Bytes{1, 9, 0, 0}).ok());
  // Unknown LUN: ENXIO. Beyond the end: ENOSPC. Read-only LUN: EACCES/EPERM.
  auto r = i.Data(11, 7, Write(0, 512));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, static_cast<std::uint32_t>(ENXIO));
  r = i.Data(12, 0, Write((1 << 20) - 256, 512));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, static_cast<std::uint32_t>(ENOSPC));
  r = i.Data(13, 1, Write(0, 512));
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(*r, 0u);
  // A valid request still works.
  r = i.Data(14, 0, Write(4096, 512));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 0u);
  // Unexpected frame types after login are ignored, the session stays.
  ASSERT_TRUE(i.Send(i.Header(FrameType::kLoginAcc, 15), Bytes{}).ok());
  r = i.Data(16, 0, Write(8192, 512));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 0u);
  ASSERT_TRUE(target_->SessionStats(kInitiatorWwpn).ok());
}

}  // namespace
}  // namespace cafs::edif
