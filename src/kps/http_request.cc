#include "kps/http_request.h"

#include <vector>

#include "util/utf8.h"

namespace cafs::kps {

namespace {

// RFC 9110 tchar.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    if (!IsTokenChar(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; false on a malformed escape or an escaped NUL.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const char byte = static_cast<char>((hi << 4) | lo);
      if (byte == '\0') return false;
      out->push_back(byte);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits `s` at every `sep` (empty pieces kept).
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

ParsedHead Refuse(int status, std::string reason) {
  ParsedHead p;
  p.refuse_status = status;
  p.refuse_reason = std::move(reason);
  return p;
}

// The request target (origin-form) into path and query.
bool ParseTarget(std::string_view target, HttpRequestHead* head) {
  if (target.empty() || target.front() != '/') return false;
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  const std::size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (raw_path.find('#') != std::string_view::npos) return false;  // no fragment on the wire
  if (!PercentDecode(raw_path, false, &head->path) || !IsValidUtf8(head->path)) return false;
  if (q == std::string_view::npos) return true;
  std::string_view raw_query = target.substr(q + 1);
  if (raw_query.find('#') != std::string_view::npos) return false;
  for (std::string_view pair : Split(raw_query, '&')) {
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string name;
    std::string value;
    if (!PercentDecode(pair.substr(0, eq), true, &name) || !IsValidUtf8(name)) return false;
    if (eq != std::string_view::npos &&
        (!PercentDecode(pair.substr(eq + 1), true, &value) || !IsValidUtf8(value))) {
      return false;
    }
    head->query[name] = std::move(value);
  }
  return true;
}

// A field value's bytes: HTAB, SP, visible US-ASCII, obs-text.
bool IsFieldValue(std::string_view v) {
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::size_t FindHeadEnd(std::string_view bytes) {
  const std::size_t at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? std::string_view::npos : at + 4;
}

ParsedHead ParseRequestHead(std::string_view head, const HttpLimits& limits) {
  if (head.size() > limits.max_head_bytes) {
    return Refuse(431,
                  "the request head exceeds " + std::to_string(limits.max_head_bytes) + " bytes");
  }
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") {
    return Refuse(400, "the request head does not end with an empty line");
  }
  head.remove_suffix(2);  // every line now ends with CRLF
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const std::size_t crlf = head.find("\r\n");
    const std::string_view line = head.substr(0, crlf);
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
      return Refuse(400, "a bare CR or LF in the request head");
    }
    lines.push_back(line);
    head.remove_prefix(crlf + 2);
  }
  if (lines.empty()) return Refuse(400, "no request line");
  if (lines.size() - 1 > limits.max_headers) {
    return Refuse(431, "more than " + std::to_string(limits.max_headers) + " header fields");
  }

  ParsedHead out;
  HttpRequestHead& h = out.head;
  const std::vector<std::string_view> parts = Split(lines[0], ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[0].size() > 16) {
    return Refuse(400, "malformed request line");
  }
  h.method = std::string(parts[0]);
  const std::string_view version = parts[2];
  if (version == "HTTP/1.1") {
    h.keep_alive = true;
  } else if (version == "HTTP/1.0") {
    h.keep_alive = false;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/") {
    return Refuse(505, "only HTTP/1.1 and HTTP/1.0 are served");
  } else {
    return Refuse(400, "malformed request line");
  }
  if (!ParseTarget(parts[1], &h)) {
    return Refuse(400,
                  "malformed request target (an origin-form path of printable US-ASCII "
                  "with well-formed percent escapes that decode to UTF-8 without NUL)");
  }

  bool have_length = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      return Refuse(400, "obsolete header line folding");
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Refuse(400, "malformed header field");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (!IsFieldValue(value)) return Refuse(400, "a control character in a header field");
    if (EqualsNoCase(name, "content-length")) {
      if (value.empty() || value.size() > 19) return Refuse(400, "malformed Content-Length");
      std::uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return Refuse(400, "malformed Content-Length");
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (have_length && n != h.content_length) {
        return Refuse(400, "conflicting Content-Length fields");
      }
      have_length = true;
      h.content_length = n;
    } else if (EqualsNoCase(name, "transfer-encoding")) {
      return Refuse(411,
                    "Transfer-Encoding (chunked) request bodies are not accepted: send "
                    "the body with Content-Length");
    } else if (EqualsNoCase(name, "connection")) {
      for (std::string_view token : Split(value, ',')) {
        token = Trim(token);
        if (EqualsNoCase(token, "close")) h.keep_alive = false;
        if (EqualsNoCase(token, "keep-alive") && version == "HTTP/1.1") h.keep_alive = true;
      }
    } else if (EqualsNoCase(name, "expect")) {
      if (!EqualsNoCase(value, "100-continue")) {
        return Refuse(417, "only Expect: 100-continue is supported");
      }
      h.expect_continue = true;
    }
  }
  if (h.content_length > limits.max_body) {
    return Refuse(413, "the body of " + std::to_string(h.content_length) +
                           " bytes exceeds the size limit of " + std::to_string(limits.max_body));
  }
  return out;
}

std::string_view HttpReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return "Unknown";
  }
}

std::string_view HttpErrorName(int status) {
  switch (status) {
    case 405:
      return "method not allowed";
    case 408:
      return "request timeout";
    case 411:
      return "length required";
    case 413:
      return "payload too large";
    case 417:
      return "expectation failed";
    case 431:
      return "request header fields too large";
    case 500:
      return "internal error";
    case 505:
      return "http version not supported";
    default:
      return "bad request";
  }
}

std::string FormatHttpResponse(int status, std::string_view json_body, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += HttpReasonPhrase(status);
  out += "\r\nContent-Type: application/json\r\nContent-Length: ";
  out += std::to_string(json_body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += json_body;
  return out;
}

std::string_view HttpContinue() { return "HTTP/1.1 100 Continue\r\n\r\n"; }

}  // namespace cafs::kps
