#include "kps/kmip_service.h"

#include <openssl/crypto.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include "kmip/attribute.h"
#include "kps/catalog.h"
#include "kps/peer_auth.h"
#include "kps/rekey_triggers.h"
#include "util/logging.h"
#include "util/utf8.h"

namespace cafs::kps {

namespace {

using kmip::Item;
using kmip::ItemType;
using kmip::Operation;
using kmip::ResultReason;
using kmip::Tag;

constexpr Operation kSupported[] = {
    Operation::kCreate,           Operation::kLocate,           Operation::kGet,
    Operation::kGetAttributes,    Operation::kGetAttributeList, Operation::kActivate,
    Operation::kRevoke,           Operation::kDestroy,          Operation::kQuery,
    Operation::kDiscoverVersions,
};

// Versions we answer, in our order of preference (DiscoverVersions).
constexpr kmip::ProtocolVersion kVersions[] = {{1, 2}, {1, 1}, {1, 0}};

// A key-format refusal carries its own result reason (Key Format Type Not Supported).
constexpr std::string_view kKeyFormatPrefix = "key format type";

std::string_view OperationName(std::uint32_t op) {
  switch (static_cast<Operation>(op)) {
    case Operation::kCreate:
      return "Create";
    case Operation::kLocate:
      return "Locate";
    case Operation::kGet:
      return "Get";
    case Operation::kGetAttributes:
      return "GetAttributes";
    case Operation::kGetAttributeList:
      return "GetAttributeList";
    case Operation::kActivate:
      return "Activate";
    case Operation::kRevoke:
      return "Revoke";
    case Operation::kDestroy:
      return "Destroy";
    case Operation::kQuery:
      return "Query";
    case Operation::kDiscoverVersions:
      return "DiscoverVersions";
  }
  return "unsupported";
}

bool Supported(std::uint32_t op) {
  for (Operation s : kSupported) {
    if (static_cast<std::uint32_t>(s) == op) return true;
  }
  return false;
}

// Operations whose success is audited (changes and key material leaving kpsd).
bool Audited(Operation op) {
  return op == Operation::kCreate || op == Operation::kGet || op == Operation::kActivate ||
         op == Operation::kRevoke || op == Operation::kDestroy;
}

ResultReason ReasonFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kPermissionDenied:
      return ResultReason::kPermissionDenied;
    case Status::Code::kNotFound:
      return ResultReason::kItemNotFound;
    case Status::Code::kInvalidArgument:
    case Status::Code::kAlreadyExists:
      return ResultReason::kInvalidField;
    case Status::Code::kNotSupported:
      return s.message().rfind(kKeyFormatPrefix, 0) == 0 ? ResultReason::kKeyFormatTypeNotSupported
                                                         : ResultReason::kFeatureNotSupported;
    case Status::Code::kFailedPrecondition:
      return ResultReason::kIllegalOperation;
    default:
      return ResultReason::kGeneralFailure;
  }
}

kmip::State ToKmip(KeyState s) {
  switch (s) {
    case KeyState::kPreActive:
      return kmip::State::kPreActive;
    case KeyState::kActive:
      return kmip::State::kActive;
    case KeyState::kDeactivated:
      return kmip::State::kDeactivated;
    case KeyState::kCompromised:
      return kmip::State::kCompromised;
    case KeyState::kDestroyed:
      return kmip::State::kDestroyed;
  }
  return kmip::State::kDestroyed;
}

// The KMIP State of a record: its newest version's.
KeyState StateOf(const KeyRecord& k) {
  return k.versions.empty() ? KeyState::kDestroyed : k.versions.back().state;
}

// Every Text String in `item`, at any depth, must be UTF-8: KMIP text reaches audit records
// (JSON, which cannot hold other bytes), the store and logs. InvalidArgument (Invalid Field)
// naming the tag otherwise. The decoder bounds the depth (DecodeLimits::max_depth).
Status CheckTextStrings(const Item& item) {
  if (item.type == ItemType::kTextString && !IsValidUtf8(item.bytes)) {
    char tag[16];
    std::snprintf(tag, sizeof tag, "%06X", static_cast<unsigned>(item.tag));
    return Status::InvalidArgument("the Text String of tag " + std::string(tag) + " is not UTF-8");
  }
  for (const Item& c : item.children) CAFS_RETURN_IF_ERROR(CheckTextStrings(c));
  return Status::OK();
}

