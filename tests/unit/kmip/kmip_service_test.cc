// KmipService in process: the operations PyKMIP uses (tests/integration/kmip_pykmip_test.sh
// drives them through TLS), role refusals, malformed and unsupported requests, audit.
#include "kps/kmip_service.h"

#include <gtest/gtest.h>

#include "kmip/attribute.h"
#include "kps/catalog.h"
#include "unit/kps/api_fixture.h"

namespace cafs::kps {
namespace {

using kmip::Item;
using kmip::Operation;
using kmip::ResultReason;
using kmip::Tag;

class KmipServiceTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    SetUpApi();
    service_.emplace(*keyring_, *store_, SystemClock::Instance());
    // kate may Get key bytes of VM set kmip (an export right another admin granted).
    Enroll("kate", Role::kKeyAdmin, {"kmip"});
    Enroll("kim", Role::kKeyAdmin);
    Enroll("audrey", Role::kAuditor);
    Enroll("sam", Role::kStorageAdmin);
  }

  void Enroll(const std::string& name, Role role, std::vector<std::string> exports = {}) {
    AdminRecord a;
    a.name = name;
    a.role = role;
    a.exports = std::move(exports);
    a.cert_serial = "serial-" + name;
    ASSERT_TRUE(store_->InTransaction([&](StoreTxn& txn) { return PutRecord(txn, a); }).ok());
    peers_[name] = PeerIdentity{name, std::string(RoleName(role)), a.cert_serial, ""};
  }

  kmip::ResponseBatchItem Call(const std::string& who, Operation op, std::vector<Item> payload) {
    kmip::RequestBatchItem bi;
    bi.operation = static_cast<std::uint32_t>(op);
    bi.payload = Item::Structure(Tag::kRequestPayload, std::move(payload));
    const Bytes wire = kmip::Encode(kmip::BuildRequest({1, 2}, {bi}));
    auto reply = service_->Handle(wire, peers_[who]);
    EXPECT_FALSE(reply.close);
    auto item = kmip::Decode(reply.message);
    EXPECT_TRUE(item.ok());
    auto resp = kmip::ParseResponse(*item);
    EXPECT_TRUE(resp.ok());
    EXPECT_EQ(resp->version, (kmip::ProtocolVersion{1, 2}));
    EXPECT_EQ(resp->items.size(), 1u);
    return resp->items.at(0);
  }

  static Item Attr(std::string_view name, Item value) {
    return kmip::ToItem(kmip::Attribute{std::string(name), 0, std::move(value)});
  }

  std::string CreateKey(const std::string& name, std::int32_t bits = 256) {
    auto r =
        Call("kate", Operation::kCreate,
             {Item::Enumeration(Tag::kObjectType,
                                static_cast<std::uint32_t>(kmip::ObjectType::kSymmetricKey)),
              Item::Structure(
                  Tag::kTemplateAttribute,
                  {Attr(kmip::kAttrCryptographicAlgorithm,
                        Item::Enumeration(
                            Tag::kAttributeValue,
                            static_cast<std::uint32_t>(kmip::CryptographicAlgorithm::kAes))),
                   Attr(kmip::kAttrCryptographicLength, Item::Integer(Tag::kAttributeValue, bits)),
                   Attr(kmip::kAttrCryptographicUsageMask, Item::Integer(Tag::kAttributeValue, 12)),
                   Attr(kmip::kAttrName, kmip::NameValue(name))})});
    EXPECT_EQ(r.status, kmip::ResultStatus::kSuccess) << r.message;
    return r.payload ? r.payload->Find(Tag::kUniqueIdentifier)->bytes : "";
  }

  std::int64_t StateOf(const std::string& id) {
    auto r = Call("kate", Operation::kGetAttributes,
                  {Item::TextString(Tag::kUniqueIdentifier, id),
                   Item::TextString(Tag::kAttributeName, std::string(kmip::kAttrState))});
    EXPECT_EQ(r.status, kmip::ResultStatus::kSuccess) << r.message;
    auto attrs = kmip::AttributesIn(*r.payload);
    EXPECT_TRUE(attrs.ok());
    EXPECT_EQ(attrs->size(), 1u);
    return attrs->at(0).value.integer;
  }

  std::optional<KmipService> service_;
  std::map<std::string, PeerIdentity> peers_;
};

