// Packing of READDIR and READDIRPLUS replies for the FUSE front-end, apart from the session
// so a unit test can decode what the kernel would get.
//
// Offsets of a listing: 0 ".", 1 "..", 2 + i entries[i]; each entry carries the offset of the
// next one (what the kernel passes back to continue).
//
// READDIRPLUS and lookup counts (libfuse: "the lookup count of every entry returned by
// readdirplus(), except "." and "..", is incremented by one"): an entry is returned with a
// nonzero inode — remembered in the InodeTable, nlookup + 1 — only if it fits in the reply
// and its attributes could be read; "." and ".." and entries whose attributes failed (denied,
// pool unreachable) go out with inode 0, which the kernel takes as "no attributes, look it
// up when needed" (that LOOKUP then returns the error). The caller must Forget every inode in
// `remembered` if the reply cannot be sent.
//
// Threading: stateless functions; the InodeTable is thread-safe.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "cafs/attr.h"
#include "frontend/fuse/inode_table.h"
#include "util/result.h"

namespace cafs::frontend {

// The FUSE inode for the entry `path` with attributes `a` (nlookup += 1): files and special
// files are also keyed by their backing inode, so every name of a hard-linked file is one
// FUSE inode (tar and rsync -H compare st_ino); directories by path only.
std::uint64_t RememberEntry(InodeTable& inodes, const std::string& path, const core::Attr& a);
// The stat a reply carries for `a` as inode `ino`.
struct stat ToStat(const core::Attr& a, std::uint64_t ino);

// Fills `buf` with plain directory entries from offset `off`; returns the bytes used.
std::size_t FillReadDir(fuse_req_t req, std::span<char> buf, std::uint64_t dir_ino,
                        const std::vector<core::DirEntry>& entries, std::uint64_t off);

// The attributes of a child path (the Gateway's GetAttr: policy-checked, not audited).
using AttrOf = std::function<Result<core::Attr>(const std::string& path)>;

struct DirPlusOptions {
  double attr_timeout_s = 1.0;
  double entry_timeout_s = 1.0;
};

// Fills `buf` with READDIRPLUS entries of the directory `dir_path` (inode `dir_ino`) from
// offset `off`; returns the bytes used. `remembered` receives the inodes whose lookup count
// was raised (see above).
std::size_t FillReadDirPlus(fuse_req_t req, std::span<char> buf, std::uint64_t dir_ino,
                            const std::string& dir_path, const std::vector<core::DirEntry>& entries,
                            std::uint64_t off, const AttrOf& attr_of, const DirPlusOptions& options,
                            InodeTable& inodes, std::vector<std::uint64_t>* remembered);

}  // namespace cafs::frontend