Result<std::string> Uid(const Item& payload) {
  const Item* u = payload.Find(Tag::kUniqueIdentifier);
  if (u == nullptr) return Status::InvalidArgument("the request has no Unique Identifier");
  if (u->type != ItemType::kTextString) {
    return Status::InvalidArgument("Unique Identifier is not a text string");
  }
  return u->bytes;
}

// Whether `who` may see the metadata of keys of `vmset` (REST read + gateways' own VM sets).
Status AuthorizeRead(const Principal& who, std::string_view vmset) {
  if (who.role == Role::kGateway) return Authorize(who, Action::kFetchKeys, vmset);
  return Authorize(who, Action::kReadKey, vmset);
}

std::vector<kmip::Attribute> AllAttributes(const KeyRecord& k) {
  std::vector<kmip::Attribute> a;
  auto add = [&](std::string_view name, Item v) { a.push_back({std::string(name), 0, v}); };
  add(kmip::kAttrUniqueIdentifier, Item::TextString(Tag::kAttributeValue, k.id));
  add(kmip::kAttrObjectType,
      Item::Enumeration(Tag::kAttributeValue,
                        static_cast<std::uint32_t>(kmip::ObjectType::kSymmetricKey)));
  add(kmip::kAttrCryptographicAlgorithm,
      Item::Enumeration(Tag::kAttributeValue,
                        static_cast<std::uint32_t>(kmip::CryptographicAlgorithm::kAes)));
  if (auto size = DekSize(k.cipher); size.ok()) {
    add(kmip::kAttrCryptographicLength,
        Item::Integer(Tag::kAttributeValue, static_cast<std::int32_t>(*size * 8)));
  }
  add(kmip::kAttrState,
      Item::Enumeration(Tag::kAttributeValue, static_cast<std::uint32_t>(ToKmip(StateOf(k)))));
  if (!k.name.empty()) add(kmip::kAttrName, kmip::NameValue(k.name));
  add(kmip::kAttrInitialDate, Item::DateTime(Tag::kAttributeValue, k.created));
  add("x-cafs-vmset", Item::TextString(Tag::kAttributeValue, k.vmset));
  add("x-cafs-cipher", Item::TextString(Tag::kAttributeValue, k.cipher));
  return a;
}

void Wipe(Item& item) {
  if (!item.bytes.empty()) OPENSSL_cleanse(item.bytes.data(), item.bytes.size());
  for (auto& c : item.children) Wipe(c);
}

}  // namespace

std::int64_t KmipService::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

void KmipService::Audit(const PeerIdentity& peer, std::string_view role, std::string_view action,
                        std::string_view object, std::string_view result, std::string_view reason) {
  AuditRecord r;
  r.time = Now();
  r.actor = peer.name;
  r.role = std::string(role);
  r.action = "KMIP " + std::string(action);
  r.object = std::string(object);
  r.result = std::string(result);
  r.reason = std::string(reason);
  try {
    AppendAuditRecordOrLog(store_, std::move(r));
  } catch (const std::exception& e) {
    // Every string above is checked UTF-8 (CheckTextStrings); this is the last line.
    CAFS_LOG_ERROR("KMIP: audit record lost ({} KMIP {}): {}", peer.name, action, e.what());
  }
}

Result<Principal> KmipService::Authenticate(const PeerIdentity& peer) {
  return AuthenticatePeer(store_, peer);
}

KmipService::Reply KmipService::Handle(ByteView request, const PeerIdentity& peer) {
  try {
    return HandleMessage(request, peer);
  } catch (const std::exception& e) {
    // Run() answers an operation's failure in its batch item; this is what is left (the
    // response could not be built). The connection goes on.
    CAFS_LOG_ERROR("KMIP: request from '{}' failed: {}", peer.name, e.what());
  } catch (...) {
    CAFS_LOG_ERROR("KMIP: request from '{}' failed: unknown exception", peer.name);
  }
  Reply reply;
  kmip::Response resp;
  resp.time_stamp = Now();
  resp.version = kVersions[0];
  resp.items.push_back(
      kmip::Failure(std::nullopt, ResultReason::kGeneralFailure, "internal error (logged)"));
  reply.message = kmip::Encode(kmip::BuildResponse(resp));
  return reply;
}

