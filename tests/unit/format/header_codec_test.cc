// Header codec: round trip, every field's validation, MAC over every byte, truncation,
// wrong DEK.
#include "format/header_codec.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "env/mem_env.h"
#include "format/encrypted_file.h"
#include "format/file_keys.h"
#include "unit/format/test_util.h"

namespace cafs::format {
namespace {

Header SampleHeader(std::uint16_t version = kFormatVersion2) {
  Header h;
  h.version = version;
  h.cipher = crypto::CipherId::kAes256Xts;
  h.sector_size = 4096;
  h.file_guid = Uuid::Random();
  h.vm_set_id = Uuid::Random();
  h.policy_guid = Uuid::Random();
  h.key_guid = Uuid::Random();
  h.key_version = 7;
  h.kps_locator = "https://kps.example:8443/";
  for (std::size_t i = 0; i < h.file_nonce.size(); ++i)
    h.file_nonce[i] = static_cast<std::uint8_t>(i);
  h.logical_size = 123456789;
  h.creation_key_guid = h.key_guid;
  h.creation_key_version = h.key_version;
  return h;
}

Header SampleRekeyingHeader() {
  Header h = SampleHeader();
  h.rekey.state = kRekeyInProgress;
  h.rekey.target_key_guid = Uuid::Random();
  h.rekey.target_key_version = 8;
  h.rekey.watermark_sector = 99;
  h.rekey.hotzone_sectors = 384;
  h.rekey.target_key_check[3] = 0xab;
  h.rekey.journal_digest[31] = 0xcd;
  return h;
}

const std::vector<std::uint8_t> kMacKey(32, 0x42);

std::vector<std::uint8_t> Encode(const Header& h) {
  std::vector<std::uint8_t> b(kHeaderSize);
  EXPECT_TRUE(EncodeHeader(h, kMacKey, b).ok());
  return b;
}

TEST(HeaderCodecTest, RoundTrip) {
  for (const Header& h : {SampleHeader(kFormatVersion1), SampleHeader(), SampleRekeyingHeader()}) {
    auto bytes = Encode(h);
    auto back = ParseHeaderUnverified(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, h);
    EXPECT_TRUE(VerifyHeaderMac(bytes, kMacKey).ok());
    EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "CAFSPOOL");
    EXPECT_EQ(LoadLe16(bytes.data() + layout::kVersion), h.version);
    EXPECT_EQ(LoadLe64(bytes.data() + layout::kLogicalSize), 123456789u);
  }
  // Version 2 places the file's key in the tail and the creation key in block 0.
  Header h = SampleRekeyingHeader();
  h.creation_key_guid = Uuid::Random();
  const auto bytes = Encode(h);
  EXPECT_EQ(std::memcmp(bytes.data() + layout2::kKeyGuid, h.key_guid.bytes().data(), 16), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + layout::kKeyGuid, h.creation_key_guid.bytes().data(), 16),
            0);
  EXPECT_EQ(LoadLe64(bytes.data() + layout2::kWatermark), 99u);
  EXPECT_EQ(LoadLe32(bytes.data() + layout2::kHotzoneLength), 384u);
}

// A version 2 header whose upgrade stopped after its tail write (byte 8 still 1) decodes as
// version 2 and its MAC verifies (docs/format.md 8.5).
TEST(HeaderCodecTest, InterruptedUpgradeReadsAsVersion2) {
  Header h = SampleHeader();
  h.upgrade_incomplete = true;
  const auto bytes = Encode(h);
  EXPECT_EQ(LoadLe16(bytes.data() + layout::kVersion), 1u);
  auto back = ParseHeaderUnverified(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->version, kFormatVersion2);
  EXPECT_TRUE(back->upgrade_incomplete);
  EXPECT_TRUE(VerifyHeaderMac(bytes, kMacKey).ok());
  // Completing the upgrade changes byte 8 only; the same MAC verifies.
  auto done = bytes;
  StoreLe16(done.data() + layout::kVersion, 2);
  EXPECT_TRUE(VerifyHeaderMac(done, kMacKey).ok());
  EXPECT_FALSE(ParseHeaderUnverified(done)->upgrade_incomplete);
}

