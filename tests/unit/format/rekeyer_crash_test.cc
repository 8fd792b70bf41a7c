// Deep rekey under crashes (docs/format.md 8.4): a rekey with foreground writes between its
// steps is crashed at EVERY durable step (each fdatasync of the scenario, in turn, fails and
// the process "dies" there), in two ways: a power cut (FaultInjectionEnv drops everything not
// synced) and a process kill (everything written stays). Then the file is reopened (recovery
// rolls the hotzone forward), the rekey resumes and finishes, and: every block whose write was
// followed by a successful Sync reads back exactly; a block written but not synced reads as
// one of the values it was given since its last sync (never garbage); the file ends under the
// target key only.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "env/fault_injection_env.h"
#include "env/mem_env.h"
#include "format/rekeyer.h"
#include "unit/format/rekey_test_util.h"

namespace cafs::format {
namespace {

using Bytes = std::vector<std::uint8_t>;
using CrashParam = testing::RekeyParam;

constexpr std::uint64_t kSectors = 24;
constexpr std::uint32_t kHotzone = 5;

enum class CrashKind { kPowerCut, kProcessKill };

class RekeyerCrashTest : public ::testing::TestWithParam<CrashParam> {
 protected:
  crypto::CipherId cipher() const { return std::get<0>(GetParam()); }
  std::uint32_t ss() const { return std::get<1>(GetParam()); }

