// ParseJson / CheckJsonDepth: the nesting depth of JSON text is bounded before the parser
// runs (issue 20 class 2: ~150,000 levels in a 1 MiB body overflowed kpsd's stack).
#include "util/json_text.h"

#include <gtest/gtest.h>

#include <string>

namespace cafs {
namespace {

std::string Nested(std::size_t depth, char open, char close, const std::string& inner) {
  return std::string(depth, open) + inner + std::string(depth, close);
}

TEST(JsonTextTest, DepthUpToTheLimitParses) {
  auto j = ParseJson(Nested(kMaxJsonDepth, '[', ']', "1"), "t");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_TRUE(j->is_array());
  std::string objects;
  for (std::size_t i = 0; i < kMaxJsonDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kMaxJsonDepth, '}');
  EXPECT_TRUE(ParseJson(objects, "t").ok());
}

TEST(JsonTextTest, DeeperIsRefusedWithoutParsing) {
  for (std::size_t depth : {kMaxJsonDepth + 1, std::size_t{150000}, std::size_t{500000}}) {
    // Unbalanced too: the scan stops at the limit, whatever follows.
    for (const std::string& text :
         {Nested(depth, '[', ']', "1"), std::string(depth, '['), Nested(depth, '{', '}', "")}) {
      auto j = ParseJson(text, "the body");
      ASSERT_FALSE(j.ok());
      EXPECT_TRUE(j.status().IsInvalidArgument());
      EXPECT_EQ(j.status().message(),
                "the body: JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
  }
  EXPECT_FALSE(CheckJsonDepth("[[[", 2).ok());
  EXPECT_TRUE(CheckJsonDepth("[[]]", 2).ok());
}

TEST(JsonTextTest, BracketsInStringsDoNotCount) {
  const std::string deep_text =
      "\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"";
  auto j = ParseJson("[" + deep_text + "]", "t");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)[0].get<std::string>().size(), 2001u);
  // An escaped backslash ends the escape: the quote after it closes the string.
  EXPECT_FALSE(CheckJsonDepth("[\"\\\\\"" + std::string(10, '['), 5).ok());
}

TEST(JsonTextTest, TextThatIsNotJsonIsInvalidArgument) {
  for (std::string_view text : {"", "{", "[1,]", "nul", "{\"a\":1}x", "\xff"}) {
    auto j = ParseJson(text, "doc");
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_EQ(j.status().message(), "doc is not JSON");
  }
}

}  // namespace
}  // namespace cafs