TEST(HeaderCodecTest, EveryFlippedByteIsRejected) {
  for (const Header& h : {SampleHeader(kFormatVersion1), SampleRekeyingHeader()}) {
    const auto good = Encode(h);
    for (std::size_t i = 0; i < kHeaderSize; ++i) {
      auto bad = good;
      bad[i] ^= 0x01;
      auto parsed = ParseHeaderUnverified(bad);
      if (h.version == kFormatVersion2 && i >= layout2::kJournal && i < layout::kMutableTail) {
        // The version 2 journal area is outside the header: ignored (bound by its digest).
        ASSERT_TRUE(parsed.ok()) << i;
        EXPECT_EQ(*parsed, h);
        EXPECT_TRUE(VerifyHeaderMac(bad, kMacKey).ok());
        continue;
      }
      Status s = parsed.ok() ? VerifyHeaderMac(bad, kMacKey) : parsed.status();
      ASSERT_FALSE(s.ok()) << "v" << h.version << " flip at byte " << i << " went unnoticed";
      if (parsed.ok()) {
        EXPECT_TRUE(s.IsAuthFailed());
        EXPECT_NE(s.message().find("header MAC mismatch"), std::string::npos);
      } else {
        EXPECT_TRUE(s.IsCorruption()) << i << ": " << s.ToString();
      }
    }
  }
}

struct FieldCase {
  std::size_t offset;
  std::uint8_t value;
  const char* expect;  // substring of the error
};

void ExpectFieldErrors(const std::vector<std::uint8_t>& good, const std::vector<FieldCase>& cases) {
  for (const auto& c : cases) {
    auto bad = good;
    bad[c.offset] = c.value;
    auto parsed = ParseHeaderUnverified(bad);
    ASSERT_FALSE(parsed.ok()) << c.expect;
    EXPECT_TRUE(parsed.status().IsCorruption());
    EXPECT_NE(parsed.status().message().find(c.expect), std::string::npos)
        << "want '" << c.expect << "' in: " << parsed.status().message();
  }
}

TEST(HeaderCodecTest, EachVersion2TailFieldNamedInItsError) {
  ExpectFieldErrors(Encode(SampleHeader()),
                    {
                        {layout::kVersion, 3, "unsupported format version"},
                        {layout2::kTailLayout, 0, "version 2 header without"},
                        {layout2::kRekeyState, 7, "rekey state"},
                        {layout2::kCipherFlag, 2, "bad cipher flag"},
                        {layout2::kCipher, 1, "cipher fields 3704..3707 not zero"},
                        {layout2::kJournalFormat, 1, "rekey fields not zero"},
                        {layout2::kWatermark, 1, "rekey fields not zero"},
                        {layout2::kTargetKeyCheck + 5, 1, "rekey fields not zero"},
                        {layout2::kReserved3708 + 9, 1, "reserved bytes 3708"},
                    });
  auto rekeying = Encode(SampleRekeyingHeader());
  ExpectFieldErrors(rekeying, {{layout2::kHotzoneLength + 1, 2, "hotzone length 640 above 384"},
                               {layout2::kJournalFormat, 2, "unknown journal format 2"}});
  // The compact journal format: up to 3072 sectors; a format byte needs an active journal.
  Header compact = SampleRekeyingHeader();
  compact.rekey.journal_format = kJournalCompact;
  compact.rekey.hotzone_sectors = 3072;
  auto compact_bytes = Encode(compact);
  EXPECT_EQ(compact_bytes[layout2::kJournalFormat], kJournalCompact);
  EXPECT_EQ(*ParseHeaderUnverified(compact_bytes), compact);
  ExpectFieldErrors(compact_bytes,
                    {{layout2::kHotzoneLength, 1, "hotzone length 3073 above 3072"},
                     {layout2::kHotzoneLength + 1, 0, "journal format set without an active"}});
  compact.rekey.hotzone_sectors = 3073;
  std::vector<std::uint8_t> too_long(kHeaderSize);
  EXPECT_TRUE(EncodeHeader(compact, kMacKey, too_long).IsInvalidArgument());
  // Target = the file's own key.
  Header self = SampleRekeyingHeader();
  self.rekey.target_key_guid = self.key_guid;
  self.rekey.target_key_version = self.key_version;
  std::vector<std::uint8_t> b(kHeaderSize);
  EXPECT_TRUE(EncodeHeader(self, kMacKey, b).IsInvalidArgument());
  auto bad = rekeying;
  std::memcpy(bad.data() + layout2::kTargetGuid, bad.data() + layout2::kKeyGuid, 16);
  std::memcpy(bad.data() + layout2::kTargetVersion, bad.data() + layout2::kKeyVersion, 4);
  EXPECT_NE(ParseHeaderUnverified(bad).status().message().find("own key"), std::string::npos);
}

