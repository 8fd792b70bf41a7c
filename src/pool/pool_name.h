// The gateway's rule for a storage pool's name (`[[pool]] name=`), in one place. Threading: pure
// functions and constants.
#pragma once

#include <cstddef>
#include <string>

#include "util/status.h"

namespace cafs::pool {

// The longest pool name, in bytes. A file's backing name is `name##pool`, and for a name that
// does not fit NAME_MAX that way the hashed form `.cafs-long-<64 hex>##pool` (11 + 64 + 2 +
// pool bytes, docs/redirectors.md "Long names"), which must fit NAME_MAX (255) itself:
// 255 - 77 = 178. `core::NeedsLongName` static_asserts this; the policy language
// (policy::IsStoragePoolName) takes the same limit, so kpsd never accepts a pool name a gateway
// could not serve.
inline constexpr std::size_t kMaxPoolNameBytes = 178;

// OK, or InvalidArgument naming what is wrong: empty, longer than kMaxPoolNameBytes (the error
// names the limit), containing '/' or "##" (the redirector separator), starting with '#' (it
// would make "a###p" ambiguous), "." or "..".
Status ValidatePoolName(const std::string& name);

}  // namespace cafs::pool
