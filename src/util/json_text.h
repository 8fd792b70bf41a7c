// ParseJson: the one way CAFS parses JSON text that came from outside the process (a request
// body, a stored document, a pushed record, a file), with its nesting depth bounded BEFORE
// the parser sees it.
//
// nlohmann::json builds (and its serializer walks) nested values recursively: ~150,000 levels
// of '[' fit in a 1 MiB body and overflow the stack. CheckJsonDepth scans the text once,
// without recursion, counting '[' and '{' outside strings; deeper than `max_depth` is
// InvalidArgument "JSON nested deeper than N levels" and the parser never runs. For text the
// parser accepts the count is exact; for text it refuses, the prefix it reads is valid JSON,
// so the bound holds there too.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace cafs {

// Deep enough for every document CAFS defines (the deepest, a usage snapshot, has 3 levels).
inline constexpr std::size_t kMaxJsonDepth = 64;

// OK when no value in `text` is nested deeper than `max_depth` arrays/objects.
Status CheckJsonDepth(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

// CheckJsonDepth, then nlohmann::json::parse without exceptions: InvalidArgument when the
// text is too deep or is not JSON (the reason says which; `what` names the text).
Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what,
                                 std::size_t max_depth = kMaxJsonDepth);

}  // namespace cafs
