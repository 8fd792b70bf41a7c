#include "kps/rekey_triggers.h"

#include <algorithm>
#include <map>
#include <set>

#include "kps/policy_validation.h"
#include "util/logging.h"

namespace cafs::kps {

namespace {

using nlohmann::json;

constexpr std::int64_t kSecondsPerDay = 24 * 60 * 60;
constexpr std::size_t kMaxJobIdBytes = 64;
constexpr std::size_t kMaxErrorBytes = 4096;
// The job states a gateway reports (docs/jobs.md), plus "waiting": not started yet (`error`
// says why, e.g. the gateway has not learnt the target version yet).
constexpr std::string_view kProgressStates[] = {"queued",    "running", "paused", "cancelling",
                                                "cancelled", "done",    "failed", "waiting"};

// The rotation period in seconds of every key the VM sets' current policies name with a
// <rotation-period>. A policy that no longer validates is logged and skipped.
Result<std::map<std::string, std::int64_t>> RotationPeriods(StoreTxn& txn) {
  std::map<std::string, std::int64_t> out;
  CAFS_ASSIGN_OR_RETURN(auto vmsets, ListRecords<VmSetRecord>(txn));
  for (const VmSetRecord& v : vmsets) {
    if (v.policy_id.empty()) continue;
    auto p = GetRecord<PolicyRecord>(txn, PolicyStoreId(v.guid, v.policy_id));
    if (!p.ok()) {
      if (p.status().IsNotFound()) continue;  // named before it was uploaded
      return p.status();
    }
    auto summary = ValidatePolicyXml(p->xml);
    if (!summary.ok()) {
      CAFS_LOG_WARN("rekey triggers: policy {} of VM set {} does not validate: {}", v.policy_id,
                    v.name, summary.status().ToString());
      continue;
    }
    for (const auto& [key, days] : summary->rotation_days) {
      const std::int64_t s = static_cast<std::int64_t>(days) * kSecondsPerDay;
      auto [it, fresh] = out.emplace(key, s);
      if (!fresh) it->second = std::min(it->second, s);
    }
  }
  return out;
}

bool HasKeyBytes(const KeyRecord& k) {
  return std::any_of(k.versions.begin(), k.versions.end(),
                     [](const KeyVersion& v) { return v.state != KeyState::kDestroyed; });
}

bool HasCompromised(const KeyRecord& k) {
  return std::any_of(k.versions.begin(), k.versions.end(),
                     [](const KeyVersion& v) { return v.state == KeyState::kCompromised; });
}

Status AuditTrigger(StoreTxn& txn, std::int64_t now, const std::string& action,
                    const std::string& object, const std::string& reason) {
  AuditRecord r;
  r.time = now;
  r.actor = "kpsd";
  r.role = "kpsd";
  r.action = action;
  r.object = object;
  r.result = "ok";
  r.reason = reason;
  return AppendAuditRecord(txn, std::move(r)).status();
}

// Rotates the keys that need a new version (header); returns their ids.
Result<std::vector<std::string>> RotateDueKeys(Keyring& keyring, Store& store, std::int64_t now) {
  std::vector<KeyRecord> keys;
  std::map<std::string, std::int64_t> periods;
  CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(keys, ListRecords<KeyRecord>(txn));
    CAFS_ASSIGN_OR_RETURN(periods, RotationPeriods(txn));
    return Status::OK();
  }));
  std::vector<std::string> rotated;
  for (const KeyRecord& k : keys) {
    if (!HasKeyBytes(k)) continue;
    const KeyVersion* active = k.Active();
    std::string why;
    if (active == nullptr && HasCompromised(k)) {
      why = "a version is compromised and the key has no active version";
    } else if (auto p = periods.find(k.id);
               active != nullptr && p != periods.end() && now - active->created >= p->second) {
      why = "version " + std::to_string(active->number) + " reached the rotation period of " +
            std::to_string(p->second / kSecondsPerDay) + " days";
    } else {
      continue;
    }
    auto r = keyring.RotateKey(k.id);
    if (!r.ok()) {
      CAFS_LOG_WARN("rekey triggers: cannot rotate key {} ({}): {}", k.id, why,
                    r.status().ToString());
      continue;
    }
    const std::string reason = why + "; new version " + std::to_string(r->versions.back().number);
    CAFS_LOG_INFO("rekey triggers: rotated key {}: {}", k.id, reason);
    CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) {
      return AuditTrigger(txn, now, "rotate key (rekey trigger)", k.id, reason);
    }));
    rotated.push_back(k.id);
  }
  return rotated;
}

