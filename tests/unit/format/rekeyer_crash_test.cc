// Deep rekey under crashes (docs/format.md 8.4): a rekey with foreground writes between its
// steps is crashed at EVERY durable step (each fdatasync of the scenario, in turn, fails and
// the process "dies" there), in two ways: a power cut (FaultInjectionEnv drops everything not
// synced) and a process kill (everything written stays). Then the file is reopened (recovery
// rolls the hotzone forward), the rekey resumes and finishes, and: every block whose write was
// followed by a successful Sync reads back exactly; a block written but not synced reads as
// one of the values it was given since its last sync (never garbage); the file ends under the
// target key only. ConversionCrashTest does the same for conversions (docs/format.md 8.8):
// clear text -> encrypted, encrypted -> clear text, CBC-ESSIV -> XTS under the same key, and
// one XTS to another under a new key.
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

// One crash scenario: a file under (`from`, key_ v1) rekeyed to (`to`, target key): a new
// random key version 2, the clear-text key when `to` is none, or key_ v1 itself when only the
// cipher changes (both encrypted, same_key).
class CrashScenario {
 public:
  CrashScenario(crypto::CipherId from, crypto::CipherId to, std::uint32_t ss, std::uint16_t version,
                bool same_key = false)
      : from_(from),
        to_(to),
        ss_(ss),
        version_(version),
        key_(from == crypto::CipherId::kNone ? Uuid::ClearTextKey() : Uuid::Random()),
        target_(to == crypto::CipherId::kNone ? Uuid::ClearTextKey()
                : same_key                    ? key_
                                              : Uuid::Random()),
        target_version_(same_key ? 1 : 2),
        old_dek_(testing::TestDek(from, 1)),
        new_dek_(testing::TestDek(to, same_key ? 1 : 2)) {}

  std::uint32_t ss() const { return ss_; }

  // One run: returns the number of syncs the scenario made after setup. `crash_at` = the
  // 1-based sync that fails (0: none). `format`: the journal format the rekeyer writes.
  std::uint64_t Run(std::uint64_t crash_at, CrashKind kind, std::uint8_t format) {
    env::MemEnv mem;
    env::FaultInjectionEnv fenv(&mem);
    std::mt19937_64 rng(crash_at * 2 + (kind == CrashKind::kPowerCut ? 1 : 0));
    const std::string path = "/pool";
    CreateParams p;
    p.cipher = from_;
    p.sector_size = ss();
    p.key_guid = key_;
    p.key_version = 1;
    auto ef =
        version_ == kFormatVersion1
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
    const RekeyOptions options{
        .hotzone_sectors = kHotzone, .journal_format = format, .target_cipher = to_};
    auto rk = Rekeyer::Start(*ef, target_, target_version_, new_dek_, options);
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
    const bool switched =
        h.key_guid == target_ && h.key_version == target_version_ && h.cipher == to_;
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
      auto resumed = Rekeyer::Start(*ef, target_, target_version_, new_dek_, options);
      EXPECT_TRUE(resumed.ok()) << resumed.status().ToString();
      if (!resumed.ok()) return total;
      for (int i = 0; i < 100; ++i) {
        auto progress = (*resumed)->Step();
        EXPECT_TRUE(progress.ok()) << progress.status().ToString();
        if (!progress.ok() || progress->finished) break;
      }
    }
    EXPECT_EQ(ef->header().key_guid, target_);
    EXPECT_EQ(ef->header().cipher, to_);
    EXPECT_EQ(ef->cipher(), to_);
    ef.reset();
    // The target key alone opens the file; every sector holds an allowed value.
    auto final_open = EncryptedFile::Open(
        testing::Must(fenv.OpenFile(path, env::OpenOptions::ReadOnly())), new_dek_,
        OpenParams{.expected_key_guid = target_, .read_only = true, .rekey_target_dek = nullptr});
    EXPECT_TRUE(final_open.ok()) << final_open.status().ToString();
    if (!final_open.ok()) return total;
    EXPECT_EQ((*final_open)->header().cipher, to_);
    EXPECT_FALSE((*final_open)->rekey_in_progress());
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

