// ConnectionCaps: the admission rule of kpsd's two listeners (docs/kps.md "The REST
// listener", "The KMIP listener"): at most `max_total` connections open at once, and at most
// `max_per_address` from one source address, so that a flood from one address never locks
// the others out. A connection over a cap is to be closed at once; refusals are logged at
// most once per 10 s, with their count.
//
// Threading: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace cafs::kps {

class ConnectionCaps {
 public:
  // `listener` names the listener in log lines ("REST", "KMIP").
  ConnectionCaps(std::string listener, std::size_t max_total, std::size_t max_per_address)
      : listener_(std::move(listener)), max_total_(max_total), max_per_address_(max_per_address) {}

  // Counts a new connection from `address` (numeric) if both caps allow it; false otherwise.
  bool Admit(const std::string& address);
  // Uncounts a connection Admit() counted.
  void Release(const std::string& address);

 private:
  const std::string listener_;
  const std::size_t max_total_;
  const std::size_t max_per_address_;
  std::mutex mu_;
  std::map<std::string, std::size_t> per_address_;       // guarded by mu_
  std::size_t open_ = 0;                                 // guarded by mu_
  std::size_t refused_ = 0;                              // guarded by mu_, since last_report_
  std::chrono::steady_clock::time_point last_report_{};  // guarded by mu_
};

}  // namespace cafs::kps
