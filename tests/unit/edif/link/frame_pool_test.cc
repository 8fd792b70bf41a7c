// FramePool / FrameLane with the real SA code: frames sealed on several workers leave in
// sequence order, open correctly through a second pool, a forged or replayed frame is a clean
// error in its place, and Stop() releases every job in flight.
#include "edif/link/frame_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "edif/link/sa_database.h"
#include "test_sa.h"

namespace cafs::edif::link {
namespace {

FrameHeader DataHeader(std::uint32_t xid) {
  FrameHeader h;
  h.type = FrameType::kData;
  h.src_port_id = 1;
  h.dst_port_id = 2;
  h.exchange_id = xid;
  return h;
}

// Frame i: a size from 1 byte to 96 KiB (so workers finish out of order) filled from i.
Bytes PayloadOf(std::uint32_t i) {
  Bytes b(1 + (i * 7919u) % (96 * 1024));
  for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<std::uint8_t>(i + k);
  return b;
}

// The sending side of a session: the sequence number and key are fixed under `order_mu`
// (ReserveSeal), sealing runs on the pool, the "socket write" is the in-order deliver.
class Sender {
 public:
  Sender(SaDatabase& sas, FrameLane& lane) : sas_(sas), lane_(lane) {}
  Status Send(std::uint32_t xid, Bytes payload) {
    std::lock_guard order(order_mu_);
    CAFS_ASSIGN_OR_RETURN(SealTicket t, sas_.ReserveSeal(DataHeader(xid), payload.size()));
    auto wire = std::make_shared<UninitBytes>();
    auto data = std::make_shared<Bytes>(std::move(payload));
    return lane_.Submit([t, wire, data] { return t.SealInto(*data, *wire); },
                        [this, wire](Status st) {
                          ASSERT_TRUE(st.ok()) << st.ToString();
                          std::lock_guard lock(out_mu_);
                          out_.push_back(Bytes(wire->begin(), wire->end()));
                        });
  }
  void Rekey(SaDatabase& peer, std::uint32_t spi) {
    std::lock_guard order(order_mu_);
    ASSERT_TRUE(peer.AddRx(MakeSa(spi, Direction::kRx)).ok());  // make before break
    ASSERT_TRUE(sas_.InstallTx(MakeSa(spi, Direction::kTx)).ok());
  }
  std::vector<Bytes> TakeWire() {
    std::lock_guard lock(out_mu_);
    return std::move(out_);
  }