KmipService::Reply KmipService::HandleMessage(ByteView request, const PeerIdentity& peer) {
  Reply reply;
  kmip::Response resp;
  resp.time_stamp = Now();
  resp.version = kVersions[0];
  auto item = kmip::Decode(request, options_.limits);
  Result<kmip::Request> req = item.ok() ? kmip::ParseRequest(*item) : item.status();
  if (req.ok() && req->version.major != 1) {
    req = Status::InvalidArgument("KMIP protocol version " + std::to_string(req->version.major) +
                                  "." + std::to_string(req->version.minor) +
                                  " is not supported (1.0 to 1.2 are)");
  }
  if (!req.ok()) {
    resp.items.push_back(kmip::Failure(std::nullopt, ResultReason::kInvalidMessage,
                                       std::string(req.status().message())));
    reply.message = kmip::Encode(kmip::BuildResponse(resp));
    reply.close = true;
    return reply;
  }
  resp.version = req->version;
  auto who = Authenticate(peer);
  for (const auto& bi : req->items) {
    kmip::ResponseBatchItem out;
    if (!who.ok()) {
      out = kmip::Failure(bi.operation, ResultReason::kAuthenticationNotSuccessful,
                          std::string(who.status().message()));
      Audit(peer, peer.role, OperationName(bi.operation), "", "denied", who.status().message());
    } else {
      out = Run(*who, bi, req->version);
    }
    out.operation = bi.operation;
    out.batch_id = bi.batch_id;
    resp.items.push_back(std::move(out));
  }
  Item msg = kmip::BuildResponse(resp);
  reply.message = kmip::Encode(msg);
  Wipe(msg);
  for (auto& i : resp.items) {
    if (i.payload) Wipe(*i.payload);
  }
  return reply;
}

kmip::ResponseBatchItem KmipService::Run(const Principal& who, const kmip::RequestBatchItem& bi,
                                         const kmip::ProtocolVersion& version) {
  const std::string op_name(OperationName(bi.operation));
  const std::string role(RoleName(who.role));
  if (!Supported(bi.operation)) {
    return kmip::Failure(bi.operation, ResultReason::kOperationNotSupported,
                         "operation " + std::to_string(bi.operation) + " is not supported");
  }
  const auto op = static_cast<Operation>(bi.operation);
  std::string object;
  PeerIdentity peer;
  peer.name = who.name;
  Result<Item> result = [&]() -> Result<Item> {
    CAFS_RETURN_IF_ERROR(CheckTextStrings(bi.payload));
    // The one place an operation's exception becomes its batch item's failure; the other
    // items of the message and the connection go on.
    try {
      return Dispatch(who, op, bi.payload, version, &object);
    } catch (const std::exception& e) {
      CAFS_LOG_ERROR("KMIP {} by '{}' failed: {}", op_name, who.name, e.what());
      object.clear();  // may be what could not be handled
      return Status::Internal("internal error (logged)");
    }
  }();
  if (!result.ok()) {
    const Status& s = result.status();
    if (s.IsPermissionDenied()) {
      Audit(peer, role, op_name, object, "denied", s.message());
    } else if (Audited(op)) {
      Audit(peer, role, op_name, object, "error", s.message());
    }
    return kmip::Failure(bi.operation, ReasonFor(s), std::string(s.message()));
  }
  if (Audited(op)) Audit(peer, role, op_name, object, "ok", "");
  kmip::ResponseBatchItem ok;
  ok.status = kmip::ResultStatus::kSuccess;
  ok.payload = std::move(result).value();
  return ok;
}

