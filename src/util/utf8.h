// UTF-8 validity of untrusted text (protocol text fields, names) before it reaches a JSON
// serializer (nlohmann::json throws on invalid UTF-8), a store or a log.
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace cafs {

// The length (1-4) of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
// surrogates, at most U+10FFFF) starting at text[i], or 0 when none starts there.
// Requires i < text.size().
std::size_t Utf8SequenceAt(std::string_view text, std::size_t i);

// The offset of the first byte of `text` that does not start or continue a well-formed
// UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF), or nullopt
// when all of `text` is well-formed.
std::optional<std::size_t> FirstInvalidUtf8(std::string_view text);

inline bool IsValidUtf8(std::string_view text) { return !FirstInvalidUtf8(text).has_value(); }

}  // namespace cafs
