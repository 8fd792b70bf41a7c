// KpsReporting: what cafsd sends to kpsd besides key fetches (docs/audit.md "Push to kpsd",
// docs/kps-api.md "Usage", "Inventory"): its audit records (an AuditPusher over the local
// log), usage/capacity snapshots (bytes per VM set per pool, pool space and thresholds) and
// its key inventory (which key versions its files use: key_inventory.h), sent at start,
// every inventory_interval and at the first Tick after the gateway's view of a VM set's keys
// changed (a rotation or destroy reached its cache), so that kpsd can refuse to destroy a
// version files still use.
//
// KpsAuditSink posts records to `POST /v1/audit` as {"gateway_records": [<audit line>...]}
// and usage snapshots to `POST /v1/usage`, over its own mutual-TLS client (the gateway's
// enrolment bundle). A reply that is not 2xx or no reply is an error (Unavailable when kpsd
// cannot be reached or answers 5xx); the pusher retries.
//
// Threading: KpsAuditSink serializes its calls (one client under a mutex). KpsReporting::Tick
// is called from cafsd's ticker thread; the pusher has its own thread. Destroying a
// KpsReporting stops the pusher after a last push and sends a last usage snapshot.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "audit/audit_log.h"
#include "cafs/audit_pusher.h"
#include "cafs/gateway.h"

namespace cafs::kps::client {
class KpsClient;
struct Reply;
}  // namespace cafs::kps::client

namespace cafs::core {

class KpsAuditSink final : public AuditSink {
 public:
  static Result<std::unique_ptr<KpsAuditSink>> Create(const std::string& url,
                                                      const std::string& bundle_path);
  ~KpsAuditSink() override;
  Status Push(const std::vector<audit::AuditRecord>& records) override;
  Status PushUsage(const nlohmann::json& snapshot);
  Status PushInventory(const nlohmann::json& inventory);
  std::string Describe() const override { return "kpsd at " + url_; }

 private:
  KpsAuditSink(std::unique_ptr<kps::client::KpsClient> client, std::string url);
  Status Post(const std::string& path, const nlohmann::json& body);
  std::mutex mu_;
  std::unique_ptr<kps::client::KpsClient> client_;  // guarded by mu_
  const std::string url_;
};

// What a gateway's report or poll (`request`, e.g. "POST /v1/usage") answered with `reply`
// means: OK for 2xx; Unavailable for 5xx (retry), PermissionDenied for 401/403,
// InvalidArgument otherwise, each naming kpsd's `url`, the request and kpsd's reason.
Status StatusOfReply(const kps::client::Reply& reply, const std::string& url,
                     const std::string& request);

// The body of POST /v1/usage (docs/kps-api.md): {time_ms, vmsets: [{vmset, pool, bytes}],
// pools: [{pool, total_bytes, free_bytes, used_percent, threshold_percent, available, error}]}.
nlohmann::json UsageSnapshotJson(const std::vector<UsageRecord>& usage,
                                 const std::vector<PoolStatus>& pools, std::int64_t time_ms);

// The body of POST /v1/inventory (docs/kps-api.md "Inventory"): {time_ms, vmsets: [{vmset,
// known: {key GUID: newest version} | null, unreadable, keys: [{id, version, files, bytes,
// listed: [{guid, path}]}]}]}.
nlohmann::json KeyInventoryJson(const std::vector<VmSetKeyInventory>& inventory,
                                std::int64_t time_ms);

struct KpsReportingOptions {
  std::string url, bundle_path;  // [kps] url, cert
  std::string cursor_path;       // the audit push cursor
  std::chrono::seconds usage_interval{60};
  std::chrono::seconds inventory_interval{300};
};

class KpsReporting {
 public:
  // Starts pushing `log` (records already in it that kpsd has not taken go first).
  static Result<std::unique_ptr<KpsReporting>> Start(audit::AuditLog* log, Gateway* gateway,
                                                     const Clock* clock,
                                                     KpsReportingOptions options);
  ~KpsReporting();
  // Sends a usage snapshot when usage_interval has passed since the last one, and the key
  // inventory when it is due (header comment).
  void Tick();

 private:
  KpsReporting(std::unique_ptr<KpsAuditSink> sink, Gateway* gateway, const Clock* clock,
               const KpsReportingOptions& options);
  void PushUsage();
  // Takes and sends the inventory; true when kpsd took it.
  bool PushInventory();

  std::unique_ptr<KpsAuditSink> sink_;
  std::shared_ptr<AuditPusher> pusher_;
  Gateway* const gateway_;
  const Clock* const clock_;
  const std::chrono::seconds usage_interval_;
  const std::chrono::seconds inventory_interval_;
  std::chrono::steady_clock::time_point last_usage_{};          // ticker thread only
  std::chrono::steady_clock::time_point last_inventory_{};      // ticker thread only
  std::chrono::steady_clock::time_point next_inventory_try_{};  // ticker thread only
  static constexpr std::chrono::seconds kInventoryRetry{10};
  // The gateway's view of its keys at the last inventory kpsd took (ticker thread only).
  std::map<std::string, std::map<Uuid, std::uint32_t>> reported_keys_;
};

}  // namespace cafs::core