Result<Item> KmipService::Dispatch(const Principal& who, Operation op, const Item& payload,
                                   const kmip::ProtocolVersion& version, std::string* object) {
  (void)version;
  switch (op) {
    case Operation::kDiscoverVersions: {
      std::vector<kmip::ProtocolVersion> asked;
      for (const Item* pv : payload.FindAll(Tag::kProtocolVersion)) {
        CAFS_ASSIGN_OR_RETURN(kmip::ProtocolVersion v, kmip::ProtocolVersionFrom(*pv));
        asked.push_back(v);
      }
      Item out = Item::Structure(Tag::kResponsePayload, {});
      for (const auto& v : kVersions) {
        if (asked.empty() || std::find(asked.begin(), asked.end(), v) != asked.end()) {
          out.children.push_back(kmip::ToItem(v));
        }
      }
      return out;
    }
    case Operation::kQuery: {
      Item out = Item::Structure(Tag::kResponsePayload, {});
      for (const Item* f : payload.FindAll(Tag::kQueryFunction)) {
        if (f->type != ItemType::kEnumeration) {
          return Status::InvalidArgument("Query Function is not an enumeration");
        }
        switch (static_cast<kmip::QueryFunction>(f->integer)) {
          case kmip::QueryFunction::kOperations:
            for (Operation s : kSupported) {
              out.children.push_back(
                  Item::Enumeration(Tag::kOperation, static_cast<std::uint32_t>(s)));
            }
            break;
          case kmip::QueryFunction::kObjects:
            out.children.push_back(Item::Enumeration(
                Tag::kObjectType, static_cast<std::uint32_t>(kmip::ObjectType::kSymmetricKey)));
            break;
          case kmip::QueryFunction::kServerInformation:
            out.children.push_back(Item::TextString(Tag::kVendorIdentification, "CAFS kpsd"));
            break;
          default:
            break;  // nothing to report for the other functions
        }
      }
      return out;
    }
    case Operation::kCreate:
      return Create(who, payload, object);
    case Operation::kGet:
      return Get(who, payload, object);
    case Operation::kGetAttributes:
      return GetAttributes(who, payload, false, object);
    case Operation::kGetAttributeList:
      return GetAttributes(who, payload, true, object);
    case Operation::kLocate:
      return Locate(who, payload);
    case Operation::kActivate:
    case Operation::kRevoke:
    case Operation::kDestroy:
      return ChangeState(who, op, payload, object);
  }
  return Status::NotSupported("operation not supported");
}

Result<Item> KmipService::Create(const Principal& who, const Item& payload, std::string* object) {
  CAFS_RETURN_IF_ERROR(Authorize(who, Action::kManageKey, options_.vmset));
  const Item* type = payload.Find(Tag::kObjectType);
  if (type == nullptr || type->type != ItemType::kEnumeration) {
    return Status::InvalidArgument("Create needs an Object Type");
  }
  if (type->integer != static_cast<std::int64_t>(kmip::ObjectType::kSymmetricKey)) {
    return Status::NotSupported("only Symmetric Key objects can be created");
  }
  std::vector<kmip::Attribute> attrs;
  if (const Item* ta = payload.Find(Tag::kTemplateAttribute)) {
    CAFS_ASSIGN_OR_RETURN(attrs, kmip::AttributesIn(*ta));
  }
  bool aes = false;
  std::int64_t bits = 0;
  std::string name;
  for (const auto& a : attrs) {
    if (a.name == kmip::kAttrCryptographicAlgorithm) {
      if (a.value.type != ItemType::kEnumeration ||
          a.value.integer != static_cast<std::int64_t>(kmip::CryptographicAlgorithm::kAes)) {
        return Status::NotSupported("only AES keys can be created");
      }
      aes = true;
    } else if (a.name == kmip::kAttrCryptographicLength) {
      if (a.value.type != ItemType::kInteger) {
        return Status::InvalidArgument("Cryptographic Length is not an integer");
      }
      bits = a.value.integer;
    } else if (a.name == kmip::kAttrName) {
      CAFS_ASSIGN_OR_RETURN(name, kmip::NameText(a.value));
    }
    // Other attributes (Cryptographic Usage Mask, Operation Policy Name ...) are accepted
    // and not kept (docs/kmip.md).
  }
  if (!aes) return Status::InvalidArgument("Create needs Cryptographic Algorithm AES");
  if (bits != 128 && bits != 256) {
    return Status::InvalidArgument("Cryptographic Length must be 128 or 256");
  }
  CAFS_ASSIGN_OR_RETURN(
      KeyRecord k,
      keyring_.CreateKey(options_.vmset, bits == 128 ? kKmipAes128Cipher : kKmipAes256Cipher,
                         /*activate=*/false, {}, name));
  *object = k.id;
  return Item::Structure(Tag::kResponsePayload,
                         {Item::Enumeration(Tag::kObjectType, static_cast<std::uint32_t>(
                                                                  kmip::ObjectType::kSymmetricKey)),
                          Item::TextString(Tag::kUniqueIdentifier, k.id)});
}

