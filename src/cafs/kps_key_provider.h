// KpsKeyProvider: a KeyProvider over kpsd's gateway fetch endpoint
// (`GET /v1/gateway/vmsets/{name}`, docs/kps-api.md) with mutual TLS 1.3 (kps::client).
//
// The gateway authenticates with its enrolment bundle (`cafsctl gateway enroll` writes it):
// one PEM file holding the gateway certificate, its key and kpsd's CA certificate.
//
// Errors of FetchVmSet (the KeyProvider contract):
//   Unavailable (retryable)   kpsd cannot be reached (refused, timeout, TLS refused) or
//                             answered 5xx; the message names the URL
//   NotFound                  404: kpsd does not know the VM set (or its policy)
//   PermissionDenied          401/403: kpsd refused this gateway; the message has kpsd's reason
//   InvalidArgument           any other answer, or a malformed bundle
// Key material is never logged nor put into a message.
//
// Threading: FetchVmSet may be called from several threads at once (one connection, under
// a mutex; a fetch is rare: PolicyCache calls it once per TTL per VM set).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "cafs/key_provider.h"

namespace cafs::kps::client {
class KpsClient;
}

namespace cafs::core {

class KpsKeyProvider final : public KeyProvider {
 public:
  // `url`: https://HOST:PORT. `bundle_path`: the gateway's PEM bundle. InvalidArgument when the
  // URL or the bundle is unusable (nothing is sent to kpsd yet).
  static Result<std::unique_ptr<KpsKeyProvider>> Create(const std::string& url,
                                                        const std::string& bundle_path);
  ~KpsKeyProvider() override;

  Result<VmSetBundle> FetchVmSet(const std::string& vmset_name) override;
  std::string Describe() const override { return "kps:" + url_; }
  // Every pool record kpsd holds, {name, guid} (`GET /v1/gateway/pools`): what cafsd compares
  // its [[pool]] tables with at start (pool_identity.h). Errors as FetchVmSet's (NotFound: a
  // kpsd before pool records).
  Result<std::vector<PoolRecordRef>> FetchPoolRecords();

  // Turns the JSON of a 200 answer into a bundle (exposed for tests). Keys in state
  // "active" are current; a GUID with no active version uses its highest version.
  // `unusable` (optional) lists versions without bytes and their states (destroyed, ...).
  // `registered_servers` (optional) -> `servers`: how NFS client addresses map to ids.
  // `pools` (optional) -> `pools`: the VM set's allow list ([{name, guid}]).
  // InvalidArgument naming the field on anything malformed (never the key bytes).
  static Result<VmSetBundle> ParseBundle(const nlohmann::json& body, const std::string& vmset_name,
                                         const std::string& kps_locator);
  // The Status for a non-2xx answer (exposed for tests).
  static Status StatusForReply(int http_status, const std::string& reason,
                               const std::string& vmset_name, const std::string& url);

 private:
  KpsKeyProvider(std::unique_ptr<kps::client::KpsClient> client, std::string url);
  std::mutex mu_;
  std::unique_ptr<kps::client::KpsClient> client_;  // guarded by mu_
  const std::string url_;
};

}  // namespace cafs::core
