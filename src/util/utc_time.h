// UtcIsoText: the one formatter of a Unix time as ISO-8601 UTC to the second
// ("2026-12-07T22:05:10Z"), for what cafsd and cafsctl show (replica lists, copy states, kpsd
// records). Thread-safe (gmtime_r); no allocation beyond the returned string.
#pragma once

#include <cstdint>
#include <string>

namespace cafs {

// `unix_seconds` since 1970-01-01T00:00:00Z; a time gmtime cannot represent gives "".
std::string UtcIsoText(std::int64_t unix_seconds);

}  // namespace cafs
