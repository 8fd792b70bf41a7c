// Rekeyer (deep rekey, docs/format.md 8): every cipher and sector size, version 1 and 2 files;
// foreground I/O between and during steps; bad starts.
#include "format/rekeyer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "env/fault_injection_env.h"
#include "env/mem_env.h"
#include "env/posix_env.h"
#include "unit/env/temp_dir.h"
#include "unit/format/rekey_test_util.h"

namespace cafs::format {
namespace {

using Bytes = std::vector<std::uint8_t>;
using testing::RekeyParam;

Bytes RandomBytes(std::mt19937_64& rng, std::size_t n) {
  Bytes v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() | 1);
  return v;
}

void Apply(Bytes& model, std::uint64_t off, const Bytes& data) {
  if (model.size() < off + data.size()) model.resize(off + data.size(), 0);
  std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(off));
}

Bytes ReadAll(EncryptedFile& ef) {
  Bytes out(ef.Size());
  auto n = ef.Read(0, out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return out;
}

class RekeyerTest : public ::testing::TestWithParam<RekeyParam> {
 protected:
  crypto::CipherId cipher() const { return std::get<0>(GetParam()); }
  std::uint32_t sector() const { return std::get<1>(GetParam()); }

  std::unique_ptr<EncryptedFile> NewFile() {
    CreateParams p;
    p.cipher = cipher();
    p.sector_size = sector();
    p.key_guid = key_;
    p.key_version = 1;
    if (std::get<2>(GetParam()) == kFormatVersion1) {
      return testing::CreateV1File(env_, path_, p, old_dek_);
    }
    return testing::Must(EncryptedFile::Create(
        testing::Must(env_.OpenFile(path_, env::OpenOptions::CreateNew())), p, old_dek_));
  }
  Result<std::unique_ptr<EncryptedFile>> Reopen(const SecureBuffer& dek, const SecureBuffer* target,
                                                bool read_only) {
    return EncryptedFile::Open(
        testing::Must(env_.OpenFile(
            path_, read_only ? env::OpenOptions::ReadOnly() : env::OpenOptions::ReadWrite())),
        dek,
        OpenParams{
            .expected_key_guid = std::nullopt, .read_only = read_only, .rekey_target_dek = target});
  }
  // Sectors 0..39 of data with holes at 3, 10..12 and 30, a partial last sector.
  Bytes Fill(EncryptedFile& ef, std::mt19937_64& rng) {
    Bytes model;
    const std::uint64_t ss = sector();
    for (std::uint64_t s = 0; s < 40; ++s) {
      if (s == 3 || (s >= 10 && s <= 12) || s == 30) continue;
      const Bytes d = RandomBytes(rng, s == 39 ? ss / 2 + 7 : ss);
      EXPECT_TRUE(ef.Write(s * ss, d).ok());
      Apply(model, s * ss, d);
    }
    EXPECT_TRUE(ef.Sync().ok());
    return model;
  }

  env::MemEnv env_;
  const std::string path_ = "/file";
  const Uuid key_ = Uuid::Random();
  const Uuid target_ = Uuid::Random();
  SecureBuffer old_dek_ = testing::TestDek(std::get<0>(GetParam()), 1);
  SecureBuffer new_dek_ = testing::TestDek(std::get<0>(GetParam()), 2);
};

TEST_P(RekeyerTest, RekeysEverySectorAndSwitchesTheKey) {
  std::mt19937_64 rng(1);
  auto ef = NewFile();
  const Bytes model = Fill(*ef, rng);
  auto rk = testing::Must(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 7}));
  EXPECT_EQ(ef->header().version, kFormatVersion2);
  EXPECT_TRUE(ef->rekey_in_progress());
  std::uint64_t last_done = 0;
  int steps = 0;
  for (;; ++steps) {
    ASSERT_LT(steps, 100) << "no end";
    auto p = rk->Step();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->bytes_total, 40u * sector());
    EXPECT_GE(p->bytes_done, last_done);
    last_done = p->bytes_done;
    ASSERT_EQ(ReadAll(*ef), model) << "after step " << steps;
    if (p->finished) break;
    // A read-only open sees the same plaintext mid-rekey, with both keys only.
    auto ro = Reopen(old_dek_, &new_dek_, true);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    ASSERT_EQ(ReadAll(**ro), model);
    EXPECT_EQ(Reopen(old_dek_, nullptr, true).status().code(), Status::Code::kFailedPrecondition);
    if (cipher() != crypto::CipherId::kNone) {  // cipher none: both "keys" are empty
      EXPECT_TRUE(Reopen(old_dek_, &old_dek_, true).status().IsAuthFailed());
    }
  }
  EXPECT_EQ(steps, 6);  // 40 sectors / 7 per hotzone, then the switch
  EXPECT_EQ(last_done, 40u * sector());
  const Header h = ef->header();
  EXPECT_EQ(h.key_guid, target_);
  EXPECT_EQ(h.key_version, 2u);
  EXPECT_EQ(h.creation_key_guid, key_);
  EXPECT_EQ(h.rekey, RekeyState{});
  EXPECT_TRUE(rk->Step()->finished);  // idempotent
  rk.reset();
  ef.reset();
  // Only the target key opens it now; the old one no longer verifies the header.
  auto with_new = Reopen(new_dek_, nullptr, false);
  ASSERT_TRUE(with_new.ok()) << with_new.status().ToString();
  EXPECT_EQ(ReadAll(**with_new), model);
  EXPECT_EQ(testing::PeekHeader(env_, path_).key_guid, target_);
  with_new->reset();
  if (cipher() != crypto::CipherId::kNone) {
    EXPECT_TRUE(Reopen(old_dek_, nullptr, true).status().IsAuthFailed());
  }
}