 private:
  SaDatabase& sas_;
  FrameLane& lane_;
  std::mutex order_mu_;
  std::mutex out_mu_;
  std::vector<Bytes> out_;  // guarded by out_mu_: the byte stream, frame by frame
};

// The receiving side: the reader thread runs BeginOpen in arrival order, the pool decrypts,
// FinishOpen and delivery run in order. Records (xid or ~0u on a drop, status) per frame.
struct Received {
  std::uint32_t xid;
  Status status;
  Bytes plaintext;
};

void ReceiveAll(SaDatabase& sas, FrameLane& lane, const std::vector<Bytes>& wire,
                std::vector<Received>& out, std::mutex& out_mu) {
  for (const Bytes& w : wire) {
    auto frame = std::make_shared<Frame>(*DecodeFrame(w));
    auto ticket = sas.BeginOpen(frame->header, frame->payload);
    if (!ticket.ok()) {  // dropped by the pre-check: reported in its place, like the others
      ASSERT_TRUE(lane.Submit([] { return Status::OK(); },
                              [&out, &out_mu, xid = frame->header.exchange_id,
                               st = ticket.status()](Status) {
                                std::lock_guard lock(out_mu);
                                out.push_back({xid, st, {}});
                              })
                      .ok());
      continue;
    }
    auto decrypted =
        std::make_shared<std::variant<MutableByteView, DropReason>>(DropReason::kMalformed);
    ASSERT_TRUE(lane.Submit(
                        [t = *ticket, frame, decrypted] {
                          *decrypted = t.DecryptInPlace(frame->header, frame->payload);
                          return Status::OK();
                        },
                        [&sas, &out, &out_mu, frame, decrypted](Status st) {
                          ASSERT_TRUE(st.ok());
                          auto plain = sas.FinishOpen(frame->header, frame->payload, *decrypted);
                          std::lock_guard lock(out_mu);
                          if (plain.ok()) {
                            out.push_back({frame->header.exchange_id, Status::OK(),
                                           Bytes(plain->begin(), plain->end())});
                          } else {
                            out.push_back({frame->header.exchange_id, plain.status(), {}});
                          }
                        })
                    .ok());
  }
}

// Receives `wire` through a pool of its own and waits until every frame was delivered.
std::vector<Received> OpenAll(SaDatabase& sas, const std::vector<Bytes>& wire,
                              FramePoolOptions options) {
  FramePool pool(options);
  auto lane = pool.NewLane();
  std::vector<Received> got;
  std::mutex got_mu;
  ReceiveAll(sas, *lane, wire, got, got_mu);
  lane->Drain();
  return got;
}

class FramePoolTest : public testing::Test {
 protected:
  FramePoolTest() : clock_(Clock::TimePoint(std::chrono::hours(3))) {}
  ManualClock clock_;
  SaDatabase host_{{}, clock_};
  SaDatabase target_{{}, clock_};
};

// Several submitting threads, four workers, varied frame sizes, a make-before-break rekey
// half-way and two threads burning CPU: every frame leaves in sequence order (per key, and
// no old-key frame after a new-key one), the lane never holds more than its bound, and the
// peer opens all of them through its own pool with nothing dropped.
TEST_F(FramePoolTest, FramesSealedOnSeveralWorkersLeaveInSequenceOrderUnderLoad) {
  ASSERT_TRUE(target_.AddRx(MakeSa(1, Direction::kRx)).ok());
  ASSERT_TRUE(host_.InstallTx(MakeSa(1, Direction::kTx)).ok());
  FramePool seal_pool({.workers = 4, .max_in_flight = 6});
  auto seal_lane = seal_pool.NewLane();
  Sender sender(host_, *seal_lane);

  std::atomic<bool> burn{true};
  std::vector<std::thread> burners;
  for (int i = 0; i < 2; ++i) {
    burners.emplace_back([&] {
      volatile std::uint64_t x = 0;
      while (burn.load(std::memory_order_relaxed)) x = x + 1;
    });
  }
  constexpr std::uint32_t kThreads = 3, kPerThread = 200;
  std::atomic<std::uint32_t> next_xid{1};
  std::atomic<std::size_t> max_seen{0};
  std::vector<std::thread> senders;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < kPerThread; ++i) {
        const std::uint32_t xid = next_xid.fetch_add(1);
        ASSERT_TRUE(sender.Send(xid, PayloadOf(xid)).ok());
        std::size_t seen = seal_lane->in_flight();
        std::size_t prev = max_seen.load();
        while (seen > prev && !max_seen.compare_exchange_weak(prev, seen)) {
        }
        if (t == 0 && i == kPerThread / 2) sender.Rekey(target_, 2);
      }
    });
  }
  for (auto& th : senders) th.join();
  seal_lane->Drain();
  seal_pool.Stop();
  burn.store(false);
  for (auto& th : burners) th.join();
  EXPECT_LE(max_seen.load(), 6u);

  const std::vector<Bytes> wire = sender.TakeWire();
  ASSERT_EQ(wire.size(), kThreads * kPerThread);
  std::uint32_t spi = 1;
  std::uint64_t last_seq = 0;
  for (const Bytes& w : wire) {
    auto f = DecodeFrame(w);
    ASSERT_TRUE(f.ok());
    const std::uint32_t frame_spi = LoadLe32(f->payload.data());
    const std::uint64_t seq = LoadLe64(f->payload.data() + kSpiSize);
    if (frame_spi != spi) {
      ASSERT_EQ(spi, 1u) << "an old-key frame left after a new-key one";
      ASSERT_EQ(frame_spi, 2u);
      spi = 2;
      last_seq = 0;
    }
    ASSERT_EQ(seq, last_seq + 1) << "frames left out of sequence order";
    last_seq = seq;
  }
  EXPECT_EQ(spi, 2u);
  EXPECT_EQ(host_.stats().rekeys, 1u);

  const std::vector<Received> got = OpenAll(target_, wire, {.workers = 3, .max_in_flight = 5});
  ASSERT_EQ(got.size(), wire.size());
  std::vector<std::uint32_t> sent_order, got_order;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    sent_order.push_back(DecodeFrame(wire[i])->header.exchange_id);
    got_order.push_back(got[i].xid);
    ASSERT_TRUE(got[i].status.ok()) << got[i].status.ToString();
    ASSERT_EQ(got[i].plaintext, PayloadOf(got[i].xid));
  }
  EXPECT_EQ(got_order, sent_order);
  const LinkStats rx = target_.stats();
  EXPECT_EQ(rx.rx_frames, wire.size());
  EXPECT_EQ(rx.drops_total(), 0u);
  EXPECT_EQ(target_.rx_spis(), std::vector<std::uint32_t>{2});  // the old RX SA retired
}

