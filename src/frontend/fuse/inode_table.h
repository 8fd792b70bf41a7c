// InodeTable: FUSE inode numbers for gateway paths. Numbers come from a counter (never
// pointers) and stay valid until the kernel forgets them (nlookup reaches 0), across renames
// (the table rewrites the paths of a renamed entry and everything below it). Inode 1 is "/".
// Hard links: an entry that is not a directory is also keyed by its backing-store inode, so
// a second name of a file with nlink > 1 gets the same FUSE inode (what `tar` and `rsync -H`
// compare); such an inode has several paths, and any of them serves it (PathOf gives the
// first still attached).
//
// Threading: every method is safe from many threads (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace cafs::frontend {

class InodeTable {
 public:
  static constexpr std::uint64_t kRootIno = 1;

  InodeTable();

  // The path of `ino`; nullopt if unknown (forgotten, or never handed out).
  std::optional<std::string> PathOf(std::uint64_t ino) const;
  // The inode for `path`, created if needed; nlookup += 1 (a reply that hands the kernel an
  // entry: lookup, create, mkdir, symlink, mknod, link). `backing_ino` (0: none, e.g. for a
  // directory) with `nlink` > 1: the inode already known for that backing inode, if any,
  // gains `path` as another name.
  std::uint64_t Remember(const std::string& path, std::uint64_t backing_ino = 0,
                         std::uint64_t nlink = 1);
  // nlookup -= n; forgets the inode at 0 (never the root).
  void Forget(std::uint64_t ino, std::uint64_t n);
  // After a successful rename: `from` and its descendants now live under `to`; an inode that
  // was at `to` is detached (it keeps its number until forgotten, with no path).
  void Rename(const std::string& from, const std::string& to);
  // After unlink/rmdir: detaches the path.
  void Detach(const std::string& path);
  // Open files (FUSE open/create until release): the gateway handles open on `ino`, so that
  // an inode detached by unlink or a rename over it still answers a GETATTR without a file
  // handle (the kernel's fstat of an open, unlinked file) through one of them. Unknown
  // inodes are ignored; the kernel keeps an inode it has open files on (no FORGET first).
  void AddOpen(std::uint64_t ino, std::uint64_t fh);
  void RemoveOpen(std::uint64_t ino, std::uint64_t fh);
  // One gateway handle open on `ino`, if any.
  std::optional<std::uint64_t> AnyOpen(std::uint64_t ino) const;
  std::size_t size() const;

  // "/a/b" + "c" -> "/a/b/c"; "/" + "c" -> "/c".
  static std::string Child(const std::string& parent, const std::string& name);

 private:
  struct Node {
    std::vector<std::string> paths;  // its names; empty when detached
    std::uint64_t nlookup = 0;
    std::vector<std::uint64_t> open;  // gateway handles (AddOpen), usually 0 or 1
    std::uint64_t backing_ino = 0;    // 0: not keyed (directories)
  };
  // Drops `path` from node `ino` (and the node's backing key when it has no name left).
  void DropPathLocked(std::uint64_t ino, const std::string& path);
  mutable std::mutex mu_;
  std::uint64_t next_ = kRootIno + 1;                            // guarded by mu_
  std::unordered_map<std::uint64_t, Node> nodes_;                // guarded by mu_
  std::map<std::string, std::uint64_t> by_path_;                 // guarded by mu_
  std::unordered_map<std::uint64_t, std::uint64_t> by_backing_;  // guarded by mu_
};

}  // namespace cafs::frontend
