// S3Client: the HTTP side of the s3 pool kind: requests to one bucket of an S3 endpoint, signed
// with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4), retried with backoff. Only
// src/pool/s3/*.cc include curl headers; this header does not.
//
// Requests are path-style (ENDPOINT/BUCKET/KEY): radosgw and most S3 servers accept it without
// DNS for the bucket. Every request carries `x-amz-content-sha256: UNSIGNED-PAYLOAD` (radosgw
// refuses a SigV4 request without it). The secret key is handed to curl and to nothing else:
// no message, log line or error of this class contains it.
//
// Retries (docs/pools.md "s3"): a connection failure (refused, reset, timed out, nothing
// received) and HTTP 500, 502, 503 and 504 are retried `retries` times, waiting
// retry_base_ms, then twice as long each time (at most 5 s a wait). Then the request fails
// with Unavailable naming the pool, the method, the key, the last HTTP status or curl error and
// the number of attempts. Any other answer is returned as it is (callers map 404, 403, 412).
//
// Threading: Send is safe from many threads (each request takes a curl handle of its own from a
// small pool; handles keep their connections for reuse). Ownership: owns the curl handles.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace cafs::pool {

struct S3ClientOptions {
  std::string pool_name;  // for messages
  std::string endpoint;   // "http://host:port" or "https://host[:port]", no trailing '/'
  std::string region;     // signing region, e.g. "us-east-1"
  std::string bucket;
  std::string access_key;
  std::string secret_key;  // never printed
  int retries = 5;
  int retry_base_ms = 200;
  int op_timeout_s = 30;  // connect bound, and a transfer stalled this long fails
};

struct S3Request {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string key{};           // object key (not encoded); empty: the bucket itself
  // The query, already in canonical form: parameters sorted by name, values encoded with
  // S3UriEncode, e.g. "partNumber=2&uploadId=X" or "uploads=".
  std::string query{};
  std::vector<std::pair<std::string, std::string>> headers{};  // extra headers
  ByteView body{};  // request body (PUT, POST); must stay valid during Send
  // When not empty, the response body of a 2xx answer is written here (at most its size;
  // S3Response::received says how much) instead of S3Response::body.
  MutableByteView out{};
};

struct S3Response {
  long status = 0;
  std::map<std::string, std::string> headers{};  // names in lower case
  std::string body{};                            // error bodies always land here
  std::size_t received = 0;                      // bytes written to S3Request::out

  // The <Code> of an S3 error body ("NoSuchKey", "SignatureDoesNotMatch"), or "".
  std::string ErrorCode() const;
};

class S3Client {
 public:
  explicit S3Client(S3ClientOptions options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends the request, retrying as above. An answer that is not retried (any 2xx, 3xx, 4xx,
  // 501, ...) is a response; Unavailable when the retries ran out.
  Result<S3Response> Send(const S3Request& request);

  // A response that is not a success as a Status naming the pool, `what` and the key:
  // 404 NotFound, 403 PermissionDenied (with a hint about the keys for the signature and key
  // errors), 412 AlreadyExists, anything else EIO.
  Status ErrorOf(const S3Response& response, std::string_view what, std::string_view key) const;

  const S3ClientOptions& options() const { return options_; }
  // "s3:ENDPOINT/BUCKET" for messages.
  std::string location() const;

 private:
  struct Handle;
  std::unique_ptr<Handle> Take();
  void Give(std::unique_ptr<Handle> handle);
  // One attempt: a curl error (as text, empty when the transfer completed) and the response.
  std::pair<std::string, S3Response> Attempt(Handle& handle, const S3Request& request);

  const S3ClientOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;  // guarded by mu_
};

// AWS URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex); '/' too
// unless keep_slash (object keys in the path keep it, query values do not).
std::string S3UriEncode(std::string_view text, bool keep_slash);

// The text of every <tag>...</tag> directly in `xml`, in order, XML entities decoded. Enough
// for the flat answers of S3 (ListObjectsV2, InitiateMultipartUpload, errors); `inside` limits
// the search to the bodies of <inside> elements (e.g. "CommonPrefixes").
std::vector<std::string> S3XmlValues(std::string_view xml, std::string_view tag,
                                     std::string_view inside = {});

}  // namespace cafs::pool