// A frame whose ICV fails on a worker, and a replay of an earlier frame submitted while the
// original is still in flight, are each dropped in their place: counted, an error delivered
// at their position, nothing reordered past them, every other frame delivered.
TEST_F(FramePoolTest, AForgedOrReplayedFrameIsACleanErrorInOrder) {
  ASSERT_TRUE(target_.AddRx(MakeSa(5, Direction::kRx)).ok());
  ASSERT_TRUE(host_.InstallTx(MakeSa(5, Direction::kTx)).ok());
  std::vector<Bytes> wire;
  for (std::uint32_t i = 1; i <= 20; ++i) {
    auto w = host_.Seal(DataHeader(i), PayloadOf(i));
    ASSERT_TRUE(w.ok());
    wire.push_back(*w);
  }
  wire[6][wire[6].size() - 20] ^= 0x01;     // frame 7: one ciphertext bit
  wire.insert(wire.begin() + 10, wire[3]);  // frame 4 again, after frame 10
  const std::vector<Received> got = OpenAll(target_, wire, {.workers = 3, .max_in_flight = 4});
  ASSERT_EQ(got.size(), 21u);
  const std::vector<std::uint32_t> want = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 4,
                                           11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].xid, want[i]) << "position " << i;
    if (i == 6) {
      EXPECT_TRUE(got[i].status.IsAuthFailed()) << got[i].status.ToString();
      EXPECT_TRUE(got[i].plaintext.empty());
    } else if (i == 10) {
      EXPECT_FALSE(got[i].status.ok());
      EXPECT_TRUE(got[i].plaintext.empty());
    } else {
      ASSERT_TRUE(got[i].status.ok()) << i << ": " << got[i].status.ToString();
      EXPECT_EQ(got[i].plaintext, PayloadOf(want[i]));
    }
  }
  const LinkStats s = target_.stats();
  EXPECT_EQ(s.drop(DropReason::kAuthFailed), 1u);
  EXPECT_EQ(s.drop(DropReason::kReplay) + s.drop(DropReason::kTooOld), 1u);
  EXPECT_EQ(s.rx_frames, 19u);
}

// Two frames with the same sequence number both pass the pre-check while neither is
// committed; only the first is delivered (the window is re-checked in order at FinishOpen).
TEST_F(FramePoolTest, TwoCopiesInFlightTogetherAreDeliveredOnce) {
  ASSERT_TRUE(target_.AddRx(MakeSa(9, Direction::kRx)).ok());
  ASSERT_TRUE(host_.InstallTx(MakeSa(9, Direction::kTx)).ok());
  auto w = host_.Seal(DataHeader(1), PayloadOf(1));
  ASSERT_TRUE(w.ok());
  Frame a = *DecodeFrame(*w), b = *DecodeFrame(*w);
  auto ta = target_.BeginOpen(a.header, a.payload);
  auto tb = target_.BeginOpen(b.header, b.payload);
  ASSERT_TRUE(ta.ok() && tb.ok());
  auto da = ta->DecryptInPlace(a.header, a.payload);
  auto db = tb->DecryptInPlace(b.header, b.payload);
  ASSERT_TRUE(target_.FinishOpen(a.header, a.payload, da).ok());
  auto second = target_.FinishOpen(b.header, b.payload, db);
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(target_.stats().drop(DropReason::kReplay), 1u);
  // The dropped copy's plaintext was wiped from its buffer.
  const ByteView body = ByteView(b.payload).subspan(kSpiSize + kSeqSize, PayloadOf(1).size());
  EXPECT_TRUE(std::all_of(body.begin(), body.end(), [](std::uint8_t x) { return x == 0; }));
}