// Creates the requests that are missing and upgrades scheduled ones of compromised versions.
Result<std::vector<std::string>> QueueRequests(Store& store, std::int64_t now) {
  std::vector<std::string> out;
  CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
    out.clear();
    CAFS_ASSIGN_OR_RETURN(auto keys, ListRecords<KeyRecord>(txn));
    CAFS_ASSIGN_OR_RETURN(auto periods, RotationPeriods(txn));
    for (const KeyRecord& k : keys) {
      const KeyVersion* active = k.Active();
      if (active == nullptr) continue;  // nothing to rekey to (a rotation failed: logged)
      const bool scheduled = periods.count(k.id) > 0;
      for (const KeyVersion& v : k.versions) {
        if (v.number >= active->number) continue;
        RekeyReason want = RekeyReason::kScheduled;
        if (v.state == KeyState::kCompromised) {
          want = RekeyReason::kCompromised;
        } else if (v.state == KeyState::kDeactivated && scheduled) {
          want = RekeyReason::kScheduled;
        } else {
          continue;
        }
        RekeyRequest r;
        r.key = k.id;
        r.from_version = v.number;
        auto old = GetRecord<RekeyRequest>(txn, r.Id());
        std::string change;
        if (old.ok()) {
          const bool upgrade =
              want == RekeyReason::kCompromised && old->reason != RekeyReason::kCompromised;
          // A newer rotation superseded the target (it may be deactivated or compromised
          // itself now): the files go straight to the active version. The gateways' reports
          // were about the old target and are dropped (their followers start again).
          const bool retarget = old->to_version < active->number;
          if (!upgrade && !retarget) continue;
          r = std::move(old).value();
          if (retarget) {
            change = "retargeted from version " + std::to_string(r.to_version) + ", ";
            r.to_version = active->number;
            r.gateways = json::object();
          }
        } else if (!old.status().IsNotFound()) {
          return old.status();
        } else if (v.changed > 0 && now - v.changed >= kDoneRekeyRequestRetention.count()) {
          continue;  // its request was done and pruned (PruneDoneRequests)
        } else {
          r.vmset_id = k.vmset_id;
          r.to_version = active->number;
          r.created = now;
        }
        if (r.reason != RekeyReason::kCompromised) r.reason = want;
        CAFS_RETURN_IF_ERROR(PutRecord(txn, r));
        const std::string reason = change + "key " + k.id + " version " + std::to_string(v.number) +
                                   " -> " + std::to_string(r.to_version) + " (" +
                                   std::string(RekeyReasonName(want)) + ")";
        CAFS_RETURN_IF_ERROR(AuditTrigger(txn, now, "rekey request", r.Id(), reason));
        out.push_back(r.Id());
      }
    }
    return Status::OK();
  }));
  for (const auto& id : out) CAFS_LOG_INFO("rekey triggers: rekey request {} queued", id);
  return out;
}

// Removes the requests every gateway reported done at least kDoneRekeyRequestRetention ago
// (the newest "done" report counts), and those of keys that are gone. Audited.
Result<std::vector<std::string>> PruneDoneRequests(Store& store, std::int64_t now) {
  std::vector<std::string> pruned;
  CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
    pruned.clear();
    CAFS_ASSIGN_OR_RETURN(auto requests, ListRecords<RekeyRequest>(txn));
    CAFS_ASSIGN_OR_RETURN(auto gateways, ListRecords<GatewayRecord>(txn));
    for (const RekeyRequest& r : requests) {
      auto key = GetRecord<KeyRecord>(txn, r.key);
      if (!key.ok() && !key.status().IsNotFound()) return key.status();
      std::string why = "its key is gone";
      if (key.ok()) {
        const json view = RekeyRequestView(r, key->vmset, gateways);
        if (view.value("state", "") != "done") continue;
        std::int64_t done_at = 0;
        for (const auto& g : view["gateways"]) done_at = std::max(done_at, g.value("updated", 0L));
        if (now - done_at < kDoneRekeyRequestRetention.count()) continue;
        why = "done by every gateway " + std::to_string((now - done_at) / kSecondsPerDay) +
              " days ago";
      }
      CAFS_RETURN_IF_ERROR(DeleteRecord(txn, r));
      CAFS_RETURN_IF_ERROR(AuditTrigger(txn, now, "prune rekey request", r.Id(), why));
      pruned.push_back(r.Id());
    }
    return Status::OK();
  }));
  for (const auto& id : pruned) CAFS_LOG_INFO("rekey triggers: rekey request {} pruned", id);
  return pruned;
}

