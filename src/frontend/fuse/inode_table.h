// InodeTable: FUSE inode numbers for gateway paths. Numbers come from a counter (never
// pointers) and stay valid until the kernel forgets them (nlookup reaches 0), across renames
// (the table rewrites the paths of a renamed entry and everything below it). Inode 1 is "/".
//
// Threading: every method is safe from many threads (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace cafs::frontend {

class InodeTable {
 public:
  static constexpr std::uint64_t kRootIno = 1;

  InodeTable();

  // The path of `ino`; nullopt if unknown (forgotten, or never handed out).
  std::optional<std::string> PathOf(std::uint64_t ino) const;
  // The inode for `path`, created if needed; nlookup += 1 (a reply that hands the kernel an
  // entry: lookup, create, mkdir, symlink, mknod).
  std::uint64_t Remember(const std::string& path);
  // nlookup -= n; forgets the inode at 0 (never the root).
  void Forget(std::uint64_t ino, std::uint64_t n);
  // After a successful rename: `from` and its descendants now live under `to`; an inode that
  // was at `to` is detached (it keeps its number until forgotten, with no path).
  void Rename(const std::string& from, const std::string& to);
  // After unlink/rmdir: detaches the path.
  void Detach(const std::string& path);
  std::size_t size() const;

  // "/a/b" + "c" -> "/a/b/c"; "/" + "c" -> "/c".
  static std::string Child(const std::string& parent, const std::string& name);

 private:
  struct Node {
    std::string path;  // empty when detached
    std::uint64_t nlookup = 0;
  };
  mutable std::mutex mu_;
  std::uint64_t next_ = kRootIno + 1;              // guarded by mu_
  std::unordered_map<std::uint64_t, Node> nodes_;  // guarded by mu_
  std::map<std::string, std::uint64_t> by_path_;   // guarded by mu_
};

}  // namespace cafs::frontend
