#define FUSE_USE_VERSION 35
#include "frontend/fuse/fuse_frontend.h"

#include <fuse3/fuse_lowlevel.h>
#include <linux/fs.h>
#include <sys/statvfs.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include "frontend/fuse/dir_reply.h"
#include "util/logging.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif

namespace cafs::frontend {

int ToFuseErrno(const Status& s) {
  if (s.ok()) return 0;
  switch (s.code()) {
    case Status::Code::kPermissionDenied:
      return s.errno_value() == EPERM ? EPERM : EACCES;
    case Status::Code::kCorruption:
    case Status::Code::kAuthFailed:
    case Status::Code::kInternal:
      return EIO;
    case Status::Code::kNotSupported:
      return EOPNOTSUPP;
    default: {
      const int e = s.errno_value();
      return e > 0 ? e : EIO;
    }
  }
}

namespace {

constexpr unsigned kMaxWrite = 1u << 20;

}  // namespace

struct FuseFrontend::Ops {
  static FuseFrontend& Self(fuse_req_t req) {
    return *static_cast<FuseFrontend*>(fuse_req_userdata(req));
  }
  // A request that adds, removes or renames a name: the namespace generation is bumped before
  // and after it (namespace_gen_), so no open directory's listing from before it is served at
  // offset 0 afterwards.
  template <auto Fn>
  struct Mutating;
  template <typename... Args, void (*Fn)(fuse_req_t, Args...)>
  struct Mutating<Fn> {
    static void Call(fuse_req_t req, Args... args) {
      std::atomic<std::uint64_t>& generation = Self(req).namespace_gen_;
      generation.fetch_add(1);
      struct BumpAfter {
        std::atomic<std::uint64_t>& g;
        ~BumpAfter() { g.fetch_add(1); }
      } after{generation};
      Fn(req, args...);
    }
  };

  static core::Caller CallerOf(fuse_req_t req) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    return core::Caller{Self(req).options_.server_id, ctx->uid, ctx->gid};
  }
  static void ReplyErr(fuse_req_t req, const Status& s) { fuse_reply_err(req, ToFuseErrno(s)); }
  static void Err(fuse_req_t req, int err) { fuse_reply_err(req, err); }

  // The path of `ino`; ESTALE when the kernel names an inode we no longer know.
  static Result<std::string> PathOf(fuse_req_t req, fuse_ino_t ino) {
    auto p = Self(req).inodes_.PathOf(ino);
    if (!p) return Status::FromErrno(ESTALE, "unknown inode " + std::to_string(ino));
    return *p;
  }
  static Result<std::string> ChildOf(fuse_req_t req, fuse_ino_t parent, const char* name) {
    CAFS_ASSIGN_OR_RETURN(std::string p, PathOf(req, parent));
    return InodeTable::Child(p, name);
  }

  static void ReplyEntry(fuse_req_t req, const std::string& path, const core::Attr& attr) {
    FuseFrontend& self = Self(req);
    fuse_entry_param e{};
    e.ino = RememberEntry(self.inodes_, path, attr);
    e.attr = ToStat(attr, e.ino);
    e.attr_timeout = self.options_.attr_timeout_s;
    e.entry_timeout = self.options_.attr_timeout_s;
    if (fuse_reply_entry(req, &e) != 0) self.inodes_.Forget(e.ino, 1);
  }

