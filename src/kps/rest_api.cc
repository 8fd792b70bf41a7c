#include "kps/rest_api.h"

#include <openssl/evp.h>

#include <chrono>

#include "audit/audit_record.h"
#include "kps/peer_auth.h"
#include "kps/policy_validation.h"
#include "util/logging.h"
#include "util/uuid.h"

namespace cafs::kps {

namespace {

using nlohmann::json;

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string Base64(const SecureBuffer& key) {
  std::string out(4 * ((key.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), key.data(),
                          static_cast<int>(key.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Runs `fn(txn)` in a transaction and returns its json result.
Result<json> InTxn(Store& store, const std::function<Result<json>(StoreTxn&)>& fn) {
  json out;
  Status s = store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(out, fn(txn));
    return Status::OK();
  });
  if (!s.ok()) return s;
  return out;
}

template <typename R>
json ListJson(const std::vector<R>& rs) {
  json a = json::array();
  for (const auto& r : rs) a.push_back(ToJson(r));
  return a;
}

Status NoSuchRoute(const ApiRequest& req) {
  return Status::NotFound("no endpoint " + req.method + " " + req.path + " (see docs/kps-api.md)");
}

// Reads a per-gateway JSON object (audit cursor, usage snapshot); `*version` 0 when absent.
Result<json> GetDoc(StoreTxn& txn, ObjectKind kind, const std::string& id, std::uint64_t* version) {
  *version = 0;
  auto got = txn.Get(kind, id);
  if (!got.ok()) {
    if (got.status().IsNotFound()) return json();
    return got.status();
  }
  json j = json::parse(got->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption(std::string(ObjectKindName(kind)) + " '" + id + "' is not JSON");
  }
  *version = got->version;
  return j;
}

// Takes a gateway's hash-chained records (docs/audit.md "Push to kpsd"). Each must recompute
// its own hash. kpsd keeps per gateway the first hash, last seq and last hash of the chain it
// accepted: a record at or below the last seq of that chain is a repeat and dropped (the
// pusher delivers at least once, in order); seq 1 with the genesis prev and another hash
// starts a new chain; a record that does not continue the chain is kept with a "gap" note.
Result<json> TakeGatewayRecords(Store& store, const std::string& gateway, const json& list) {
  if (!list.is_array()) {
    return Status::InvalidArgument("'gateway_records' must be a list of audit records");
  }
  std::vector<audit::AuditRecord> recs;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "gateway_records[" + std::to_string(i) + "]";
    auto r = audit::AuditRecord::FromLine(list[i].dump());
    if (!r.ok()) return Status::InvalidArgument(where + ": " + r.status().message());
    if (r->ComputeHash() != r->hash) {
      return Status::InvalidArgument(where + " (seq " + std::to_string(r->seq) +
                                     "): hash does not match its contents");
    }
    recs.push_back(std::move(r).value());
  }
  std::uint64_t accepted = 0, repeats = 0, gaps = 0;
  Status s = store.InTransaction([&](StoreTxn& txn) -> Status {
    accepted = repeats = gaps = 0;
    std::uint64_t version = 0;
    CAFS_ASSIGN_OR_RETURN(json cur, GetDoc(txn, ObjectKind::kAuditCursor, gateway, &version));
    std::string first = cur.is_object() ? cur.value("first_hash", "") : "";
    std::uint64_t last_seq = cur.is_object() ? cur.value("last_seq", std::uint64_t{0}) : 0;
    std::string last_hash = cur.is_object() ? cur.value("last_hash", "") : "";
    for (const auto& r : recs) {
      const bool new_chain = r.seq == 1 && r.prev_hash == audit::GenesisHash() && r.hash != first;
      if (new_chain) {
        first = r.hash;
        last_seq = 0;
        last_hash.clear();
      } else if (r.seq <= last_seq) {
        ++repeats;
        continue;
      }
      std::string note;
      if (!new_chain && (r.seq != last_seq + 1 || (last_seq > 0 && r.prev_hash != last_hash))) {
        note = "gap: kpsd has seq " + std::to_string(last_seq) + " of this chain, got seq " +
               std::to_string(r.seq);
        ++gaps;
      }
      // kpsd's own fields are text: names that are not UTF-8 show in their display form
      // there; `access` keeps the exact bytes (docs/audit.md "Names that are not UTF-8").
      const audit::AuditRecord shown = r.ForDisplay();
      AuditRecord k;
      k.time = r.time_ms / 1000;
      k.actor = gateway;
      k.role = "gateway";
      k.action = "gateway " + shown.op;
      k.object = shown.vmset;
      for (const std::string* part : {&shown.vm, &shown.file}) {
        if (!part->empty()) k.object += "/" + *part;
      }
      k.result = std::string(audit::ResultName(r.result));
      k.reason =
          shown.reason.empty() || note.empty() ? shown.reason + note : shown.reason + "; " + note;
      k.access = r.ToCanonicalJson();
      k.access["hash"] = r.hash;
      CAFS_RETURN_IF_ERROR(AppendAuditRecord(txn, k).status());
      last_seq = r.seq;
      last_hash = r.hash;
      ++accepted;
    }
    if (accepted == 0) return Status::OK();
    json next = {{"first_hash", first}, {"last_seq", last_seq}, {"last_hash", last_hash}};
    return txn.Put(ObjectKind::kAuditCursor, gateway, next.dump(), version).status();
  });
  CAFS_RETURN_IF_ERROR(s);
  return json{{"accepted", accepted}, {"repeats", repeats}, {"gaps", gaps}};
}

// Checks a usage snapshot's shape (docs/kps-api.md "Usage").
Status CheckUsage(const json& body) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"time_ms", "vmsets", "pools"}));
  if (!body.contains("vmsets") || !body["vmsets"].is_array() || !body.contains("pools") ||
      !body["pools"].is_array()) {
    return Status::InvalidArgument("a usage snapshot needs 'vmsets' and 'pools' lists");
  }
  for (const auto& v : body["vmsets"]) {
    CAFS_RETURN_IF_ERROR(CheckKnownFields(v, {"vmset", "pool", "bytes"}));
    if (!v.contains("vmset") || !v["vmset"].is_string() || !v.contains("pool") ||
        !v["pool"].is_string() || !v.contains("bytes") || !v["bytes"].is_number_unsigned()) {
      return Status::InvalidArgument("'vmsets' entries are {vmset, pool, bytes}");
    }
  }
  for (const auto& p : body["pools"]) {
    CAFS_RETURN_IF_ERROR(CheckKnownFields(p, {"pool", "total_bytes", "free_bytes", "used_percent",
                                              "threshold_percent", "available", "error"}));
    if (!p.contains("pool") || !p["pool"].is_string()) {
      return Status::InvalidArgument("'pools' entries need a 'pool' name");
    }
  }
  return Status::OK();
}

}  // namespace

