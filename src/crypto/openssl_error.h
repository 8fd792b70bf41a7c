// Turns OpenSSL's thread-local error queue into a Status (and clears the queue).
#pragma once

#include <string_view>

#include "util/status.h"

namespace cafs::crypto {

// A Status of `code`-kind Internal with "<what>: <openssl error text>".
Status OpenSslError(std::string_view what);

}  // namespace cafs::crypto
