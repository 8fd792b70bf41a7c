// The one place where CAFS Status values and NBD wire errors meet (nbdkit's nbd_errno idea).
//
// Server side: ToNbdError(status) picks the NBD error sent in a simple reply.
// Client side: FromNbdError(error) turns a reply's error back into a Status.
// Table: docs/nbd.md "Error mapping". Threading: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace cafs::edif::nbd {

// 0 for OK; otherwise one of kNbdEperm, kNbdEio, kNbdEnomem, kNbdEinval, kNbdEnospc,
// kNbdEoverflow, kNbdEnotsup, kNbdEshutdown (by the Status's errno; EIO when it has none
// that NBD can carry).
std::uint32_t ToNbdError(const Status& status);

// OK for 0; otherwise a Status with the matching errno (unknown values become EIO).
// `context` names the request, e.g. "NBD_CMD_READ offset 4096".
Status FromNbdError(std::uint32_t error, std::string_view context);

}  // namespace cafs::edif::nbd