  // One run: returns the number of syncs the scenario made after setup. `crash_at` = the
  // 1-based sync that fails (0: none). `format`: the journal format the rekeyer writes.
  std::uint64_t Run(std::uint64_t crash_at, CrashKind kind, std::uint8_t format) {
    env::MemEnv mem;
    env::FaultInjectionEnv fenv(&mem);
    std::mt19937_64 rng(crash_at * 2 + (kind == CrashKind::kPowerCut ? 1 : 0));
    const std::string path = "/pool";
    CreateParams p;
    p.cipher = cipher();
    p.sector_size = ss();
    p.key_guid = key_;
    p.key_version = 1;
    auto ef =
        std::get<2>(GetParam()) == kFormatVersion1
            ? testing::CreateV1File(fenv, path, p, old_dek_)
            : testing::Must(EncryptedFile::Create(
                  testing::Must(fenv.OpenFile(path, env::OpenOptions::CreateNew())), p, old_dek_));
    // Per sector: candidates[s][0] is the last synced value, the rest written since.
    std::vector<std::vector<Bytes>> candidates(kSectors);
    for (std::uint64_t s = 0; s < kSectors; ++s) {
      Bytes v(ss(), 0);
      if (s != 2 && s != 7 && s != 8 && s != 20) {  // holes
        for (auto& b : v) b = static_cast<std::uint8_t>(rng() | 1);
        EXPECT_TRUE(ef->Write(s * ss(), v).ok());
      }
      candidates[s] = {v};
    }
    EXPECT_TRUE(ef->Sync().ok());

    std::uint64_t syncs = 0;
    fenv.SetSyncFault([&](const std::string&) { return ++syncs == crash_at; });
    auto foreground_write = [&](std::uint64_t s) {
      Bytes v(ss());
      for (auto& b : v) b = static_cast<std::uint8_t>(rng() | 1);
      if (ef->Write(s * ss(), v).ok()) candidates[s].push_back(std::move(v));
    };
    bool crashed = false;
    const RekeyOptions options{.hotzone_sectors = kHotzone, .journal_format = format};
    auto rk = Rekeyer::Start(*ef, target_, 2, new_dek_, options);
    crashed = !rk.ok();
    for (int step = 0; !crashed && step < 100; ++step) {
      auto progress = (*rk)->Step();
      if (!progress.ok()) {
        crashed = true;
        break;
      }
      if (progress->finished) break;
      // Foreground: one write that gets synced, one that does not (yet).
      foreground_write(rng() % kSectors);
      if (ef->Sync().ok()) {
        for (auto& c : candidates) c.erase(c.begin(), c.end() - 1);
      } else {
        crashed = true;
        break;
      }
      foreground_write(rng() % kSectors);
    }
    EXPECT_TRUE(crashed || crash_at == 0 || crash_at > syncs);
    const std::uint64_t total = syncs;
    // The crash.
    if (rk.ok()) rk->reset();
    ef.reset();
    fenv.ClearFaults();
    if (kind == CrashKind::kPowerCut) {
      EXPECT_TRUE(fenv.DropUnsyncedData().ok());
    }

    // Restart: open with the keys the header names, resume, finish.
    const Header h = testing::PeekHeader(fenv, path);
    const bool switched = h.key_guid == target_;
    auto reopened = EncryptedFile::Open(
        testing::Must(fenv.OpenFile(path, env::OpenOptions::ReadWrite())),
        switched ? new_dek_ : old_dek_,
        OpenParams{
            .expected_key_guid = std::nullopt, .read_only = false, .rekey_target_dek = &new_dek_});
    EXPECT_TRUE(reopened.ok()) << "crash at sync " << crash_at << ": "
                               << reopened.status().ToString();
    if (!reopened.ok()) return total;
    ef = std::move(reopened).value();
    EXPECT_EQ(ef->Size(), kSectors * ss()) << "crash at sync " << crash_at;
    if (!switched) {
      auto resumed = Rekeyer::Start(*ef, target_, 2, new_dek_, options);
      EXPECT_TRUE(resumed.ok()) << resumed.status().ToString();
      if (!resumed.ok()) return total;
      for (int i = 0; i < 100; ++i) {
        auto progress = (*resumed)->Step();
        EXPECT_TRUE(progress.ok()) << progress.status().ToString();
        if (!progress.ok() || progress->finished) break;
      }
    }
    EXPECT_EQ(ef->header().key_guid, target_);
    ef.reset();
    // The target key alone opens the file; every sector holds an allowed value.
    auto final_open = EncryptedFile::Open(
        testing::Must(fenv.OpenFile(path, env::OpenOptions::ReadOnly())), new_dek_,
        OpenParams{.expected_key_guid = target_, .read_only = true, .rekey_target_dek = nullptr});
    EXPECT_TRUE(final_open.ok()) << final_open.status().ToString();
    if (!final_open.ok()) return total;
    Bytes got(ss());
    for (std::uint64_t s = 0; s < kSectors; ++s) {
      EXPECT_EQ(*(*final_open)->Read(s * ss(), got), ss());
      const auto& allowed = candidates[s];
      EXPECT_NE(std::find(allowed.begin(), allowed.end(), got), allowed.end())
          << "crash at sync " << crash_at
          << (kind == CrashKind::kPowerCut ? " (power cut)" : " (kill)") << ": sector " << s
          << " is neither its synced value nor a later write (" << allowed.size() << " allowed)";
    }
    return total;
  }

  const Uuid key_ = Uuid::Random();
  const Uuid target_ = Uuid::Random();
  SecureBuffer old_dek_ = testing::TestDek(std::get<0>(GetParam()), 1);
  SecureBuffer new_dek_ = testing::TestDek(std::get<0>(GetParam()), 2);
};

// Both journal formats (docs/format.md 8.3): compact (written now) and fingerprint (older
// builds; a file may be resumed by a newer build with either).
TEST_P(RekeyerCrashTest, CrashAtEveryDurableStepThenResume) {
  for (std::uint8_t format : {kJournalCompact, kJournalFingerprint}) {
    const std::uint64_t total = Run(0, CrashKind::kPowerCut, format);
    // Start (upgrade + state), 4 per hotzone, the switch, the foreground Syncs.
    ASSERT_GE(total, (kSectors + kHotzone - 1) / kHotzone * 4 + 2);
    for (std::uint64_t k = 1; k <= total; ++k) {
      Run(k, CrashKind::kPowerCut, format);
      Run(k, CrashKind::kProcessKill, format);
      if (HasFailure())
        FAIL() << "journal format " << int{format} << ": first failing crash point: sync " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ciphers, RekeyerCrashTest, testing::AllRekeyParams(),
                         testing::RekeyParamName);

}  // namespace
}  // namespace cafs::format