// A VM keeps its disk open across key rotations: a second deep rekey starts on the open file
// the first one finished on (the finished target becomes the file's own key first), with a
// reader running through both, and only the third key opens the file afterwards.
TEST_P(RekeyerTest, RekeysAgainOnTheSameOpenFile) {
  std::mt19937_64 rng(7);
  auto ef = NewFile();
  Bytes model = Fill(*ef, rng);
  const Uuid third = Uuid::Random();
  const SecureBuffer third_dek = testing::TestDek(cipher(), 3);
  std::atomic<bool> stop{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    Bytes out(model.size());
    while (!stop.load()) {
      auto n = ef->Read(0, out);
      if (!n.ok() || out != model) ++bad_reads;
    }
  });
  // (No ASSERT while the reader runs: it must be joined.)
  const auto rekey_to = [&](const Uuid& guid, std::uint32_t version, const SecureBuffer& dek) {
    auto rk = Rekeyer::Start(*ef, guid, version, dek, {.hotzone_sectors = 7});
    EXPECT_TRUE(rk.ok()) << rk.status().ToString();
    for (int steps = 0; rk.ok() && steps < 100; ++steps) {
      auto p = (*rk)->Step();
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      if (!p.ok() || p->finished) break;
    }
    EXPECT_EQ(ef->header().key_guid, guid);
    EXPECT_EQ(ef->header().key_version, version);
    EXPECT_EQ(ef->cipher(), cipher());
  };
  rekey_to(target_, 2, new_dek_);
  rekey_to(third, 3, third_dek);
  stop = true;
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0);
  // Writes after the second rekey land under the third key.
  const Bytes late = RandomBytes(rng, sector());
  ASSERT_TRUE(ef->Write(5 * sector(), late).ok());
  Apply(model, 5 * sector(), late);
  ASSERT_TRUE(ef->Sync().ok());
  ef.reset();
  auto with_third = Reopen(third_dek, nullptr, true);
  ASSERT_TRUE(with_third.ok()) << with_third.status().ToString();
  EXPECT_EQ(ReadAll(**with_third), model);
  if (cipher() != crypto::CipherId::kNone) {
    EXPECT_TRUE(Reopen(new_dek_, nullptr, true).status().IsAuthFailed());
  }
}

TEST_P(RekeyerTest, ForegroundWritesOnBothSidesOfTheWatermark) {
  std::mt19937_64 rng(2);
  auto ef = NewFile();
  Bytes model = Fill(*ef, rng);
  auto rk = testing::Must(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 5}));
  const std::uint64_t ss = sector();
  for (int steps = 0;; ++steps) {
    ASSERT_LT(steps, 200) << "no end";
    // Unaligned writes anywhere (below, across and above the watermark, past the end).
    for (int i = 0; i < 3; ++i) {
      const std::uint64_t off = rng() % (model.size() + ss);
      const Bytes d = RandomBytes(rng, 1 + rng() % (3 * ss));
      ASSERT_TRUE(ef->Write(off, d).ok());
      Apply(model, off, d);
    }
    if (steps == 4) {  // a truncate down mid-rekey, then growth again
      ASSERT_TRUE(ef->Truncate(model.size() / 3).ok());
      model.resize(model.size() / 3);
    }
    if (steps % 3 == 0) {
      ASSERT_TRUE(ef->Sync().ok());
    }
    auto p = rk->Step();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_EQ(ReadAll(*ef), model) << "step " << steps;
    if (p->finished) break;
  }
  ASSERT_TRUE(ef->Write(model.size() + 100, Bytes(10, 9)).ok());  // after the switch
  Apply(model, model.size() + 100, Bytes(10, 9));
  ASSERT_TRUE(ef->Sync().ok());
  ef.reset();
  auto reopened = Reopen(new_dek_, nullptr, false);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(ReadAll(**reopened), model);
}