TEST_F(KmipServiceTest, LifeCycle) {
  const std::string id = CreateKey("disk-key");
  ASSERT_FALSE(id.empty());
  // The same object the REST API shows: kind key, VM set "kmip", cipher aes-256, named.
  auto rec = keyring_->GetKey(id);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->vmset, "kmip");
  EXPECT_EQ(rec->cipher, "aes-256");
  EXPECT_EQ(rec->name, "disk-key");
  EXPECT_EQ(rec->versions.at(0).state, KeyState::kPreActive);
  EXPECT_FALSE(rec->versions.at(0).wrapped.empty());
  EXPECT_EQ(StateOf(id), static_cast<std::int64_t>(kmip::State::kPreActive));

  auto got = Call("kate", Operation::kGet, {Item::TextString(Tag::kUniqueIdentifier, id)});
  ASSERT_EQ(got.status, kmip::ResultStatus::kSuccess) << got.message;
  const Item* block = got.payload->Find(Tag::kSymmetricKey)->Find(Tag::kKeyBlock);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->Find(Tag::kKeyFormatType)->integer,
            static_cast<std::int64_t>(kmip::KeyFormatType::kRaw));
  EXPECT_EQ(block->Find(Tag::kCryptographicLength)->integer, 256);
  const std::string raw = block->Find(Tag::kKeyValue)->Find(Tag::kKeyMaterial)->bytes;
  EXPECT_EQ(raw.size(), 32u);
  auto clear = keyring_->ExportKey(id);
  ASSERT_TRUE(clear.ok());
  EXPECT_EQ(raw, std::string(reinterpret_cast<const char*>(clear->data()), clear->size()));

  auto transparent = Call(
      "kate", Operation::kGet,
      {Item::TextString(Tag::kUniqueIdentifier, id),
       Item::Enumeration(Tag::kKeyFormatType, static_cast<std::uint32_t>(
                                                  kmip::KeyFormatType::kTransparentSymmetricKey))});
  ASSERT_EQ(transparent.status, kmip::ResultStatus::kSuccess) << transparent.message;
  EXPECT_EQ(transparent.payload->Find(Tag::kSymmetricKey)
                ->Find(Tag::kKeyBlock)
                ->Find(Tag::kKeyValue)
                ->Find(Tag::kKeyMaterial)
                ->Find(Tag::kKey)
                ->bytes,
            raw);
  auto pkcs = Call(
      "kate", Operation::kGet,
      {Item::TextString(Tag::kUniqueIdentifier, id), Item::Enumeration(Tag::kKeyFormatType, 0x08)});
  EXPECT_EQ(pkcs.reason, ResultReason::kKeyFormatTypeNotSupported);

  const std::string other = CreateKey("other-key", 128);
  auto loc = Call("kate", Operation::kLocate, {Attr(kmip::kAttrName, kmip::NameValue("disk-key"))});
  ASSERT_EQ(loc.status, kmip::ResultStatus::kSuccess) << loc.message;
  ASSERT_EQ(loc.payload->FindAll(Tag::kUniqueIdentifier).size(), 1u);
  EXPECT_EQ(loc.payload->Find(Tag::kUniqueIdentifier)->bytes, id);
  auto by_type =
      Call("kate", Operation::kLocate,
           {Attr(kmip::kAttrObjectType,
                 Item::Enumeration(Tag::kAttributeValue,
                                   static_cast<std::uint32_t>(kmip::ObjectType::kSymmetricKey)))});
  EXPECT_EQ(by_type.payload->FindAll(Tag::kUniqueIdentifier).size(), 2u);

  auto early = Call("kate", Operation::kDestroy, {Item::TextString(Tag::kUniqueIdentifier, id)});
  EXPECT_EQ(early.status, kmip::ResultStatus::kSuccess);  // pre-active may be destroyed
  // ... but that was `id`; the life cycle continues on `other`.
  EXPECT_EQ(StateOf(id), static_cast<std::int64_t>(kmip::State::kDestroyed));
  auto gone = Call("kate", Operation::kGet, {Item::TextString(Tag::kUniqueIdentifier, id)});
  EXPECT_EQ(gone.reason, ResultReason::kIllegalOperation);

  const auto uid = Item::TextString(Tag::kUniqueIdentifier, other);
  EXPECT_EQ(Call("kate", Operation::kActivate, {uid}).status, kmip::ResultStatus::kSuccess);
  EXPECT_EQ(StateOf(other), static_cast<std::int64_t>(kmip::State::kActive));
  EXPECT_EQ(Call("kate", Operation::kActivate, {uid}).reason, ResultReason::kIllegalOperation);
  EXPECT_EQ(Call("kate", Operation::kDestroy, {uid}).reason, ResultReason::kIllegalOperation);
  auto revoke =
      Call("kate", Operation::kRevoke,
           {uid, Item::Structure(
                     Tag::kRevocationReason,
                     {Item::Enumeration(Tag::kRevocationReasonCode,
                                        static_cast<std::uint32_t>(
                                            kmip::RevocationReasonCode::kCessationOfOperation))})});
  EXPECT_EQ(revoke.status, kmip::ResultStatus::kSuccess) << revoke.message;
  EXPECT_EQ(StateOf(other), static_cast<std::int64_t>(kmip::State::kDeactivated));
  EXPECT_EQ(Call("kate", Operation::kDestroy, {uid}).status, kmip::ResultStatus::kSuccess);
  rec = keyring_->GetKey(other);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->versions.at(0).state, KeyState::kDestroyed);
  EXPECT_TRUE(rec->versions.at(0).wrapped.empty());
}

