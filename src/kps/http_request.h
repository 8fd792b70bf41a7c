// A strict parser of one HTTP/1.1 request head, and the writer of kpsd's responses: the
// HTTP subset kpsd's REST listener (tls_server.h) speaks (docs/kps.md "The REST listener").
//
// Accepted: a request line `METHOD SP origin-form SP HTTP/1.1|HTTP/1.0 CRLF` (the method a
// token, the target starting with '/', printable US-ASCII only, percent escapes well formed),
// at most `max_headers` header fields `name ":" OWS value OWS CRLF` (the name a token; the
// value without control characters), a blank line. A body is sent with Content-Length only.
//
// Refused, with the HTTP status the listener answers before closing the connection:
//   400  a malformed request line, target, header field or Content-Length, a bare CR or LF,
//        obsolete line folding, conflicting Content-Length fields, a path or query that
//        does not decode to UTF-8 or holds an escaped NUL;
//   411  Transfer-Encoding (chunked bodies are not accepted: send Content-Length);
//   413  Content-Length over `max_body`;
//   417  an Expect other than 100-continue;
//   431  a head over `max_head_bytes` or with more than `max_headers` fields (the listener
//        checks the size while reading; the parser checks it again);
//   505  an HTTP version other than 1.0 and 1.1.
// The path and query are percent-decoded (the query's '+' is a space) and valid UTF-8 (the
// REST API names VM sets, keys, admins: text). Header values may hold any bytes but
// controls; only Content-Length, Transfer-Encoding, Connection and Expect are read.
//
// Threading: pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cafs::kps {

struct HttpLimits {
  std::size_t max_head_bytes = 16 << 10;  // request line + header fields + blank line
  std::size_t max_headers = 64;
  std::size_t max_body = 1 << 20;
};

struct HttpRequestHead {
  std::string method;                        // as sent ("GET", "POST", ...)
  std::string path;                          // percent-decoded, starts with '/'
  std::map<std::string, std::string> query;  // percent-decoded; a repeated name keeps the last
  std::uint64_t content_length = 0;
  bool keep_alive = true;        // HTTP/1.1 without "Connection: close"
  bool expect_continue = false;  // "Expect: 100-continue"
};

struct ParsedHead {
  HttpRequestHead head;
  int refuse_status = 0;  // 0: accepted; else the status to answer (then close)
  std::string refuse_reason;
  bool ok() const { return refuse_status == 0; }
};

// The end of the head in `bytes`: the offset just past the first CRLFCRLF, or npos.
std::size_t FindHeadEnd(std::string_view bytes);

// Parses `head`: the bytes up to and including the blank line (FindHeadEnd).
ParsedHead ParseRequestHead(std::string_view head, const HttpLimits& limits);

// The standard name of an HTTP status ("Not Found"); "Unknown" for one we do not send.
std::string_view HttpReasonPhrase(int status);

// A complete response: status line, Content-Type application/json, Content-Length,
// Connection keep-alive or close, the body.
std::string FormatHttpResponse(int status, std::string_view json_body, bool keep_alive);

// The interim "HTTP/1.1 100 Continue" response.
std::string_view HttpContinue();

// The short error name kpsd's JSON error bodies carry for a refused request
// ({"error": ..., "reason": ...}), e.g. "payload too large" for 413.
std::string_view HttpErrorName(int status);

}  // namespace cafs::kps
