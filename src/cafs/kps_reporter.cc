#include "cafs/kps_reporter.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "kps/client/kps_client.h"
#include "util/logging.h"

namespace cafs::core {

using nlohmann::json;

KpsAuditSink::KpsAuditSink(std::unique_ptr<kps::client::KpsClient> client, std::string url)
    : client_(std::move(client)), url_(std::move(url)) {}
KpsAuditSink::~KpsAuditSink() = default;

Result<std::unique_ptr<KpsAuditSink>> KpsAuditSink::Create(const std::string& url,
                                                           const std::string& bundle_path) {
  CAFS_ASSIGN_OR_RETURN(auto client, kps::client::KpsClient::Connect(url, bundle_path));
  return std::unique_ptr<KpsAuditSink>(new KpsAuditSink(std::move(client), url));
}

Status KpsAuditSink::Post(const std::string& path, const json& body) {
  Result<kps::client::Reply> reply = Status::Unavailable("not sent");
  try {
    std::lock_guard lock(mu_);
    reply = client_->Call("POST", path, body);
  } catch (const std::exception& e) {
    // A body that cannot be sent (e.g. text that is not UTF-8 slipped past AuditRecord's
    // escaping) is an error of this push, never of cafsd: the caller's thread goes on.
    return Status::InvalidArgument("cannot send POST " + path + " to kpsd at " + url_ + ": " +
                                   e.what());
  }
  if (!reply.ok()) return reply.status();
  return StatusOfReply(*reply, url_, "POST " + path);
}

Status StatusOfReply(const kps::client::Reply& reply, const std::string& url,
                     const std::string& request) {
  if (reply.ok()) return Status::OK();
  const std::string what = "kpsd at " + url + " refused " + request + ": HTTP " +
                           std::to_string(reply.status) + ": " + reply.Reason();
  if (reply.status >= 500) return Status::Unavailable(what);
  if (reply.status == 401 || reply.status == 403) return Status::PermissionDenied(what);
  return Status::InvalidArgument(what);
}

Status KpsAuditSink::Push(const std::vector<audit::AuditRecord>& records) {
  json list = json::array();
  for (const auto& r : records) {
    json j = r.ToCanonicalJson();
    j["hash"] = r.hash;
    list.push_back(std::move(j));
  }
  return Post("/v1/audit", json{{"gateway_records", std::move(list)}});
}

Status KpsAuditSink::PushUsage(const json& snapshot) { return Post("/v1/usage", snapshot); }

Status KpsAuditSink::PushInventory(const json& inventory) {
  return Post("/v1/inventory", inventory);
}

json KeyInventoryJson(const std::vector<VmSetKeyInventory>& inventory, std::int64_t time_ms) {
  json vmsets = json::array();
  for (const auto& v : inventory) {
    json known = nullptr;
    if (v.known) {
      known = json::object();
      for (const auto& [key, version] : *v.known) known[key.ToString()] = version;
    }
    json keys = json::array();
    for (const auto& k : v.keys) {
      json listed = json::array();
      for (const auto& f : k.listed) listed.push_back({{"guid", f.guid}, {"path", f.path}});
      keys.push_back({{"id", k.key.ToString()},
                      {"version", k.version},
                      {"files", k.files},
                      {"bytes", k.bytes},
                      {"listed", std::move(listed)}});
    }
    vmsets.push_back({{"vmset", v.vmset},
                      {"known", std::move(known)},
                      {"unreadable", v.unreadable},
                      {"keys", std::move(keys)}});
  }
  return {{"time_ms", time_ms}, {"vmsets", std::move(vmsets)}};
}

json UsageSnapshotJson(const std::vector<UsageRecord>& usage, const std::vector<PoolStatus>& pools,
                       std::int64_t time_ms) {
  json vmsets = json::array();
  for (const auto& u : usage) {
    vmsets.push_back({{"vmset", u.vmset}, {"pool", u.pool}, {"bytes", u.bytes}});
  }
  json ps = json::array();
  for (const auto& p : pools) {
    ps.push_back({{"pool", p.pool},
                  {"total_bytes", p.space.total_bytes},
                  {"free_bytes", p.space.free_bytes},
                  {"used_percent", p.space.UsedPercent()},
                  {"threshold_percent", p.threshold_percent},
                  {"available", p.available},
                  {"error", p.error}});
  }
  return {{"time_ms", time_ms}, {"vmsets", std::move(vmsets)}, {"pools", std::move(ps)}};
}

KpsReporting::KpsReporting(std::unique_ptr<KpsAuditSink> sink, Gateway* gateway, const Clock* clock,
                           const KpsReportingOptions& options)
    : sink_(std::move(sink)),
      gateway_(gateway),
      clock_(clock),
      usage_interval_(options.usage_interval),
      inventory_interval_(options.inventory_interval) {}

Result<std::unique_ptr<KpsReporting>> KpsReporting::Start(audit::AuditLog* log, Gateway* gateway,
                                                          const Clock* clock,
                                                          KpsReportingOptions options) {
  CAFS_ASSIGN_OR_RETURN(auto sink, KpsAuditSink::Create(options.url, options.bundle_path));
  std::unique_ptr<KpsReporting> r(new KpsReporting(std::move(sink), gateway, clock, options));
  CAFS_ASSIGN_OR_RETURN(
      auto pusher,
      AuditPusher::Create(r->sink_.get(), AuditPusherOptions{.log_path = log->path(),
                                                             .cursor_path = options.cursor_path}));
  r->pusher_ = std::move(pusher);
  std::weak_ptr<AuditPusher> weak = r->pusher_;
  log->AddListener([weak](const audit::AuditRecord&) {
    if (auto p = weak.lock()) p->Notify();
  });
  r->pusher_->Start();
  return r;
}

KpsReporting::~KpsReporting() {
  pusher_->Stop();
  PushUsage();
}

void KpsReporting::Tick() {
  const auto now = clock_->MonotonicNow();
  const bool due = last_inventory_.time_since_epoch().count() == 0 ||
                   now - last_inventory_ >= inventory_interval_ ||
                   gateway_->KnownKeyVersions() != reported_keys_;
  if (due && now >= next_inventory_try_) {
    // A failed push is retried after kInventoryRetry, or sooner when the inventory interval
    // is shorter (kpsd refuses destroys meanwhile, so a kpsd restart must not cost a
    // gateway more than one interval before it is heard from again).
    if (PushInventory()) {
      last_inventory_ = now;
    } else {
      next_inventory_try_ =
          now + std::min<std::chrono::steady_clock::duration>(kInventoryRetry, inventory_interval_);
    }
  }
  if (last_usage_.time_since_epoch().count() != 0 && now - last_usage_ < usage_interval_) return;
  last_usage_ = now;
  PushUsage();
}

bool KpsReporting::PushInventory() {
  auto known = gateway_->KnownKeyVersions();  // before the walk (Gateway::KeyInventory)
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
          .count();
  if (Status s = sink_->PushInventory(KeyInventoryJson(gateway_->KeyInventory(), ms)); !s.ok()) {
    CAFS_LOG_WARN("key inventory not sent (next try in {}s): {}", kInventoryRetry.count(),
                  s.ToString());
    return false;
  }
  reported_keys_ = std::move(known);
  return true;
}

void KpsReporting::PushUsage() {
  auto usage = gateway_->Usage();
  if (!usage.ok()) {
    CAFS_LOG_WARN("usage snapshot: {}", usage.status().ToString());
    return;
  }
  const auto pools = gateway_->CheckCapacity();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
          .count();
  if (Status s = sink_->PushUsage(UsageSnapshotJson(*usage, pools, ms)); !s.ok()) {
    CAFS_LOG_WARN("usage snapshot not sent (next try in {}s): {}", usage_interval_.count(),
                  s.ToString());
  }
}

}  // namespace cafs::core
