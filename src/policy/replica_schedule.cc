#include "policy/replica_schedule.h"

#include <fmt/format.h>

namespace cafs::policy {
namespace {

struct Unit {
  char suffix;
  long long seconds;
};
// Largest first: ReplicaIntervalText picks the largest unit that divides the interval.
constexpr Unit kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

}  // namespace

Result<std::chrono::seconds> ParseReplicaInterval(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("must be a duration such as '1h' (a number and s, m, h or d; {} s .. {} "
                    "days), got '{}'",
                    ReplicaSchedule::kMinInterval.count(),
                    ReplicaSchedule::kMaxInterval.count() / 86400, text));
  };
  std::size_t i = 0;
  long long n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 9) {
    n = n * 10 + (text[i] - '0');
    ++i;
  }
  if (i == 0 || i + 1 != text.size()) return bad();
  for (const Unit& u : kUnits) {
    if (text[i] != u.suffix) continue;
    const std::chrono::seconds s(n * u.seconds);
    if (s < ReplicaSchedule::kMinInterval || s > ReplicaSchedule::kMaxInterval) return bad();
    return s;
  }
  return bad();
}

std::string ReplicaIntervalText(std::chrono::seconds interval) {
  for (const Unit& u : kUnits) {
    if (interval.count() % u.seconds == 0) {
      return fmt::format("{}{}", interval.count() / u.seconds, u.suffix);
    }
  }
  return fmt::format("{}s", interval.count());
}

}  // namespace cafs::policy
