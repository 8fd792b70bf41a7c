// MoveRecord: what a planned datastore move carries from one gateway to another (docs/pools.md
// "Moving a datastore to another gateway"; byte table there): the namespace of one VM set —
// every backing-store entry below its directory (directories, redirectors, long-name side
// entries, symlinks, special files, with mode, owner and times), the mirror logs of its files —
// and the list of its pool files (GUID, pool, pool path: every copy). The bytes of the files
// stay where they are, in the shared pools; only their names and their ownership move.
//
// The same bytes are the file the operator carries (`cafsd datastore export VMSET --to FILE`,
// `cafsd datastore import FILE`) and the journal each gateway keeps of the move in its backing
// store (`.cafs-move-<move id>`, datastore_move.h). A SHA-256 of everything before it ends the
// record: a torn or damaged record is Corruption, never half imported. It is not signed: see
// docs/pools.md for why.
//
// Pure functions; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"
#include "util/uuid.h"

namespace cafs::core {

inline constexpr std::string_view kMoveRecordMagic = "CAFSMOVE";  // 8 bytes
inline constexpr std::uint32_t kMoveRecordVersion = 1;
// Bounds a decoder checks before it allocates (a record of a VM set with a million entries of
// a few hundred bytes each stays far below them).
inline constexpr std::uint32_t kMoveRecordMaxEntries = 16u << 20;
inline constexpr std::uint32_t kMoveRecordMaxString = 64u << 10;

// One backing-store entry of the VM set.
struct MoveEntry {
  enum class Type : std::uint8_t {
    kDirectory = 1,  // `path` a directory
    kFile = 2,       // a regular file (a redirector or a long name's side entry): `data` its bytes
    kSymlink = 3,    // `data` the target
    kLink = 4,       // another name of the kFile entry whose path is `data` (a hard link)
    kNode = 5,       // a FIFO, socket or device node (`mode` with its type bits, `rdev`)
    kMirrorLog = 6,  // a mirror log of a file of the set: `path` its name in the backing root
  };
  Type type = Type::kDirectory;
  // Backing names joined by '/', relative to the VM set's directory ("" is the directory
  // itself); for kMirrorLog the name in the backing root.
  std::string path;
  std::uint32_t mode = 0;  // st_mode (type and permission bits)
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t rdev = 0;
  std::int64_t atime_s = 0;
  std::uint32_t atime_ns = 0;
  std::int64_t mtime_s = 0;
  std::uint32_t mtime_ns = 0;
  std::string data;
  bool operator==(const MoveEntry&) const = default;
};

// One pool file of the set (each copy of a mirrored file is one).
struct MovedFile {
  Uuid guid;
  std::string pool;
  std::string pool_path;
  bool operator==(const MovedFile&) const = default;
};

struct MoveRecord {
  Uuid move_id;       // random, minted by the export
  Uuid source;        // the exporting backing store's id (the owner mark of its pool files)
  std::string vmset;  // the VM set's caller-visible name (its top-level directory)
  std::vector<MoveEntry> entries;  // parents before children; kLink after its kFile
  std::vector<MovedFile> files;
  bool operator==(const MoveRecord&) const = default;
};

Bytes EncodeMoveRecord(const MoveRecord& record);
// Corruption naming the field for a bad magic, a version other than 1, a field running past
// the end, a bound exceeded, an unknown entry type, a path that is not relative backing names
// ('/'-joined, none empty, ".", "..") or bytes left over, and for a checksum that does not match.
Result<MoveRecord> DecodeMoveRecord(ByteView bytes);

}  // namespace cafs::core
