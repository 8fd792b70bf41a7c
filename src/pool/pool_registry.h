// PoolRegistry: the pool plug-in seam (issue 18 item 3; nbdkit's plug-in API is the model).
// A pool kind ("posix", "rados") registers a PoolKind: its name, the API version it was
// written against, its capability flags, the keys of its `[[pool]]` table and two calls,
// validate and create. The core sees only Pool/env::File (pool.h): a plug-in that needs a
// foreign library (librados) lives in its own folder and library (src/pool/rados/) and is
// registered by pool_kinds.h; the core never includes its headers. Contract of every call,
// threading and durability per kind: docs/pools.md.
//
// Threading: Register happens at start-up (before any other call); Find, Validate, Create and
// kinds() are safe from many threads afterwards (the registry is not modified).
// Ownership: a PoolKind is copied into the registry; the string_views in it must point to
// static storage (string literals).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "env/env.h"
#include "pool/pool.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::pool {

// The version of this seam. A plug-in states the version it was written against; Register
// refuses another one (a call whose contract changed must not be reached by an old plug-in).
// History (docs/pools.md "Versions"): 1 = first; 2 = write leases (OpenFile for writing takes
// one, PoolCapabilities::write_lease, PoolSettings::owner).
inline constexpr int kPoolApiVersion = 2;

// One `[[pool]]` table: its name, its kind and the kind's own keys, every value as text
// (TOML strings as they are, integers in decimal, booleans as "true"/"false").
struct PoolSettings {
  std::string name;
  std::string kind = "posix";
  std::map<std::string, std::string> values;
  // Who this program is to the shared storage (not a key of the table): the gateway's backing
  // store id (backing_store_id.h), the holder named by its write leases. Empty: a random id
  // per pool object (tools and tests).
  std::string owner = {};
  // Not the kind's: the GUID of the key server's record of this pool (`guid =`; none = the
  // record of the same name). The gateway refuses to place files in the pool when the record
  // kpsd serves under `name` has another GUID (docs/gateway.md "Pool identity").
  std::optional<Uuid> guid = std::nullopt;
};

struct PoolKey {
  std::string_view name;
  bool required = false;
  std::string_view help;  // one line for messages and docs
};

struct PoolKind {
  int api_version = kPoolApiVersion;
  std::string_view kind;
  std::string_view description;
  PoolCapabilities capabilities;
  // Every key the kind accepts besides `name` and `kind`; any other is an error.
  std::vector<PoolKey> keys;
  // Checks the values (types, ranges, absolute paths) once presence and names are checked;
  // InvalidArgument naming the key. nullptr: nothing more to check.
  Status (*validate)(const PoolSettings& settings) = nullptr;
  // Makes the pool from validated settings. Must not block on the storage (a cluster that is
  // down is found by CheckAvailable and the first I/O, not here). `env` is for kinds on the
  // file system; a kind may ignore it.
  Result<std::unique_ptr<Pool>> (*create)(const PoolSettings& settings, env::Env* env) = nullptr;
};

class PoolRegistry {
 public:
  // InvalidArgument for another api_version, an empty kind or no create; AlreadyExists for a
  // kind registered twice.
  Status Register(PoolKind kind);

  // nullptr when the kind is not registered.
  const PoolKind* Find(std::string_view kind) const;
  // The registered kinds, sorted.
  std::vector<std::string> kinds() const;

  // Checks one table: a known kind (InvalidArgument "kind ... is not built into this program
  // (kinds: ...)"), every key known to the kind, every required key present, then the kind's
  // validate. Every message names the pool and the key.
  Status Validate(const PoolSettings& settings) const;
  // Validate, then the kind's create.
  Result<std::unique_ptr<Pool>> Create(const PoolSettings& settings, env::Env* env) const;

 private:
  std::map<std::string, PoolKind, std::less<>> kinds_;
};

// The "posix" kind (PosixPool): key `path` (required, absolute).
PoolKind PosixPoolKind();

// For plug-ins: the value of `key` as an integer in [min, max], or `fallback` when absent;
// InvalidArgument naming the pool and the key otherwise.
Result<std::int64_t> SettingInt(const PoolSettings& settings, std::string_view key,
                                std::int64_t fallback, std::int64_t min, std::int64_t max);
// The value of `key`, or `fallback` when absent.
std::string SettingString(const PoolSettings& settings, std::string_view key,
                          std::string_view fallback = {});

}  // namespace cafs::pool