// Conversions (docs/format.md 8.8): the cipher flag and the tail's ciphers.
TEST(HeaderCodecTest, ConversionCiphersInTheTail) {
  // A conversion in progress: CBC-ESSIV -> XTS under the same key (only the cipher differs).
  Header h = SampleRekeyingHeader();
  h.cipher = crypto::CipherId::kAes256CbcEssiv;
  h.rekey.target_key_guid = h.key_guid;
  h.rekey.target_key_version = h.key_version;
  h.rekey.target_cipher = crypto::CipherId::kAes256Xts;
  auto bytes = Encode(h);
  EXPECT_EQ(bytes[layout2::kCipherFlag], kCipherInTail);
  EXPECT_EQ(LoadLe16(bytes.data() + layout::kCipherId), 4u);  // block 0: the creation cipher
  EXPECT_EQ(LoadLe16(bytes.data() + layout2::kCipher), 4u);
  EXPECT_EQ(LoadLe16(bytes.data() + layout2::kTargetCipher), 2u);
  EXPECT_EQ(*ParseHeaderUnverified(bytes), h);
  // Finished: the tail names XTS, block 0 keeps CBC-ESSIV.
  Header done = SampleHeader();
  done.cipher = crypto::CipherId::kAes256Xts;
  done.creation_cipher = crypto::CipherId::kAes256CbcEssiv;
  bytes = Encode(done);
  EXPECT_EQ(bytes[layout2::kCipherFlag], kCipherInTail);
  EXPECT_EQ(LoadLe16(bytes.data() + layout::kCipherId), 4u);
  EXPECT_EQ(LoadLe16(bytes.data() + layout2::kCipher), 2u);
  EXPECT_EQ(LoadLe16(bytes.data() + layout2::kTargetCipher), 0u);
  EXPECT_EQ(*ParseHeaderUnverified(bytes), done);
  ExpectFieldErrors(bytes, {{layout2::kTargetCipher, 2, "target cipher set while rekey state"},
                            {layout2::kCipher, 9, "unknown cipher id at 3704"}});
  // A rekey that keeps the cipher leaves the flag 0 (the bytes of earlier builds).
  EXPECT_EQ(Encode(SampleRekeyingHeader())[layout2::kCipherFlag], kCipherInBlock0);
  // The same key, version and cipher is no target; a version 1 header has one cipher.
  Header self = h;
  self.rekey.target_cipher.reset();
  std::vector<std::uint8_t> b(kHeaderSize);
  EXPECT_TRUE(EncodeHeader(self, kMacKey, b).IsInvalidArgument());
  Header v1 = done;
  v1.version = kFormatVersion1;
  EXPECT_TRUE(EncodeHeader(v1, kMacKey, b).IsInvalidArgument());
}

