#include "edif/link/sa_database.h"

#include <gtest/gtest.h>

#include "test_sa.h"

namespace cafs::edif::link {
namespace {

using std::chrono::milliseconds;

FrameHeader DataHeader() {
  FrameHeader h;
  h.type = FrameType::kData;
  h.src_port_id = 1;
  h.dst_port_id = 2;
  return h;
}

Bytes PayloadOf(int i) { return Bytes(100, static_cast<std::uint8_t>(i)); }

class SaDatabaseTest : public testing::Test {
 protected:
  SaDatabaseTest() : clock_(Clock::TimePoint(std::chrono::hours(5))) {}
  std::unique_ptr<SaDatabase> Make(SaPolicy policy) {
    return std::make_unique<SaDatabase>(policy, clock_,
                                        [this](const ExpiryEvent& e) { events_.push_back(e); });
  }
  static Frame Sealed(SaDatabase& db, int i) {
    auto wire = db.Seal(DataHeader(), PayloadOf(i));
    EXPECT_TRUE(wire.ok()) << wire.status().ToString();
    return *DecodeFrame(*wire);
  }
  ManualClock clock_;
  std::vector<ExpiryEvent> events_;
};

TEST_F(SaDatabaseTest, SealOpenAcrossTwoPortsAndStats) {
  auto host = Make({});
  auto target = Make({});
  EXPECT_FALSE(host->Seal(DataHeader(), PayloadOf(0)).ok());  // no TX yet
  ASSERT_TRUE(target->AddRx(MakeSa(100, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(100, Direction::kTx)).ok());
  EXPECT_FALSE(host->ready());
  for (int i = 0; i < 5; ++i) {
    auto pt = target->Open(Sealed(*host, i));
    ASSERT_TRUE(pt.ok());
    EXPECT_EQ(*pt, PayloadOf(i));
  }
  EXPECT_EQ(host->stats().tx_frames, 5u);
  EXPECT_EQ(host->stats().tx_bytes, 500u);
  EXPECT_EQ(target->stats().rx_frames, 5u);
  EXPECT_EQ(target->stats().rx_bytes, 500u);
  EXPECT_EQ(target->AddRx(MakeSa(100, Direction::kRx)).code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(target->DeleteRx(999).IsNotFound());  // a stale delete
}

// The data path's forms: SealInto a reused buffer, OpenInPlace in the frame's payload; the
// stats and drop counters are the same as for Seal / Open.
TEST_F(SaDatabaseTest, SealIntoOpenInPlaceAndStats) {
  auto host = Make({});
  auto target = Make({});
  UninitBytes wire;
  EXPECT_EQ(host->SealInto(DataHeader(), PayloadOf(0), wire).code(),
            Status::Code::kFailedPrecondition);  // no TX yet
  EXPECT_TRUE(wire.empty());
  ASSERT_TRUE(target->AddRx(MakeSa(100, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(100, Direction::kTx)).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(host->SealInto(DataHeader(), PayloadOf(i), wire).ok());
    Frame f = *DecodeFrame(ByteView(wire.data(), wire.size()));
    auto pt = target->OpenInPlace(f.header, f.payload);
    ASSERT_TRUE(pt.ok()) << pt.status().ToString();
    EXPECT_EQ(Bytes(pt->begin(), pt->end()), PayloadOf(i));
  }
  ASSERT_TRUE(host->SealInto(DataHeader(), PayloadOf(3), wire).ok());
  Frame forged = *DecodeFrame(ByteView(wire.data(), wire.size()));
  forged.payload[20] ^= 1;
  EXPECT_TRUE(target->OpenInPlace(forged.header, forged.payload).status().IsAuthFailed());
  EXPECT_EQ(host->stats().tx_frames, 4u);
  EXPECT_EQ(host->stats().tx_bytes, 400u);
  EXPECT_EQ(target->stats().rx_frames, 3u);
  EXPECT_EQ(target->stats().rx_bytes, 300u);
  EXPECT_EQ(target->stats().drop(DropReason::kAuthFailed), 1u);
}

TEST_F(SaDatabaseTest, ForgedReplayedAndUnknownFramesAreDroppedAndCounted) {
  auto host = Make({});
  auto target = Make({});
  ASSERT_TRUE(target->AddRx(MakeSa(7, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(7, Direction::kTx)).ok());
  Frame f = Sealed(*host, 1);
  ASSERT_TRUE(target->Open(f).ok());
  EXPECT_TRUE(target->Open(f).status().IsCorruption());  // replay
  Frame forged = Sealed(*host, 2);
  forged.payload.back() ^= 1;  // tag
  EXPECT_TRUE(target->Open(forged).status().IsAuthFailed());
  Frame hdr = Sealed(*host, 3);
  hdr.header.lun = 9;  // header is AAD
  EXPECT_TRUE(target->Open(hdr).status().IsAuthFailed());
  Frame body = Sealed(*host, 4);
  body.payload[20] ^= 0x80;  // ciphertext
  EXPECT_TRUE(target->Open(body).status().IsAuthFailed());
  Frame unknown = Sealed(*host, 5);
  StoreLe32(unknown.payload.data(), 8);
  EXPECT_FALSE(target->Open(unknown).ok());
  Frame tiny = Sealed(*host, 6);
  tiny.payload.resize(10);
  tiny.header.payload_len = 10;
  EXPECT_FALSE(target->Open(tiny).ok());
  target->CountDrop(DropReason::kCleartext);
  const LinkStats s = target->stats();
  EXPECT_EQ(s.drop(DropReason::kReplay), 1u);
  EXPECT_EQ(s.drop(DropReason::kAuthFailed), 3u);
  EXPECT_EQ(s.drop(DropReason::kUnknownSpi), 1u);
  EXPECT_EQ(s.drop(DropReason::kMalformed), 1u);
  EXPECT_EQ(s.drop(DropReason::kCleartext), 1u);
  EXPECT_EQ(s.drops_total(), 7u);
  EXPECT_EQ(s.rx_frames, 1u);
}

// Rekey under traffic: frames sealed under the old and the new SA are in flight together;
// every one is delivered exactly once.
TEST_F(SaDatabaseTest, MakeBeforeBreakRekeyLosesNothing) {
  auto host = Make({});
  auto target = Make({});
  ASSERT_TRUE(target->AddRx(MakeSa(1, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(1, Direction::kTx)).ok());
  std::vector<Frame> in_flight;
  int next = 0;
  for (int i = 0; i < 5; ++i) in_flight.push_back(Sealed(*host, next++));
  // Rekey: new RX first, then switch TX.
  ASSERT_TRUE(target->AddRx(MakeSa(2, Direction::kRx)).ok());
  for (int i = 0; i < 2; ++i) in_flight.push_back(Sealed(*host, next++));  // still old TX
  ASSERT_TRUE(host->InstallTx(MakeSa(2, Direction::kTx)).ok());
  for (int i = 0; i < 5; ++i) in_flight.push_back(Sealed(*host, next++));  // new TX
  EXPECT_EQ(host->stats().rekeys, 1u);
  // Delivery order: some old, two new, the rest of the old, the rest of the new.
  const std::vector<int> order = {0, 1, 2, 7, 8, 3, 4, 5, 6, 9, 10, 11};
  std::vector<int> delivered;
  for (int i : order) {
    auto pt = target->Open(in_flight[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(pt.ok()) << "frame " << i << ": " << pt.status().ToString();
    delivered.push_back((*pt)[0]);
  }
  EXPECT_EQ(delivered, order);
  // Three frames on the new SA: the old RX SA retired by itself.
  EXPECT_EQ(target->rx_spis(), std::vector<std::uint32_t>{2});
  EXPECT_EQ(target->stats().drops_total(), 0u);
  // A straggler on the old SA after retirement is dropped, never delivered.
  EXPECT_FALSE(target->Open(in_flight[0]).ok());
}

TEST_F(SaDatabaseTest, RequestedRxDeleteWaitsForNewTrafficOrTimeout) {
  SaPolicy policy;
  policy.auto_retire = false;
  auto target = Make(policy);
  auto host = Make(policy);
  ASSERT_TRUE(target->AddRx(MakeSa(1, Direction::kRx)).ok());
  ASSERT_TRUE(target->AddRx(MakeSa(2, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(2, Direction::kTx)).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(target->Open(Sealed(*host, i)).ok());
  EXPECT_EQ(target->rx_spis().size(), 2u);  // no auto retire
  ASSERT_TRUE(target->DeleteRx(1).ok());    // the new SA has already proven itself
  EXPECT_EQ(target->rx_spis(), std::vector<std::uint32_t>{2});
  // With no traffic on a newer SA, the delete waits for the timeout.
  ASSERT_TRUE(target->AddRx(MakeSa(3, Direction::kRx)).ok());
  ASSERT_TRUE(target->DeleteRx(2).ok());
  EXPECT_EQ(target->rx_spis().size(), 2u);
  clock_.Advance(milliseconds(19'999));
  target->Tick();
  EXPECT_EQ(target->rx_spis().size(), 2u);
  clock_.Advance(milliseconds(1));
  target->Tick();
  EXPECT_EQ(target->rx_spis(), std::vector<std::uint32_t>{3});
  ASSERT_TRUE(target->DeleteRx(3, /*force=*/true).ok());
  EXPECT_TRUE(target->rx_spis().empty());
}

TEST_F(SaDatabaseTest, SoftLimitsSignalOnceHardLimitsStop) {
  SaPolicy policy;
  policy.limits.soft_frames = 5;
  policy.limits.hard_frames = 8;
  auto host = Make(policy);
  auto target = Make(policy);
  ASSERT_TRUE(target->AddRx(MakeSa(1, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(1, Direction::kTx)).ok());
  std::vector<Frame> frames;
  for (int i = 0; i < 8; ++i) frames.push_back(Sealed(*host, i));
  EXPECT_EQ(host->Seal(DataHeader(), PayloadOf(9)).status().code(),
            Status::Code::kFailedPrecondition);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].direction, Direction::kTx);
  EXPECT_EQ(events_[0].reason, ExpiryReason::kFrames);
  events_.clear();
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(target->Open(frames[static_cast<std::size_t>(i)]).ok());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].direction, Direction::kRx);
  host->Tick();
  target->Tick();
  EXPECT_EQ(events_.size(), 1u);
  EXPECT_EQ(host->stats().drop(DropReason::kHardLimit), 1u);
}

TEST_F(SaDatabaseTest, SoftLifetimeWithJitterSignalsOnceInItsWindow) {
  SaPolicy policy;
  policy.limits.soft_lifetime = milliseconds(10'000);
  policy.limits.hard_lifetime = milliseconds(20'000);
  policy.limits.jitter = 0.1;
  auto host = Make(policy);
  ASSERT_TRUE(host->InstallTx(MakeSa(1, Direction::kTx)).ok());
  clock_.Advance(milliseconds(8'999));  // before the earliest jittered deadline (9 s)
  host->Tick();
  EXPECT_TRUE(events_.empty());
  clock_.Advance(milliseconds(1'001));  // at the un-jittered soft lifetime
  host->Tick();
  host->Tick();
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, ExpiryReason::kTime);
  EXPECT_EQ(host->stats().expiring_signals, 1u);
  clock_.Advance(milliseconds(10'000));
  EXPECT_FALSE(host->Seal(DataHeader(), PayloadOf(1)).ok());  // hard lifetime
}

TEST_F(SaDatabaseTest, BytesSoftLimit) {
  SaPolicy policy;
  policy.limits.soft_bytes = 250;
  auto host = Make(policy);
  ASSERT_TRUE(host->InstallTx(MakeSa(1, Direction::kTx)).ok());
  for (int i = 0; i < 5; ++i) Sealed(*host, i);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, ExpiryReason::kBytes);
}

// Time-driven rekeys on an idle link: each old RX SA waits for retirement (no frames on the
// new one, retire_timeout not reached), so the table fills; a new install evicts the oldest
// retiring SA and never one that is in use.
TEST_F(SaDatabaseTest, FullRxTableEvictsOldestRetiringSaNeverAnActiveOne) {
  SaPolicy policy;
  policy.max_rx = 3;
  auto target = Make(policy);
  ASSERT_TRUE(target->AddRx(MakeSa(1, Direction::kRx)).ok());
  for (std::uint32_t spi = 2; spi <= 6; ++spi) {
    clock_.Advance(milliseconds(2'000));  // well under the 20 s retire timeout
    target->Tick();
    ASSERT_TRUE(target->AddRx(MakeSa(spi, Direction::kRx)).ok()) << spi;
    ASSERT_TRUE(target->DeleteRx(spi - 1).ok()) << spi;
  }
  // The newest (in use) plus the two most recent retiring ones.
  EXPECT_EQ(target->rx_spis(), (std::vector<std::uint32_t>{4, 5, 6}));
  EXPECT_EQ(target->stats().rx_evicted, 3u);
  EXPECT_EQ(target->stats().rx_retired, 3u);
  // The SA in use still opens frames.
  auto host = Make(policy);
  ASSERT_TRUE(host->InstallTx(MakeSa(6, Direction::kTx)).ok());
  ASSERT_TRUE(target->Open(Sealed(*host, 1)).ok());

  // Only active, non-retiring SAs: the install fails and evicts nothing.
  auto full = Make(policy);
  for (std::uint32_t spi = 1; spi <= 3; ++spi) {
    ASSERT_TRUE(full->AddRx(MakeSa(spi, Direction::kRx)).ok());
  }
  EXPECT_EQ(full->AddRx(MakeSa(4, Direction::kRx)).code(), Status::Code::kNoSpace);
  EXPECT_EQ(full->rx_spis(), (std::vector<std::uint32_t>{1, 2, 3}));
  // One retiring SA (not the oldest installed) makes room, the others stay.
  ASSERT_TRUE(full->DeleteRx(2).ok());
  ASSERT_TRUE(full->AddRx(MakeSa(4, Direction::kRx)).ok());
  EXPECT_EQ(full->rx_spis(), (std::vector<std::uint32_t>{1, 3, 4}));
  EXPECT_EQ(full->stats().rx_evicted, 1u);
}

// After a rekey the old RX SA is superseded: crossing a soft limit (time or frames) while it
// waits for retirement raises nothing; the current SA still signals.
TEST_F(SaDatabaseTest, SupersededRxSaNeverSignalsExpiry) {
  SaPolicy policy;
  policy.auto_retire = false;
  policy.limits.soft_frames = 4;
  policy.limits.soft_lifetime = milliseconds(5'000);
  policy.limits.hard_lifetime = milliseconds(60'000);
  auto host = Make(policy);
  auto target = Make(policy);
  ASSERT_TRUE(target->AddRx(MakeSa(1, Direction::kRx)).ok());
  ASSERT_TRUE(host->InstallTx(MakeSa(1, Direction::kTx)).ok());
  std::vector<Frame> old_frames;
  for (int i = 0; i < 6; ++i) old_frames.push_back(Sealed(*host, i));
  events_.clear();  // the host's TX signal
  // Rekey begins: a newer RX SA supersedes SA 1 while frames on SA 1 are still in flight.
  ASSERT_TRUE(target->AddRx(MakeSa(2, Direction::kRx)).ok());
  for (const Frame& f : old_frames) ASSERT_TRUE(target->Open(f).ok());  // past soft_frames
  ASSERT_TRUE(target->DeleteRx(1).ok());
  clock_.Advance(milliseconds(6'000));  // past the soft lifetime of both
  target->Tick();
  // Only the current SA 2 signals (time); SA 1 (retiring, past frames and time) does not.
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].spi, 2u);
  EXPECT_EQ(events_[0].reason, ExpiryReason::kTime);
  EXPECT_EQ(target->rx_spis(), (std::vector<std::uint32_t>{1, 2}));
  clock_.Advance(milliseconds(20'000));
  target->Tick();
  EXPECT_EQ(target->rx_spis(), std::vector<std::uint32_t>{2});
  EXPECT_EQ(events_.size(), 1u);
  EXPECT_EQ(target->stats().expiring_signals, 1u);
}

}  // namespace
}  // namespace cafs::edif::link
