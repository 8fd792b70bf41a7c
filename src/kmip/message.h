// KMIP request and response messages (KMIP 1.1 specification section 7): the layer between
// TTLV items (ttlv.h) and the operations a server runs.
//
//   Request Message  = Request Header (Protocol Version, [Maximum Response Size],
//                      [Authentication], Batch Count, ...) + Batch Item+ (Operation,
//                      [Unique Batch Item ID], Request Payload)
//   Response Message = Response Header (Protocol Version, Time Stamp, Batch Count) +
//                      Batch Item+ (Operation, [Unique Batch Item ID], Result Status,
//                      [Result Reason, Result Message], [Response Payload])
//
// ParseRequest checks the shape (tags and types of the header fields, Batch Count equal to
// the number of batch items, each item with an Operation) and returns InvalidArgument for
// anything else: the server answers that with Result Reason Invalid Message. Fields we do
// not use (Authentication, batch order options, ...) are accepted and ignored. Payloads are
// not interpreted here.
// Threading: values; functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kmip/ttlv.h"

namespace cafs::kmip {

struct ProtocolVersion {
  std::int32_t major = 1;
  std::int32_t minor = 1;
  friend bool operator==(const ProtocolVersion&, const ProtocolVersion&) = default;
};
Item ToItem(const ProtocolVersion& v);
Result<ProtocolVersion> ProtocolVersionFrom(const Item& item);

struct RequestBatchItem {
  std::uint32_t operation = 0;  // an Operation value, possibly one we do not know
  std::optional<std::string> batch_id;
  Item payload;  // the Request Payload structure (empty structure when absent)
};

struct Request {
  ProtocolVersion version;
  std::optional<std::int32_t> max_response_size;
  std::vector<RequestBatchItem> items;
};

Result<Request> ParseRequest(const Item& message);
Item BuildRequest(const ProtocolVersion& version, const std::vector<RequestBatchItem>& items);

struct ResponseBatchItem {
  std::optional<std::uint32_t> operation;  // absent when the request could not be parsed
  std::optional<std::string> batch_id;
  ResultStatus status = ResultStatus::kSuccess;
  std::optional<ResultReason> reason;  // required when status is not success
  std::string message;                 // Result Message, when not empty
  std::optional<Item> payload;         // Response Payload (tag set by BuildResponse)
};

struct Response {
  ProtocolVersion version;
  std::int64_t time_stamp = 0;
  std::vector<ResponseBatchItem> items;
};

Item BuildResponse(const Response& response);
Result<Response> ParseResponse(const Item& message);

// A one-item failure response (e.g. Invalid Message for an undecodable request).
ResponseBatchItem Failure(std::optional<std::uint32_t> operation, ResultReason reason,
                          std::string message);

}  // namespace cafs::kmip