TEST(HeaderCodecTest, EachFieldNamedInItsError) {
  const auto good = Encode(SampleHeader(kFormatVersion1));
  const std::vector<FieldCase> cases = {
      {layout::kMagic, 'X', "magic"},
      {layout::kVersion, 3, "version"},
      {layout::kHeaderSize + 1, 0x20, "header size"},
      {layout::kCipherId, 9, "cipher"},
      {layout::kFlags, 1, "flags"},
      {layout::kSectorSize, 0x01, "sector size"},
      {layout::kReserved20, 1, "reserved bytes 20"},
      {layout::kReserved92 + 3, 1, "reserved bytes 92"},
      {layout::kReserved112, 1, "reserved bytes 112"},
      {layout::kLocatorLength + 1, 0x02, "locator length"},
      {layout::kLocator + 200, 'a', "locator padding"},
      {layout::kReserved386 + 10, 1, "reserved bytes 386"},
      {layout::kHotzone + 3, 1, "v1 rekey area"},
      {layout::kReserved2048 + 100, 1, "reserved bytes 2048"},
      {layout::kRekeyState, 1, "rekey state in a v1 header"},
      {layout::kRekeyState, 7, "rekey state"},
      {layout::kReserved3585 + 2, 1, "reserved bytes 3585"},
      {layout::kRekeyWatermark, 1, "v1 rekey fields"},
      {layout::kReserved3624 + 4, 1, "reserved bytes 3624"},
      {layout::kLogicalSize + 7, 0x80, "logical size"},
  };
  ExpectFieldErrors(good, cases);
  auto nul = good;
  nul[layout::kLocator + 2] = 0;
  EXPECT_NE(ParseHeaderUnverified(nul).status().message().find("NUL"), std::string::npos);
}

TEST(HeaderCodecTest, TruncatedInput) {
  const auto good = Encode(SampleHeader());
  for (std::size_t n : {std::size_t{0}, std::size_t{8}, std::size_t{4095}}) {
    auto parsed = ParseHeaderUnverified(ByteView(good).first(n));
    ASSERT_FALSE(parsed.ok());
    EXPECT_TRUE(parsed.status().IsCorruption());
    EXPECT_NE(parsed.status().message().find("truncated"), std::string::npos);
  }
}

TEST(HeaderCodecTest, EncodeRejectsInvalidHeaders) {
  std::vector<std::uint8_t> b(kHeaderSize);
  Header h = SampleHeader();
  h.kps_locator.assign(257, 'a');
  EXPECT_TRUE(EncodeHeader(h, kMacKey, b).IsInvalidArgument());
  h = SampleHeader();
  h.sector_size = 1024;
  EXPECT_TRUE(EncodeHeader(h, kMacKey, b).IsInvalidArgument());
  h = SampleHeader();
  h.rekey.watermark_sector = 5;  // with state none
  EXPECT_TRUE(EncodeHeader(h, kMacKey, b).IsInvalidArgument());
  h = SampleHeader();
  h.kps_locator.assign(256, 'a');
  EXPECT_TRUE(EncodeHeader(h, kMacKey, b).ok());
  EXPECT_EQ(ParseHeaderUnverified(b)->kps_locator, h.kps_locator);
}

TEST(FileKeysTest, SeparateKeysPerPurposeAndNonce) {
  SecureBuffer dek(64);
  dek.data()[0] = 1;
  std::array<std::uint8_t, kFileNonceSize> n1{}, n2{};
  n2[0] = 1;
  auto a = DeriveFileKeys(dek, crypto::CipherId::kAes256Xts, n1);
  auto b = DeriveFileKeys(dek, crypto::CipherId::kAes256Xts, n2);
  auto c = DeriveFileKeys(dek, crypto::CipherId::kAes128Xts, n1);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->data_key.size(), 64u);
  EXPECT_EQ(c->data_key.size(), 32u);
  EXPECT_EQ(a->mac_key.size(), 32u);
  EXPECT_FALSE(a->data_key.Equals(b->data_key));
  EXPECT_FALSE(ByteView(a->data_key.view()).first(32).data() == nullptr);
  EXPECT_TRUE(a->mac_key.Equals(c->mac_key));  // MAC key does not depend on the cipher
  EXPECT_FALSE(a->mac_key.Equals(b->mac_key));
  EXPECT_TRUE(DeriveFileKeys(SecureBuffer(), crypto::CipherId::kAes256Xts, n1)
                  .status()
                  .IsInvalidArgument());
  auto none = DeriveFileKeys(SecureBuffer(), crypto::CipherId::kNone, n1);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->data_key.empty());
  EXPECT_EQ(none->mac_key.size(), 32u);
}