bool IsCount(const json& j, const char* field) {
  return j.contains(field) && j[field].is_number_unsigned();
}

}  // namespace

std::string_view RekeyReasonName(RekeyReason r) {
  return r == RekeyReason::kCompromised ? "compromised" : "scheduled";
}

json ToJson(const RekeyRequest& r) {
  return {{"key", r.key},
          {"vmset_id", r.vmset_id},
          {"from_version", r.from_version},
          {"to_version", r.to_version},
          {"reason", RekeyReasonName(r.reason)},
          {"created", r.created},
          {"gateways", r.gateways}};
}

Result<RekeyRequest> RekeyRequestFromJson(const json& j) {
  CAFS_RETURN_IF_ERROR(CheckKnownFields(
      j, {"key", "vmset_id", "from_version", "to_version", "reason", "created", "gateways"}));
  RekeyRequest r;
  try {
    r.key = j.at("key").get<std::string>();
    r.vmset_id = j.at("vmset_id").get<std::string>();
    r.from_version = j.at("from_version").get<std::uint32_t>();
    r.to_version = j.at("to_version").get<std::uint32_t>();
    const std::string reason = j.at("reason").get<std::string>();
    if (reason != "scheduled" && reason != "compromised") {
      return Status::InvalidArgument("rekey request: unknown reason '" + reason + "'");
    }
    r.reason = reason == "compromised" ? RekeyReason::kCompromised : RekeyReason::kScheduled;
    r.created = j.at("created").get<std::int64_t>();
    r.gateways = j.at("gateways");
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("rekey request: ") + e.what());
  }
  if (!r.gateways.is_object()) {
    return Status::InvalidArgument("rekey request: 'gateways' is not an object");
  }
  return r;
}

bool RekeyRequestBefore(const RekeyRequest& a, const RekeyRequest& b) {
  const bool ua = a.reason == RekeyReason::kCompromised;
  const bool ub = b.reason == RekeyReason::kCompromised;
  if (ua != ub) return ua;
  if (a.created != b.created) return a.created < b.created;
  return a.Id() < b.Id();
}

Result<RekeyTriggerResult> EvaluateRekeyTriggers(Keyring& keyring, Store& store,
                                                 const Clock& clock) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  RekeyTriggerResult out;
  CAFS_ASSIGN_OR_RETURN(out.rotated, RotateDueKeys(keyring, store, now));
  CAFS_ASSIGN_OR_RETURN(out.requests, QueueRequests(store, now));
  CAFS_ASSIGN_OR_RETURN(out.pruned, PruneDoneRequests(store, now));
  return out;
}

Result<CompromiseResult> MarkCompromised(Keyring& keyring, Store& store, const Clock& clock,
                                         const std::string& key, std::uint32_t version) {
  CompromiseResult out;
  CAFS_ASSIGN_OR_RETURN(out.key, keyring.SetState(key, version, KeyState::kCompromised));
  auto queued = EvaluateRekeyTriggers(keyring, store, clock);
  if (!queued.ok()) {
    out.rekey_error = queued.status().message() + " (kpsd retries at its next evaluation)";
    return out;
  }
  out.requests = std::move(queued->requests);
  CAFS_ASSIGN_OR_RETURN(out.key, keyring.GetKey(key));
  return out;
}