// Stop() with jobs queued and a submitter blocked on a full lane: the running job finishes,
// every other job is delivered exactly once (Unavailable), in order, the blocked Submit
// returns Unavailable, and everything the jobs held is released.
TEST_F(FramePoolTest, StopWithFramesInFlightReleasesEverything) {
  FramePool pool({.workers = 1, .max_in_flight = 8});
  auto lane = pool.NewLane();
  auto held = std::make_shared<Bytes>(1024 * 1024);
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, release = false;
  std::vector<std::pair<int, bool>> delivered;  // (job, ok), guarded by mu
  auto submit = [&](int i, bool first) {
    return lane->Submit(
        [&, held, first] {
          if (first) {
            std::unique_lock lock(mu);
            started = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
          }
          return Status::OK();
        },
        [&, held, i](Status st) {
          std::lock_guard lock(mu);
          delivered.emplace_back(i, st.ok());
        });
  };
  ASSERT_TRUE(submit(0, true).ok());
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  for (int i = 1; i < 8; ++i) ASSERT_TRUE(submit(i, false).ok());
  Status blocked_result;
  std::thread blocked([&] { blocked_result = submit(8, false); });  // the lane is full
  std::thread stopper([&] { pool.Stop(); });
  blocked.join();  // returns once Stop() has stopped the pool and cancelled the queue
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  EXPECT_EQ(blocked_result.code(), Status::Code::kUnavailable);
  ASSERT_EQ(delivered.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(delivered[static_cast<std::size_t>(i)].first, i);
  EXPECT_TRUE(delivered[0].second);  // it was running: it finished
  EXPECT_EQ(lane->in_flight(), 0u);
  EXPECT_EQ(held.use_count(), 1);  // no closure kept
  EXPECT_EQ(lane->Submit([] { return Status::OK(); }, [](Status) {}).code(),
            Status::Code::kUnavailable);
}

// With no workers both steps run on the submitting thread, in order.
TEST_F(FramePoolTest, ZeroWorkersRunInline) {
  FramePool pool({.workers = 0, .max_in_flight = 2});
  auto lane = pool.NewLane();
  std::vector<int> order;
  const auto self = std::this_thread::get_id();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(lane->Submit(
                        [&] {
                          return std::this_thread::get_id() == self
                                     ? Status::OK()
                                     : Status::Internal("not inline");
                        },
                        [&, i](Status st) {
                          EXPECT_TRUE(st.ok());
                          order.push_back(i);
                        })
                    .ok());
    EXPECT_EQ(order.size(), static_cast<std::size_t>(i + 1));
  }
  EXPECT_EQ(lane->in_flight(), 0u);
}

// inline_when_idle runs a job on the calling thread only when its lane is empty; a job
// submitted while another is in flight still goes to a worker and is delivered after it.
TEST_F(FramePoolTest, InlineWhenIdleOnlyWhenTheLaneIsEmpty) {
  FramePool pool({.workers = 2, .max_in_flight = 4});
  auto lane = pool.NewLane();
  const auto self = std::this_thread::get_id();
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::pair<int, bool>> order;  // (job, ran on the caller), guarded by mu
  ASSERT_TRUE(lane->Submit(
                      [&] {
                        std::lock_guard lock(mu);
                        order.emplace_back(0, std::this_thread::get_id() == self);
                        return Status::OK();
                      },
                      [](Status) {}, /*inline_when_idle=*/true)
                  .ok());
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(order.size(), 1u);  // it ran before Submit returned
    EXPECT_TRUE(order[0].second);
  }
  // A blocked job on a worker, then an "inline" one: it must queue behind.
  ASSERT_TRUE(lane->Submit(
                      [&] {
                        std::unique_lock lock(mu);
                        cv.wait(lock, [&] { return release; });
                        return Status::OK();
                      },
                      [&](Status) {
                        std::lock_guard lock(mu);
                        order.emplace_back(1, false);
                      })
                  .ok());
  std::atomic<bool> second_on_caller{true};
  ASSERT_TRUE(lane->Submit(
                      [&] {
                        second_on_caller = std::this_thread::get_id() == self;
                        return Status::OK();
                      },
                      [&](Status) {
                        std::lock_guard lock(mu);
                        order.emplace_back(2, false);
                      },
                      /*inline_when_idle=*/true)
                  .ok());
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  lane->Drain();
  EXPECT_FALSE(second_on_caller.load());
  std::lock_guard lock(mu);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[1].first, 1);
  EXPECT_EQ(order[2].first, 2);
}

}  // namespace
}  // namespace cafs::edif::link
