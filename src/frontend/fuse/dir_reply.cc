#include "frontend/fuse/dir_reply.h"

namespace cafs::frontend {

namespace {

mode_t TypeBits(core::FileType type) {
  switch (type) {
    case core::FileType::kDirectory:
      return S_IFDIR;
    case core::FileType::kSymlink:
      return S_IFLNK;
    case core::FileType::kFifo:
      return S_IFIFO;
    case core::FileType::kSocket:
      return S_IFSOCK;
    case core::FileType::kCharDevice:
      return S_IFCHR;
    case core::FileType::kBlockDevice:
      return S_IFBLK;
    case core::FileType::kRegular:
      break;
  }
  return S_IFREG;
}

// Entry `i` of a listing as readdir shows it: name and a stat with type and inode hint.
// Plain readdir's d_ino is a hint only (the kernel looks the name up for the real inode);
// never 0, which readdir(3) would hide.
struct Slot {
  std::string name;
  struct stat st {};
  const core::DirEntry* entry = nullptr;  // nullptr for "." and ".."
};

Slot SlotAt(std::size_t i, std::uint64_t dir_ino, const std::vector<core::DirEntry>& entries) {
  Slot s;
  s.st.st_ino = 0x100000000ULL + i;
  if (i == 0) {
    s.name = ".";
    s.st.st_ino = dir_ino;
    s.st.st_mode = S_IFDIR;
  } else if (i == 1) {
    s.name = "..";
    s.st.st_ino = InodeTable::kRootIno;
    s.st.st_mode = S_IFDIR;
  } else {
    s.entry = &entries[i - 2];
    s.name = s.entry->name;
    s.st.st_mode = TypeBits(s.entry->type);
  }
  return s;
}

}  // namespace

std::uint64_t RememberEntry(InodeTable& inodes, const std::string& path, const core::Attr& a) {
  if (a.type == core::FileType::kDirectory) return inodes.Remember(path);
  return inodes.Remember(path, a.backing_ino, a.nlink);
}

struct stat ToStat(const core::Attr& a, std::uint64_t ino) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = TypeBits(a.type) | static_cast<mode_t>(a.mode);
  st.st_nlink = a.nlink;
  st.st_rdev = static_cast<dev_t>(a.rdev);
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blocks = static_cast<blkcnt_t>((a.allocated + 511) / 512);
  st.st_blksize = 4096;
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

std::size_t FillReadDir(fuse_req_t req, std::span<char> buf, std::uint64_t dir_ino,
                        const std::vector<core::DirEntry>& entries, std::uint64_t off) {
  std::size_t used = 0;
  for (std::size_t i = static_cast<std::size_t>(off); i < entries.size() + 2; ++i) {
    const Slot s = SlotAt(i, dir_ino, entries);
    const std::size_t need = fuse_add_direntry(req, buf.data() + used, buf.size() - used,
                                               s.name.c_str(), &s.st, static_cast<off_t>(i + 1));
    if (need > buf.size() - used) break;
    used += need;
  }
  return used;
}

std::size_t FillReadDirPlus(fuse_req_t req, std::span<char> buf, std::uint64_t dir_ino,
                            const std::string& dir_path, const std::vector<core::DirEntry>& entries,
                            std::uint64_t off, const AttrOf& attr_of, const DirPlusOptions& options,
                            InodeTable& inodes, std::vector<std::uint64_t>* remembered) {
  std::size_t used = 0;
  for (std::size_t i = static_cast<std::size_t>(off); i < entries.size() + 2; ++i) {
    const Slot s = SlotAt(i, dir_ino, entries);
    // Does it fit? (Asked first: an entry that does not fit must not raise a lookup count.)
    if (fuse_add_direntry_plus(req, nullptr, 0, s.name.c_str(), nullptr, 0) > buf.size() - used) {
      break;
    }
    fuse_entry_param e{};
    e.attr = s.st;  // ino 0 below: the kernel uses only name, type and d_ino hint
    if (s.entry != nullptr) {
      const std::string path = InodeTable::Child(dir_path, s.name);
      auto attr = attr_of(path);
      if (attr.ok() && TypeBits(attr->type) == TypeBits(s.entry->type)) {
        e.ino = RememberEntry(inodes, path, *attr);
        e.attr = ToStat(*attr, e.ino);
        e.attr_timeout = options.attr_timeout_s;
        e.entry_timeout = options.entry_timeout_s;
        remembered->push_back(e.ino);
      }
    }
    used += fuse_add_direntry_plus(req, buf.data() + used, buf.size() - used, s.name.c_str(), &e,
                                   static_cast<off_t>(i + 1));
  }
  return used;
}

}  // namespace cafs::frontend
