// Names are bytes: the one escaping of text fields that are not UTF-8 (audit/text_field.h,
// docs/audit.md "Names that are not UTF-8") and what AuditRecord makes of it.
#include "audit/text_field.h"

#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "audit/audit_record.h"

namespace cafs::audit {
namespace {

TEST(TextFieldTest, Utf8ValidationFollowsRfc3629) {
  for (const char* good : {"", "osdisk1.vmdk", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x92\xBE",
                           "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF", "\xEF\xBF\xBD"}) {
    EXPECT_TRUE(IsValidUtf8(good)) << good;
  }
  for (const char* bad : {"osdisk\xFF\xFE.img", "\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80",
                          "\xED\xA0\x80" /* surrogate */, "\xF4\x90\x80\x80" /* > U+10FFFF */,
                          "\xF5\x80\x80\x80", "\xC3", "\xE2\x82", "a\xC3(", "\xF0\x9F\x92"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
}

TEST(TextFieldTest, DisplayTextReplacesEachBadByteAndKeepsTheRest) {
  EXPECT_EQ(DisplayText("osdisk\xFF\xFE.img"), "osdisk\xEF\xBF\xBD\xEF\xBF\xBD.img");
  EXPECT_EQ(DisplayText("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(DisplayText("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // a truncated sequence
  EXPECT_EQ(DisplayText("\xED\xA0\x80x"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx");
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(static_cast<std::size_t>(rng() % 12), '\0');
    for (char& c : s) c = static_cast<char>(rng());
    EXPECT_TRUE(IsValidUtf8(DisplayText(s)));
  }
}

TEST(TextFieldTest, Base64IsRfc4648AndStrict) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), coded);
    EXPECT_EQ(Base64Decode(coded), std::optional<std::string>(plain));
  }
  std::mt19937 rng(11);
  for (std::size_t n = 0; n < 64; ++n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(Base64Decode(Base64Encode(s)), std::optional<std::string>(s)) << n;
  }
  for (const char* bad : {"Zg=", "Zg", "Zh==", "Zm9=", "Zg==Zg==", "Z===", "====", "Zm9v\n", "Zm-v",
                          "Zm_v", "=m9v"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

AuditRecord WithName(const std::string& file) {
  AuditRecord r;
  r.seq = 1;
  r.time_ms = r.end_ms = 1700000000000;
  r.server = "10.2.45.68";
  r.vmset = "my_vmset";
  r.vm = "windows_xp";
  r.file = file;
  r.op = "create";
  r.reason = "cannot create " + file;
  r.prev_hash = std::string(GenesisHash());
  r.hash = r.ComputeHash();
  return r;
}

TEST(TextFieldTest, ARecordWithANonUtf8NameSerializesRoundTripsAndVerifies) {
  const std::string name = "osdisk\xFF\xFE.img";
  const AuditRecord r = WithName(name);
  std::string line;
  ASSERT_NO_THROW(line = r.ToLine());
  EXPECT_TRUE(IsValidUtf8(line));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["file"], DisplayText(name));
  EXPECT_EQ(j["file_b64"], Base64Encode(name));
  EXPECT_EQ(j["reason_b64"], Base64Encode("cannot create " + name));
  EXPECT_FALSE(j.contains("vm_b64"));  // UTF-8 fields stay as they were
  auto back = AuditRecord::FromLine(line);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->file, name);
  EXPECT_EQ(back->reason, "cannot create " + name);
  EXPECT_EQ(back->ComputeHash(), r.hash);
  EXPECT_EQ(back->ToLine(), line);
  // Display copies are text; the exact bytes stay in the record.
  EXPECT_EQ(r.ForDisplay().file, DisplayText(name));
}

TEST(TextFieldTest, AUtf8RecordHasNoExtraFields) {
  const AuditRecord r = WithName("caf\xC3\xA9.vmdk");
  const auto j = nlohmann::json::parse(r.ToLine());
  EXPECT_EQ(j.size(), 14u);
  EXPECT_EQ(j["file"], "caf\xC3\xA9.vmdk");
}

TEST(TextFieldTest, InconsistentExactFieldsAreRefused) {
  const std::string name = "osdisk\xFF\xFE.img";
  const auto good = nlohmann::json::parse(WithName(name).ToLine());
  auto refused = [](nlohmann::json j) { return !AuditRecord::FromLine(j.dump()).ok(); };
  auto j = good;
  j["file"] = "another-name.img";  // shows one name, pins another
  EXPECT_TRUE(refused(j));
  j = good;
  j["file_b64"] = Base64Encode("osdisk.img");  // _b64 of a UTF-8 name: not canonical
  j["file"] = "osdisk.img";
  EXPECT_TRUE(refused(j));
  j = good;
  j["file_b64"] = "not base64!";
  EXPECT_TRUE(refused(j));
  j = good;
  j["file_b64"] = 5;
  EXPECT_TRUE(refused(j));
  j = good;
  j["seq_b64"] = Base64Encode("\xFF");  // only text fields have an exact form
  EXPECT_TRUE(refused(j));
  // Another valid name is another record: the hash no longer matches.
  j = good;
  j["file_b64"] = Base64Encode("osdisk\xFE\xFF.img");
  auto edited = AuditRecord::FromLine(j.dump());
  ASSERT_TRUE(edited.ok());
  EXPECT_NE(edited->ComputeHash(), edited->hash);
}

}  // namespace
}  // namespace cafs::audit