TEST_F(KmipServiceTest, RolesAndAudit) {
  const std::string id = CreateKey("k");
  const auto uid = Item::TextString(Tag::kUniqueIdentifier, id);
  // The auditor reads metadata but never key bytes; the storage admin reads neither.
  EXPECT_EQ(Call("audrey", Operation::kGetAttributes, {uid}).status, kmip::ResultStatus::kSuccess);
  EXPECT_EQ(Call("audrey", Operation::kGet, {uid}).reason, ResultReason::kPermissionDenied);
  EXPECT_EQ(Call("sam", Operation::kGet, {uid}).reason, ResultReason::kPermissionDenied);
  EXPECT_EQ(Call("sam", Operation::kGetAttributes, {uid}).reason, ResultReason::kPermissionDenied);
  EXPECT_EQ(Call("audrey", Operation::kCreate, {}).reason, ResultReason::kPermissionDenied);
  // Issue 20 class 8: a key-admin without an export right for the key's VM set manages the
  // key but never receives its bytes.
  EXPECT_EQ(Call("kim", Operation::kGet, {uid}).reason, ResultReason::kPermissionDenied);
  EXPECT_EQ(Call("kim", Operation::kGetAttributes, {uid}).status, kmip::ResultStatus::kSuccess);
  // An unknown certificate.
  peers_["mallory"] = PeerIdentity{"mallory", "key-admin", "nope", ""};
  EXPECT_EQ(Call("mallory", Operation::kGet, {uid}).reason,
            ResultReason::kAuthenticationNotSuccessful);

  auto audit = store_->InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(auto records, ListAuditRecords(txn, 0, 100));
    int denied = 0, created = 0;
    for (const auto& r : records) {
      if (r.result == "denied" && r.action.rfind("KMIP ", 0) == 0) ++denied;
      if (r.action == "KMIP Create" && r.result == "ok" && r.object == id) ++created;
    }
    EXPECT_EQ(denied, 6);
    EXPECT_EQ(created, 1);
    return Status::OK();
  });
  EXPECT_TRUE(audit.ok()) << audit.ToString();
}

TEST_F(KmipServiceTest, QueryDiscoverUnsupportedAndMalformed) {
  auto dv = Call("audrey", Operation::kDiscoverVersions, {});
  ASSERT_EQ(dv.status, kmip::ResultStatus::kSuccess);
  EXPECT_EQ(dv.payload->FindAll(Tag::kProtocolVersion).size(), 3u);
  auto q = Call("audrey", Operation::kQuery,
                {Item::Enumeration(Tag::kQueryFunction,
                                   static_cast<std::uint32_t>(kmip::QueryFunction::kOperations)),
                 Item::Enumeration(Tag::kQueryFunction,
                                   static_cast<std::uint32_t>(kmip::QueryFunction::kObjects))});
  ASSERT_EQ(q.status, kmip::ResultStatus::kSuccess);
  EXPECT_EQ(q.payload->FindAll(Tag::kOperation).size(), 10u);
  EXPECT_EQ(q.payload->FindAll(Tag::kObjectType).size(), 1u);
  // Register (3) is not supported.
  EXPECT_EQ(Call("kate", static_cast<Operation>(3), {}).reason,
            ResultReason::kOperationNotSupported);

  for (const Bytes& junk : {Bytes{}, Bytes{0x42, 0x00, 0x78, 0x01, 0, 0, 0, 8},
                            kmip::Encode(Item::Integer(Tag::kBatchCount, 1))}) {
    auto reply = service_->Handle(junk, peers_["kate"]);
    EXPECT_TRUE(reply.close);
    auto resp = kmip::ParseResponse(kmip::Decode(reply.message).value());
    ASSERT_TRUE(resp.ok());
    EXPECT_EQ(resp->items.at(0).reason, ResultReason::kInvalidMessage);
  }
}

