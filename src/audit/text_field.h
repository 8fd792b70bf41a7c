// Names are bytes, JSON strings are text: how the audit trail carries a name (or any text
// field) that is not valid UTF-8 (docs/audit.md "Names that are not UTF-8").
//
// A file name on Linux is any byte string without '/' and NUL; a JSON string must be UTF-8.
// The one rule, used by AuditRecord for every text field and by nothing else re-deriving it:
//  - a value that is valid UTF-8 is written as it is (no extra field: records of UTF-8 names
//    are byte-for-byte what they always were);
//  - any other value is written as its display form (DisplayText: each byte that is not part
//    of a valid UTF-8 sequence replaced by U+FFFD) in the field itself, plus the exact bytes,
//    standard padded base64 (RFC 4648 section 4), in `<field>_b64`.
// Both members are in the canonical JSON the record hash covers, so the chain pins the exact
// bytes; a reader takes the exact bytes from `<field>_b64` and checks the display form.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/utf8.h"

namespace cafs::audit {

// Whether a value is well-formed UTF-8: cafs::IsValidUtf8 (util/utf8.h), the one rule.
using cafs::IsValidUtf8;

// `bytes` with every byte that does not start or continue a valid UTF-8 sequence replaced by
// U+FFFD (EF BF BD); valid UTF-8 comes back unchanged. Always valid UTF-8.
std::string DisplayText(std::string_view bytes);

// Standard base64 with '=' padding (RFC 4648 section 4).
std::string Base64Encode(std::string_view bytes);
// Strict decoding of Base64Encode's output: nullopt for any other alphabet, a missing or
// misplaced '=' padding, non-zero pad bits or a length that is not a multiple of 4.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace cafs::audit
