// Server side of fixed newstyle option haggling, without I/O: given one option and its
// payload, what to send back and what to do next. The NbdServer does the socket work; the
// fuzzer and unit tests call this directly.
//
// Threading: pure function over its arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edif/nbd/export_info.h"
#include "util/bytes.h"

namespace cafs::edif::nbd {

// The exports one negotiation can see (a snapshot taken by the server).
struct ExportCatalog {
  std::vector<ExportInfo> exports;
  std::string default_export;  // what the empty name "" means; empty: no default

  // The export named `name` ("" resolves through default_export first); null when absent.
  const ExportInfo* Find(std::string_view name) const;
};

struct OptionOutcome {
  enum class Next {
    kContinue,      // send `reply`, read the next option
    kTransmission,  // send `reply`, then serve export `export_name`
    kClose,         // send `reply` (may be empty), then close the connection
  };
  Bytes reply;
  Next next = Next::kContinue;
  std::string export_name;  // the resolved export (kTransmission only)
};

// Handles one option (header already decoded, so payload.size() <= kMaxOptionLength).
//  NBD_OPT_EXPORT_NAME: the export's size/flags (+124 zeros unless `no_zeroes`), kTransmission;
//                       unknown export: kClose without reply (the spec leaves no other way).
//  NBD_OPT_GO / INFO:   NBD_REP_INFO (EXPORT, BLOCK_SIZE always; NAME, DESCRIPTION when asked)
//                       then NBD_REP_ACK; GO moves to kTransmission. Unknown export:
//                       NBD_REP_ERR_UNKNOWN; malformed payload: NBD_REP_ERR_INVALID.
//                       When the client did not ask for NBD_INFO_BLOCK_SIZE we advertise
//                       minimum 1 (it may not honour alignment), like qemu-nbd.
//  NBD_OPT_LIST:        one NBD_REP_SERVER per export, NBD_REP_ACK; payload: ERR_INVALID.
//  NBD_OPT_ABORT:       NBD_REP_ACK, kClose.
//  anything else:       NBD_REP_ERR_UNSUP (STARTTLS, STRUCTURED_REPLY, META_CONTEXT, ...).
OptionOutcome HandleOption(std::uint32_t option, ByteView payload, const ExportCatalog& catalog,
                           bool no_zeroes);

}  // namespace cafs::edif::nbd
