// AuditRecord: one line of the audit trail (seed: "Auditing").
//
// A record says who (virtualization server), what (VM set, VM, file, operation), when, with
// what result and how many bytes/operations it covers. Data-path reads and writes are
// aggregated (count > 1, bytes summed) per (server, file, op) per interval; denials and
// metadata operations are recorded one by one (count == 1).
//
// On disk each record is one JSON object per line (docs/audit.md), with `prev` (the hash of
// the record before it) and `hash` (SHA-256 over `prev` and the record's canonical JSON
// without `hash`): removing, reordering or editing a record breaks the chain.
//
// Text fields hold bytes (file names are bytes): a value that is not valid UTF-8 is written
// as its display form plus `<field>_b64` with the exact bytes (text_field.h, docs/audit.md
// "Names that are not UTF-8"); FromLine gives the exact bytes back. No method throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "util/result.h"

namespace cafs::audit {

enum class Result : std::uint8_t {
  kOk = 0,
  kDenied,  // refused by policy (server not listed, outside window, role)
  kError,   // failed (I/O error, wrong key, corruption)
  kAlert,   // a system or capacity alert, not an access
};

std::string_view ResultName(Result r);
cafs::Result<Result> ParseResult(std::string_view text);

struct AuditRecord {
  std::uint64_t seq = 0;     // position in the chain, from 1; set by AuditLog
  std::int64_t time_ms = 0;  // Unix time in milliseconds (UTC); start of an aggregate
  std::int64_t end_ms = 0;   // end of an aggregate interval (== time_ms for single records)
  std::string server;        // the virtualization server id(s) the caller was identified as
  // The NFS client's address (the RPC peer's numeric address); empty for a local (FUSE) caller,
  // and then absent from the line, so records without it hash as they always did.
  std::string client;
  std::string vmset;  // VM set name
  std::string vm;     // VM directory name (may be empty for VM-set-level ops)
  std::string file;   // path inside the VM (may be empty)
  std::string op;     // lookup, read, write, create, remove, rename, mkdir, ...
  Result result = Result::kOk;
  std::string reason;       // why denied / what failed / alert text; empty when ok
  std::uint64_t bytes = 0;  // bytes read or written (aggregated)
  std::uint64_t count = 1;  // operations covered (aggregated)
  std::string prev_hash;    // hex SHA-256 of the previous record (64 zeros for the first)
  std::string hash;         // hex SHA-256 of this record; set by AuditLog

  // The canonical JSON object (keys sorted) without `hash`: what the hash covers.
  nlohmann::json ToCanonicalJson() const;
  // The full line (canonical JSON with `hash`), no trailing newline.
  std::string ToLine() const;
  // Parses a line written by ToLine (the 14 fields, an optional non-empty `client`, plus
  // `<field>_b64` for text fields that are not UTF-8). InvalidArgument naming the field on a
  // malformed line, an unknown field, or a `<field>_b64` that is not the strict base64 of non-UTF-8
  // bytes whose display form is the field's value.
  static cafs::Result<AuditRecord> FromLine(std::string_view line);

  // A copy with every text field (server, vmset, vm, file, op, reason) in its display form
  // (valid UTF-8; text_field.h DisplayText): for text built from a record's fields (kpsd's
  // own trail, logs). The exact bytes stay in the original and in its JSON.
  AuditRecord ForDisplay() const;

  // SHA-256(prev_hash || canonical JSON) in hex: the value `hash` must have.
  std::string ComputeHash() const;
};

// 64 '0' characters: the prev_hash of the first record in a chain.
std::string_view GenesisHash();

}  // namespace cafs::audit
