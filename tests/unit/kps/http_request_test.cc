// The REST listener's request-head parser (kps/http_request.h): what it accepts, and the
// status it refuses each malformed or oversized head with.
#include "kps/http_request.h"

#include <gtest/gtest.h>

namespace cafs::kps {
namespace {

ParsedHead Parse(const std::string& head, HttpLimits limits = {}) {
  return ParseRequestHead(head, limits);
}

TEST(HttpRequestTest, ParsesARequestWithPathQueryAndBodyLength) {
  const ParsedHead p = Parse(
      "POST /v1/keys/a%20b?vmset=my%5Fvmset&x=1+2&flag HTTP/1.1\r\n"
      "Host: kpsd\r\nContent-Type: application/json\r\ncontent-length:  17 \r\n\r\n");
  ASSERT_TRUE(p.ok()) << p.refuse_reason;
  EXPECT_EQ(p.head.method, "POST");
  EXPECT_EQ(p.head.path, "/v1/keys/a b");
  EXPECT_EQ(p.head.query, (std::map<std::string, std::string>{
                              {"vmset", "my_vmset"}, {"x", "1 2"}, {"flag", ""}}));
  EXPECT_EQ(p.head.content_length, 17u);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_FALSE(p.head.expect_continue);
}

TEST(HttpRequestTest, ConnectionAndExpectFields) {
  EXPECT_FALSE(Parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(Parse("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(Parse("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
                  .head.expect_continue);
}

TEST(HttpRequestTest, PathsAndQueriesMustDecodeToUtf8) {
  const ParsedHead p = Parse("GET /v1/vmsets/%c3%a9t%C3%A9?n=%e2%82%ac HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(p.ok()) << p.refuse_reason;
  EXPECT_EQ(p.head.path, "/v1/vmsets/\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(p.head.query.at("n"), "\xe2\x82\xac");
  for (const char* bad : {"/v1/vmsets/%ff%fe", "/v1/%c3", "/v1/%c0%af", "/v1/%ed%a0%80",
                          "/v1/%f4%90%80%80", "/v1?vmset=%fe", "/v1?%80=1"}) {
    EXPECT_EQ(Parse(std::string("GET ") + bad + " HTTP/1.1\r\n\r\n").refuse_status, 400) << bad;
  }
}

TEST(HttpRequestTest, FindsTheEndOfTheHead) {
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\n\r\nbody"), 18u);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\n"), std::string_view::npos);
}

struct Refusal {
  const char* what;
  std::string head;
  int status;
};

TEST(HttpRequestTest, RefusesEachMalformedHeadWithItsStatus) {
  const std::string big_value(20000, 'a');
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 65; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  many += "\r\n";
  const std::vector<Refusal> cases = {
      {"no version", "GET /\r\n\r\n", 400},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"absolute form", "GET http://x/ HTTP/1.1\r\n\r\n", 400},
      {"asterisk", "OPTIONS * HTTP/1.1\r\n\r\n", 400},
      {"raw high byte in target", "GET /v1/\xff HTTP/1.1\r\n\r\n", 400},
      {"control byte in target", "GET /v1/\x01 HTTP/1.1\r\n\r\n", 400},
      {"bad escape", "GET /v1/%zz HTTP/1.1\r\n\r\n", 400},
      {"truncated escape", "GET /v1/%f HTTP/1.1\r\n\r\n", 400},
      {"escaped NUL", "GET /v1/a%00b HTTP/1.1\r\n\r\n", 400},
      {"fragment", "GET /v1/a#b HTTP/1.1\r\n\r\n", 400},
      {"method not a token", "G(T / HTTP/1.1\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
      {"not HTTP", "GET / SPDY/1.1\r\n\r\n", 400},
      {"bare LF", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
      {"bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
      {"folding", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26), 400},
      {"negative length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"hex length", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"huge length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"conflicting lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       400},
      {"over max_body", "POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413},
      {"chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"expect other", "POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417},
      {"too many fields", many, 431},
      {"too big", "GET / HTTP/1.1\r\nX: " + big_value + "\r\n\r\n", 431},
      {"no blank line", "GET / HTTP/1.1\r\n", 400},
  };
  for (const auto& c : cases) {
    const ParsedHead p = Parse(c.head);
    EXPECT_EQ(p.refuse_status, c.status) << c.what << ": " << p.refuse_reason;
    EXPECT_FALSE(p.ok() && c.status != 0) << c.what;
  }
}

TEST(HttpRequestTest, ResponsesCarryLengthAndConnection) {
  EXPECT_EQ(FormatHttpResponse(404, "{}", true),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: "
            "2\r\nConnection: keep-alive\r\n\r\n{}");
  EXPECT_NE(FormatHttpResponse(413, "", false).find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace cafs::kps