json RekeyRequestView(const RekeyRequest& r, const std::string& vmset_name,
                      const std::vector<GatewayRecord>& gateways) {
  json out = ToJson(r);
  out["id"] = r.Id();
  out["vmset"] = vmset_name;
  std::set<std::string> names;
  for (const auto& gw : gateways) {
    if (!gw.revoked &&
        std::find(gw.approved.begin(), gw.approved.end(), vmset_name) != gw.approved.end()) {
      names.insert(gw.name);
    }
  }
  const std::size_t expected = names.size();
  for (auto it = r.gateways.begin(); it != r.gateways.end(); ++it) names.insert(it.key());
  json list = json::array();
  std::uint64_t done = 0, total = 0;
  std::size_t done_gateways = 0;
  bool failed = false, reported = false;
  for (const auto& name : names) {
    json g = r.gateways.contains(name) ? r.gateways[name] : json{{"state", "not started"}};
    g["gateway"] = name;
    const std::string state = g.value("state", "");
    if (r.gateways.contains(name)) {
      reported = true;
      done += g.value("done_bytes", std::uint64_t{0});
      total += g.value("total_bytes", std::uint64_t{0});
    }
    if (state == "done") ++done_gateways;
    if (state == "failed") failed = true;
    list.push_back(std::move(g));
  }
  out["gateways"] = std::move(list);
  out["done_bytes"] = done;
  out["total_bytes"] = total;
  out["state"] = failed                                          ? "failed"
                 : expected > 0 && done_gateways >= names.size() ? "done"
                 : reported                                      ? "running"
                                                                 : "pending";
  return out;
}

Status CheckRekeyProgress(const json& body) {
  CAFS_RETURN_IF_ERROR(
      CheckKnownFields(body, {"job", "state", "done_bytes", "total_bytes", "rate_bps", "eta_s",
                              "files", "files_done", "error"}));
  if (!body.contains("state") || !body["state"].is_string() ||
      std::find(std::begin(kProgressStates), std::end(kProgressStates),
                body["state"].get<std::string>()) == std::end(kProgressStates)) {
    return Status::InvalidArgument(
        "'state' is one of queued, running, paused, cancelling, cancelled, done, failed, "
        "waiting");
  }
  if (body.contains("job") &&
      (!body["job"].is_string() || body["job"].get<std::string>().size() > kMaxJobIdBytes)) {
    return Status::InvalidArgument("'job' is a job id (text, at most 64 bytes)");
  }
  if (body.contains("error") &&
      (!body["error"].is_string() || body["error"].get<std::string>().size() > kMaxErrorBytes)) {
    return Status::InvalidArgument("'error' is text of at most 4096 bytes");
  }
  for (const char* f : {"done_bytes", "total_bytes", "files", "files_done"}) {
    if (body.contains(f) && !IsCount(body, f)) {
      return Status::InvalidArgument(std::string("'") + f + "' is a count");
    }
  }
  if (body.contains("rate_bps") &&
      (!body["rate_bps"].is_number() || body["rate_bps"].get<double>() < 0)) {
    return Status::InvalidArgument("'rate_bps' is a number >= 0");
  }
  if (body.contains("eta_s") && !body["eta_s"].is_null() &&
      (!body["eta_s"].is_number() || body["eta_s"].get<double>() < 0)) {
    return Status::InvalidArgument("'eta_s' is a number of seconds >= 0, or null");
  }
  return Status::OK();
}

Result<RekeyRequest> RecordRekeyProgress(StoreTxn& txn, const std::string& id,
                                         const std::string& gateway, const json& report,
                                         std::int64_t now) {
  CAFS_ASSIGN_OR_RETURN(RekeyRequest r, GetRecord<RekeyRequest>(txn, id));
  json g = report;
  g["updated"] = now;
  r.gateways[gateway] = std::move(g);
  CAFS_RETURN_IF_ERROR(PutRecord(txn, r));
  return r;
}

RekeyTriggerTimer::RekeyTriggerTimer(Keyring& keyring, Store& store, const Clock& clock,
                                     std::chrono::seconds interval) {
  thread_ = std::thread([this, &keyring, &store, &clock, interval] {
    std::unique_lock lock(mu_);
    do {
      lock.unlock();
      if (auto r = EvaluateRekeyTriggers(keyring, store, clock); !r.ok()) {
        CAFS_LOG_WARN("rekey triggers: evaluation failed (next in {}s): {}", interval.count(),
                      r.status().ToString());
      }
      lock.lock();
    } while (!cv_.wait_for(lock, interval, [this] { return stopping_; }));
  });
}

RekeyTriggerTimer::~RekeyTriggerTimer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace cafs::kps