TEST_P(RekeyerTest, ResumesAfterReopenFromTheWatermark) {
  std::mt19937_64 rng(3);
  auto ef = NewFile();
  const Bytes model = Fill(*ef, rng);
  auto rk = testing::Must(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 6}));
  ASSERT_TRUE(rk->Step().ok());
  ASSERT_TRUE(rk->Step().ok());
  rk.reset();
  ef.reset();
  EXPECT_EQ(testing::PeekHeader(env_, path_).rekey.watermark_sector, 12u);
  ef = testing::Must(Reopen(old_dek_, &new_dek_, false));
  // Another target while this rekey runs is refused; the same target resumes.
  EXPECT_EQ(Rekeyer::Start(*ef, Uuid::Random(), 2, new_dek_).status().code(),
            Status::Code::kFailedPrecondition);
  if (cipher() != crypto::CipherId::kNone) {
    EXPECT_TRUE(Rekeyer::Start(*ef, target_, 2, old_dek_).status().IsAuthFailed());
  }
  rk = testing::Must(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 6}));
  EXPECT_EQ(rk->progress().bytes_done, 12u * sector());
  while (!testing::Must(rk->Step()).finished) {
  }
  EXPECT_EQ(ReadAll(*ef), model);
  EXPECT_EQ(ef->header().key_guid, target_);
}