// Issue 20 class 3: a Text String that is not UTF-8, in any field, is refused as Invalid
// Field before it reaches the store, the audit record (JSON) or a log; kpsd answers, the
// other batch items run and the connection goes on; the audit chain stays whole.
TEST_F(KmipServiceTest, NonUtf8TextIsInvalidFieldAndTheServiceGoesOn) {
  const std::string id = CreateKey("k");
  const std::string bad = "\xff\xfe";
  auto uid = [&](std::string v) { return Item::TextString(Tag::kUniqueIdentifier, v); };
  for (Operation op : {Operation::kGet, Operation::kGetAttributes, Operation::kGetAttributeList,
                       Operation::kActivate, Operation::kDestroy}) {
    auto r = Call("kate", op, {uid(bad)});
    EXPECT_EQ(r.reason, ResultReason::kInvalidField) << static_cast<int>(op) << " " << r.message;
    EXPECT_NE(r.message.find("not UTF-8"), std::string::npos) << r.message;
  }
  // Nested text: a Name attribute on Create and Locate, an Attribute Name on GetAttributes.
  auto name = kmip::NameValue("disk\xc0\xaf");
  auto create = Call(
      "kate", Operation::kCreate,
      {Item::Enumeration(Tag::kObjectType,
                         static_cast<std::uint32_t>(kmip::ObjectType::kSymmetricKey)),
       Item::Structure(
           Tag::kTemplateAttribute,
           {Attr(kmip::kAttrCryptographicAlgorithm,
                 Item::Enumeration(Tag::kAttributeValue,
                                   static_cast<std::uint32_t>(kmip::CryptographicAlgorithm::kAes))),
            Attr(kmip::kAttrCryptographicLength, Item::Integer(Tag::kAttributeValue, 256)),
            Attr(kmip::kAttrName, name)})});
  EXPECT_EQ(create.reason, ResultReason::kInvalidField) << create.message;
  EXPECT_EQ(Call("kate", Operation::kLocate, {Attr(kmip::kAttrName, name)}).reason,
            ResultReason::kInvalidField);
  EXPECT_EQ(Call("kate", Operation::kGetAttributes,
                 {uid(id), Item::TextString(Tag::kAttributeName, "State\xed\xa0\x80")})
                .reason,
            ResultReason::kInvalidField);
  // An unauthenticated caller with a bad identifier: refused, audited, no abort.
  peers_["mallory"] = PeerIdentity{"mallory", "key-admin", "nope", ""};
  EXPECT_EQ(Call("mallory", Operation::kGet, {uid(bad)}).reason,
            ResultReason::kAuthenticationNotSuccessful);

  // Two batch items in one message: the bad one fails, the good one runs.
  kmip::RequestBatchItem b1, b2;
  b1.operation = b2.operation = static_cast<std::uint32_t>(Operation::kGetAttributes);
  b1.batch_id = "1";
  b2.batch_id = "2";
  b1.payload = Item::Structure(Tag::kRequestPayload, {uid(bad)});
  b2.payload = Item::Structure(Tag::kRequestPayload, {uid(id)});
  auto reply = service_->Handle(kmip::Encode(kmip::BuildRequest({1, 2}, {b1, b2})), peers_["kate"]);
  EXPECT_FALSE(reply.close);
  auto resp = kmip::ParseResponse(kmip::Decode(reply.message).value());
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->items.size(), 2u);
  EXPECT_EQ(resp->items[0].reason, ResultReason::kInvalidField);
  EXPECT_EQ(resp->items[1].status, kmip::ResultStatus::kSuccess);

  // The service still serves, nothing was stored under the bad name, the chain verifies.
  EXPECT_EQ(StateOf(id), static_cast<std::int64_t>(kmip::State::kPreActive));
  auto audit = store_->InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(auto records, ListAuditRecords(txn, 0, 1000));
    int refused = 0;
    for (const auto& r : records) {
      if (r.result == "error" && r.reason.find("not UTF-8") != std::string::npos) ++refused;
    }
    EXPECT_EQ(refused, 4);  // the audited operations: Get, Activate, Destroy, Create
    CAFS_ASSIGN_OR_RETURN(auto keys, ListRecords<KeyRecord>(txn));
    EXPECT_EQ(keys.size(), 1u);  // "k" only: the bad Create stored nothing
    return VerifyAuditChain(txn);
  });
  EXPECT_TRUE(audit.ok()) << audit.ToString();
}

}  // namespace
}  // namespace cafs::kps