  static void Init(void* userdata, fuse_conn_info* conn) {
    const auto* self = static_cast<const FuseFrontend*>(userdata);
    conn->max_write = kMaxWrite;
    conn->max_read = kMaxWrite;
    if (self->options_.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE) != 0) {
      conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    } else {
      conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
    }
    // READDIRPLUS for every listing, not only the first batch ("auto" would fall back to
    // plain READDIR + one LOOKUP per entry after the first page of a big directory).
    if ((conn->capable & FUSE_CAP_READDIRPLUS) != 0) {
      conn->want |= FUSE_CAP_READDIRPLUS;
      conn->want &= ~static_cast<unsigned>(FUSE_CAP_READDIRPLUS_AUTO);
    }
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    auto attr = Self(req).gateway_->Lookup(CallerOf(req), *path);
    if (!attr.ok()) {
      if (attr.status().IsNotFound()) {  // negative entry, cached briefly
        fuse_entry_param e{};
        e.entry_timeout = Self(req).options_.attr_timeout_s;
        fuse_reply_entry(req, &e);
        return;
      }
      return ReplyErr(req, attr.status());
    }
    ReplyEntry(req, *path, *attr);
  }

  static void Forget(fuse_req_t req, fuse_ino_t ino, std::uint64_t nlookup) {
    Self(req).inodes_.Forget(ino, nlookup);
    fuse_reply_none(req);
  }

  static void ForgetMulti(fuse_req_t req, std::size_t count, fuse_forget_data* forgets) {
    for (std::size_t i = 0; i < count; ++i) {
      Self(req).inodes_.Forget(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseFrontend& self = Self(req);
    Result<core::Attr> attr = Status::Internal("unset");
    if (fi != nullptr) {
      attr = self.gateway_->GetAttrByHandle(CallerOf(req), fi->fh);
    } else if (auto path = PathOf(req, ino); path.ok()) {
      attr = self.gateway_->GetAttr(CallerOf(req), *path);
    } else if (auto open = self.inodes_.AnyOpen(ino)) {
      // Unlinked (or renamed over) while open: fstat still answers, with nlink 0.
      attr = self.gateway_->GetAttrByHandle(CallerOf(req), *open);
    } else {
      return ReplyErr(req, path.status());
    }
    if (!attr.ok()) return ReplyErr(req, attr.status());
    struct stat st = ToStat(*attr, ino);
    fuse_reply_attr(req, &st, self.options_.attr_timeout_s);
  }

  static void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                      fuse_file_info* fi) {
    core::SetAttrRequest r;
    if (to_set & FUSE_SET_ATTR_MODE) r.mode = attr->st_mode & 07777;
    if (to_set & FUSE_SET_ATTR_UID) r.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) r.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) r.size = static_cast<std::uint64_t>(attr->st_size);
    if (to_set & FUSE_SET_ATTR_ATIME) r.atime = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME) r.mtime = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.atime = timespec{0, UTIME_NOW};
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.mtime = timespec{0, UTIME_NOW};
    FuseFrontend& self = Self(req);
    Result<core::Attr> out = Status::Internal("unset");
    if (fi != nullptr) {
      out = self.gateway_->SetAttrByHandle(CallerOf(req), fi->fh, r);
    } else if (auto path = PathOf(req, ino); path.ok()) {
      out = self.gateway_->SetAttr(CallerOf(req), *path, r);
    } else if (auto open = self.inodes_.AnyOpen(ino)) {
      // fchmod/fchown/futimens of an open, unlinked file (the kernel sends no handle).
      out = self.gateway_->SetAttrByHandle(CallerOf(req), *open, r);
    } else {
      return ReplyErr(req, path.status());
    }
    if (!out.ok()) return ReplyErr(req, out.status());
    struct stat st = ToStat(*out, ino);
    fuse_reply_attr(req, &st, self.options_.attr_timeout_s);
  }

  static void ReadLink(fuse_req_t req, fuse_ino_t ino) {
    auto path = PathOf(req, ino);
    if (!path.ok()) return ReplyErr(req, path.status());
    auto target = Self(req).gateway_->ReadLink(CallerOf(req), *path);
    if (!target.ok()) return ReplyErr(req, target.status());
    fuse_reply_readlink(req, target->c_str());
  }

  static void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    FuseFrontend& self = Self(req);
    if (!S_ISREG(mode)) {  // a FIFO, socket or device node: the backing store keeps it
      auto attr = self.gateway_->MakeNode(CallerOf(req), *path, mode, rdev);
      if (!attr.ok()) return ReplyErr(req, attr.status());
      return ReplyEntry(req, *path, *attr);
    }
    auto created = self.gateway_->Create(CallerOf(req), *path, mode & 07777, true);
    if (!created.ok()) return ReplyErr(req, created.status());
    (void)self.gateway_->Release(CallerOf(req), created->handle);
    ReplyEntry(req, *path, created->attr);
  }

  static void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    auto attr = Self(req).gateway_->MakeDir(CallerOf(req), *path, mode & 07777);
    if (!attr.ok()) return ReplyErr(req, attr.status());
    ReplyEntry(req, *path, *attr);
  }

  static void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    Status s = Self(req).gateway_->Unlink(CallerOf(req), *path);
    if (s.ok()) Self(req).inodes_.Detach(*path);
    fuse_reply_err(req, ToFuseErrno(s));
  }

  static void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    Status s = Self(req).gateway_->RemoveDir(CallerOf(req), *path);
    if (s.ok()) Self(req).inodes_.Detach(*path);
    fuse_reply_err(req, ToFuseErrno(s));
  }

  static void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    auto attr = Self(req).gateway_->Symlink(CallerOf(req), link, *path);
    if (!attr.ok()) return ReplyErr(req, attr.status());
    ReplyEntry(req, *path, *attr);
  }

  static void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                     const char* newname, unsigned int flags) {
    if (flags & RENAME_EXCHANGE) return Err(req, EINVAL);
    if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) return Err(req, EINVAL);
    auto from = ChildOf(req, parent, name);
    if (!from.ok()) return ReplyErr(req, from.status());
    auto to = ChildOf(req, newparent, newname);
    if (!to.ok()) return ReplyErr(req, to.status());
    Status s =
        Self(req).gateway_->Rename(CallerOf(req), *from, *to, (flags & RENAME_NOREPLACE) != 0);
    if (s.ok()) Self(req).inodes_.Rename(*from, *to);
    fuse_reply_err(req, ToFuseErrno(s));
  }

  static void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    auto from = PathOf(req, ino);
    if (!from.ok()) return ReplyErr(req, from.status());
    auto to = ChildOf(req, newparent, newname);
    if (!to.ok()) return ReplyErr(req, to.status());
    auto attr = Self(req).gateway_->Link(CallerOf(req), *from, *to);
    if (!attr.ok()) return ReplyErr(req, attr.status());
    ReplyEntry(req, *to, *attr);
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseFrontend& self = Self(req);
    std::call_once(self.read_ahead_once_, [&self] { self.TuneReadAhead(); });
    auto path = PathOf(req, ino);
    if (!path.ok()) return ReplyErr(req, path.status());
    auto opened = self.gateway_->Open(CallerOf(req), *path, (fi->flags & O_TRUNC) != 0);
    if (!opened.ok()) return ReplyErr(req, opened.status());
    fi->fh = opened->handle;
    fi->keep_cache = 0;
    self.inodes_.AddOpen(ino, fi->fh);
    if (fuse_reply_open(req, fi) != 0) {
      self.inodes_.RemoveOpen(ino, fi->fh);
      (void)self.gateway_->Release(CallerOf(req), fi->fh);
    }
  }

  static void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                     fuse_file_info* fi) {
    auto path = ChildOf(req, parent, name);
    if (!path.ok()) return ReplyErr(req, path.status());
    FuseFrontend& self = Self(req);
    std::call_once(self.read_ahead_once_, [&self] { self.TuneReadAhead(); });
    auto created =
        self.gateway_->Create(CallerOf(req), *path, mode & 07777, (fi->flags & O_EXCL) != 0);
    if (!created.ok()) return ReplyErr(req, created.status());
    fi->fh = created->handle;
    fuse_entry_param e{};
    e.ino = RememberEntry(self.inodes_, *path, created->attr);
    e.attr = ToStat(created->attr, e.ino);
    e.attr_timeout = self.options_.attr_timeout_s;
    e.entry_timeout = self.options_.attr_timeout_s;
    self.inodes_.AddOpen(e.ino, fi->fh);
    if (fuse_reply_create(req, &e, fi) != 0) {
      self.inodes_.RemoveOpen(e.ino, fi->fh);
      self.inodes_.Forget(e.ino, 1);
      (void)self.gateway_->Release(CallerOf(req), fi->fh);
    }
  }

  static void Read(fuse_req_t req, fuse_ino_t, std::size_t size, off_t off, fuse_file_info* fi) {
    // A per-worker-thread buffer of max_read bytes: no allocation and no zero-fill per read
    // (the Gateway fills exactly the *n bytes that are sent).
    thread_local std::unique_ptr<std::uint8_t[]> scratch(new std::uint8_t[kMaxWrite]);
    std::vector<std::uint8_t> large;  // only if the kernel ever asks for more than max_read
    MutableByteView buf(scratch.get(), size);
    if (size > kMaxWrite) {
      large.resize(size);
      buf = large;
    }
    auto n = Self(req).gateway_->Read(CallerOf(req), fi->fh, static_cast<std::uint64_t>(off), buf);
    if (!n.ok()) return ReplyErr(req, n.status());
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  }

  static void Write(fuse_req_t req, fuse_ino_t, const char* data, std::size_t size, off_t off,
                    fuse_file_info* fi) {
    Status s =
        Self(req).gateway_->Write(CallerOf(req), fi->fh, static_cast<std::uint64_t>(off),
                                  ByteView(reinterpret_cast<const std::uint8_t*>(data), size));
    if (!s.ok()) return ReplyErr(req, s);
    fuse_reply_write(req, size);
  }

  static void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

  static void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Self(req).inodes_.RemoveOpen(ino, fi->fh);
    fuse_reply_err(req, ToFuseErrno(Self(req).gateway_->Release(CallerOf(req), fi->fh)));
  }

  static void Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
    fuse_reply_err(req, ToFuseErrno(Self(req).gateway_->Fsync(CallerOf(req), fi->fh)));
  }

  static void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                        fuse_file_info* fi) {
    if (offset < 0 || length <= 0) return Err(req, EINVAL);
    if (mode == FALLOC_FL_KEEP_SIZE) return Err(req, 0);  // holes stay holes
    if (mode != 0) return Err(req, EOPNOTSUPP);           // punch hole, zero range
    fuse_reply_err(req, ToFuseErrno(Self(req).gateway_->Allocate(
                            CallerOf(req), fi->fh, static_cast<std::uint64_t>(offset),
                            static_cast<std::uint64_t>(length))));
  }

  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto path = PathOf(req, ino);
    if (!path.ok()) return ReplyErr(req, path.status());
    FuseFrontend& self = Self(req);
    const std::uint64_t generation = self.namespace_gen_.load();
    auto entries = self.gateway_->ReadDir(CallerOf(req), *path);
    if (!entries.ok()) return ReplyErr(req, entries.status());
    const std::uint64_t id = self.next_dir_.fetch_add(1);
    {
      std::lock_guard lock(self.dirs_mu_);
      self.dirs_[id] = OpenDirectory{std::move(*entries), generation};
    }
    fi->fh = id;
    if (fuse_reply_open(req, fi) != 0) {
      std::lock_guard lock(self.dirs_mu_);
      self.dirs_.erase(id);
    }
  }

  // The listing of open directory `fh` to serve from offset `off` (a copy: no lock is held
  // while the caller replies or calls the Gateway); listed again at offset 0 when a name
  // changed since it was taken (namespace_gen_).
  static Result<std::vector<core::DirEntry>> ListingOf(fuse_req_t req, const std::string& path,
                                                       std::uint64_t fh, off_t off) {
    FuseFrontend& self = Self(req);
    const std::uint64_t generation = self.namespace_gen_.load();
    {
      std::lock_guard lock(self.dirs_mu_);
      auto it = self.dirs_.find(fh);
      if (it == self.dirs_.end()) return Status::FromErrno(EBADF, "unknown directory handle");
      if (off != 0 || it->second.generation == generation) return it->second.entries;
    }
    auto entries = self.gateway_->ReadDir(CallerOf(req), path);
    if (!entries.ok()) return entries.status();
    std::lock_guard lock(self.dirs_mu_);
    auto it = self.dirs_.find(fh);
    if (it == self.dirs_.end()) return Status::FromErrno(EBADF, "unknown directory handle");
    it->second = OpenDirectory{*entries, generation};
    return std::move(*entries);
  }

  static void ReadDir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off,
                      fuse_file_info* fi) {
    auto path = PathOf(req, ino);
    if (!path.ok()) return ReplyErr(req, path.status());
    auto entries = ListingOf(req, *path, fi->fh, off);
    if (!entries.ok()) return ReplyErr(req, entries.status());
    std::vector<char> buf(size);
    const std::size_t used = FillReadDir(req, buf, ino, *entries, static_cast<std::uint64_t>(off));
    fuse_reply_buf(req, buf.data(), used);
  }

  // Entries with attributes (dir_reply.h: which entries raise lookup counts), so `ls -l` and
  // `find -printf` on a big directory need no LOOKUP per entry.
  static void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off,
                          fuse_file_info* fi) {
    FuseFrontend& self = Self(req);
    auto dir_path = PathOf(req, ino);
    if (!dir_path.ok()) return ReplyErr(req, dir_path.status());
    auto listing = ListingOf(req, *dir_path, fi->fh, off);
    if (!listing.ok()) return ReplyErr(req, listing.status());
    const std::vector<core::DirEntry>& entries = *listing;
    const core::Caller caller = CallerOf(req);
    const AttrOf attr_of = [&self, &caller](const std::string& path) {
      return self.gateway_->GetAttr(caller, path);
    };
    std::vector<char> buf(size);
    std::vector<std::uint64_t> remembered;
    const std::size_t used =
        FillReadDirPlus(req, buf, ino, *dir_path, entries, static_cast<std::uint64_t>(off), attr_of,
                        DirPlusOptions{self.options_.attr_timeout_s, self.options_.attr_timeout_s},
                        self.inodes_, &remembered);
    if (fuse_reply_buf(req, buf.data(), used) != 0) {
      for (std::uint64_t i : remembered) self.inodes_.Forget(i, 1);  // the kernel got nothing
    }
  }

  static void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    FuseFrontend& self = Self(req);
    {
      std::lock_guard lock(self.dirs_mu_);
      self.dirs_.erase(fi->fh);
    }
    fuse_reply_err(req, 0);
  }

  static void StatFs(fuse_req_t req, fuse_ino_t) {
    auto stats = Self(req).gateway_->StatFs(CallerOf(req));
    if (!stats.ok()) return ReplyErr(req, stats.status());
    struct statvfs sv {};
    sv.f_bsize = stats->block_size;
    sv.f_frsize = stats->block_size;
    sv.f_blocks = stats->total_bytes / stats->block_size;
    sv.f_bfree = stats->free_bytes / stats->block_size;
    sv.f_bavail = sv.f_bfree;
    sv.f_files = stats->total_inodes;
    sv.f_ffree = stats->free_inodes;
    sv.f_favail = stats->free_inodes;
    sv.f_namemax = stats->name_max;
    fuse_reply_statfs(req, &sv);
  }
};

