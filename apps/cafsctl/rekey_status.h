// `cafsctl rekey status VMSET` (docs/cafsctl.md "rekey status"): the deep rekeys kpsd asked
// for in a VM set (rotation periods, compromised versions: kps/rekey_triggers.h) and each
// gateway's progress on them, from GET /v1/rekey-requests?vmset=VMSET.
//
// On a terminal: one progress bar per request and gateway (bytes, rate, ETA), redrawn every
// second with --watch until every request is done or failed. Otherwise (stdout not a tty):
// plain lines, once per poll with --watch. --json: kpsd's JSON, once (or the last poll's).
// Exit: 0 when every request is done (or none), 3 while some are still pending or running,
// 1 when one failed or kpsd refused (says why).
//
// Threading: runs on the caller's thread; `client` is used from it only.
#pragma once

#include <string>

namespace cafs::kps::client {
class KpsClient;
}

namespace cafs::cafsctl {

struct RekeyStatusOptions {
  std::string vmset;
  bool json = false;
  bool watch = false;
  int interval_s = 1;    // between polls with --watch
  int timeout_s = 3600;  // --watch gives up after this long (exit 3)
};

int RekeyStatus(kps::client::KpsClient& client, const RekeyStatusOptions& options);

}  // namespace cafs::cafsctl