  // Both journal formats (docs/format.md 8.3): compact (written now) and fingerprint (older
  // builds; a file may be resumed by a newer build with either), at every crash point.
  void CrashEverywhere() {
    for (std::uint8_t format : {kJournalCompact, kJournalFingerprint}) {
      const std::uint64_t total = Run(0, CrashKind::kPowerCut, format);
      // Start (upgrade + state), 4 per hotzone, the switch, the foreground Syncs.
      ASSERT_GE(total, (kSectors + kHotzone - 1) / kHotzone * 4 + 2);
      for (std::uint64_t k = 1; k <= total; ++k) {
        Run(k, CrashKind::kPowerCut, format);
        Run(k, CrashKind::kProcessKill, format);
        if (::testing::Test::HasFailure())
          FAIL() << "journal format " << int{format} << ": first failing crash point: sync " << k;
      }
    }
  }

 private:
  const crypto::CipherId from_, to_;
  const std::uint32_t ss_;
  const std::uint16_t version_;
  const Uuid key_;
  const Uuid target_;
  const std::uint32_t target_version_;
  SecureBuffer old_dek_;
  SecureBuffer new_dek_;
};

class RekeyerCrashTest : public ::testing::TestWithParam<CrashParam> {};

TEST_P(RekeyerCrashTest, CrashAtEveryDurableStepThenResume) {
  const auto cipher = std::get<0>(GetParam());
  CrashScenario(cipher, cipher, std::get<1>(GetParam()), std::get<2>(GetParam())).CrashEverywhere();
}

INSTANTIATE_TEST_SUITE_P(Ciphers, RekeyerCrashTest, testing::AllRekeyParams(),
                         testing::RekeyParamName);

// (from, to), sector size, format version before the conversion
using ConversionParam =
    std::tuple<std::pair<crypto::CipherId, crypto::CipherId>, std::uint32_t, std::uint16_t>;

class ConversionCrashTest : public ::testing::TestWithParam<ConversionParam> {};

TEST_P(ConversionCrashTest, CrashAtEveryDurableStepThenResume) {
  const auto [ciphers, ss, version] = GetParam();
  const auto [from, to] = ciphers;
  // CBC-ESSIV -> XTS at the same width keeps the key: a policy that changes only the cipher.
  const bool cipher_only = from == crypto::CipherId::kAes256CbcEssiv;
  CrashScenario(from, to, ss, version, cipher_only).CrashEverywhere();
}

std::string ConversionName(const ::testing::TestParamInfo<ConversionParam>& info) {
  auto name = [](crypto::CipherId c) {
    std::string n(crypto::CipherName(c));
    std::replace(n.begin(), n.end(), '-', '_');
    return n;
  };
  const auto& [ciphers, ss, version] = info.param;
  return name(ciphers.first) + "_to_" + name(ciphers.second) + "_" + std::to_string(ss) + "_v" +
         std::to_string(version);
}

INSTANTIATE_TEST_SUITE_P(
    Conversions, ConversionCrashTest,
    ::testing::Combine(
        ::testing::Values(
            std::make_pair(crypto::CipherId::kNone, crypto::CipherId::kAes256Xts),
            std::make_pair(crypto::CipherId::kAes256CbcEssiv, crypto::CipherId::kAes256Xts),
            std::make_pair(crypto::CipherId::kAes128Xts, crypto::CipherId::kNone),
            std::make_pair(crypto::CipherId::kAes128CbcEssiv, crypto::CipherId::kAes256Xts)),
        ::testing::Values(std::uint32_t{512}, std::uint32_t{4096}),
        ::testing::Values(kFormatVersion1, kFormatVersion2)),
    ConversionName);

}  // namespace
}  // namespace cafs::format