namespace {

// The one place an exception from a callback (or from the Gateway under it) ends: logged and
// answered EIO (a forget, which gets no reply, gets none). No exception reaches libfuse's
// session loop, which would end cafsd and every VM's storage with it. Callbacks reply once,
// as their last step (replies are C calls that do not throw), so a callback that throws has
// not replied yet.
template <auto Fn, bool kReplies = true>
struct Guarded;
template <typename... Args, void (*Fn)(fuse_req_t, Args...), bool kReplies>
struct Guarded<Fn, kReplies> {
  static void Call(fuse_req_t req, Args... args) noexcept {
    const char* what = "an exception of unknown type";
    std::string text;
    try {
      Fn(req, args...);
      return;
    } catch (const std::exception& e) {
      text = e.what();
      what = text.c_str();
    } catch (...) {
    }
    CAFS_LOG_ERROR("fuse: request failed: {} (answered EIO)", what);
    if constexpr (kReplies) {
      fuse_reply_err(req, EIO);
    } else {
      fuse_reply_none(req);
    }
  }
};

// A mount point as /proc/self/mountinfo writes it: space, tab, newline and backslash as \ooo.
std::string UnescapeMountInfo(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

void FuseFrontend::TuneReadAhead() {
  if (options_.read_ahead_kb == 0) return;
  char resolved[PATH_MAX];
  if (realpath(options_.mountpoint.c_str(), resolved) == nullptr) return;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  std::string device;  // "major:minor", the bdi name of a FUSE mount
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    if (!(fields >> id >> parent >> dev >> root >> mount_point)) continue;
    if (UnescapeMountInfo(mount_point) == resolved) device = dev;  // the last one is on top
  }
  if (device.empty()) return;
  std::ofstream out("/sys/class/bdi/" + device + "/read_ahead_kb");
  out << options_.read_ahead_kb << "\n";
  out.flush();
  if (out) {
    CAFS_LOG_DEBUG("read-ahead of {} set to {} KiB", options_.mountpoint, options_.read_ahead_kb);
  } else {
    CAFS_LOG_DEBUG("cannot set the read-ahead of {} (not root?)", options_.mountpoint);
  }
}

FuseFrontend::FuseFrontend(core::Gateway* gateway, FuseOptions options)
    : gateway_(gateway), options_(std::move(options)) {}

FuseFrontend::~FuseFrontend() {
  if (session_ != nullptr) {
    if (mounted_) fuse_session_unmount(session_);
    fuse_session_destroy(session_);
  }
}

Result<std::unique_ptr<FuseFrontend>> FuseFrontend::Mount(core::Gateway* gateway,
                                                          FuseOptions options) {
  static const fuse_lowlevel_ops kOps = [] {
    fuse_lowlevel_ops ops{};
    ops.init = &Ops::Init;
    ops.lookup = &Guarded<&Ops::Lookup>::Call;
    ops.forget = &Guarded<&Ops::Forget, false>::Call;
    ops.forget_multi = &Guarded<&Ops::ForgetMulti, false>::Call;
    ops.getattr = &Guarded<&Ops::GetAttr>::Call;
    ops.setattr = &Guarded<&Ops::SetAttr>::Call;
    ops.readlink = &Guarded<&Ops::ReadLink>::Call;
    ops.mknod = &Guarded<&Ops::Mutating<&Ops::MkNod>::Call>::Call;
    ops.mkdir = &Guarded<&Ops::Mutating<&Ops::MkDir>::Call>::Call;
    ops.unlink = &Guarded<&Ops::Mutating<&Ops::Unlink>::Call>::Call;
    ops.rmdir = &Guarded<&Ops::Mutating<&Ops::RmDir>::Call>::Call;
    ops.symlink = &Guarded<&Ops::Mutating<&Ops::Symlink>::Call>::Call;
    ops.rename = &Guarded<&Ops::Mutating<&Ops::Rename>::Call>::Call;
    ops.link = &Guarded<&Ops::Mutating<&Ops::Link>::Call>::Call;
    ops.open = &Guarded<&Ops::Open>::Call;
    ops.create = &Guarded<&Ops::Mutating<&Ops::Create>::Call>::Call;
    ops.read = &Guarded<&Ops::Read>::Call;
    ops.write = &Guarded<&Ops::Write>::Call;
    ops.flush = &Guarded<&Ops::Flush>::Call;
    ops.release = &Guarded<&Ops::Release>::Call;
    ops.fsync = &Guarded<&Ops::Fsync>::Call;
    ops.fallocate = &Guarded<&Ops::Fallocate>::Call;
    ops.opendir = &Guarded<&Ops::OpenDir>::Call;
    ops.readdir = &Guarded<&Ops::ReadDir>::Call;
    ops.readdirplus = &Guarded<&Ops::ReadDirPlus>::Call;
    ops.releasedir = &Guarded<&Ops::ReleaseDir>::Call;
    ops.statfs = &Guarded<&Ops::StatFs>::Call;
    return ops;
  }();
  std::unique_ptr<FuseFrontend> self(new FuseFrontend(gateway, std::move(options)));
  std::vector<std::string> args = {"cafsd", "-o", "fsname=cafs,subtype=cafs,default_permissions",
                                   "-o", "max_read=" + std::to_string(kMaxWrite)};
  if (self->options_.allow_other) {
    args.push_back("-o");
    args.push_back("allow_other");
  }
  if (self->options_.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  self->session_ = fuse_session_new(&fargs, &kOps, sizeof(kOps), self.get());
  fuse_opt_free_args(&fargs);  // libfuse may have copied the arguments (fuse_opt_add_arg)
  if (self->session_ == nullptr) {
    return Status::FromErrno(EINVAL, "fuse_session_new failed (see the log for the option)");
  }
  if (fuse_session_mount(self->session_, self->options_.mountpoint.c_str()) != 0) {
    return Status::FromErrno(EIO, "cannot mount FUSE at " + self->options_.mountpoint +
                                      " (is /dev/fuse present and fusermount3 installed?)");
  }
  self->mounted_ = true;
  return self;
}

Status FuseFrontend::Run() {
  fuse_loop_config config{};
  config.clone_fd = 0;
  config.max_idle_threads = options_.max_idle_threads;
  // SIGINT/SIGTERM/SIGHUP end the loop (libfuse's handlers); the destructor unmounts.
  if (fuse_set_signal_handlers(session_) != 0) {
    return Status::FromErrno(EIO, "cannot install FUSE signal handlers");
  }
  const int rc = fuse_session_loop_mt(session_, &config);
  fuse_remove_signal_handlers(session_);
  if (rc < 0) return Status::FromErrno(-rc, "FUSE session loop");
  return Status::OK();
}

void FuseFrontend::RequestStop() {
  if (session_ == nullptr) return;
  fuse_session_exit(session_);
  // Wake the loop's threads blocked in read(/dev/fuse): a lazy unmount ends the session.
  if (mounted_) {
    fuse_session_unmount(session_);
    mounted_ = false;
  }
}

}  // namespace cafs::frontend