Result<Item> KmipService::Get(const Principal& who, const Item& payload, std::string* object) {
  CAFS_ASSIGN_OR_RETURN(*object, Uid(payload));
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, keyring_.GetKey(*object));
  CAFS_RETURN_IF_ERROR(AuthorizeKeyRelease(who, k.vmset));
  auto format = kmip::KeyFormatType::kRaw;
  if (const Item* f = payload.Find(Tag::kKeyFormatType)) {
    if (f->type != ItemType::kEnumeration) {
      return Status::InvalidArgument("Key Format Type is not an enumeration");
    }
    format = static_cast<kmip::KeyFormatType>(f->integer);
    if (format != kmip::KeyFormatType::kRaw &&
        format != kmip::KeyFormatType::kTransparentSymmetricKey) {
      return Status::NotSupported(std::string(kKeyFormatPrefix) + " " + std::to_string(f->integer) +
                                  " is not supported (Raw and Transparent Symmetric Key are)");
    }
  }
  if (payload.Find(Tag::kKeyWrappingSpecification) != nullptr) {
    return Status::NotSupported("key wrapping on Get is not supported");
  }
  CAFS_ASSIGN_OR_RETURN(SecureBuffer key, keyring_.ExportKey(*object));
  const std::string_view bytes(reinterpret_cast<const char*>(key.data()), key.size());
  Item material = format == kmip::KeyFormatType::kRaw
                      ? Item::ByteString(Tag::kKeyMaterial, bytes)
                      : Item::Structure(Tag::kKeyMaterial, {Item::ByteString(Tag::kKey, bytes)});
  Item block = Item::Structure(
      Tag::kKeyBlock,
      {Item::Enumeration(Tag::kKeyFormatType, static_cast<std::uint32_t>(format)),
       Item::Structure(Tag::kKeyValue, {std::move(material)}),
       Item::Enumeration(Tag::kCryptographicAlgorithm,
                         static_cast<std::uint32_t>(kmip::CryptographicAlgorithm::kAes)),
       Item::Integer(Tag::kCryptographicLength, static_cast<std::int32_t>(key.size() * 8))});
  return Item::Structure(Tag::kResponsePayload,
                         {Item::Enumeration(Tag::kObjectType, static_cast<std::uint32_t>(
                                                                  kmip::ObjectType::kSymmetricKey)),
                          Item::TextString(Tag::kUniqueIdentifier, k.id),
                          Item::Structure(Tag::kSymmetricKey, {std::move(block)})});
}

Result<Item> KmipService::GetAttributes(const Principal& who, const Item& payload, bool names_only,
                                        std::string* object) {
  CAFS_ASSIGN_OR_RETURN(*object, Uid(payload));
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, keyring_.GetKey(*object));
  CAFS_RETURN_IF_ERROR(AuthorizeRead(who, k.vmset));
  std::vector<std::string> wanted;
  for (const Item* n : payload.FindAll(Tag::kAttributeName)) {
    if (n->type != ItemType::kTextString) {
      return Status::InvalidArgument("Attribute Name is not a text string");
    }
    wanted.push_back(n->bytes);
  }
  Item out =
      Item::Structure(Tag::kResponsePayload, {Item::TextString(Tag::kUniqueIdentifier, k.id)});
  for (const auto& a : AllAttributes(k)) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), a.name) == wanted.end()) {
      continue;
    }
    out.children.push_back(names_only ? Item::TextString(Tag::kAttributeName, a.name)
                                      : kmip::ToItem(a));
  }
  return out;
}

