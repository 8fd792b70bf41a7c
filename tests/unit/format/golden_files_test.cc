// Golden pool files (tests/unit/format/golden/, gocryptfs-style example file systems): one
// file per format version and state, and deliberately broken ones. Each must keep opening (or
// failing) exactly as recorded here in every later build. The plaintext is Pattern(): the
// files need no separate plaintext. Regenerate only on purpose (a new format version):
//   CAFS_WRITE_GOLDEN_FILES=tests/unit/format/golden
//     build/tests/unit/format/format_rekey_test --gtest_filter='GoldenFiles.Write'
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "env/fault_injection_env.h"
#include "env/mem_env.h"
#include "format/rekey_journal.h"
#include "format/rekeyer.h"
#include "source_dir.h"
#include "unit/format/rekey_test_util.h"

namespace cafs::format {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr auto kCipher = crypto::CipherId::kAes256Xts;
constexpr std::uint32_t kSector = 512;
constexpr std::uint64_t kSize = 20 * kSector - 100;
const Uuid kOldKey = *Uuid::Parse("11111111-1111-4111-8111-111111111111");
const Uuid kNewKey = *Uuid::Parse("22222222-2222-4222-8222-222222222222");
constexpr std::uint32_t kOldVersion = 3, kNewVersion = 4;

SecureBuffer OldDek() { return testing::TestDek(kCipher, 1); }
SecureBuffer NewDek() { return testing::TestDek(kCipher, 2); }

// Sector s holds bytes (s * 131 + i * 7) | 1, except holes at s % 4 == 2; kSize bytes.
Bytes Pattern() {
  Bytes p(kSize, 0);
  for (std::uint64_t i = 0; i < kSize; ++i) {
    const std::uint64_t s = i / kSector;
    if (s % 4 != 2) p[i] = static_cast<std::uint8_t>((s * 131 + (i % kSector) * 7) | 1);
  }
  return p;
}

Bytes Load(const std::string& name) {
  std::ifstream in(std::string(cafs::testing::SourceDir()) + "/tests/unit/format/golden/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << name;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Puts `image` into `env` at /g and opens it.
Result<std::unique_ptr<EncryptedFile>> OpenImage(env::Env& env, const Bytes& image,
                                                 const SecureBuffer& dek,
                                                 const SecureBuffer* target, bool read_only) {
  {
    auto f = testing::Must(env.OpenFile("/g", {.create = true, .truncate = true}));
    EXPECT_TRUE(f->WriteAt(0, image).ok());
  }
  return EncryptedFile::Open(
      testing::Must(env.OpenFile(
          "/g", read_only ? env::OpenOptions::ReadOnly() : env::OpenOptions::ReadWrite())),
      dek,
      OpenParams{
          .expected_key_guid = std::nullopt, .read_only = read_only, .rekey_target_dek = target});
}

Bytes ReadAll(EncryptedFile& ef) {
  Bytes out(ef.Size());
  auto n = ef.Read(0, out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return out;
}

// Writes the golden files (see the file comment). Skipped unless asked.
TEST(GoldenFiles, Write) {
  const char* dir = std::getenv("CAFS_WRITE_GOLDEN_FILES");
  if (dir == nullptr) GTEST_SKIP() << "set CAFS_WRITE_GOLDEN_FILES=<dir> to write golden files";
  auto save = [&](const std::string& name, const Bytes& bytes) {
    FILE* f = std::fopen((std::string(dir) + "/" + name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
  };
  auto image = [](env::Env& env) {
    auto f = testing::Must(env.OpenFile("/pool", env::OpenOptions::ReadOnly()));
    Bytes b(*f->Size());
    EXPECT_EQ(*f->ReadAt(0, b), b.size());
    return b;
  };
  CreateParams p;
  p.cipher = kCipher;
  p.sector_size = kSector;
  p.key_guid = kOldKey;
  p.key_version = kOldVersion;
  p.kps_locator = "https://kps.example:8443/";
  const Bytes plain = Pattern();
  auto fill = [&](EncryptedFile& ef) {
    for (std::uint64_t s = 0; s * kSector < kSize; ++s) {
      if (s % 4 == 2) continue;
      const std::uint64_t end = std::min<std::uint64_t>(kSize, (s + 1) * kSector);
      ASSERT_TRUE(
          ef.Write(s * kSector, ByteView(plain).subspan(s * kSector, end - s * kSector)).ok());
    }
    ASSERT_TRUE(ef.Sync().ok());
  };
  {  // version 1 (what builds before version 2 wrote)
    env::MemEnv mem;
    auto ef = testing::CreateV1File(mem, "/pool", p, OldDek());
    fill(*ef);
    save("v1-aes-256-xts-512.pool", image(mem));
    Bytes bad = image(mem);
    bad[layout::kRekeyState] = kRekeyInProgress;
    save("broken-v1-rekey-state.pool", bad);
  }
  {  // version 2, no rekey
    env::MemEnv mem;
    auto ef = testing::Must(EncryptedFile::Create(
        testing::Must(mem.OpenFile("/pool", env::OpenOptions::CreateNew())), p, OldDek()));
    fill(*ef);
    save("v2-aes-256-xts-512.pool", image(mem));
    Bytes bad = image(mem);
    bad[layout::kLogicalSize] ^= 0x01;
    save("broken-v2-tail-tampered.pool", bad);
  }
  {  // version 1 whose upgrade stopped after the tail write (block-0 write failed)
    env::MemEnv mem;
    env::FaultInjectionEnv fenv(&mem);
    auto ef = testing::CreateV1File(fenv, "/pool", p, OldDek());
    fill(*ef);
    fenv.SetWriteFault(
        [](const std::string&, std::uint64_t off, std::uint64_t) { return off == 0; });
    EXPECT_FALSE(Rekeyer::Start(*ef, kNewKey, kNewVersion, NewDek()).ok());
    save("v2-upgrade-interrupted.pool", image(mem));
  }
  {  // version 2 caught mid-rekey: [0,6) new, hotzone [6,12) active with 7, 8 rewritten
    env::MemEnv mem;
    env::FaultInjectionEnv fenv(&mem);
    auto ef = testing::Must(EncryptedFile::Create(
        testing::Must(fenv.OpenFile("/pool", env::OpenOptions::CreateNew())), p, OldDek()));
    fill(*ef);
    auto rk = testing::Must(
        Rekeyer::Start(*ef, kNewKey, kNewVersion, NewDek(),
                       {.hotzone_sectors = 6, .journal_format = kJournalFingerprint}));
    ASSERT_TRUE(rk->Step().ok());
    fenv.SetWriteFault([](const std::string&, std::uint64_t off, std::uint64_t) {
      return off >= kHeaderSize + 9 * kSector;
    });
    EXPECT_FALSE(rk->Step().ok());
    const Bytes mid = image(mem);
    save("v2-mid-rekey.pool", mid);
    Bytes bad = mid;
    bad[layout2::kJournal + 8 * 1 + 2] ^= 0x40;  // entry of sector 7
    save("broken-v2-journal-digest.pool", bad);
    bad = mid;
    bad[kHeaderSize + 8 * kSector - 1] ^= 0x40;  // last byte of sector 7 (rewritten): torn
    save("broken-v2-torn-hotzone-sector.pool", bad);
  }
  {  // the same state with a compact journal (what builds since the compact format write)
    env::MemEnv mem;
    env::FaultInjectionEnv fenv(&mem);
    auto ef = testing::Must(EncryptedFile::Create(
        testing::Must(fenv.OpenFile("/pool", env::OpenOptions::CreateNew())), p, OldDek()));
    fill(*ef);
    auto rk =
        testing::Must(Rekeyer::Start(*ef, kNewKey, kNewVersion, NewDek(), {.hotzone_sectors = 6}));
    ASSERT_TRUE(rk->Step().ok());
    fenv.SetWriteFault([](const std::string&, std::uint64_t off, std::uint64_t) {
      return off >= kHeaderSize + 9 * kSector;
    });
    EXPECT_FALSE(rk->Step().ok());
    const Bytes mid = image(mem);
    save("v2-mid-rekey-compact.pool", mid);
    Bytes bad = mid;
    bad[layout2::kJournalFormat] = 2;
    save("broken-v2-journal-format.pool", bad);
    // Entry of sector 7 = 255 (invalid), with a journal digest and MAC that match: what a
    // writer bug would leave.
    bad = mid;
    bad[layout2::kJournal + 1] = 0xff;
    Header h = testing::Must(ParseHeaderUnverified(bad));
    h.rekey.journal_digest = DigestJournal(ByteView(bad).subspan(layout2::kJournal, 6));
    auto keys = testing::Must(DeriveFileKeys(OldDek(), kCipher, h.file_nonce));
    Bytes encoded(kHeaderSize);
    ASSERT_TRUE(EncodeHeader(h, keys.mac_key.view(), encoded).ok());
    std::copy(encoded.begin() + layout::kMutableTail, encoded.end(),
              bad.begin() + layout::kMutableTail);
    save("broken-v2-compact-entry.pool", bad);
  }
}

TEST(GoldenFiles, Version1ReadsAndUpgradesOnRekey) {
  env::MemEnv mem;
  const Bytes img = Load("v1-aes-256-xts-512.pool");
  ASSERT_EQ(LoadLe16(img.data() + layout::kVersion), 1u);
  auto ro = testing::Must(OpenImage(mem, img, OldDek(), nullptr, true));
  EXPECT_EQ(ro->header().version, kFormatVersion1);
  EXPECT_EQ(ro->header().key_guid, kOldKey);
  EXPECT_EQ(ReadAll(*ro), Pattern());
  auto ef = testing::Must(OpenImage(mem, img, OldDek(), nullptr, false));
  auto rk = testing::Must(Rekeyer::Start(*ef, kNewKey, kNewVersion, NewDek()));
  EXPECT_EQ(testing::PeekHeader(mem, "/g").version, kFormatVersion2);
  while (!testing::Must(rk->Step()).finished) {
  }
  EXPECT_EQ(ReadAll(*ef), Pattern());
  const Header h = testing::PeekHeader(mem, "/g");
  EXPECT_EQ(h.key_guid, kNewKey);
  EXPECT_EQ(h.creation_key_guid, kOldKey);
  EXPECT_EQ(h.creation_key_version, kOldVersion);
}

TEST(GoldenFiles, Version2) {
  env::MemEnv mem;
  auto ef = testing::Must(OpenImage(mem, Load("v2-aes-256-xts-512.pool"), OldDek(), nullptr, true));
  EXPECT_EQ(ef->header().version, kFormatVersion2);
  EXPECT_EQ(ef->header().key_version, kOldVersion);
  EXPECT_EQ(ef->header().kps_locator, "https://kps.example:8443/");
  EXPECT_EQ(ReadAll(*ef), Pattern());
}

TEST(GoldenFiles, InterruptedUpgradeReadsAndCompletesOnWritableOpen) {
  env::MemEnv mem;
  const Bytes img = Load("v2-upgrade-interrupted.pool");
  ASSERT_EQ(LoadLe16(img.data() + layout::kVersion), 1u);
  ASSERT_EQ(img[layout2::kTailLayout], kTailLayout2);
  auto ro = testing::Must(OpenImage(mem, img, OldDek(), nullptr, true));
  EXPECT_TRUE(ro->header().upgrade_incomplete);
  EXPECT_EQ(ReadAll(*ro), Pattern());
  auto rw = testing::Must(OpenImage(mem, img, OldDek(), nullptr, false));
  EXPECT_EQ(ReadAll(*rw), Pattern());
  rw.reset();
  const Header h = testing::PeekHeader(mem, "/g");
  EXPECT_EQ(h.version, kFormatVersion2);
  EXPECT_FALSE(h.upgrade_incomplete);
}

TEST(GoldenFiles, MidRekeyReadsRecoversAndFinishes) {
  env::MemEnv mem;
  const Bytes img = Load("v2-mid-rekey.pool");
  ASSERT_EQ(LoadLe64(img.data() + layout2::kWatermark), 6u);
  ASSERT_EQ(LoadLe32(img.data() + layout2::kHotzoneLength), 6u);
  const SecureBuffer new_dek = NewDek();
  EXPECT_EQ(OpenImage(mem, img, OldDek(), nullptr, true).status().code(),
            Status::Code::kFailedPrecondition);
  const SecureBuffer old_dek = OldDek();
  EXPECT_TRUE(OpenImage(mem, img, OldDek(), &old_dek, true).status().IsAuthFailed());
  auto ro = testing::Must(OpenImage(mem, img, OldDek(), &new_dek, true));
  EXPECT_EQ(ReadAll(*ro), Pattern());
  auto rw = testing::Must(OpenImage(mem, img, OldDek(), &new_dek, false));  // rolls forward
  EXPECT_EQ(testing::PeekHeader(mem, "/g").rekey.watermark_sector, 12u);
  EXPECT_EQ(testing::PeekHeader(mem, "/g").rekey.hotzone_sectors, 0u);
  auto rk = testing::Must(Rekeyer::Start(*rw, kNewKey, kNewVersion, new_dek));
  while (!testing::Must(rk->Step()).finished) {
  }
  EXPECT_EQ(ReadAll(*rw), Pattern());
  EXPECT_EQ(testing::PeekHeader(mem, "/g").key_guid, kNewKey);
}

// The compact-journal twin of MidRekeyReadsRecoversAndFinishes (docs/format.md 8.3 format 1).
TEST(GoldenFiles, MidRekeyCompactJournalReadsRecoversAndFinishes) {
  env::MemEnv mem;
  const Bytes img = Load("v2-mid-rekey-compact.pool");
  ASSERT_EQ(img[layout2::kJournalFormat], kJournalCompact);
  ASSERT_EQ(LoadLe64(img.data() + layout2::kWatermark), 6u);
  ASSERT_EQ(LoadLe32(img.data() + layout2::kHotzoneLength), 6u);
  const SecureBuffer new_dek = NewDek();
  auto ro = testing::Must(OpenImage(mem, img, OldDek(), &new_dek, true));
  EXPECT_EQ(ReadAll(*ro), Pattern());
  auto rw = testing::Must(OpenImage(mem, img, OldDek(), &new_dek, false));  // rolls forward
  const Header h = testing::PeekHeader(mem, "/g");
  EXPECT_EQ(h.rekey.watermark_sector, 12u);
  EXPECT_EQ(h.rekey.hotzone_sectors, 0u);
  EXPECT_EQ(h.rekey.journal_format, 0u);
  auto rk = testing::Must(Rekeyer::Start(*rw, kNewKey, kNewVersion, new_dek));
  while (!testing::Must(rk->Step()).finished) {
  }
  EXPECT_EQ(ReadAll(*rw), Pattern());
  EXPECT_EQ(testing::PeekHeader(mem, "/g").key_guid, kNewKey);
}

TEST(GoldenFiles, BrokenFilesFailClearly) {
  env::MemEnv mem;
  const SecureBuffer new_dek = NewDek();
  auto v1_state = OpenImage(mem, Load("broken-v1-rekey-state.pool"), OldDek(), nullptr, true);
  EXPECT_TRUE(v1_state.status().IsCorruption());
  EXPECT_NE(v1_state.status().message().find("rekey state in a v1 header"), std::string::npos);
  auto tampered = OpenImage(mem, Load("broken-v2-tail-tampered.pool"), OldDek(), nullptr, true);
  EXPECT_TRUE(tampered.status().IsAuthFailed());
  EXPECT_NE(tampered.status().message().find("header MAC mismatch"), std::string::npos);
  auto digest = OpenImage(mem, Load("broken-v2-journal-digest.pool"), OldDek(), &new_dek, true);
  EXPECT_TRUE(digest.status().IsCorruption());
  EXPECT_NE(digest.status().message().find("journal digest mismatch"), std::string::npos);
  // A torn hotzone sector: the file opens read-only, the sector reads as an error (never
  // garbage), other sectors read fine; a writable open (recovery) refuses.
  const Bytes torn_img = Load("broken-v2-torn-hotzone-sector.pool");
  auto torn = testing::Must(OpenImage(mem, torn_img, OldDek(), &new_dek, true));
  Bytes buf(kSector);
  auto r = torn->Read(7 * kSector, buf);
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("torn"), std::string::npos);
  ASSERT_TRUE(torn->Read(0, buf).ok());
  const Bytes pattern = Pattern();
  EXPECT_EQ(buf, Bytes(pattern.begin(), pattern.begin() + kSector));
  EXPECT_TRUE(OpenImage(mem, torn_img, OldDek(), &new_dek, false).status().IsCorruption());
  // An unknown journal format: refused before anything is read.
  auto format = OpenImage(mem, Load("broken-v2-journal-format.pool"), OldDek(), &new_dek, true);
  EXPECT_TRUE(format.status().IsCorruption());
  EXPECT_NE(format.status().message().find("unknown journal format 2"), std::string::npos);
  // An invalid compact entry under a valid digest and MAC: that sector reads as an error,
  // the others read; a writable open (recovery) refuses.
  const Bytes entry_img = Load("broken-v2-compact-entry.pool");
  auto entry = testing::Must(OpenImage(mem, entry_img, OldDek(), &new_dek, true));
  r = entry->Read(7 * kSector, buf);
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("bad hotzone journal entry"), std::string::npos);
  ASSERT_TRUE(entry->Read(8 * kSector, buf).ok());
  EXPECT_EQ(buf, Bytes(pattern.begin() + 8 * kSector, pattern.begin() + 9 * kSector));
  EXPECT_TRUE(OpenImage(mem, entry_img, OldDek(), &new_dek, false).status().IsCorruption());
}

}  // namespace
}  // namespace cafs::format
