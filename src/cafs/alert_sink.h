// AlertSink: delivers a VM set's alerts and log messages (capacity alerts, denials, data
// errors) to the destinations its VM set policy names in <audit-dest> (policy/
// alert_destination.h; docs/gateway.md "Alerts"), as RFC 5424 syslog messages:
//
//   <PRI>1 2026-12-07T10:55:00.123Z host cafsd 4242 capacity [cafs@32473 vmset="my_vmset"] text
//
// PRI = facility 13 (log audit) * 8 + severity (capacity 4 warning, denial 5 notice, data
// error 3 error). The structured data names the VM set (SD-ID with the documentation
// enterprise number 32473 of RFC 5612). Transports: UNIX datagram (`syslog`, `syslog:unix:`),
// UDP (one message per datagram), TCP (RFC 6587 octet counting: "<len> <msg>"), a file (one
// message per line, appended, O_APPEND). `kps` needs nothing here: every alert is also an
// audit record of the gateway, which the audit pusher sends to kpsd.
//
// A destination that is missing or down (no socket at the path, connection refused, write
// error) is marked down: the first failure is warned in the gateway's log once, naming the
// destination and the error; while it is down its messages go to the gateway's log instead
// (the audit record reaches kpsd in any case) and it is tried again at most every
// `retry_interval`; when a retry succeeds the recovery is logged once. Send() never blocks
// longer than `connect_timeout` per TCP destination.
//
// Threading: Send() may be called from any thread (one mutex; the sockets are its members).
// The clock must outlive the sink.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "policy/alert_destination.h"
#include "util/clock.h"
#include "util/status.h"

namespace cafs::core {

enum class AlertKind { kCapacity, kDenial, kDataError };
// "capacity", "denial", "data-error" (the RFC 5424 MSGID).
std::string_view AlertKindName(AlertKind kind);

struct Alert {
  AlertKind kind = AlertKind::kCapacity;
  std::string vmset;
  std::string text;
};

struct AlertSinkOptions {
  std::chrono::milliseconds retry_interval{std::chrono::seconds(5)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(1)};
  std::string hostname = {};  // empty: gethostname()
};

class AlertSink {
 public:
  explicit AlertSink(const Clock* clock, AlertSinkOptions options = {});
  ~AlertSink();
  AlertSink(const AlertSink&) = delete;
  AlertSink& operator=(const AlertSink&) = delete;

  // Sends `alert` to every destination of `destinations` (the VM set's <audit-dest> texts;
  // one that does not parse is treated as down). Failures are handled as above, never
  // returned.
  void Send(const Alert& alert, const std::vector<std::string>& destinations);

  // The RFC 5424 message for `alert` at `now` (no framing).
  std::string Format(const Alert& alert, Clock::TimePoint now) const;

  // Whether `destination` is marked down now (tests, status).
  bool IsDown(const std::string& destination) const;
  // How many messages went to the gateway's log instead of a destination that was down.
  std::size_t fallbacks() const;

 private:
  struct Peer {
    int fd = -1;  // TCP: the connection, kept open
    bool down = false;
    Clock::TimePoint retry_at{};
  };
  Status Deliver(const policy::AlertDestination& d, Peer& peer, const std::string& message);
  Status SendTcp(const policy::AlertDestination& d, Peer& peer, const std::string& message);

  const Clock* clock_;
  const AlertSinkOptions options_;
  std::string hostname_;
  mutable std::mutex mu_;
  std::map<std::string, Peer> peers_;  // by destination text; guarded by mu_
  std::size_t fallbacks_ = 0;          // guarded by mu_
};

}  // namespace cafs::core