Result<Item> KmipService::Locate(const Principal& who, const Item& payload) {
  if (who.role != Role::kGateway) CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadKey));
  std::size_t max_items = SIZE_MAX;
  if (const Item* m = payload.Find(Tag::kMaximumItems)) {
    if (m->type != ItemType::kInteger || m->integer < 0) {
      return Status::InvalidArgument("Maximum Items is not a non-negative integer");
    }
    max_items = static_cast<std::size_t>(m->integer);
  }
  CAFS_ASSIGN_OR_RETURN(std::vector<kmip::Attribute> filters, kmip::AttributesIn(payload));
  for (const auto& f : filters) {
    if (f.name != kmip::kAttrName && f.name != kmip::kAttrObjectType &&
        f.name != kmip::kAttrState && f.name != kmip::kAttrCryptographicAlgorithm &&
        f.name != kmip::kAttrCryptographicLength) {
      return Status::NotSupported("Locate by '" + f.name + "' is not supported");
    }
    if (f.name == kmip::kAttrName) CAFS_RETURN_IF_ERROR(kmip::NameText(f.value).status());
  }
  std::vector<KeyRecord> keys;
  CAFS_RETURN_IF_ERROR(store_.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(keys, ListRecords<KeyRecord>(txn));
    return Status::OK();
  }));
  Item out = Item::Structure(Tag::kResponsePayload, {});
  for (const auto& k : keys) {
    if (out.children.size() >= max_items) break;
    if (!AuthorizeRead(who, k.vmset).ok()) continue;
    const auto attrs = AllAttributes(k);
    bool match = true;
    for (const auto& f : filters) {
      auto it = std::find_if(attrs.begin(), attrs.end(),
                             [&](const kmip::Attribute& a) { return a.name == f.name; });
      if (it == attrs.end()) {
        match = false;
      } else if (f.name == kmip::kAttrName) {
        match = match && NameText(it->value).value() == NameText(f.value).value();
      } else {
        match = match && it->value.type == f.value.type && it->value.integer == f.value.integer;
      }
    }
    if (match) out.children.push_back(Item::TextString(Tag::kUniqueIdentifier, k.id));
  }
  return out;
}

Result<Item> KmipService::ChangeState(const Principal& who, Operation op, const Item& payload,
                                      std::string* object) {
  CAFS_ASSIGN_OR_RETURN(*object, Uid(payload));
  CAFS_ASSIGN_OR_RETURN(KeyRecord k, keyring_.GetKey(*object));
  CAFS_RETURN_IF_ERROR(Authorize(who, Action::kManageKey, k.vmset));
  const KeyState state = StateOf(k);
  if (k.versions.empty() || state == KeyState::kDestroyed) {
    return Status::FailedPrecondition("key " + k.id + " is destroyed");
  }
  const std::uint32_t newest = k.versions.back().number;
  if (op == Operation::kActivate) {
    if (state != KeyState::kPreActive) {
      return Status::FailedPrecondition("key " + k.id + " is " + std::string(KeyStateName(state)) +
                                        ", not pre-active");
    }
    CAFS_RETURN_IF_ERROR(keyring_.SetState(k.id, newest, KeyState::kActive).status());
  } else if (op == Operation::kRevoke) {
    const Item* reason = payload.Find(Tag::kRevocationReason);
    const Item* code = reason != nullptr ? reason->Find(Tag::kRevocationReasonCode) : nullptr;
    if (code == nullptr || code->type != ItemType::kEnumeration) {
      return Status::InvalidArgument("Revoke needs a Revocation Reason Code");
    }
    const auto rc = static_cast<kmip::RevocationReasonCode>(code->integer);
    const bool compromise = rc == kmip::RevocationReasonCode::kKeyCompromise ||
                            rc == kmip::RevocationReasonCode::kCaCompromise;
    if (compromise) {  // the same as REST's "compromised": the urgent rekey is queued too
      CAFS_ASSIGN_OR_RETURN(CompromiseResult r,
                            MarkCompromised(keyring_, store_, clock_, k.id, newest));
      if (!r.rekey_error.empty()) CAFS_LOG_WARN("KMIP Revoke of {}: {}", k.id, r.rekey_error);
    } else {
      CAFS_RETURN_IF_ERROR(keyring_.SetState(k.id, newest, KeyState::kDeactivated).status());
    }
  } else {
    if (state == KeyState::kActive) {
      return Status::FailedPrecondition("key " + k.id + " is active: revoke it before Destroy");
    }
    CAFS_RETURN_IF_ERROR(keyring_.DestroyKey(k.id, std::nullopt).status());
  }
  return Item::Structure(Tag::kResponsePayload, {Item::TextString(Tag::kUniqueIdentifier, k.id)});
}

}  // namespace cafs::kps
