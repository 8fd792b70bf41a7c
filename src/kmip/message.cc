#include "kmip/message.h"

namespace cafs::kmip {

namespace {

Status Bad(const std::string& what) { return Status::InvalidArgument("KMIP message: " + what); }

Result<const Item*> Required(const Item& s, Tag t, ItemType type, const char* name) {
  const Item* i = s.Find(t);
  if (i == nullptr) return Bad(std::string("missing ") + name);
  if (i->type != type) return Bad(std::string(name) + " has the wrong type");
  return i;
}

}  // namespace

Item ToItem(const ProtocolVersion& v) {
  return Item::Structure(Tag::kProtocolVersion,
                         {Item::Integer(Tag::kProtocolVersionMajor, v.major),
                          Item::Integer(Tag::kProtocolVersionMinor, v.minor)});
}

Result<ProtocolVersion> ProtocolVersionFrom(const Item& item) {
  if (item.type != ItemType::kStructure) return Bad("Protocol Version is not a structure");
  ProtocolVersion v;
  CAFS_ASSIGN_OR_RETURN(const Item* major, Required(item, Tag::kProtocolVersionMajor,
                                                    ItemType::kInteger, "Protocol Version Major"));
  CAFS_ASSIGN_OR_RETURN(const Item* minor, Required(item, Tag::kProtocolVersionMinor,
                                                    ItemType::kInteger, "Protocol Version Minor"));
  v.major = static_cast<std::int32_t>(major->integer);
  v.minor = static_cast<std::int32_t>(minor->integer);
  return v;
}

Result<Request> ParseRequest(const Item& message) {
  if (!message.Is(Tag::kRequestMessage) || message.type != ItemType::kStructure) {
    return Bad("not a Request Message structure");
  }
  CAFS_ASSIGN_OR_RETURN(const Item* header, Required(message, Tag::kRequestHeader,
                                                     ItemType::kStructure, "Request Header"));
  Request r;
  CAFS_ASSIGN_OR_RETURN(const Item* pv, Required(*header, Tag::kProtocolVersion,
                                                 ItemType::kStructure, "Protocol Version"));
  CAFS_ASSIGN_OR_RETURN(r.version, ProtocolVersionFrom(*pv));
  if (const Item* m = header->Find(Tag::kMaximumResponseSize)) {
    if (m->type != ItemType::kInteger) return Bad("Maximum Response Size has the wrong type");
    r.max_response_size = static_cast<std::int32_t>(m->integer);
  }
  CAFS_ASSIGN_OR_RETURN(const Item* count,
                        Required(*header, Tag::kBatchCount, ItemType::kInteger, "Batch Count"));
  for (const Item* bi : message.FindAll(Tag::kBatchItem)) {
    if (bi->type != ItemType::kStructure) return Bad("Batch Item is not a structure");
    RequestBatchItem item;
    CAFS_ASSIGN_OR_RETURN(const Item* op,
                          Required(*bi, Tag::kOperation, ItemType::kEnumeration, "Operation"));
    item.operation = static_cast<std::uint32_t>(op->integer);
    if (const Item* id = bi->Find(Tag::kUniqueBatchItemId)) {
      if (id->type != ItemType::kByteString) return Bad("Unique Batch Item ID is not bytes");
      item.batch_id = id->bytes;
    }
    if (const Item* p = bi->Find(Tag::kRequestPayload)) {
      if (p->type != ItemType::kStructure) return Bad("Request Payload is not a structure");
      item.payload = *p;
    } else {
      item.payload = Item::Structure(Tag::kRequestPayload, {});
    }
    r.items.push_back(std::move(item));
  }
  if (r.items.empty()) return Bad("no Batch Item");
  if (count->integer != static_cast<std::int64_t>(r.items.size())) {
    return Bad("Batch Count " + std::to_string(count->integer) + " but " +
               std::to_string(r.items.size()) + " batch items");
  }
  return r;
}

Item BuildRequest(const ProtocolVersion& version, const std::vector<RequestBatchItem>& items) {
  Item header = Item::Structure(
      Tag::kRequestHeader,
      {ToItem(version), Item::Integer(Tag::kBatchCount, static_cast<std::int32_t>(items.size()))});
  Item msg = Item::Structure(Tag::kRequestMessage, {std::move(header)});
  for (const auto& i : items) {
    Item bi = Item::Structure(Tag::kBatchItem, {Item::Enumeration(Tag::kOperation, i.operation)});
    if (i.batch_id) bi.children.push_back(Item::ByteString(Tag::kUniqueBatchItemId, *i.batch_id));
    Item payload = i.payload;
    payload.tag = Value(Tag::kRequestPayload);
    payload.type = ItemType::kStructure;
    bi.children.push_back(std::move(payload));
    msg.children.push_back(std::move(bi));
  }
  return msg;
}

Item BuildResponse(const Response& response) {
  Item header = Item::Structure(
      Tag::kResponseHeader,
      {ToItem(response.version), Item::DateTime(Tag::kTimeStamp, response.time_stamp),
       Item::Integer(Tag::kBatchCount, static_cast<std::int32_t>(response.items.size()))});
  Item msg = Item::Structure(Tag::kResponseMessage, {std::move(header)});
  for (const auto& i : response.items) {
    Item bi = Item::Structure(Tag::kBatchItem, {});
    if (i.operation) bi.children.push_back(Item::Enumeration(Tag::kOperation, *i.operation));
    if (i.batch_id) bi.children.push_back(Item::ByteString(Tag::kUniqueBatchItemId, *i.batch_id));
    bi.children.push_back(
        Item::Enumeration(Tag::kResultStatus, static_cast<std::uint32_t>(i.status)));
    if (i.reason) {
      bi.children.push_back(
          Item::Enumeration(Tag::kResultReason, static_cast<std::uint32_t>(*i.reason)));
    }
    if (!i.message.empty()) bi.children.push_back(Item::TextString(Tag::kResultMessage, i.message));
    if (i.payload) {
      Item p = *i.payload;
      p.tag = Value(Tag::kResponsePayload);
      p.type = ItemType::kStructure;
      bi.children.push_back(std::move(p));
    }
    msg.children.push_back(std::move(bi));
  }
  return msg;
}

Result<Response> ParseResponse(const Item& message) {
  if (!message.Is(Tag::kResponseMessage) || message.type != ItemType::kStructure) {
    return Bad("not a Response Message structure");
  }
  CAFS_ASSIGN_OR_RETURN(const Item* header, Required(message, Tag::kResponseHeader,
                                                     ItemType::kStructure, "Response Header"));
  Response r;
  CAFS_ASSIGN_OR_RETURN(const Item* pv, Required(*header, Tag::kProtocolVersion,
                                                 ItemType::kStructure, "Protocol Version"));
  CAFS_ASSIGN_OR_RETURN(r.version, ProtocolVersionFrom(*pv));
  CAFS_ASSIGN_OR_RETURN(const Item* ts,
                        Required(*header, Tag::kTimeStamp, ItemType::kDateTime, "Time Stamp"));
  r.time_stamp = ts->integer;
  for (const Item* bi : message.FindAll(Tag::kBatchItem)) {
    ResponseBatchItem item;
    if (const Item* op = bi->Find(Tag::kOperation)) {
      item.operation = static_cast<std::uint32_t>(op->integer);
    }
    if (const Item* id = bi->Find(Tag::kUniqueBatchItemId)) item.batch_id = id->bytes;
    CAFS_ASSIGN_OR_RETURN(
        const Item* st, Required(*bi, Tag::kResultStatus, ItemType::kEnumeration, "Result Status"));
    item.status = static_cast<ResultStatus>(st->integer);
    if (const Item* rr = bi->Find(Tag::kResultReason)) {
      item.reason = static_cast<ResultReason>(rr->integer);
    }
    if (const Item* m = bi->Find(Tag::kResultMessage)) item.message = m->bytes;
    if (const Item* p = bi->Find(Tag::kResponsePayload)) item.payload = *p;
    r.items.push_back(std::move(item));
  }
  return r;
}

ResponseBatchItem Failure(std::optional<std::uint32_t> operation, ResultReason reason,
                          std::string message) {
  ResponseBatchItem i;
  i.operation = operation;
  i.status = ResultStatus::kOperationFailed;
  i.reason = reason;
  i.message = std::move(message);
  return i;
}

}  // namespace cafs::kmip
