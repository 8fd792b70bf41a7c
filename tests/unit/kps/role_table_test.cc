// Separation of duties as a table (docs/kps.md "Roles"): every role against every REST
// endpoint and every KMIP operation, each cell on a fresh kpsd core. 'y' = allowed (any
// answer but 403 / KMIP Permission Denied), '-' = refused: 403 (KMIP: Permission Denied, or
// Authentication Not Successful for a revoked or unenrolled certificate) and one more audit
// record with result "denied". A refusal may also be 404 / Item Not Found where what another
// tenant may not see is answered like what does not exist (still audited "denied").
//
// The REST rows must cover RestApi::Endpoints() exactly: a new endpoint without a row fails
// RoleTableTest.EveryEndpointHasARow. To add a role, add a column to kColumns, a principal to
// World and a letter to every row; to add a row, give its request and one letter per column.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kmip/attribute.h"
#include "kps/catalog.h"
#include "kps/kmip_service.h"
#include "kps/pool_registry.h"
#include "kps/rest_api.h"
#include "kps/vmset_identity.h"
#include "unit/kps/test_dir.h"

namespace cafs::kps {
namespace {

using kmip::Item;
using kmip::Operation;
using kmip::Tag;
using nlohmann::json;

// The columns: who calls (World::Peer names the principal behind each).
//   sec  security-admin             ten  tenant-admin of my_vmset
//   key  key-admin                  oth  tenant-admin of other_vmset
//   kex  key-admin with an export   aud  auditor
//        right for my_vmset         gw   gateway approved for my_vmset
//   sto  storage-admin              gwo  gateway approved for other_vmset only (it asked
//   rev  revoked (security-admin)        for my_vmset too: not approved)
//   une  unenrolled certificate (security-admin OU, no record)
// Scoped admins (rbac.h): the rows act on my_vmset, so the first is allowed where its role is
// and the second refused (403 + audit) wherever the request is about my_vmset.
//   kmy  key-admin scoped to my_vmset       smy  storage-admin scoped to my_vmset
//   kot  key-admin scoped to other_vmset    sot  storage-admin scoped to other_vmset
constexpr const char* kColumns[] = {"sec", "key", "kex", "sto", "ten", "oth", "aud", "gw",
                                    "gwo", "rev", "une", "kmy", "kot", "smy", "sot"};
constexpr std::size_t kColumnCount = std::size(kColumns);

// Placeholders in paths and bodies, replaced by World::Fill.
constexpr const char* kKeyId = "0b7b1b2c-6f35-4f8e-9a7e-5d3c2b1a0f9e";
constexpr const char* kPolicyId = "45aa9e57-bf64-11df-8d3e-000c29abeb4d";

struct RestRow {
  const char* method;
  const char* pattern;  // as RestApi::Endpoints() names it
  const char* path;     // the request's path
  const char* body;     // JSON, or "" for none
  const char* expect;   // one letter per column, blanks ignored
};

// clang-format off
const RestRow kRest[] = {
  //                                                                                              sec key kex sto ten oth aud gw gwo rev une kmy kot smy sot
  {"GET", "/v1/vmsets", "/v1/vmsets", "",                                                       "y   y   y   y   y   y   y   -  -   -   -   y   y   y   y"},
  {"GET", "/v1/vmsets/{name}", "/v1/vmsets/my_vmset", "",                                       "y   y   y   y   y   -   y   -  -   -   -   y   -   y   -"},
  {"POST", "/v1/vmsets", "/v1/vmsets", R"({"name":"new_vmset","mount_point":"/nfs"})",          "y   -   -   -   -   -   -   -  -   -   -   -   -   -   -"},
  {"PUT", "/v1/vmsets/{name}", "/v1/vmsets/my_vmset", R"({"mount_point":"/nfs","version":1})",  "y   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"DELETE", "/v1/vmsets/{name}", "/v1/vmsets/my_vmset", "",                                    "y   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"POST", "/v1/vmsets/{name}/rename", "/v1/vmsets/my_vmset/rename", R"({"name":"my_vmset"})",  "y   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"GET", "/v1/policies", "/v1/policies", "",                                                   "y   y   y   y   y   y   y   -  -   -   -   y   y   y   y"},
  {"GET", "/v1/policies/{id}", "/v1/policies/$P", "",                                           "y   y   y   y   y   -   y   -  -   -   -   y   -   y   -"},
  {"POST", "/v1/policies", "/v1/policies", R"({"vmset":"my_vmset","xml":"$XML"})",              "-   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"PUT", "/v1/policies/{id}", "/v1/policies/$P", R"({"vmset":"my_vmset","xml":"$XML","version":1})",
                                                                                                "-   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"DELETE", "/v1/policies/{id}", "/v1/policies/$P", "",                                        "-   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"GET", "/v1/keys", "/v1/keys", "",                                                           "y   y   y   -   y   y   y   -  -   -   -   y   y   -   -"},
  {"GET", "/v1/keys/{id}", "/v1/keys/$K", "",                                                   "y   y   y   -   y   -   y   -  -   -   -   y   -   -   -"},
  {"POST", "/v1/keys", "/v1/keys", R"({"vmset":"my_vmset"})",                                   "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {"POST", "/v1/keys/{id}/rotate", "/v1/keys/$K/rotate", "{}",                                  "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {"POST", "/v1/keys/{id}/state", "/v1/keys/$K/state", R"({"version":1,"state":"deactivated"})",
                                                                                                "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {"POST", "/v1/keys/{id}/destroy", "/v1/keys/$K/destroy", R"({"version":1})",                 "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {"GET", "/v1/keks/{vmset}", "/v1/keks/my_vmset", "",                                          "y   y   y   -   y   -   y   -  -   -   -   y   -   -   -"},
  {"POST", "/v1/keks/{vmset}/rotate", "/v1/keks/my_vmset/rotate", "{}",                         "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {"POST", "/v1/keks/{vmset}/destroy", "/v1/keks/my_vmset/destroy", R"({"force":true})",         "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  // Servers belong to the VM sets whose <vmserv> list them (rest_api.cc AuthorizeServer): a
  // scoped storage-admin sees and writes those of its VM sets (755083456 and 755083457 are
  // my_vmset's), and lists only them.
  {"GET", "/v1/servers", "/v1/servers", "",                                                     "y   -   -   y   -   -   y   -  -   -   -   -   -   y   y"},
  {"GET", "/v1/servers/{id}", "/v1/servers/755083456", "",                                      "y   -   -   y   -   -   y   -  -   -   -   -   -   y   -"},
  {"POST", "/v1/servers", "/v1/servers", R"({"id":"755083457","name":"esx-2"})",                "y   -   -   y   -   -   -   -  -   -   -   -   -   y   -"},
  {"PUT", "/v1/servers/{id}", "/v1/servers/755083456", R"({"name":"esx","version":1})",         "y   -   -   y   -   -   -   -  -   -   -   -   -   y   -"},
  {"DELETE", "/v1/servers/{id}", "/v1/servers/755083456", "",                                   "y   -   -   y   -   -   -   -  -   -   -   -   -   y   -"},
  // Pools (pool_registry.h): a tenant-admin sees the pools allowed to its VM sets only.
  {"GET", "/v1/pools", "/v1/pools", "",                                                         "y   -   -   y   y   y   y   -  -   -   -   -   -   y   y"},
  {"GET", "/v1/pools/{name}", "/v1/pools/mirrored_pool_A", "",                                  "y   -   -   y   y   -   y   -  -   -   -   -   -   y   y"},
  {"POST", "/v1/pools", "/v1/pools", R"({"name":"new_pool"})",                                  "-   -   -   y   -   -   -   -  -   -   -   -   -   y   y"},
  {"DELETE", "/v1/pools/{name}", "/v1/pools/spare_pool", "",                                    "-   -   -   y   -   -   -   -  -   -   -   -   -   y   -"},
  {"POST", "/v1/pools/{name}/allow", "/v1/pools/spare_pool/allow", R"({"vmset":"my_vmset"})",  "-   -   -   y   -   -   -   -  -   -   -   -   -   y   -"},
  {"GET", "/v1/gateways", "/v1/gateways", "",                                                   "y   -   -   y   -   -   y   -  -   -   -   -   -   y   y"},
  {"GET", "/v1/gateways/{name}", "/v1/gateways/gw", "",                                         "y   -   -   y   -   -   y   -  -   -   -   -   -   y   y"},
  {"POST", "/v1/gateways", "/v1/gateways", R"({"name":"gw9","vmsets":["my_vmset"]})",           "y   -   -   -   -   -   -   -  -   -   -   -   -   -   -"},
  {"POST", "/v1/gateways/{name}/revoke", "/v1/gateways/pend/revoke", "{}",                      "y   -   -   -   -   -   -   -  -   -   -   -   -   -   -"},
  // Two people: only my_vmset's tenant-admin approves a scope for it (not the enroller).
  {"POST", "/v1/gateways/{name}/approve", "/v1/gateways/pend/approve", R"({"vmset":"my_vmset"})",
                                                                                                "-   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"GET", "/v1/admins", "/v1/admins", "",                                                       "y   -   -   -   -   -   y   -  -   -   -   -   -   -   -"},
  {"GET", "/v1/admins/{name}", "/v1/admins/aud", "",                                            "y   -   -   -   -   -   y   -  -   -   -   -   -   -   -"},
  {"POST", "/v1/admins", "/v1/admins", R"({"name":"new","role":"auditor"})",                    "y   -   -   -   -   -   -   -  -   -   -   -   -   -   -"},
  {"POST", "/v1/admins/{name}/revoke", "/v1/admins/aud2/revoke", "{}",                          "y   -   -   -   -   -   -   -  -   -   -   -   -   -   -"},
  {"POST", "/v1/admins/{name}/export", "/v1/admins/key/export", R"({"vmset":"my_vmset"})",      "-   -   -   -   y   -   -   -  -   -   -   -   -   -   -"},
  {"GET", "/v1/audit", "/v1/audit", "",                                                         "y   -   -   -   y   y   y   -  -   -   -   -   -   -   -"},
  {"POST", "/v1/audit", "/v1/audit", R"({"gateway_records":[]})",                               "-   -   -   -   -   -   -   y  y   -   -   -   -   -   -"},
  {"GET", "/v1/usage", "/v1/usage", "",                                                         "y   -   -   y   y   y   y   -  -   -   -   -   -   y   y"},
  {"POST", "/v1/usage", "/v1/usage", R"({"vmsets":[],"pools":[]})",                             "-   -   -   -   -   -   -   y  y   -   -   -   -   -   -"},
  {"GET", "/v1/inventory", "/v1/inventory", "",                                                 "y   y   y   -   y   y   y   -  -   -   -   y   y   -   -"},
  {"POST", "/v1/inventory", "/v1/inventory", R"({"vmsets":[]})",                                 "-   -   -   -   -   -   -   y  y   -   -   -   -   -   -"},
  // Rekey requests (rekey_triggers.h): key metadata readers read; gateways fetch and report
  // (an unknown request id answers 404 to both, no refusal).
  {"GET", "/v1/rekey-requests", "/v1/rekey-requests", "",                                       "y   y   y   -   y   y   y   -  -   -   -   y   y   -   -"},
  {"GET", "/v1/gateway/rekey-requests", "/v1/gateway/rekey-requests", "",                       "-   -   -   -   -   -   -   y  y   -   -   -   -   -   -"},
  {"POST", "/v1/gateway/rekey-requests/{id}/progress", "/v1/gateway/rekey-requests/x.1/progress", R"({"state":"done"})", "-   -   -   -   -   -   -   y  y   -   -   -   -   -   -"},
  // Pool identities ({name, guid}, no allow lists) for a gateway's start-up check of its [[pool]].
  {"GET", "/v1/gateway/pools", "/v1/gateway/pools", "",                                         "-   -   -   -   -   -   -   y  y   -   -   -   -   -   -"},
  // Key bytes: a gateway approved for the VM set only (rbac.h AuthorizeKeyRelease).
  {"GET", "/v1/gateway/vmsets/{name}", "/v1/gateway/vmsets/my_vmset", "",                       "-   -   -   -   -   -   -   y  -   -   -   -   -   -   -"},
};

struct KmipRow {
  Operation op;
  const char* name;
  bool on_key;        // the payload names key $K (of my_vmset)
  const char* expect;
};

const KmipRow kKmip[] = {
  //                                                                   sec key kex sto ten oth aud gw gwo rev une kmy kot smy sot
  {Operation::kDiscoverVersions, "DiscoverVersions", false,           "y   y   y   y   y   y   y   y  y   -   -   y   y   y   y"},
  {Operation::kQuery, "Query", false,                                  "y   y   y   y   y   y   y   y  y   -   -   y   y   y   y"},
  {Operation::kCreate, "Create", false,                                "-   y   y   -   -   -   -   -  -   -   -   -   -   -   -"},
  // Key bytes: the same rule as the REST gateway fetch, plus the key-admin's export right.
  {Operation::kGet, "Get", true,                                       "-   -   y   -   -   -   -   y  -   -   -   -   -   -   -"},
  {Operation::kGetAttributes, "GetAttributes", true,                   "y   y   y   -   y   -   y   y  -   -   -   y   -   -   -"},
  {Operation::kGetAttributeList, "GetAttributeList", true,             "y   y   y   -   y   -   y   y  -   -   -   y   -   -   -"},
  {Operation::kLocate, "Locate", false,                                "y   y   y   -   y   y   y   y  y   -   -   y   y   -   -"},
  {Operation::kActivate, "Activate", true,                             "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {Operation::kRevoke, "Revoke", true,                                 "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
  {Operation::kDestroy, "Destroy", true,                               "-   y   y   -   -   -   -   -  -   -   -   y   -   -   -"},
};
// clang-format on

// The expectation letters of a row, blanks removed: one per column.
std::string Letters(const char* expect) {
  std::string out;
  for (const char* p = expect; *p != '\0'; ++p) {
    if (*p != ' ') out += *p;
  }
  return out;
}

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// A kpsd core with my_vmset (policy $P naming key $K) and other_vmset, a server, one
// principal per column and the targets the rows act on (gateway "pend" waiting for approval,
// auditor "aud2").
class World {
 public:
  World() {
    const std::string& dir = dir_.path();
    master_.emplace(MasterKey::Create(dir, std::nullopt).value());
    ca_.emplace(CertificateAuthority::Create(dir, {}).value());
    store_ = OpenStore("", dir).value();
    keyring_.emplace(*master_, *store_, SystemClock::Instance());
    api_.emplace(*keyring_, *store_, *ca_, SystemClock::Instance());
    kmip_.emplace(*keyring_, *store_, SystemClock::Instance());
  }

  // Fails the test (ASSERT) when the world cannot be built.
  void Populate() {
    auto key = keyring_->CreateKey("my_vmset", "aes-256-xts", true, kKeyId);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    auto admin = [&](const char* name, Role role, std::vector<std::string> vmsets,
                     std::vector<std::string> exports, bool revoked) {
      AdminRecord a;
      a.name = name;
      a.role = role;
      a.vmsets = std::move(vmsets);
      a.exports = std::move(exports);
      a.cert_serial = std::string("serial-") + name;
      a.revoked = revoked;
      return a;
    };
    auto gateway = [&](const char* name, std::vector<std::string> vmsets,
                       std::vector<std::string> approved) {
      GatewayRecord g;
      g.name = name;
      g.cert_serial = std::string("serial-") + name;
      g.vmsets = std::move(vmsets);
      g.approved = std::move(approved);
      g.enrolled_by = "sec";
      return g;
    };
    std::vector<AdminRecord> admins = {
        admin("sec", Role::kSecurityAdmin, {}, {}, false),
        admin("key", Role::kKeyAdmin, {}, {}, false),
        admin("kex", Role::kKeyAdmin, {}, {"my_vmset"}, false),
        admin("sto", Role::kStorageAdmin, {}, {}, false),
        admin("ten", Role::kTenantAdmin, {"my_vmset"}, {}, false),
        admin("oth", Role::kTenantAdmin, {"other_vmset"}, {}, false),
        admin("aud", Role::kAuditor, {}, {}, false),
        admin("aud2", Role::kAuditor, {}, {}, false),
        admin("rev", Role::kSecurityAdmin, {}, {}, true),
        admin("kmy", Role::kKeyAdmin, {"my_vmset"}, {}, false),
        admin("kot", Role::kKeyAdmin, {"other_vmset"}, {}, false),
        admin("smy", Role::kStorageAdmin, {"my_vmset"}, {}, false),
        admin("sot", Role::kStorageAdmin, {"other_vmset"}, {}, false)};
    std::vector<GatewayRecord> gateways = {
        gateway("gw", {"my_vmset"}, {"my_vmset"}),
        gateway("gwo", {"my_vmset", "other_vmset"}, {"other_vmset"}),
        gateway("pend", {"my_vmset"}, {})};
    VmSetRecord mine{"my_vmset", "/nfs", 1, {"755083456", "755083457"}, kPolicyId, 0};
    VmSetRecord other{"other_vmset", "/nfs", 1, {}, "", 0};
    PolicyRecord policy{kPolicyId, "p", "my_vmset", PolicyXml(), 0};
    ServerRecord server{"755083456", "esx-1", {"127.0.0.1"}, 0};
    Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
      for (auto& a : admins) CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
      for (auto& g : gateways) CAFS_RETURN_IF_ERROR(PutRecord(txn, g));
      // The GUIDs (vmset_identity.h): my_vmset's was minted with its key above.
      CAFS_ASSIGN_OR_RETURN(mine.guid, VmSetGuidOf(txn, "my_vmset", /*mint=*/true));
      CAFS_ASSIGN_OR_RETURN(other.guid, VmSetGuidOf(txn, "other_vmset", /*mint=*/true));
      policy.vmset_id = mine.guid;
      CAFS_RETURN_IF_ERROR(PutRecord(txn, mine));
      // The pools the policy names, and one no policy names, allowed to my_vmset.
      for (const char* name : {"mirrored_pool_A", "default_pool", "spare_pool"}) {
        CAFS_RETURN_IF_ERROR(CreatePool(txn, name, {}, 0).status());
        CAFS_RETURN_IF_ERROR(SetPoolAllowed(txn, name, "my_vmset", true).status());
      }
      CAFS_RETURN_IF_ERROR(PutRecord(txn, other));
      CAFS_RETURN_IF_ERROR(PutRecord(txn, policy));
      return PutRecord(txn, server);
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static std::string PolicyXml() {
    return std::string("<vobj-list>\n<vobj><vglob>*osdisk*</vglob><symkey>") + kKeyId +
           "</symkey><storepol>mirrored_pool_A</storepol><access>at_all_times</access>"
           "<audit>all_records</audit></vobj>\n<vobj><vglob>hc_default</vglob><symkey>"
           "01010101-0101-0101-0101-010101010101</symkey><storepol>default_pool</storepol>"
           "<access>at_all_times</access><audit>none</audit></vobj>\n</vobj-list>";
  }

  // The certificate identity of a column.
  static PeerIdentity Peer(std::string_view column) {
    static const std::map<std::string_view, std::string_view> kRole = {
        {"sec", "security-admin"}, {"key", "key-admin"},      {"kex", "key-admin"},
        {"sto", "storage-admin"},  {"ten", "tenant-admin"},   {"oth", "tenant-admin"},
        {"aud", "auditor"},        {"gw", "gateway"},         {"gwo", "gateway"},
        {"rev", "security-admin"}, {"une", "security-admin"}, {"kmy", "key-admin"},
        {"kot", "key-admin"},      {"smy", "storage-admin"},  {"sot", "storage-admin"}};
    const std::string name(column);
    return PeerIdentity{name, std::string(kRole.at(column)), "serial-" + name, ""};
  }

  static std::string Fill(std::string s) {
    s = ReplaceAll(std::move(s), "$K", kKeyId);
    s = ReplaceAll(std::move(s), "$P", kPolicyId);
    return ReplaceAll(std::move(s), "$XML", ReplaceAll(PolicyXml(), "\n", "\\n"));
  }

  std::size_t DeniedRecords() {
    std::size_t n = 0;
    Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(auto records, ListAuditRecords(txn, 0, 100000));
      n = 0;
      for (const auto& r : records) n += r.result == "denied" ? 1u : 0u;
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return n;
  }

  ApiResponse Rest(const RestRow& row, std::string_view column) {
    return Call(column, row.method, Fill(row.path), Fill(row.body));
  }

  ApiResponse Call(std::string_view column, const std::string& method, const std::string& path,
                   const std::string& body = "") {
    ApiRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.peer = Peer(column);
    return api_->Handle(req);
  }

  ApiResponse Handle(const ApiRequest& req) { return api_->Handle(req); }

  std::vector<AuditRecord> Audit() {
    std::vector<AuditRecord> out;
    Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(out, ListAuditRecords(txn, 0, 100000));
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // The operations kpsd's KMIP Query answers (asked as the security-admin).
  std::vector<std::uint32_t> QueryOperations() {
    kmip::RequestBatchItem bi;
    bi.operation = static_cast<std::uint32_t>(Operation::kQuery);
    bi.payload = Item::Structure(
        Tag::kRequestPayload,
        {Item::Enumeration(Tag::kQueryFunction,
                           static_cast<std::uint32_t>(kmip::QueryFunction::kOperations))});
    auto reply = kmip_->Handle(kmip::Encode(kmip::BuildRequest({1, 2}, {bi})), Peer("sec"));
    auto resp = kmip::ParseResponse(kmip::Decode(reply.message).value());
    std::vector<std::uint32_t> out;
    if (!resp.ok() || resp->items.size() != 1 || !resp->items[0].payload) return out;
    for (const Item* op : resp->items[0].payload->FindAll(Tag::kOperation)) {
      out.push_back(static_cast<std::uint32_t>(op->integer));
    }
    return out;
  }

  kmip::ResponseBatchItem Kmip(const KmipRow& row, std::string_view column) {
    std::vector<Item> payload;
    if (row.on_key) payload.push_back(Item::TextString(Tag::kUniqueIdentifier, kKeyId));
    if (row.op == Operation::kCreate) {
      payload = {Item::Enumeration(Tag::kObjectType,
                                   static_cast<std::uint32_t>(kmip::ObjectType::kSymmetricKey)),
                 Item::Structure(
                     Tag::kTemplateAttribute,
                     {kmip::ToItem({std::string(kmip::kAttrCryptographicAlgorithm), 0,
                                    Item::Enumeration(Tag::kAttributeValue,
                                                      static_cast<std::uint32_t>(
                                                          kmip::CryptographicAlgorithm::kAes))}),
                      kmip::ToItem({std::string(kmip::kAttrCryptographicLength), 0,
                                    Item::Integer(Tag::kAttributeValue, 256)})})};
    }
    if (row.op == Operation::kRevoke) {
      payload.push_back(Item::Structure(
          Tag::kRevocationReason,
          {Item::Enumeration(
              Tag::kRevocationReasonCode,
              static_cast<std::uint32_t>(kmip::RevocationReasonCode::kCessationOfOperation))}));
    }
    kmip::RequestBatchItem bi;
    bi.operation = static_cast<std::uint32_t>(row.op);
    bi.payload = Item::Structure(Tag::kRequestPayload, std::move(payload));
    auto reply = kmip_->Handle(kmip::Encode(kmip::BuildRequest({1, 2}, {bi})), Peer(column));
    auto resp = kmip::ParseResponse(kmip::Decode(reply.message).value());
    EXPECT_TRUE(resp.ok());
    if (!resp.ok() || resp->items.size() != 1) return kmip::ResponseBatchItem{};
    return resp->items[0];
  }

 private:
  testing::TempDir dir_;
  std::optional<MasterKey> master_;
  std::optional<CertificateAuthority> ca_;
  std::unique_ptr<Store> store_;
  std::optional<Keyring> keyring_;
  std::optional<RestApi> api_;
  std::optional<KmipService> kmip_;
};

// Runs `call(column)` for every column of `expect` on a fresh World: the refused columns
// first (so that an allowed change does not alter what they see), then the allowed ones.
template <typename Call, typename Denied>
void RunRow(const std::string& label, const char* expect, Call call, Denied denied) {
  const std::string letters = Letters(expect);
  ASSERT_EQ(letters.size(), kColumnCount) << label << ": one letter per column";
  World world;
  ASSERT_NO_FATAL_FAILURE(world.Populate());
  for (char pass : {'-', 'y'}) {
    for (std::size_t c = 0; c < kColumnCount; ++c) {
      if (letters[c] != pass) continue;
      SCOPED_TRACE(label + " as " + kColumns[c]);
      const std::size_t before = world.DeniedRecords();
      // refused: 'd' (403 / Permission Denied), 'h' (404 / Item Not Found: what another
      // tenant may not see is answered like what does not exist), 'a' (anything else).
      const auto [refused, what] = denied(call(world, kColumns[c]));
      if (pass == '-') {
        EXPECT_TRUE(refused != 'a') << "expected a refusal, got " << what;
        EXPECT_EQ(world.DeniedRecords(), before + 1) << "the refusal is not audited";
      } else {
        EXPECT_TRUE(refused != 'd') << "expected it allowed, got " << what;
      }
    }
  }
}

TEST(RoleTableTest, EveryEndpointHasARow) {
  const auto endpoints = RestApi::Endpoints();
  for (const auto& e : endpoints) {
    const bool found = std::any_of(std::begin(kRest), std::end(kRest), [&](const RestRow& r) {
      return e.method == r.method && e.pattern == r.pattern;
    });
    EXPECT_TRUE(found) << e.method << " " << e.pattern << " has no row in kRest";
  }
  for (const auto& r : kRest) {
    const bool found = std::any_of(endpoints.begin(), endpoints.end(), [&](const auto& e) {
      return e.method == r.method && e.pattern == r.pattern;
    });
    EXPECT_TRUE(found) << r.method << " " << r.pattern << " is not an endpoint";
  }
}

TEST(RoleTableTest, Rest) {
  for (const RestRow& row : kRest) {
    RunRow(
        std::string(row.method) + " " + row.path, row.expect,
        [&](World& w, std::string_view column) { return w.Rest(row, column); },
        [](const ApiResponse& r) {
          const char kind = r.status == 403 ? 'd' : r.status == 404 ? 'h' : 'a';
          return std::make_pair(kind, std::to_string(r.status) + " " + r.body.dump());
        });
  }
}

TEST(RoleTableTest, Kmip) {
  for (const KmipRow& row : kKmip) {
    RunRow(
        std::string("KMIP ") + row.name, row.expect,
        [&](World& w, std::string_view column) { return w.Kmip(row, column); },
        [](const kmip::ResponseBatchItem& r) {
          const char refused = r.reason == kmip::ResultReason::kPermissionDenied ||
                                       r.reason == kmip::ResultReason::kAuthenticationNotSuccessful
                                   ? 'd'
                               : r.reason == kmip::ResultReason::kItemNotFound ? 'h'
                                                                               : 'a';
          std::ostringstream what;
          what << "status " << static_cast<int>(r.status) << " reason "
               << (r.reason ? static_cast<int>(*r.reason) : -1) << " " << r.message;
          return std::make_pair(refused, what.str());
        });
  }
}

// Issue 16: a server record belongs to the VM sets whose <vmserv> list it (its addresses decide
// which NFS clients they admit). A scoped storage-admin lists only its VM sets' servers, may
// not register a server none of them lists, and may no longer edit one that a VM set outside
// its scope lists too (it could repoint that tenant's server); an unscoped admin still can.
TEST(RoleTableTest, ScopedStorageAdminsActOnTheServersOfTheirVmSets) {
  World w;
  ASSERT_NO_FATAL_FAILURE(w.Populate());
  auto mine = w.Call("smy", "GET", "/v1/servers");
  ASSERT_EQ(mine.status, 200) << mine.body.dump();
  ASSERT_EQ(mine.body.size(), 1u);
  EXPECT_EQ(mine.body[0]["id"], "755083456");
  auto theirs = w.Call("sot", "GET", "/v1/servers");
  ASSERT_EQ(theirs.status, 200);
  EXPECT_TRUE(theirs.body.empty()) << theirs.body.dump();
  std::size_t denied = w.DeniedRecords();
  auto unlisted = w.Call("smy", "POST", "/v1/servers", R"({"id":"999","name":"x"})");
  EXPECT_EQ(unlisted.status, 403) << unlisted.body.dump();
  EXPECT_NE(unlisted.body["reason"].get<std::string>().find("none lists server '999'"),
            std::string::npos);
  EXPECT_EQ(w.DeniedRecords(), ++denied);
  // other_vmset lists the server too (ASCII case-insensitive, as <vmserv> compares).
  auto listed =
      w.Call("sec", "PUT", "/v1/vmsets/other_vmset", R"({"servers":["755083456"],"version":1})");
  ASSERT_EQ(listed.status, 200) << listed.body.dump();
  EXPECT_EQ(w.Call("smy", "GET", "/v1/servers/755083456").status, 200);
  EXPECT_EQ(w.Call("sot", "GET", "/v1/servers/755083456").status, 200);
  auto edit =
      w.Call("smy", "PUT", "/v1/servers/755083456", R"({"addresses":["127.0.0.2"],"version":1})");
  EXPECT_EQ(edit.status, 403) << edit.body.dump();
  EXPECT_NE(edit.body["reason"].get<std::string>().find("other_vmset"), std::string::npos);
  EXPECT_EQ(w.Call("sot", "DELETE", "/v1/servers/755083456").status, 403);
  EXPECT_EQ(w.DeniedRecords(), denied + 2);
  EXPECT_EQ(
      w.Call("sto", "PUT", "/v1/servers/755083456", R"({"addresses":["127.0.0.2"],"version":1})")
          .status,
      200);
}

// Issue 20 class 8, the two-person rule end to end: a gateway the security-admin enrolled
// gets no keys until the tenant-admin approves; the approval takes effect at once and can be
// withdrawn; approvals outside the requested scope or of a non-key-admin's export are 400;
// for a VM set without record (KMIP keys) a security-admin approves, but not the one who
// enrolled the gateway; every step is in the audit chain with its VM set.
TEST(RoleTableTest, TwoPeopleApproveAScope) {
  World w;
  ASSERT_NO_FATAL_FAILURE(w.Populate());
  const std::string fetch = "/v1/gateway/vmsets/my_vmset";
  auto enrolled =
      w.Call("sec", "POST", "/v1/gateways", R"({"name":"gw7","vmsets":["my_vmset","kmip"]})");
  ASSERT_EQ(enrolled.status, 201) << enrolled.body.dump();
  EXPECT_EQ(enrolled.body["gateway"]["enrolled_by"], "sec");
  EXPECT_EQ(enrolled.body["gateway"]["approved"], json::array());
  EXPECT_EQ(w.Call("sec", "POST", "/v1/gateways", R"({"name":"gw8"})").status, 400);
  EXPECT_EQ(w.Call("sec", "POST", "/v1/gateways/gw7/approve", R"({"vmset":"my_vmset"})").status,
            403);
  EXPECT_EQ(w.Call("oth", "POST", "/v1/gateways/gw7/approve", R"({"vmset":"my_vmset"})").status,
            403);
  EXPECT_EQ(w.Call("ten", "POST", "/v1/gateways/gw7/approve", R"({"vmset":"other"})").status, 403);
  // The enroller may not approve even where a security-admin approves (no VM set record).
  EXPECT_EQ(w.Call("sec", "POST", "/v1/gateways/gw7/approve", R"({"vmset":"kmip"})").status, 403);
  EXPECT_EQ(w.Call("sec", "POST", "/v1/gateways/gw/approve", R"({"vmset":"my_vmset"})").status,
            403);  // sec enrolled "gw" too, and my_vmset is a tenant's
  auto approved = w.Call("ten", "POST", "/v1/gateways/gw7/approve", R"({"vmset":"my_vmset"})");
  ASSERT_EQ(approved.status, 200) << approved.body.dump();
  EXPECT_EQ(approved.body["approved"], json::array({"my_vmset"}));
  EXPECT_EQ(
      w.Call("ten", "POST", "/v1/gateways/gw/approve", R"({"vmset":"my_vmset","x":1})").status,
      400);
  // Not in gwo's requested scope... gwo asked for my_vmset; pend did not ask for other_vmset.
  EXPECT_EQ(w.Call("oth", "POST", "/v1/gateways/pend/approve", R"({"vmset":"other_vmset"})").status,
            400);
  // Export rights go to key-admins only.
  EXPECT_EQ(w.Call("ten", "POST", "/v1/admins/aud/export", R"({"vmset":"my_vmset"})").status, 400);
  auto exported = w.Call("ten", "POST", "/v1/admins/key/export", R"({"vmset":"my_vmset"})");
  ASSERT_EQ(exported.status, 200) << exported.body.dump();
  EXPECT_EQ(exported.body["exports"], json::array({"my_vmset"}));
  EXPECT_EQ(w.Call("sec", "POST", "/v1/admins/key/export", R"({"vmset":"kmip"})").status, 200);

  // gw7's certificate: enrolled with this record's serial.
  auto gw7 = [&](const std::string& path) {
    ApiRequest req;
    req.method = "GET";
    req.path = path;
    req.peer = PeerIdentity{"gw7", "gateway",
                            enrolled.body["gateway"]["cert_serial"].get<std::string>(), ""};
    return w.Handle(req);
  };
  auto got = gw7(fetch);
  ASSERT_EQ(got.status, 200) << got.body.dump();
  EXPECT_EQ(got.body["keys"].size(), 1u);
  EXPECT_EQ(
      w.Call("ten", "POST", "/v1/gateways/gw7/approve", R"({"vmset":"my_vmset","withdraw":true})")
          .status,
      200);
  EXPECT_EQ(gw7(fetch).status, 403);

  int approvals = 0, refusals = 0;
  for (const auto& r : w.Audit()) {
    if (r.action == "POST /v1/gateways/gw7/approve" && r.object == "my_vmset/gw7") {
      ++(r.result == "ok" ? approvals : refusals);
    }
  }
  EXPECT_EQ(approvals, 2);  // approve, withdraw
  EXPECT_EQ(refusals, 2);   // sec, oth
}

// Every KMIP operation kpsd supports (Query: Operations) has a row.
TEST(RoleTableTest, EveryKmipOperationHasARow) {
  World world;
  ASSERT_NO_FATAL_FAILURE(world.Populate());
  const std::vector<std::uint32_t> ops = world.QueryOperations();
  EXPECT_FALSE(ops.empty());
  for (std::uint32_t op : ops) {
    const bool found = std::any_of(std::begin(kKmip), std::end(kKmip), [&](const KmipRow& r) {
      return static_cast<std::uint32_t>(r.op) == op;
    });
    EXPECT_TRUE(found) << "KMIP operation " << op << " has no row in kKmip";
  }
}

}  // namespace
}  // namespace cafs::kps
