// RestApi: the key & policy server's REST/JSON API (docs/kps-api.md), independent of the
// transport: the TLS listener (server.h) hands each request with the verified client
// certificate's identity; tests call Handle() directly.
//
// Every request is authenticated (the certificate's CN/OU/serial must match an enrolled,
// unrevoked admin or gateway record) and authorized (rbac.h). Dispatch is a route table
// (rest_api.cc kRoutes, listed by Endpoints()): one entry per endpoint with its method, path
// pattern and the Action whose role check runs before the endpoint's handler; the handler
// validates the body and checks the VM set scope once it knows the VM set. A refusal is 403
// {"error":"forbidden","reason":...} and an audit record; every change and every gateway key
// fetch is audited too -- except a gateway's poll of its rekey requests whose answer is the
// same as that gateway's previous one (its follower polls every minute: docs/kps-api.md
// "Rekey requests"). Bodies must be JSON objects with known fields only (400 otherwise).
// Path, query and body must be UTF-8 (400, audited, before routing). No exception leaves
// Handle(): Dispatch turns one into 400 (a JSON field of the wrong type) or 500. An audit
// record that cannot be stored turns a success into 503 (docs/kps-api.md).
//
// Threading: Handle() may be called from many threads at once (the Store serializes).
// `keyring`, `store`, `ca` and `clock` must outlive the RestApi.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kps/ca.h"
#include "kps/keyring.h"
#include "kps/rbac.h"

namespace cafs::kps {

struct ApiRequest {
  std::string method;  // GET, POST, PUT, DELETE
  std::string path;    // "/v1/vmsets/my_vmset"
  std::map<std::string, std::string> query;
  std::string body;
  PeerIdentity peer;  // from the verified client certificate
};

struct ApiResponse {
  int status = 200;
  nlohmann::json body;
};

class RestApi {
 public:
  RestApi(Keyring& keyring, Store& store, const CertificateAuthority& ca, const Clock& clock)
      : keyring_(keyring), store_(store), ca_(ca), clock_(clock) {}

  ApiResponse Handle(const ApiRequest& request);

  // One endpoint of the route table.
  struct Endpoint {
    std::string_view method;   // "GET", "POST", "PUT", "DELETE"
    std::string_view pattern;  // "/v1/keys/{id}/rotate": {x} matches one path segment
    Action action;             // checked (role only) before the handler runs
  };
  // Every endpoint, in matching order (docs/kps-api.md lists the same).
  static std::vector<Endpoint> Endpoints();

  // Creates the first security-admin record + certificate bundle (kpsd init).
  Result<std::string> BootstrapSecurityAdmin(const std::string& name);

 private:
  Result<Principal> Authenticate(const PeerIdentity& peer);
  // Finds the route, checks its role and runs its handler.
  // `hidden_refusal`: set when the failure is a refusal answered as "not found".
  Result<nlohmann::json> Dispatch(const Principal& who, const ApiRequest& req,
                                  const nlohmann::json& body, std::string* object, int* status,
                                  std::string* hidden_refusal);
  // Stores the request's audit record (text fields through AuditText); its error when the
  // record could not be stored (logged as "audit record lost").
  Status Audit(const ApiRequest& req, const PeerIdentity& peer, std::string_view role,
               std::string_view object, std::string_view result, std::string_view reason);
  // The answer to a failed request: 403 and every `audit_error` failure audited first; when
  // that record cannot be stored the status stays (nothing took effect) and the reason says
  // so (and the loss is logged).
  // `hidden_refusal` (non-empty): `s` is the "not found" answer to an object out of the
  // caller's scope; the audit record is "denied" with this reason.
  ApiResponse Fail(const ApiRequest& req, std::string_view role, std::string_view object,
                   const Status& s, bool audit_error, std::string_view hidden_refusal = {});
  std::int64_t Now() const;
  // Whether a gateway's successful GET `path` answered `body` is worth an audit record: false
  // for a rekey-request poll whose answer equals that gateway's previous one (remembered in
  // memory: the first poll after a restart of kpsd is audited).
  bool AuditGatewayRead(const std::string& gateway, const std::string& path,
                        const nlohmann::json& body);

  Keyring& keyring_;
  Store& store_;
  const CertificateAuthority& ca_;
  const Clock& clock_;
  std::mutex polls_mu_;                            // a leaf lock
  std::map<std::string, std::string> last_polls_;  // gateway -> answer; guarded by polls_mu_
};

// The HTTP status for a failed Status (404, 409, 400, 403, 503, 500 ...).
int HttpStatusFor(const Status& s);

}  // namespace cafs::kps
