// Rekey triggers: the deep rekeys kpsd asks the gateways for (issue 14 item 3; docs/kps.md
// "Rekey triggers", docs/kps-api.md "Rekey requests").
//
// A rekey request asks every gateway serving a VM set to deep-rekey the files under one key
// version: key K version v -> version t (the version active when the request was made). It is
// stored under kind kRekeyRequest with id "K.v" (RekeyRequest::Id): one request per key
// version, so evaluating twice creates nothing new. It carries, per gateway, the progress that
// gateway last reported (the authoritative job state stays in the gateway's backing store).
//
// Triggers (EvaluateRekeyTriggers; kpsd runs it every --rotation-check-interval and right after
// a version is marked compromised through the REST API):
//   - scheduled: a key whose VM set's policy gives it a <rotation-period> (docs/policy.md) and
//     whose active version is at least that old is rotated (Keyring::RotateKey: a new active
//     version); then every deactivated version of a key with a rotation period that has no
//     request gets one, reason "scheduled" (also after a manual rotation: the policy says the
//     key's files follow its rotations);
//   - compromised: a key with a compromised version and no active version is rotated first;
//     every compromised version gets a request, reason "compromised" (an existing scheduled
//     request of that version becomes compromised).
//   - retarget: a request whose target version is no longer the key's active one (a newer
//     rotation superseded it; the target may be deactivated or compromised itself) is moved to
//     the active version and its gateway reports are dropped (the gateways' followers cancel
//     the job towards the old target and start one towards the new: jobs/
//     rekey_request_follower.h);
//   - prune: a request every gateway reported done is removed kDoneRekeyRequestRetention
//     after the newest "done" report (and a request whose key is gone at once). A version that
//     left the active state (KeyVersion::changed) longer ago than that gets no new request:
//     so a pruned request is not created again (marking it compromised later changes it and
//     does queue one).
// Each step is idempotent, so a crash between a rotation and its request is repaired by the
// next evaluation. Every rotation and every new, upgraded, retargeted or pruned request is
// audited (actor "kpsd").
//
// Order (RekeyRequestBefore): compromised requests first, then by creation time, then by id:
// the order kpsd lists them to a gateway, which starts them in that order and holds back
// scheduled ones while a compromised one runs (jobs/rekey_request_follower.h).
//
// Gateway progress (RecordRekeyProgress): a gateway approved for the request's VM set reports
// {job, state, done_bytes, total_bytes, rate_bps, eta_s, files, files_done, error}; the state
// of a request over all gateways is computed on read (RekeyRequestView): "done" when every
// gateway approved for the VM set (and not revoked) reported done, "failed" when one reported
// failed, "running" when one reported anything, else "pending".
//
// Threading: free functions; each runs in the transactions it says (the Store serializes).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kps/catalog.h"
#include "kps/keyring.h"
#include "util/clock.h"

namespace cafs::kps {

enum class RekeyReason { kScheduled, kCompromised };
// "scheduled", "compromised".
std::string_view RekeyReasonName(RekeyReason r);

struct RekeyRequest {
  std::string key;       // key GUID
  std::string vmset_id;  // the key's VM set GUID (the name is resolved on read: the key's)
  std::uint32_t from_version = 0;
  std::uint32_t to_version = 0;
  RekeyReason reason = RekeyReason::kScheduled;
  std::int64_t created = 0;  // unix seconds
  // Per gateway name: its last report, as CheckRekeyProgress accepted it, plus "updated"
  // (unix seconds).
  nlohmann::json gateways = nlohmann::json::object();
  std::uint64_t version = 0;  // row version

  std::string Id() const { return key + "." + std::to_string(from_version); }
};

nlohmann::json ToJson(const RekeyRequest& r);
// Strict: InvalidArgument naming the field.
Result<RekeyRequest> RekeyRequestFromJson(const nlohmann::json& j);

template <>
struct RecordTraits<RekeyRequest> {
  static constexpr ObjectKind kKind = ObjectKind::kRekeyRequest;
  static std::string Id(const RekeyRequest& r) { return r.Id(); }
  static nlohmann::json ToStored(const RekeyRequest& r) { return ToJson(r); }
  static Result<RekeyRequest> FromStored(const nlohmann::json& j) {
    return RekeyRequestFromJson(j);
  }
};

// Compromised before scheduled, then older first, then by id.
bool RekeyRequestBefore(const RekeyRequest& a, const RekeyRequest& b);

// How long a request every gateway reported done is kept (then pruned, header).
inline constexpr std::chrono::seconds kDoneRekeyRequestRetention{30 * 24 * 3600};

// What one evaluation did.
struct RekeyTriggerResult {
  std::vector<std::string> rotated;   // key GUIDs given a new version
  std::vector<std::string> requests;  // request ids created, made urgent or retargeted
  std::vector<std::string> pruned;    // request ids removed (done long enough ago)
};

// One evaluation (see the header). Errors: the store's; a key that cannot be rotated is
// logged and skipped (the others go on).
Result<RekeyTriggerResult> EvaluateRekeyTriggers(Keyring& keyring, Store& store,
                                                 const Clock& clock);

// What marking a key version compromised did (MarkCompromised).
struct CompromiseResult {
  KeyRecord key;                      // the key after the evaluation (a rotation included)
  std::vector<std::string> requests;  // request ids created or made urgent
  std::string rekey_error;            // non-empty when the evaluation failed (kpsd retries)
};

// The one way a key version becomes compromised, for every front-end (REST PUT state
// "compromised", KMIP Revoke with reason KeyCompromise or CACompromise): Keyring::SetState,
// then EvaluateRekeyTriggers at once so the urgent deep rekey of every file under that version
// is queued before the caller is answered. Errors: SetState's. A failed evaluation is not an
// error (the state change stands; the periodic evaluation queues the request): it is reported
// in `rekey_error`.
Result<CompromiseResult> MarkCompromised(Keyring& keyring, Store& store, const Clock& clock,
                                         const std::string& key, std::uint32_t version);

// The request as administrators see it: ToJson plus "id", "vmset" (`vmset_name`), "state"
// (over all gateways, header) and "gateways": a list of {gateway, state, ...report} with one
// entry per expected gateway (state "not started" for one that has not reported) and per
// gateway that reported, plus "done_bytes"/"total_bytes" summed over the gateways.
nlohmann::json RekeyRequestView(const RekeyRequest& r, const std::string& vmset_name,
                                const std::vector<GatewayRecord>& gateways);

// InvalidArgument naming the field when `body` is not a progress report (docs/kps-api.md).
Status CheckRekeyProgress(const nlohmann::json& body);

// Stores `report` (checked) as gateway `gateway`'s progress on request `id`, at `now`.
// NotFound when there is no such request.
Result<RekeyRequest> RecordRekeyProgress(StoreTxn& txn, const std::string& id,
                                         const std::string& gateway, const nlohmann::json& report,
                                         std::int64_t now);

// Runs EvaluateRekeyTriggers at start and every `interval` on its own thread until destroyed
// (kpsd serve --rotation-check-interval). A failed evaluation is logged; the next one retries.
// `keyring`, `store` and `clock` must outlive it.
class RekeyTriggerTimer {
 public:
  RekeyTriggerTimer(Keyring& keyring, Store& store, const Clock& clock,
                    std::chrono::seconds interval);
  ~RekeyTriggerTimer();
  RekeyTriggerTimer(const RekeyTriggerTimer&) = delete;
  RekeyTriggerTimer& operator=(const RekeyTriggerTimer&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace cafs::kps