// Open-level header checks: wrong DEK, wrong expected key, truncated pool file.
TEST(HeaderOpenTest, WrongDekTruncatedAndWrongKeyGuid) {
  env::MemEnv mem;
  SecureBuffer dek(32), other(32);
  dek.data()[0] = 1;
  other.data()[0] = 2;
  CreateParams p;
  p.cipher = crypto::CipherId::kAes128Xts;
  p.key_guid = Uuid::Random();
  {
    auto f = mem.OpenFile("/f", {.create = true});
    ASSERT_TRUE(f.ok());
    auto ef = EncryptedFile::Create(std::move(f).value(), p, dek);
    ASSERT_TRUE(ef.ok()) << ef.status().ToString();
  }
  auto wrong = EncryptedFile::Open(testing::Must(mem.OpenFile("/f", {})), other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(wrong.status().IsAuthFailed());
  EXPECT_NE(wrong.status().message().find("header MAC mismatch"), std::string::npos);
  auto guid =
      EncryptedFile::Open(testing::Must(mem.OpenFile("/f", {})), dek,
                          OpenParams{.expected_key_guid = Uuid::Random(), .read_only = false});
  EXPECT_TRUE(guid.status().IsAuthFailed());
  auto right = EncryptedFile::Open(testing::Must(mem.OpenFile("/f", {})), dek,
                                   OpenParams{.expected_key_guid = p.key_guid, .read_only = false});
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_EQ((*right)->header().key_guid, p.key_guid);
  right->reset();
  ASSERT_TRUE((testing::Must(mem.OpenFile("/f", {})))->Truncate(100).ok());
  auto truncated = EncryptedFile::Open(testing::Must(mem.OpenFile("/f", {})), dek);
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(truncated.status().IsCorruption());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  // Create refuses a non-empty file.
  EXPECT_EQ(EncryptedFile::Create(testing::Must(mem.OpenFile("/f", {})), p, dek).status().code(),
            Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace cafs::format

namespace cafs::format {
namespace {

// Writes valid headers (MAC key 32 x 0x42, as the fuzzer uses) to $CAFS_WRITE_FUZZ_SEEDS, the
// seed corpus of header_decode_fuzzer. Skipped unless the variable is set.
TEST(HeaderCodecTest, WriteFuzzSeeds) {
  const char* dir = std::getenv("CAFS_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set CAFS_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  int i = 0;
  for (auto cipher : testing::AllCiphers()) {
    for (std::uint32_t sector : {512u, 4096u}) {
      Header h = SampleHeader();
      h.cipher = cipher;
      h.sector_size = sector;
      if (i % 3 == 1) {
        h.rekey.state = kRekeyInProgress;
        h.rekey.watermark_sector = 12;
        h.rekey.hotzone_sectors = 3;
        h.rekey.target_key_guid = Uuid::Random();
      }
      if (i % 4 == 3 && h.rekey.state == kRekeyNone) h.version = kFormatVersion1;
      if (i % 2 == 0) h.kps_locator.clear();
      auto bytes = Encode(h);
      FILE* f = std::fopen((std::string(dir) + "/valid-" + std::to_string(i++)).c_str(), "wb");
      ASSERT_NE(f, nullptr);
      ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
      std::fclose(f);
    }
  }
}

}  // namespace
}  // namespace cafs::format