int HttpStatusFor(const Status& s) {
  if (IsConflict(s)) return 409;
  switch (s.code()) {
    case Status::Code::kOk:
      return 200;
    case Status::Code::kNotFound:
      return 404;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
      return 409;
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kPermissionDenied:
      return 403;
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout:
      return 503;
    case Status::Code::kNoSpace:
      return 507;
    default:
      return 500;
  }
}

std::int64_t RestApi::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

void RestApi::Audit(const ApiRequest& req, const PeerIdentity& peer, std::string_view role,
                    std::string_view object, std::string_view result, std::string_view reason) {
  AuditRecord r;
  r.time = Now();
  r.actor = peer.name;
  r.role = std::string(role);
  r.action = req.method + " " + req.path;
  r.object = std::string(object);
  r.result = std::string(result);
  r.reason = std::string(reason);
  AppendAuditRecordOrLog(store_, std::move(r));
}

Result<Principal> RestApi::Authenticate(const PeerIdentity& peer) {
  return AuthenticatePeer(store_, peer);
}

Result<std::string> RestApi::BootstrapSecurityAdmin(const std::string& name) {
  CAFS_ASSIGN_OR_RETURN(IssuedCert cert, ca_.IssueClient(name, Role::kSecurityAdmin));
  AdminRecord a;
  a.name = name;
  a.role = Role::kSecurityAdmin;
  a.cert_serial = cert.serial;
  a.cert_fingerprint = cert.fingerprint;
  CAFS_RETURN_IF_ERROR(store_.InTransaction([&](StoreTxn& txn) { return PutRecord(txn, a); }));
  return cert.Bundle(ca_.ca_pem());
}

