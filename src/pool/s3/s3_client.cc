#include "pool/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <thread>

namespace cafs::pool {

namespace {

constexpr std::size_t kMaxBody = 16u << 20;  // a larger answer body is cut (listings are ~200 KiB)
constexpr int kMaxWaitMs = 5000;
constexpr std::size_t kIdleHandles = 8;

void GlobalInit() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)rc;  // a failure shows as a failed curl_easy_init
}

bool Retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool Retryable(long status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

struct Sink {
  S3Response* response = nullptr;
  MutableByteView out;
  bool to_out = false;  // decided at the first body byte, from the status
  bool decided = false;
  CURL* curl = nullptr;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t len = size * n;
  if (!sink->decided) {
    long status = 0;
    curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
    sink->to_out = !sink->out.empty() && status >= 200 && status < 300;
    sink->decided = true;
  }
  if (sink->to_out) {
    const std::size_t room = sink->out.size() - sink->response->received;
    const std::size_t take = std::min(room, len);
    std::memcpy(sink->out.data() + sink->response->received, data, take);
    sink->response->received += take;
  } else if (sink->response->body.size() < kMaxBody) {
    sink->response->body.append(data, std::min(len, kMaxBody - sink->response->body.size()));
  }
  return len;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* response = static_cast<S3Response*>(user);
  const std::size_t len = size * n;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) response->headers.clear();  // a new answer (after 100-continue)
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    response->headers[name] = std::string(value);
  }
  return len;
}

std::string Decode(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    bool matched = false;
    if (text[i] == '&') {
      for (const auto& [entity, c] : kEntities) {
        if (text.substr(i).starts_with(entity)) {
          out.push_back(c);
          i += entity.size();
          matched = true;
          break;
        }
      }
    }
    if (!matched) out.push_back(text[i++]);
  }
  return out;
}

}  // namespace

struct S3Client::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

std::string S3UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::vector<std::string> S3XmlValues(std::string_view xml, std::string_view tag,
                                     std::string_view inside) {
  std::vector<std::string> values;
  if (!inside.empty()) {
    const std::string open = "<" + std::string(inside) + ">";
    const std::string close = "</" + std::string(inside) + ">";
    for (std::size_t at = xml.find(open); at != std::string_view::npos; at = xml.find(open, at)) {
      const std::size_t end = xml.find(close, at);
      if (end == std::string_view::npos) break;
      for (auto& v : S3XmlValues(xml.substr(at + open.size(), end - at - open.size()), tag)) {
        values.push_back(std::move(v));
      }
      at = end + close.size();
    }
    return values;
  }
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  for (std::size_t at = xml.find(open); at != std::string_view::npos; at = xml.find(open, at)) {
    const std::size_t start = at + open.size();
    const std::size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    values.push_back(Decode(xml.substr(start, end - start)));
    at = end + close.size();
  }
  return values;
}

std::string S3Response::ErrorCode() const {
  auto codes = S3XmlValues(body, "Code");
  return codes.empty() ? std::string() : codes.front();
}

S3Client::S3Client(S3ClientOptions options) : options_(std::move(options)) { GlobalInit(); }

S3Client::~S3Client() = default;

std::string S3Client::location() const { return "s3:" + options_.endpoint + "/" + options_.bucket; }

std::unique_ptr<S3Client::Handle> S3Client::Take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl = curl_easy_init();
  return h;
}

void S3Client::Give(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kIdleHandles) idle_.push_back(std::move(handle));
}

std::pair<std::string, S3Response> S3Client::Attempt(Handle& handle, const S3Request& request) {
  S3Response response;
  CURL* c = handle.curl;
  if (c == nullptr) return {"curl_easy_init failed", response};
  curl_easy_reset(c);
  std::string url = options_.endpoint + "/" + options_.bucket;
  if (!request.key.empty()) url += "/" + S3UriEncode(request.key, true);
  if (!request.query.empty()) url += "?" + request.query;
  const std::string sigv4 = "aws:amz:" + options_.region + ":s3";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, options_.access_key.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, options_.secret_key.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.op_timeout_s));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.op_timeout_s));
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    // Never a null pointer: curl would then read the body from stdin.
    const char* body =
        request.body.empty() ? "" : reinterpret_cast<const char*>(request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  Sink sink{.response = &response, .out = request.out, .curl = c};
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (rc != CURLE_OK) {
    return {std::string(Retryable(rc) ? "" : "!") + curl_easy_strerror(rc), response};
  }
  return {"", response};
}

Result<S3Response> S3Client::Send(const S3Request& request) {
  std::unique_ptr<Handle> handle = Take();
  std::string last;
  int wait_ms = options_.retry_base_ms;
  const int attempts = options_.retries + 1;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    auto [error, response] = Attempt(*handle, request);
    if (error.starts_with("!")) {  // not a transient failure: no retry
      Give(std::move(handle));
      return Status::FromErrno(EIO, "storage pool '" + options_.pool_name + "' (" + location() +
                                        "): " + request.method + " " + request.key + ": " +
                                        error.substr(1));
    }
    if (error.empty() && !Retryable(response.status)) {
      Give(std::move(handle));
      return response;
    }
    last = error.empty() ? "HTTP " + std::to_string(response.status) +
                               (response.ErrorCode().empty() ? "" : " " + response.ErrorCode())
                         : error;
    if (attempt < attempts) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      wait_ms = std::min(kMaxWaitMs, wait_ms * 2);
    }
  }
  Give(std::move(handle));
  return Status::Unavailable("storage pool '" + options_.pool_name + "' (" + location() +
                             "): " + request.method + " " +
                             (request.key.empty() ? "bucket " + options_.bucket : request.key) +
                             ": " + last + " after " + std::to_string(attempts) + " attempts");
}

Status S3Client::ErrorOf(const S3Response& response, std::string_view what,
                         std::string_view key) const {
  const std::string code = response.ErrorCode();
  const std::string message = "storage pool '" + options_.pool_name + "' (" + location() +
                              "): " + std::string(what) + " " + std::string(key) + ": HTTP " +
                              std::to_string(response.status) + (code.empty() ? "" : " " + code);
  switch (response.status) {
    case 404:
      return Status::NotFound(message);
    case 403:
      if (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code.empty()) {
        return Status::PermissionDenied(
            message + " (the access_key or the secret in secret_key_file is not accepted)");
      }
      return Status::PermissionDenied(message);
    case 412:
      return Status::AlreadyExists(message);
    default:
      return Status::FromErrno(EIO, message);
  }
}

}  // namespace cafs::pool