TEST_P(RekeyerTest, RefusesBadStarts) {
  std::mt19937_64 rng(4);
  auto ef = NewFile();
  Fill(*ef, rng);
  EXPECT_TRUE(Rekeyer::Start(*ef, key_, 1, old_dek_).status().IsInvalidArgument());
  EXPECT_TRUE(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 0})
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 3073})
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(Rekeyer::Start(*ef, target_, 2, new_dek_,
                             {.hotzone_sectors = 385, .journal_format = kJournalFingerprint})
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(Rekeyer::Start(*ef, target_, 2, new_dek_, {.hotzone_sectors = 1, .journal_format = 2})
                  .status()
                  .IsInvalidArgument());
  ef.reset();
  // A Start that fails on a full disk (mid-upgrade for version 1 files) can be retried; with
  // the same target key only.
  {
    env::FaultInjectionEnv fenv(&env_);
    auto rw = testing::Must(EncryptedFile::Open(
        testing::Must(fenv.OpenFile(path_, env::OpenOptions::ReadWrite())), old_dek_));
    fenv.FailWritesAfter(std::get<2>(GetParam()) == kFormatVersion1 ? 512 : 0);
    EXPECT_TRUE(Rekeyer::Start(*rw, target_, 2, new_dek_).status().IsNoSpace());
    fenv.ClearWriteLimit();
    if (cipher() != crypto::CipherId::kNone) {
      EXPECT_EQ(Rekeyer::Start(*rw, target_, 2, old_dek_).status().code(),
                Status::Code::kFailedPrecondition);
    }
    auto rk = Rekeyer::Start(*rw, target_, 2, new_dek_);
    ASSERT_TRUE(rk.ok()) << rk.status().ToString();
    while (!testing::Must((*rk)->Step()).finished) {
    }
    EXPECT_EQ(rw->header().key_guid, target_);
  }
  auto ro = testing::Must(Reopen(new_dek_, nullptr, true));
  EXPECT_EQ(Rekeyer::Start(*ro, target_, 2, new_dek_).status().code(),
            Status::Code::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(AllCiphers, RekeyerTest, testing::AllRekeyParams(),
                         testing::RekeyParamName);

// A step that fails after its journal became durable (here: EIO writing the hotzone) leaves
// the hotzone readable; a foreground write into it first rolls it forward (a write whose roll
// forward fails, here ENOSPC, fails and changes nothing), then lands under the target key;
// later steps continue; a power cut at that point loses nothing that was synced.
TEST(RekeyerFailureTest, FailedStepLeavesTheHotzoneReadableAndTheNextStepRollsForward) {
  const auto cipher = crypto::CipherId::kAes128Xts;
  const auto old_dek = testing::TestDek(cipher, 1), new_dek = testing::TestDek(cipher, 2);
  env::MemEnv mem;
  env::FaultInjectionEnv fenv(&mem);
  CreateParams p;
  p.cipher = cipher;
  p.sector_size = 512;
  p.key_guid = Uuid::Random();
  auto ef = testing::Must(EncryptedFile::Create(
      testing::Must(fenv.OpenFile("/f", env::OpenOptions::CreateNew())), p, old_dek));
  std::mt19937_64 rng(5);
  Bytes model;
  for (std::uint64_t s = 0; s < 30; ++s) {
    const Bytes d = s == 12 ? Bytes(512, 0) : RandomBytes(rng, 512);
    if (s != 12) {
      ASSERT_TRUE(ef->Write(s * 512, d).ok());
    }
    Apply(model, s * 512, d);
  }
  ASSERT_TRUE(ef->Sync().ok());
  const Uuid target = Uuid::Random();
  auto rk = testing::Must(Rekeyer::Start(*ef, target, 2, new_dek, {.hotzone_sectors = 10}));
  ASSERT_TRUE(rk->Step().ok());  // [0, 10)
  // Hotzone [10, 20), written as runs [10, 12) and [13, 20) (12 is a hole): the second fails.
  fenv.SetWriteFault([](const std::string&, std::uint64_t off, std::uint64_t len) {
    return off >= kHeaderSize + 10 * 512 && off + len > kHeaderSize + 15 * 512;
  });
  EXPECT_FALSE(rk->Step().ok());
  fenv.ClearFaults();
  EXPECT_EQ(testing::PeekHeader(fenv, "/f").rekey.hotzone_sectors, 10u);
  ASSERT_EQ(ReadAll(*ef), model);
  // A foreground write into the hotzone whose roll forward fails (disk full): the write
  // fails, nothing changes, the hotzone stays active.
  fenv.FailWritesAfter(0);
  EXPECT_TRUE(ef->Write(17u * 512, RandomBytes(rng, 300)).IsNoSpace());
  fenv.ClearWriteLimit();
  EXPECT_EQ(testing::PeekHeader(fenv, "/f").rekey.hotzone_sectors, 10u);
  ASSERT_EQ(ReadAll(*ef), model);
  // Foreground writes into the active hotzone: the hole (12), a rewritten (11) and a
  // not-rewritten (17) sector, unaligned across 19/20. The first rolls the hotzone forward.
  for (std::uint64_t off : {12u * 512 + 3, 11u * 512 + 100, 17u * 512, 19u * 512 + 400}) {
    const Bytes d = RandomBytes(rng, 300);
    ASSERT_TRUE(ef->Write(off, d).ok());
    Apply(model, off, d);
  }
  EXPECT_EQ(testing::PeekHeader(fenv, "/f").rekey.hotzone_sectors, 0u);
  EXPECT_EQ(testing::PeekHeader(fenv, "/f").rekey.watermark_sector, 20u);
  EXPECT_EQ(rk->progress().bytes_done, 20u * 512);
  ASSERT_TRUE(ef->Sync().ok());
  ASSERT_EQ(ReadAll(*ef), model);
  // The next step fails too (disk full), then one succeeds.
  fenv.FailWritesAfter(0);
  EXPECT_TRUE(rk->Step().status().IsNoSpace());
  fenv.ClearWriteLimit();
  ASSERT_EQ(ReadAll(*ef), model);
  auto progress = rk->Step();
  ASSERT_TRUE(progress.ok()) << progress.status().ToString();
  EXPECT_EQ(progress->bytes_done, 30u * 512);
  ASSERT_EQ(ReadAll(*ef), model);
  // Power cut now, reopen, finish.
  rk.reset();
  ef.reset();
  ASSERT_TRUE(fenv.DropUnsyncedData().ok());
  ef = testing::Must(EncryptedFile::Open(
      testing::Must(fenv.OpenFile("/f", env::OpenOptions::ReadWrite())), old_dek,
      OpenParams{
          .expected_key_guid = std::nullopt, .read_only = false, .rekey_target_dek = &new_dek}));
  ASSERT_EQ(ReadAll(*ef), model);
  rk = testing::Must(Rekeyer::Start(*ef, target, 2, new_dek, {.hotzone_sectors = 10}));
  while (!testing::Must(rk->Step()).finished) {
  }
  ASSERT_EQ(ReadAll(*ef), model);
  EXPECT_EQ(ef->header().key_guid, target);
}

// Real threads on a real file: foreground writers and readers verify their data while the
// rekeyer runs with small hotzones, one writer extends the file meanwhile.
TEST(RekeyerConcurrencyTest, ForegroundIoWhileRekeying) {
  env::testing::TempDir tmp;
  const auto cipher = crypto::CipherId::kAes256Xts;
  const auto old_dek = testing::TestDek(cipher, 1), new_dek = testing::TestDek(cipher, 2);
  CreateParams p;
  p.cipher = cipher;
  p.sector_size = 512;
  p.key_guid = Uuid::Random();
  auto ef =
      testing::Must(EncryptedFile::Create(testing::Must(env::Env::Default()->OpenFile(
                                              tmp.path() + "/f", env::OpenOptions::CreateNew())),
                                          p, old_dek));
  constexpr std::uint64_t kBase = 2 * 1024 * 1024;
  ASSERT_TRUE(ef->Write(0, Bytes(kBase, 0x5a)).ok());
  constexpr int kThreads = 4;
  constexpr std::uint64_t kStripe = 1000;  // thread t owns [k*4000 + t*1000, +1000)
  std::atomic<bool> done{false};
  std::vector<Bytes> owned(kThreads);  // per thread: last value byte per stripe k
  std::vector<std::thread> threads;
  const int min_rounds = std::max(50, static_cast<int>(400 * testing::TestScale()));
  for (int t = 0; t < kThreads; ++t) {
    owned[static_cast<std::size_t>(t)].assign(kBase / 4000, 0x5a);
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 10));
      Bytes& mine = owned[static_cast<std::size_t>(t)];
      for (int r = 0; r < min_rounds || !done.load(); ++r) {
        const std::uint64_t k = rng() % mine.size();
        const auto v = static_cast<std::uint8_t>(1 + rng() % 250);
        const std::uint64_t off = k * 4000 + static_cast<std::uint64_t>(t) * kStripe;
        const Bytes data(kStripe, v);
        ASSERT_TRUE(ef->Write(off, data).ok());
        mine[k] = v;
        Bytes back(kStripe);
        ASSERT_EQ(*ef->Read(off, back), kStripe);
        ASSERT_EQ(back, data) << "thread " << t << " round " << r;
        // Re-read another stripe of ours written earlier.
        const std::uint64_t k2 = rng() % mine.size();
        ASSERT_EQ(*ef->Read(k2 * 4000 + static_cast<std::uint64_t>(t) * kStripe, back), kStripe);
        ASSERT_EQ(back, Bytes(kStripe, mine[k2])) << "thread " << t << " stripe " << k2;
        if (r % 50 == 0) {
          ASSERT_TRUE(ef->Sync().ok());
        }
      }
    });
  }
  // An appender: the file grows while the rekey runs.
  std::uint64_t appended = 0;
  std::thread appender([&] {
    for (int i = 0; i < 64; ++i) {
      ASSERT_TRUE(ef->Write(kBase + appended, Bytes(3000, 0x77)).ok());
      appended += 3000;
    }
  });
  auto rk = testing::Must(Rekeyer::Start(*ef, Uuid::Random(), 2, new_dek, {.hotzone_sectors = 32}));
  std::uint64_t steps = 0;
  for (;; ++steps) {
    auto pr = rk->Step();
    ASSERT_TRUE(pr.ok()) << pr.status().ToString();
    if (pr->finished) break;
  }
  done = true;
  for (auto& th : threads) th.join();
  appender.join();
  EXPECT_GT(steps, kBase / 512 / 32);
  ASSERT_EQ(ef->Size(), kBase + appended);
  Bytes all = ReadAll(*ef);
  for (std::uint64_t k = 0; k < kBase / 4000; ++k) {
    for (int t = 0; t < kThreads; ++t) {
      const std::uint64_t off = k * 4000 + static_cast<std::uint64_t>(t) * kStripe;
      ASSERT_EQ(all[off], owned[static_cast<std::size_t>(t)][k])
          << "stripe " << k << " thread " << t;
      ASSERT_EQ(all[off + kStripe - 1], owned[static_cast<std::size_t>(t)][k]);
    }
  }
  EXPECT_TRUE(std::all_of(all.begin() + static_cast<std::ptrdiff_t>(kBase), all.end(),
                          [](std::uint8_t b) { return b == 0x77; }));
  ASSERT_TRUE(ef->Sync().ok());
  ef.reset();
  auto reopened = EncryptedFile::Open(
      testing::Must(env::Env::Default()->OpenFile(tmp.path() + "/f", env::OpenOptions::ReadOnly())),
      new_dek,
      OpenParams{
          .expected_key_guid = std::nullopt, .read_only = true, .rekey_target_dek = nullptr});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(ReadAll(**reopened), all);
}

}  // namespace
}  // namespace cafs::format