ApiResponse RestApi::Handle(const ApiRequest& req) {
  auto principal = Authenticate(req.peer);
  if (!principal.ok()) {
    Audit(req, req.peer, req.peer.role, "", "denied", principal.status().message());
    return {403, {{"error", "forbidden"}, {"reason", principal.status().message()}}};
  }
  json body = json::object();
  if (!req.body.empty()) {
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return {400, {{"error", "bad request"}, {"reason", "the body is not a JSON object"}}};
    }
  }
  std::string object;
  int status = 200;
  auto result = Route(*principal, req, body, &object, &status);
  const std::string role(RoleName(principal->role));
  if (!result.ok()) {
    const Status& s = result.status();
    const int code = HttpStatusFor(s);
    if (code == 403) {
      Audit(req, req.peer, role, object, "denied", s.message());
      return {403, {{"error", "forbidden"}, {"reason", s.message()}}};
    }
    if (req.method != "GET") Audit(req, req.peer, role, object, "error", s.message());
    std::string error = code == 400   ? "bad request"
                        : code == 404 ? "not found"
                        : code == 409 ? "conflict"
                                      : "server error";
    return {code, {{"error", error}, {"reason", s.message()}}};
  }
  const bool fetch = principal->role == Role::kGateway;
  // A gateway's accepted pushes (audit records, usage) are their own trace.
  const bool push = fetch && req.method == "POST";
  if ((req.method != "GET" || fetch) && !push) Audit(req, req.peer, role, object, "ok", "");
  return {status, std::move(result).value()};
}

