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

#include <functional>
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
// these functions, never "##" nor ".cafs-long-" itself).
//
// Long names (docs/redirectors.md "Long names"): a file whose `name##pool` would not fit
// NAME_MAX (255 bytes), whose name contains "##" (it would be split there), or whose name looks
// like a long-name stem itself, is stored as `<stem>##pool` with the stem `.cafs-long-<64
// lower-case hex of SHA-256(name)>`, and its full name in the side entry `<stem>.name` of the
// same directory (EncodeLongNameEntry). The choice depends on the name and that pool only
// (never on the configuration), so every name has exactly one backing name per pool, and
// names stored before this rule keep theirs.
// Directories, symlinks and special files ("plain entries") are stored under their own name,
// except a name that could be taken for an entry of ours (NeedsHashedPlainName: it contains
// "##" — a plain `x##p` would clash with file x's redirector in pool p —, is a stem, or is a
// side entry's name): that one is stored under its stem alone (no "##": never a redirector),
// with the same side entry beside it.
inline constexpr std::string_view kLongNamePrefix = ".cafs-long-";
inline constexpr std::string_view kLongNameEntrySuffix = ".name";
inline constexpr std::string_view kLongNameMagic = "CAFS-LONGNAME 1";
// The longest name component of the backing store (and so of a caller's name).
inline constexpr std::size_t kBackingNameMax = 255;

// A redirector's backing-store name `name##pool` split at its last "##" (names may end in
// '#', pool names never start with it), or nullopt for a name that is not a redirector's
// (no "##", nothing before or after it): such regular files are not ours and stay hidden.
// `name` is the stem for a long name (IsLongNameStem): the caller-visible name is in the
// side entry.
struct RedirectorName {
  std::string_view name;
  std::string_view pool;
};
std::optional<RedirectorName> SplitRedirectorName(std::string_view backing_name);
// The backing-store name of `name`'s redirector in `pool`: `name##pool`, or `<stem>##pool`
// when NeedsLongName (the inverse of SplitRedirectorName for names without "##" and pools not
// starting with '#', plus the side entry for long names).
std::string RedirectorBackingName(std::string_view name, std::string_view pool);
// Whether the file `name` in `pool` is stored under its stem: `name##pool` exceeds
// kBackingNameMax, `name` contains "##", or `name` is itself a stem (it would be taken for one).
bool NeedsLongName(std::string_view name, std::string_view pool);
// Whether the plain entry (directory, symlink, special file) `name` is stored under its stem:
// `name` contains "##", is a stem, or is a side entry's name (LongNameEntryStem).
bool NeedsHashedPlainName(std::string_view name);
// The backing-store name of the plain entry `name`: `name`, or LongNameStem(name) when
// NeedsHashedPlainName.
std::string PlainBackingName(std::string_view name);
// The stem whose side entry the backing entry `backing_name` needs: the stem of a redirector
// `<stem>##pool`, a plain entry named by a stem itself; "" for any other (a view into
// `backing_name`).
std::string_view LongNameStemOf(std::string_view backing_name);
// `.cafs-long-<hex of SHA-256(name)>`.
std::string LongNameStem(std::string_view name);
// Whether `s` is `.cafs-long-` followed by exactly 64 lower-case hex digits.
bool IsLongNameStem(std::string_view s);
// `<stem>##pool`: the redirector of a stem already decided (a name that fits, or a long-name
// stem: DropLongName looks for the other redirectors of a stem with it).
std::string JoinRedirectorName(std::string_view stem, std::string_view pool);
// The side entry holding the full name of the redirectors `<stem>##*`: `<stem>.name`.
std::string LongNameEntry(std::string_view stem);
// The stem of a side entry name (`<stem>.name`), or nullopt if `entry` is not one.
std::optional<std::string_view> LongNameEntryStem(std::string_view entry);
// The side entry's content: `CAFS-LONGNAME 1\n<name>\n` (the name is every byte between the
// first and the last '\n': it may contain '\n' itself).
std::string EncodeLongNameEntry(std::string_view name);
// The name in a side entry whose stem is `stem`: Corruption when the magic or layout is
// wrong or SHA-256 of the name is not the stem's (a side entry copied or edited by hand).
Result<std::string> DecodeLongNameEntry(std::string_view text, std::string_view stem);
// The caller-visible name of the redirector `split` (SplitRedirectorName): its name, or for a
// long-name stem the name in the side entry, whose content `read_entry(LongNameEntry(stem))`
// returns; checked to give this backing name back (RedirectorBackingName). Errors: those of
// `read_entry` (NotFound: no side entry), Corruption for a side entry that does not match.
Result<std::string> CallerNameOf(
    const RedirectorName& split,
    const std::function<Result<std::string>(const std::string& entry)>& read_entry);
// The caller-visible name of the backing entry `backing_name`: a redirector's (`regular`:
// CallerNameOf; NotFound for a regular file that is not a redirector, e.g. a side entry or a
// temporary name), else a plain entry's: its own name, or for a stem the name in the side
// entry, checked to be one that is stored hashed (Corruption otherwise). The one decoder of
// listings (Volume::ReadDir, FileHandles::Resolve, store walks).
Result<std::string> CallerNameOfEntry(
    std::string_view backing_name, bool regular,
    const std::function<Result<std::string>(const std::string& entry)>& read_entry);
// Whether the backing-store entry `backing_name` is the redirector of the caller-visible
// `name` (in any pool): it is RedirectorBackingName(name, p) for a possible pool name p
// (pool::ValidatePoolName). "a###p" is "a#"'s in pool "p", never "a"'s.
bool IsRedirectorOf(std::string_view backing_name, std::string_view name);

std::string EncodeRedirector(const Redirector& r);

// Errors: Corruption naming what is wrong (first line, a repeated or unknown line, a missing
// guid or path line, a replica line without pool and path or naming an invalid pool, the same
// pool twice, more than kMaxReplicaLines); a malformed GUID: the GUID parser's error. Blank lines
// are ignored (rewrites pad with them).
Result<Redirector> DecodeRedirector(std::string_view text);

}  // namespace cafs::core
