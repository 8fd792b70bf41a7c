// The content of a redirector entry `name##pool` in the backing store: which pool file holds
// the file's data (docs/redirectors.md has the format and the crash ordering around it).
//
//   CAFS-REDIRECTOR 1
//   guid <file GUID, the one in the pool file header at offset 24>
//   path <pool-relative path of the pool file>
//   replica <pool> <pool-relative path>     0..15 lines: the other copies of a mirrored file
//                                           (policy <replicas> N > 1, docs/redirectors.md)
//
// Pure functions; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "util/uuid.h"

namespace cafs::core {

inline constexpr std::string_view kRedirectorMagic = "CAFS-REDIRECTOR 1";
// Between a file's name and its pool in the redirector's backing name: `disk.vmdk##pool_A`.
inline constexpr std::string_view kRedirectorSeparator = "##";
// A redirector being created has this prefix + the file GUID, and no "##": it is never listed.
inline constexpr std::string_view kRedirectorTempPrefix = ".cafs-new-";

// One more copy of a mirrored file: the pool it is in and its path there (the same bytes as
// the primary copy, docs/redirectors.md "Mirrored files").
struct ReplicaLocation {
  std::string pool;
  std::string pool_path;
  bool operator==(const ReplicaLocation&) const = default;
};

struct Redirector {
  Uuid guid;
  std::string pool_path;  // the primary copy, in the pool of the backing name `name##pool`
  std::vector<ReplicaLocation> replicas = {};  // copies 2..N; empty for a file with one copy
};
inline constexpr std::size_t kMaxReplicaLines = 15;

// THE rule for where a new pool file goes (the only place that spells it; every creator of a
// pool file — Volume::CreateFile, fsck's path upgrade, migration between pools — calls it):
// `<owner>/<first two hex digits of guid>/<guid>`, where `owner` is the backing store's id
// (BackingStoreId, `.cafs-id` in the backing root). It carries no VM set, VM or file name, so
// two gateways sharing a pool never collide, a rename never moves a pool file, and a cloud
// pool's object names leak nothing. Readers never derive a pool path: they take the
// redirector's line 3 (docs/redirectors.md).
std::string NewPoolPath(const Uuid& owner, const Uuid& guid);
// Whether `pool_path` lies under `owner`'s mark in a pool (its first component is the owner
// id): the pool files `cafsd fsck` of that backing store may judge.
bool IsUnderOwner(std::string_view pool_path, const Uuid& owner);

// The one codec of redirector names (every reader and writer of backing-store names uses
// these three functions, never "##" itself).
// A redirector's backing-store name `name##pool` split at its last "##" (names may end in
// '#', pool names never start with it), or nullopt for a name that is not a redirector's
// (no "##", nothing before or after it): such regular files are not ours and stay hidden.
struct RedirectorName {
  std::string_view name;
  std::string_view pool;
};
std::optional<RedirectorName> SplitRedirectorName(std::string_view backing_name);
// The backing-store name of `name`'s redirector in `pool`: `name##pool` (the inverse of
// SplitRedirectorName for names without "##" and pools not starting with '#').
std::string RedirectorBackingName(std::string_view name, std::string_view pool);
// Whether the backing-store entry `backing_name` is the redirector of the caller-visible
// `name` (in any pool): SplitRedirectorName gives `name` back and a possible pool name
// (pool::ValidatePoolName). "a###p" is "a#"'s in pool "p", never "a"'s.
bool IsRedirectorOf(std::string_view backing_name, std::string_view name);

std::string EncodeRedirector(const Redirector& r);

// Errors: Corruption naming what is wrong (first line, a repeated or unknown line, a missing
// guid or path line, a replica line without pool and path or naming an invalid pool, the same
// pool twice, more than kMaxReplicaLines); a malformed GUID: the GUID parser's error. Blank lines
// are ignored (rewrites pad with them).
Result<Redirector> DecodeRedirector(std::string_view text);

}  // namespace cafs::core
