// Logging for CAFS processes: a thin layer over spdlog so every binary logs the same way.
//
//   CAFS_LOG_INFO("opened {} in pool {}", path, pool);
//
// Never pass key material: SecureBuffer formats as "<secret N bytes>" by design, and raw key
// bytes must not be formatted at all. Threading: safe from any thread (spdlog's mt sinks).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace cafs::logging {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Sets up the process logger: to stderr, with `program` as the logger name, at `level`.
// Call once at start; before it, spdlog's default logger is used.
void Init(std::string_view program, Level level);

// Parses "trace|debug|info|warn|error|off"; InvalidArgument-like false on anything else.
bool ParseLevel(std::string_view text, Level* out);

}  // namespace cafs::logging

#define CAFS_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define CAFS_LOG_DEBUG(...) spdlog::debug(__VA_ARGS__)
#define CAFS_LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define CAFS_LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define CAFS_LOG_ERROR(...) spdlog::error(__VA_ARGS__)
