// Fuzzes the REST listener's HTTP/1.1 request-head parser (src/kps/http_request.h): what
// kpsd reads from any client that completed a TLS handshake, before RestApi sees anything.
// Checks, besides "no crash, no leak, no UB": an accepted head has a path starting with '/'
// and no NUL, a Content-Length within the limit; a refusal carries a 4xx/5xx status and a
// reason.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kps/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  cafs::kps::HttpLimits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 16;
  limits.max_body = 1 << 20;
  const std::size_t end = cafs::kps::FindHeadEnd(bytes);
  const std::string_view head = end == std::string_view::npos ? bytes : bytes.substr(0, end);
  const cafs::kps::ParsedHead p = cafs::kps::ParseRequestHead(head, limits);
  if (p.ok()) {
    if (p.head.path.empty() || p.head.path[0] != '/') std::abort();
    if (p.head.path.find('\0') != std::string::npos) std::abort();
    if (p.head.content_length > limits.max_body) std::abort();
  } else if (p.refuse_status < 400 || p.refuse_status > 599 || p.refuse_reason.empty()) {
    std::abort();
  }
  return 0;
}
