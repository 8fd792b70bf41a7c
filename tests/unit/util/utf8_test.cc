// FirstInvalidUtf8 against RFC 3629's edge cases and, for every 1- and 2-byte string and a
// sample of longer ones, against nlohmann::json's own UTF-8 check (the serializer that throws
// on what we must refuse).
#include "util/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

namespace cafs {
namespace {

bool JsonAccepts(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

TEST(Utf8Test, EdgeCases) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"));  // é € 🔑
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));                           // U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("ab\xff\xfe"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("\x80"), 0u);                            // lone continuation
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);                        // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xe0\x80\xaf"), 0u);                    // overlong
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0u);                    // surrogate U+D800
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);                // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("x\xe2\x82"), 1u);                       // truncated at the end
  EXPECT_EQ(FirstInvalidUtf8(std::string("a\0b", 3)), std::nullopt);  // NUL is a character
}

TEST(Utf8Test, AgreesWithNlohmannJson) {
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    EXPECT_EQ(IsValidUtf8(one), JsonAccepts(one)) << a;
    for (int b = 0; b < 256; ++b) {
      const std::string two = one + static_cast<char>(b);
      ASSERT_EQ(IsValidUtf8(two), JsonAccepts(two)) << a << " " << b;
    }
  }
  std::mt19937 rng(20);  // fixed seed: a failure reproduces
  std::uniform_int_distribution<int> lead(0xc0, 0xff), byte(0, 255), len(3, 6);
  for (int i = 0; i < 100000; ++i) {
    std::string s(1, static_cast<char>(lead(rng)));
    const int n = len(rng);
    for (int k = 1; k < n; ++k) {
      // Mostly continuation bytes, so that long sequences are reached.
      s += static_cast<char>(byte(rng) % 4 == 0 ? byte(rng) : 0x80 | (byte(rng) & 0x3f));
    }
    ASSERT_EQ(IsValidUtf8(s), JsonAccepts(s)) << i;
  }
}

}  // namespace
}  // namespace cafs