Result<json> RestApi::Route(const Principal& who, const ApiRequest& req, const json& body,
                            std::string* object, int* status) {
  const auto seg = Split(req.path);
  const std::string& m = req.method;
  if (seg.size() < 2 || seg[0] != "v1") return NoSuchRoute(req);
  const std::string& coll = seg[1];
  const std::string id = seg.size() > 2 ? seg[2] : std::string();
  const std::string sub = seg.size() > 3 ? seg[3] : std::string();
  *object = id;
  if (seg.size() > 4) return NoSuchRoute(req);

  // ---- VM sets -------------------------------------------------------------------------
  if (coll == "vmsets") {
    if (m == "GET" && id.empty()) {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadVmSet));
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<VmSetRecord>(txn));
        json a = json::array();
        for (const auto& v : all) {
          if (InScope(who, v.name)) a.push_back(ToJson(v));
        }
        return a;
      });
    }
    if (m == "GET" && sub.empty()) {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadVmSet, id));
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto v, GetRecord<VmSetRecord>(txn, id));
        return ToJson(v);
      });
    }
    if ((m == "POST" && id.empty()) || (m == "PUT" && !id.empty() && sub.empty())) {
      CAFS_RETURN_IF_ERROR(CheckKnownFields(
          body, {"name", "mount_point", "position", "servers", "policy_id", "version", "xml"}));
      json j = body;
      if (body.contains("xml")) {
        // The seed's <vmset> XML, parsed with the policy model; it gives every field.
        CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"name", "version", "xml"}));
        if (!body["xml"].is_string()) return Status::InvalidArgument("'xml' must be a string");
        CAFS_ASSIGN_OR_RETURN(VmSetRecord from_xml, ParseVmSetXml(body["xml"].get<std::string>()));
        const std::string given = !id.empty() ? id : body.value("name", from_xml.name);
        if (given != from_xml.name) {
          return Status::InvalidArgument("the XML names VM set '" + from_xml.name + "', not '" +
                                         given + "'");
        }
        j = ToJson(from_xml);
        j["version"] = body.value("version", std::uint64_t{0});
      }
      if (!id.empty()) j["name"] = id;
      CAFS_ASSIGN_OR_RETURN(VmSetRecord v, VmSetFromJson(j));
      *object = v.name;
      if (v.name.empty()) return Status::InvalidArgument("a VM set needs a name");
      if (m == "POST")
        v.version = 0;
      else if (v.version == 0)
        return Status::InvalidArgument("PUT needs the 'version' you read");
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWriteVmSet, v.name));
      if (!v.policy_id.empty()) CAFS_RETURN_IF_ERROR(Uuid::Parse(v.policy_id).status());
      *status = m == "POST" ? 201 : 200;
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_RETURN_IF_ERROR(PutRecord(txn, v));
        return ToJson(v);
      });
    }
    if (m == "DELETE" && !id.empty() && sub.empty()) {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWriteVmSet, id));
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto v, GetRecord<VmSetRecord>(txn, id));
        CAFS_RETURN_IF_ERROR(DeleteRecord(txn, v));
        return json{{"deleted", id}};
      });
    }
    return NoSuchRoute(req);
  }

  // ---- policy descriptors --------------------------------------------------------------
  if (coll == "policies") {
    if (m == "GET" && id.empty()) {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadPolicy));
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<PolicyRecord>(txn));
        json a = json::array();
        for (const auto& p : all) {
          if (InScope(who, p.vmset)) a.push_back(ToJson(p));
        }
        return a;
      });
    }
    if (m == "GET" && sub.empty()) {
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto p, GetRecord<PolicyRecord>(txn, id));
        CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadPolicy, p.vmset));
        return ToJson(p);
      });
    }
    if ((m == "POST" && id.empty()) || (m == "PUT" && !id.empty() && sub.empty())) {
      CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"id", "name", "vmset", "xml", "version"}));
      json j = body;
      if (!id.empty()) j["id"] = id;
      if (!j.contains("vmset")) j["vmset"] = "";  // may come from <policy-descriptor vmset=>
      CAFS_ASSIGN_OR_RETURN(PolicyRecord p, PolicyFromJson(j));
      // Authorize before looking at the XML when the body names the VM set, so a caller
      // outside it is refused (403, audited) whatever the XML holds.
      if (!p.vmset.empty()) CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWritePolicy, p.vmset));
      CAFS_ASSIGN_OR_RETURN(PolicySummary summary, ValidatePolicyXml(p.xml));
      if (p.vmset.empty()) {
        if (summary.vmset.empty()) {
          return Status::InvalidArgument(
              "a policy needs the 'vmset' it governs (field 'vmset' or <policy-descriptor "
              "vmset=...>)");
        }
        p.vmset = summary.vmset;
        CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWritePolicy, p.vmset));
      } else if (!summary.vmset.empty() && summary.vmset != p.vmset) {
        return Status::InvalidArgument("the XML's vmset='" + summary.vmset +
                                       "' differs from 'vmset' " + p.vmset);
      }
      if (p.id.empty()) p.id = summary.guid.value_or(Uuid::Random().ToString());
      CAFS_ASSIGN_OR_RETURN(Uuid guid, Uuid::Parse(p.id));
      p.id = guid.ToString();
      *object = p.id;
      if (summary.guid && *summary.guid != p.id) {
        return Status::InvalidArgument("the XML's guid=" + *summary.guid + " differs from id " +
                                       p.id);
      }
      if (m == "POST")
        p.version = 0;
      else if (p.version == 0)
        return Status::InvalidArgument("PUT needs the 'version' you read");
      *status = m == "POST" ? 201 : 200;
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        if (m == "PUT") {
          CAFS_ASSIGN_OR_RETURN(auto old, GetRecord<PolicyRecord>(txn, p.id));
          CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWritePolicy, old.vmset));
        }
        CAFS_RETURN_IF_ERROR(PutRecord(txn, p));
        return ToJson(p);
      });
    }
    if (m == "DELETE" && !id.empty() && sub.empty()) {
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto p, GetRecord<PolicyRecord>(txn, id));
        CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWritePolicy, p.vmset));
        CAFS_ASSIGN_OR_RETURN(auto vmsets, ListRecords<VmSetRecord>(txn));
        for (const auto& v : vmsets) {
          if (v.policy_id == p.id) {
            return Status::FailedPrecondition("policy " + p.id + " governs VM set '" + v.name +
                                              "': give that VM set another policy first");
          }
        }
        CAFS_RETURN_IF_ERROR(DeleteRecord(txn, p));
        return json{{"deleted", id}};
      });
    }
    return NoSuchRoute(req);
  }

  // ---- keys ----------------------------------------------------------------------------
  if (coll == "keys") {
    if (m == "GET" && id.empty()) {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadKey));
      auto filter = req.query.find("vmset");
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<KeyRecord>(txn));
        json a = json::array();
        for (const auto& k : all) {
          if (!InScope(who, k.vmset)) continue;
          if (filter != req.query.end() && filter->second != k.vmset) continue;
          a.push_back(ToJson(k, false));
        }
        return a;
      });
    }
    if (m == "GET" && sub.empty()) {
      CAFS_ASSIGN_OR_RETURN(KeyRecord k, keyring_.GetKey(id));
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadKey, k.vmset));
      return ToJson(k, false);
    }
    if (m == "POST" && id.empty()) {
      CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"vmset", "cipher", "id", "state"}));
      std::string vmset = body.value("vmset", "");
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kManageKey, vmset));
      if (vmset.empty()) return Status::InvalidArgument("a key needs a 'vmset'");
      std::string state = body.value("state", "active");
      if (state != "active" && state != "pre-active") {
        return Status::InvalidArgument("a new key is 'active' or 'pre-active'");
      }
      CAFS_ASSIGN_OR_RETURN(KeyRecord k,
                            keyring_.CreateKey(vmset, body.value("cipher", "aes-256-xts"),
                                               state == "active", body.value("id", "")));
      *object = k.id;
      *status = 201;
      return ToJson(k, false);
    }
    if (m == "POST" && !id.empty() && !sub.empty()) {
      CAFS_ASSIGN_OR_RETURN(KeyRecord k, keyring_.GetKey(id));
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kManageKey, k.vmset));
      if (sub == "rotate") {
        CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {}));
        CAFS_ASSIGN_OR_RETURN(k, keyring_.RotateKey(id));
        return ToJson(k, false);
      }
      if (sub == "state") {
        CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"version", "state"}));
        if (!body.contains("version") || !body["version"].is_number_unsigned() ||
            !body.contains("state") || !body["state"].is_string()) {
          return Status::InvalidArgument("give 'version' (number) and 'state' (string)");
        }
        CAFS_ASSIGN_OR_RETURN(KeyState to, ParseKeyState(body["state"].get<std::string>()));
        CAFS_ASSIGN_OR_RETURN(k, keyring_.SetState(id, body["version"].get<std::uint32_t>(), to));
        return ToJson(k, false);
      }
      if (sub == "destroy") {
        CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"version"}));
        std::optional<std::uint32_t> v;
        if (body.contains("version")) {
          if (!body["version"].is_number_unsigned()) {
            return Status::InvalidArgument("'version' must be a number");
          }
          v = body["version"].get<std::uint32_t>();
        }
        CAFS_ASSIGN_OR_RETURN(k, keyring_.DestroyKey(id, v));
        return ToJson(k, false);
      }
    }
    return NoSuchRoute(req);
  }

  // ---- virtualization servers -----------------------------------------------------------
  if (coll == "servers") {
    if (m == "GET") {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadServer));
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        if (id.empty()) {
          CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<ServerRecord>(txn));
          return ListJson(all);
        }
        CAFS_ASSIGN_OR_RETURN(auto s, GetRecord<ServerRecord>(txn, id));
        return ToJson(s);
      });
    }
    CAFS_RETURN_IF_ERROR(Authorize(who, Action::kWriteServer));
    if ((m == "POST" && id.empty()) || (m == "PUT" && !id.empty())) {
      CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"id", "name", "addresses", "version"}));
      json j = body;
      if (!id.empty()) j["id"] = id;
      CAFS_ASSIGN_OR_RETURN(ServerRecord s, ServerFromJson(j));
      *object = s.id;
      if (m == "POST")
        s.version = 0;
      else if (s.version == 0)
        return Status::InvalidArgument("PUT needs the 'version' you read");
      *status = m == "POST" ? 201 : 200;
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_RETURN_IF_ERROR(PutRecord(txn, s));
        return ToJson(s);
      });
    }
    if (m == "DELETE" && !id.empty()) {
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto s, GetRecord<ServerRecord>(txn, id));
        CAFS_RETURN_IF_ERROR(DeleteRecord(txn, s));
        return json{{"deleted", id}};
      });
    }
    return NoSuchRoute(req);
  }

  // ---- gateways and admins (enrollment issues a certificate bundle) ----------------------
  if (coll == "gateways" || coll == "admins") {
    const bool gw = coll == "gateways";
    if (m == "GET") {
      CAFS_RETURN_IF_ERROR(Authorize(who, gw ? Action::kReadGateway : Action::kReadAdmin));
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        if (gw) {
          if (id.empty()) return ListJson(ListRecords<GatewayRecord>(txn).value_or({}));
          CAFS_ASSIGN_OR_RETURN(auto g, GetRecord<GatewayRecord>(txn, id));
          return ToJson(g);
        }
        if (id.empty()) return ListJson(ListRecords<AdminRecord>(txn).value_or({}));
        CAFS_ASSIGN_OR_RETURN(auto a, GetRecord<AdminRecord>(txn, id));
        return ToJson(a);
      });
    }
    CAFS_RETURN_IF_ERROR(Authorize(who, gw ? Action::kEnrollGateway : Action::kManageAdmin));
    if (m == "POST" && id.empty()) {
      CAFS_RETURN_IF_ERROR(gw ? CheckKnownFields(body, {"name", "vmsets"})
                              : CheckKnownFields(body, {"name", "role", "vmsets"}));
      if (!body.contains("name") || !body["name"].is_string()) {
        return Status::InvalidArgument("give a 'name'");
      }
      const std::string name = body["name"].get<std::string>();
      *object = name;
      std::vector<std::string> vmsets;
      if (body.contains("vmsets")) {
        if (!body["vmsets"].is_array()) return Status::InvalidArgument("'vmsets' is a list");
        for (const auto& v : body["vmsets"]) {
          if (!v.is_string()) return Status::InvalidArgument("'vmsets' holds names");
          vmsets.push_back(v.get<std::string>());
        }
      }
      Role role = Role::kGateway;
      if (!gw) {
        CAFS_ASSIGN_OR_RETURN(role, ParseRole(body.value("role", "")));
        if (role == Role::kGateway)
          return Status::InvalidArgument("enroll gateways at /v1/gateways");
        if (role == Role::kTenantAdmin && vmsets.empty()) {
          return Status::InvalidArgument("a tenant-admin needs 'vmsets' to be in charge of");
        }
      }
      CAFS_ASSIGN_OR_RETURN(IssuedCert cert, ca_.IssueClient(name, role));
      json record;
      Status put = store_.InTransaction([&](StoreTxn& txn) -> Status {
        if (gw) {
          GatewayRecord g{name, cert.serial, cert.fingerprint, vmsets, Now(), false, 0};
          CAFS_RETURN_IF_ERROR(PutRecord(txn, g));
          record = ToJson(g);
        } else {
          AdminRecord a{name, role, vmsets, cert.serial, cert.fingerprint, false, 0};
          CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
          record = ToJson(a);
        }
        return Status::OK();
      });
      CAFS_RETURN_IF_ERROR(put);
      *status = 201;
      return json{{gw ? "gateway" : "admin", record}, {"bundle", cert.Bundle(ca_.ca_pem())}};
    }
    if (m == "POST" && !id.empty() && sub == "revoke") {
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        if (gw) {
          CAFS_ASSIGN_OR_RETURN(auto g, GetRecord<GatewayRecord>(txn, id));
          g.revoked = true;
          CAFS_RETURN_IF_ERROR(PutRecord(txn, g));
          return ToJson(g);
        }
        CAFS_ASSIGN_OR_RETURN(auto a, GetRecord<AdminRecord>(txn, id));
        if (a.name == who.name) return Status::InvalidArgument("you cannot revoke yourself");
        a.revoked = true;
        CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
        return ToJson(a);
      });
    }
    return NoSuchRoute(req);
  }

  // ---- audit ---------------------------------------------------------------------------
  if (coll == "audit" && id.empty()) {
    if (m == "GET") {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadAudit));
      std::uint64_t after = 0;
      std::size_t limit = 1000;
      try {
        if (req.query.count("after")) after = std::stoull(req.query.at("after"));
        if (req.query.count("limit"))
          limit = std::min<std::size_t>(std::stoul(req.query.at("limit")), 10000);
      } catch (const std::exception&) {
        return Status::InvalidArgument("'after' and 'limit' are numbers");
      }
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto rs, ListAuditRecords(txn, after, limit));
        return ListJson(rs);
      });
    }
    if (m == "POST") {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kPushAudit));
      CAFS_RETURN_IF_ERROR(CheckKnownFields(body, {"records", "gateway_records"}));
      if (body.contains("gateway_records")) {
        if (body.contains("records")) {
          return Status::InvalidArgument("give 'records' or 'gateway_records', not both");
        }
        *status = 201;
        return TakeGatewayRecords(store_, who.name, body["gateway_records"]);
      }
      if (!body.contains("records") || !body["records"].is_array()) {
        return Status::InvalidArgument("give 'records': a list of audit records");
      }
      std::size_t n = 0;
      Status pushed = store_.InTransaction([&](StoreTxn& txn) -> Status {
        for (const auto& jr : body["records"]) {
          CAFS_RETURN_IF_ERROR(CheckKnownFields(
              jr, {"time", "vmset", "vm", "file", "operation", "result", "bytes", "server"}));
          AuditRecord r;
          r.time = jr.value("time", Now());
          r.actor = who.name;
          r.role = "gateway";
          r.action = "gateway: " + jr.value("operation", std::string());
          r.object = jr.value("vmset", std::string()) + "/" + jr.value("vm", std::string()) + "/" +
                     jr.value("file", std::string());
          r.result = jr.value("result", std::string());
          r.reason = "server " + jr.value("server", std::string()) + ", bytes " +
                     std::to_string(jr.value("bytes", std::uint64_t{0}));
          CAFS_RETURN_IF_ERROR(AppendAuditRecord(txn, r).status());
          ++n;
        }
        return Status::OK();
      });
      CAFS_RETURN_IF_ERROR(pushed);
      *status = 201;
      return json{{"accepted", n}};
    }
    return NoSuchRoute(req);
  }

  // ---- usage and capacity: gateways push snapshots, admins read them ---------------------
  if (coll == "usage" && id.empty()) {
    if (m == "POST") {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kPushUsage));
      CAFS_RETURN_IF_ERROR(CheckUsage(body));
      *object = who.name;
      json doc = body;
      doc["gateway"] = who.name;
      doc["received"] = Now();
      *status = 201;
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        std::uint64_t version = 0;
        CAFS_RETURN_IF_ERROR(GetDoc(txn, ObjectKind::kUsage, who.name, &version).status());
        CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kUsage, who.name, doc.dump(), version).status());
        return doc;
      });
    }
    if (m == "GET") {
      CAFS_RETURN_IF_ERROR(Authorize(who, Action::kReadUsage));
      auto filter = req.query.find("vmset");
      return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
        CAFS_ASSIGN_OR_RETURN(auto all, txn.List(ObjectKind::kUsage));
        json out = json::array();
        for (const auto& row : all) {
          json doc = json::parse(row.body, nullptr, false);
          if (doc.is_discarded() || !doc.is_object()) continue;
          json vmsets = json::array();
          for (const auto& v : doc.value("vmsets", json::array())) {
            const std::string name = v.value("vmset", "");
            if (!InScope(who, name)) continue;
            if (filter != req.query.end() && filter->second != name) continue;
            vmsets.push_back(v);
          }
          doc["vmsets"] = vmsets;
          // Pools are the provider's infrastructure: not for a tenant's eyes.
          if (who.role == Role::kTenantAdmin) doc["pools"] = json::array();
          out.push_back(doc);
        }
        return out;
      });
    }
    return NoSuchRoute(req);
  }

  // ---- gateway fetch: VM set + descriptor + unwrapped keys --------------------------------
  if (coll == "gateway" && id == "vmsets" && seg.size() == 4 && m == "GET") {
    const std::string& name = seg[3];
    *object = name;
    CAFS_RETURN_IF_ERROR(Authorize(who, Action::kFetchKeys, name));
    return InTxn(store_, [&](StoreTxn& txn) -> Result<json> {
      CAFS_ASSIGN_OR_RETURN(auto v, GetRecord<VmSetRecord>(txn, name));
      json out = {{"vmset", ToJson(v)}};
      if (v.policy_id.empty()) return out;
      CAFS_ASSIGN_OR_RETURN(auto p, GetRecord<PolicyRecord>(txn, v.policy_id));
      out["policy"] = ToJson(p);
      CAFS_ASSIGN_OR_RETURN(PolicySummary summary, ValidatePolicyXml(p.xml));
      json keys = json::array();
      const std::string clear = Uuid::ClearTextKey().ToString();
      for (const auto& kid : summary.key_ids) {
        if (kid == clear) continue;
        CAFS_ASSIGN_OR_RETURN(auto k, GetRecord<KeyRecord>(txn, kid));
        if (k.vmset != v.name) {
          return Status::PermissionDenied("policy names key " + kid + " of another VM set");
        }
        for (const auto& kv : k.versions) {
          if (!CanDecrypt(kv.state)) continue;
          CAFS_ASSIGN_OR_RETURN(SecureBuffer dek, keyring_.UnwrapKeyIn(txn, k, kv.number));
          keys.push_back({{"id", k.id},
                          {"version", kv.number},
                          {"cipher", k.cipher},
                          {"state", KeyStateName(kv.state)},
                          {"key", Base64(dek)}});
        }
      }
      out["keys"] = keys;
      return out;
    });
  }
  return NoSuchRoute(req);
}

}  // namespace cafs::kps
