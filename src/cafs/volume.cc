#include "cafs/volume.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <set>
#include <sstream>

#include "cafs/backing_store_id.h"
#include "cafs/datastore_move.h"
#include "cafs/redirector.h"
#include "format/header_codec.h"
#include "format/header_layout.h"
#include "pool/pool_use.h"
#include "pool/write_lease.h"
#include "util/logging.h"

namespace cafs::core {

namespace {

using DirPtr = std::unique_ptr<env::Dir>;

// The same failure, named by its Volume path instead of the backing-store path (errno kept).
Status AsRel(const Status& s, std::string_view what, const std::string& rel) {
  return Status::FromErrno(s.errno_value() != 0 ? s.errno_value() : EIO,
                           std::string(what) + " /" + rel);
}

Status PoolTrouble(std::string_view msg) { return Status::FromErrno(EIO, msg); }

std::string JoinRel(const std::vector<std::string>& comps, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += comps[i];
  }
  return out;
}

std::string ParentRel(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

FileType TypeOf(mode_t mode) {
  if (S_ISDIR(mode)) return FileType::kDirectory;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  if (S_ISFIFO(mode)) return FileType::kFifo;
  if (S_ISSOCK(mode)) return FileType::kSocket;
  if (S_ISCHR(mode)) return FileType::kCharDevice;
  if (S_ISBLK(mode)) return FileType::kBlockDevice;
  return FileType::kRegular;
}

// FIFOs, sockets and device nodes: stored as themselves in the backing store.
bool IsSpecial(mode_t mode) {
  return S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) || S_ISBLK(mode);
}

Attr AttrFromStat(const env::EntryStat& st) {
  Attr a;
  a.type = TypeOf(st.mode);
  a.mode = st.mode & 07777;
  a.uid = st.uid;
  a.gid = st.gid;
  a.nlink = static_cast<std::uint32_t>(st.nlink);
  a.size = st.size;
  a.allocated = st.allocated_bytes;
  a.backing_ino = st.ino;
  a.rdev = st.rdev;
  a.atime = st.atime;
  a.mtime = st.mtime;
  a.ctime = st.ctime;
  return a;
}

// Writes a redirector's content in one write at offset 0 and syncs it, so that a crash
// (kill -9) leaves the old or the new content, never an empty or mixed file: a shorter new
// content is padded with '\n' to the old length (blank lines are ignored by the reader)
// and trimmed only after the sync.
Status WriteRedirector(env::File& file, std::string_view data, const std::string& rel) {
  auto size = file.Size();
  if (!size.ok()) return AsRel(size.status(), "stat redirector", rel);
  std::string padded(data);
  if (*size > padded.size()) padded.resize(static_cast<std::size_t>(*size), '\n');
  if (Status s = file.WriteAt(0, AsBytes(padded)); !s.ok()) {
    return AsRel(s, "write redirector", rel);
  }
  if (Status s = file.Sync(); !s.ok()) return AsRel(s, "sync redirector", rel);
  if (padded.size() > data.size()) (void)file.Truncate(data.size());
  return Status::OK();
}

// Makes a directory's changes durable; failures are logged (the change itself happened).
void SyncOrWarn(env::Dir& dir, const std::string& rel) {
  if (Status s = dir.Sync(); !s.ok()) CAFS_LOG_WARN("sync of /{}: {}", rel, s.ToString());
}

// A new entry `name` (directory, symlink, special file) of `dir` given to uid/gid (when cafsd
// may: root), its directory synced; its attributes.
Result<Attr> OwnAndSync(env::Dir& dir, const std::string& name, std::uint32_t uid,
                        std::uint32_t gid, const std::string& rel) {
  if (Status s = dir.Chown(name, uid, gid); !s.ok() && geteuid() == 0) {
    return AsRel(s, "chown", rel);
  }
  SyncOrWarn(dir, rel);
  auto st = dir.Stat(name);
  if (!st.ok()) return AsRel(st.status(), "stat", rel);
  return AttrFromStat(*st);
}

}  // namespace

// What a name in a backing-store directory is.
struct Volume::Impl {
  // kSpecial: a FIFO, socket or device node (backing store only, its own name).
  enum class Kind { kNone, kDirectory, kSymlink, kSpecial, kRedirector };
  struct Entry {
    Kind kind = Kind::kNone;
    std::string backing_name;  // "osdisk1.vmdk##mirrored_pool_A" or the plain name
    std::string pool;          // redirectors: the pool name
    env::EntryStat st;
  };

  // The attributes of the entry `e` of `dir` (GetAttr's answer): the logical size of a file
  // from its open OpenFile, else from its header.
  static Result<Attr> AttrOfEntry(Volume& v, env::Dir& dir, const Entry& e, const std::string& rel,
                                  const KeyLookup& keys);

  // Opens the directory `comps[0..n)` below the root without following symlinks.
  static Result<DirPtr> OpenDir(const Volume& v, const std::vector<std::string>& comps,
                                std::size_t n) {
    auto dir = v.root_dir_->OpenDir(".");
    if (!dir.ok()) return AsRel(dir.status(), "open directory", "");
    DirPtr d = std::move(*dir);
    for (std::size_t i = 0; i < n; ++i) {
      // ENOTDIR for a symlink where a directory is needed.
      auto next = d->OpenDir(PlainBackingName(comps[i]));
      if (!next.ok()) {
        Status s = next.status();
        // A file where a directory is needed: its backing name is "name##pool".
        if (s.errno_value() == ENOENT && IsRedirector(v, *d, comps[i])) {
          s = Status::FromErrno(ENOTDIR, "not a directory");
        }
        return Status::FromErrno(s.errno_value() != 0 ? s.errno_value() : EIO,
                                 "open directory /" + JoinRel(comps, i + 1));
      }
      d = std::move(*next);
    }
    return d;
  }

  // Whether `name` in `dir` is a file (a redirector to a configured pool).
  static bool IsRedirector(const Volume& v, env::Dir& dir, const std::string& name) {
    auto e = Find(v, dir, name, name);
    return e.ok() && e->kind == Kind::kRedirector;
  }

  static Result<Entry> Find(const Volume& v, env::Dir& dir, const std::string& name,
                            const std::string& rel) {
    Entry e;
    // A directory, symlink or special file: under its own name or its stem (PlainBackingName).
    std::string plain = PlainBackingName(name);
    if (auto st = dir.Stat(plain); st.ok()) {
      e.st = *st;
      if (st->is_directory()) e.kind = Kind::kDirectory;
      if (st->is_symlink()) e.kind = Kind::kSymlink;
      if (IsSpecial(st->mode)) e.kind = Kind::kSpecial;
      if (e.kind != Kind::kNone) {
        e.backing_name = std::move(plain);
        return e;
      }
    }
    // Redirectors to configured pools: one stat each. Two for one name are the residue of a
    // rename over a file of another pool, interrupted before it dropped the replaced
    // redirector (docs/redirectors.md "Operations and crash ordering"); the replaced one
    // carries a durable marker (ReplacedMarker) and is dropped now, finishing that rename.
    std::vector<Entry> found;
    for (const auto& pool : v.pools_->names()) {
      std::string candidate = RedirectorBackingName(name, pool);
      if (auto st = dir.Stat(candidate); st.ok() && st->is_regular()) {
        Entry c;
        c.st = *st;
        c.kind = Kind::kRedirector;
        c.backing_name = std::move(candidate);
        c.pool = pool;
        found.push_back(std::move(c));
      }
    }
    if (found.size() > 1) {
      std::vector<Entry> live;
      for (Entry& c : found) {
        auto r = ReadRedirector(dir, c, rel);
        auto marker =
            r.ok() ? dir.Stat(ReplacedMarker(r->guid)) : Result<env::EntryStat>(r.status());
        if (marker.ok() && marker->ino == c.st.ino) {
          CAFS_LOG_WARN("/{}: dropping {}, replaced by an interrupted rename", rel, c.backing_name);
          if (DropRedirector(v, dir, c, rel).ok()) (void)dir.Unlink(ReplacedMarker(r->guid));
        } else {
          live.push_back(std::move(c));
        }
      }
      if (!live.empty()) found = std::move(live);
    }
    if (!found.empty()) return found.front();
    // A redirector naming a pool that is not configured (clear error later, but visible).
    auto names = dir.List();
    if (!names.ok()) return AsRel(names.status(), "list", rel);
    for (const std::string& n : *names) {
      // "a###p" is "a#" in pool "p", never "a" (redirector.h: the last "##" splits).
      if (!IsRedirectorOf(n, name)) continue;
      if (auto st = dir.Stat(n); st.ok() && st->is_regular()) {
        e.st = *st;
        e.kind = Kind::kRedirector;
        e.backing_name = n;
        e.pool = std::string(SplitRedirectorName(e.backing_name)->pool);
        break;
      }
    }
    if (e.kind == Kind::kNone) return Status::NotFound("no such file /" + rel);
    return e;
  }

  // --- Long names (redirector.h NeedsLongName; docs/redirectors.md "Long names") ---------

  // Writes the side entry holding `name` for `stem` in `dir`: under a temporary name (a
  // `.cafs-new-` entry: never listed, crash residue for fsck), synced, renamed over an older
  // one (same content: the stem is the name's hash), directory synced. Before a redirector
  // `<stem>##p` is named, so none is ever without its name. The caller holds long_names_mu_
  // until that redirector is in place (DropLongName must not remove the entry in between).
  static Status PutLongName(env::Dir& dir, std::string_view stem, std::string_view name,
                            const std::string& rel) {
    const std::string temp =
        std::string(kRedirectorTempPrefix) + "long-" + Uuid::Random().ToString();
    env::OpenOptions create = env::OpenOptions::CreateNew();
    create.mode = 0600;
    auto file = dir.OpenFile(temp, create);
    if (!file.ok()) return AsRel(file.status(), "create long name entry of", rel);
    Status s = (*file)->WriteAt(0, AsBytes(EncodeLongNameEntry(name)));
    if (s.ok()) s = (*file)->Sync();
    if (s.ok()) s = dir.Rename(temp, dir, LongNameEntry(stem), env::RenameMode::kReplace);
    if (!s.ok()) {
      (void)dir.Unlink(temp);
      return AsRel(s, "write long name entry of", rel);
    }
    if (s = dir.Sync(); !s.ok()) return AsRel(s, "sync directory of", rel);
    return Status::OK();
  }

  // After an entry of `stem` went (durably: a redirector `<stem>##p` or the plain entry
  // `<stem>`): removes the side entry of `stem` unless another entry of it is still there (a
  // redirector `<stem>##q` of a configured pool: the replaced side of an interrupted rename,
  // or a redirector being switched; the plain entry `<stem>` that replaced a file of the same
  // name). Not synced: a side entry that comes back after a crash names nothing and is fsck's
  // (orphan-long-name). Failures are logged. Takes long_names_mu_.
  static void DropLongName(const Volume& v, env::Dir& dir, std::string_view stem,
                           const std::string& rel) {
    if (stem.empty()) return;
    std::lock_guard lock(v.long_names_mu_);
    for (const auto& pool : v.pools_->names()) {
      if (dir.Stat(JoinRedirectorName(stem, pool)).ok()) return;
    }
    if (auto st = dir.Stat(std::string(stem)); st.ok() && !st->is_regular()) return;
    if (Status s = dir.Unlink(LongNameEntry(stem)); !s.ok() && !s.IsNotFound()) {
      CAFS_LOG_WARN("/{}: long name entry left behind: {}", rel, s.ToString());
    }
  }

  // The caller-visible name of the backing entry `backing_name` in `dir` (CallerNameOfEntry:
  // NotFound for a regular file that is not a redirector).
  static Result<std::string> NameOf(env::Dir& dir, std::string_view backing_name, bool regular) {
    return CallerNameOfEntry(
        backing_name, regular, [&](const std::string& entry) -> Result<std::string> {
          CAFS_ASSIGN_OR_RETURN(auto file, dir.OpenFile(entry, env::OpenOptions::Metadata()));
          std::string text(kLongNameMagic.size() + kBackingNameMax + 3, '\0');
          CAFS_ASSIGN_OR_RETURN(
              std::size_t n,
              file->ReadAt(
                  0, MutableByteView(reinterpret_cast<std::uint8_t*>(text.data()), text.size())));
          text.resize(n);
          return text;
        });
  }

  // Creates the plain entry `name` (directory, symlink, special file) of `dir` with `make`,
  // given its backing name (PlainBackingName): for a hashed name its side entry first
  // (durable), then the entry, under long_names_mu_ (DropLongName must not remove the side
  // entry in between); on failure the side entry goes again. The entry is not synced yet
  // (OwnAndSync). Returns the backing name.
  static Result<std::string> MakePlain(const Volume& v, env::Dir& dir, const std::string& name,
                                       const std::string& rel,
                                       const std::function<Status(const std::string&)>& make) {
    std::string backing = PlainBackingName(name);
    const std::string_view stem = LongNameStemOf(backing);
    std::unique_lock long_lock(v.long_names_mu_, std::defer_lock);
    if (!stem.empty()) {
      long_lock.lock();
      CAFS_RETURN_IF_ERROR(PutLongName(dir, stem, name, rel));
    }
    if (Status s = make(backing); !s.ok()) {
      if (long_lock.owns_lock()) long_lock.unlock();
      DropLongName(v, dir, stem, rel);
      return s;
    }
    return backing;
  }

  // The hidden name under which a redirector being replaced by a rename is linked first (a
  // temporary name: no "##"), so a crash between the rename and the drop of the replaced
  // redirector leaves a way to tell the two redirectors of one name apart.
  static std::string ReplacedMarker(const Uuid& guid) {
    return std::string(kRedirectorTempPrefix) + "replaced-" + guid.ToString();
  }

  // Removes one name of a file (its redirector entry, and `also_unlink` with it: the marker
  // of a replaced target), durably; then, if that was the file's last name (the entry's
  // link count, read through a handle opened before the unlink, is 0 after it: the kernel
  // counts, so of two unlinks racing for the last two names the later one sees 0), its pool
  // file (only one holding the redirector's GUID). A crash in between leaves an orphan pool
  // file (garbage, found by fsck), never a redirector without data. Errors after the name is
  // gone are logged: the name is gone for its callers.
  static Status DropRedirector(const Volume& v, env::Dir& dir, const Entry& e,
                               const std::string& rel, const std::string& also_unlink = {}) {
    auto redirector = ReadRedirector(dir, e, rel);
    auto handle = dir.OpenFile(e.backing_name, env::OpenOptions::AttributesOnly());
    if (Status s = dir.Unlink(e.backing_name); !s.ok()) return AsRel(s, "unlink", rel);
    if (!also_unlink.empty()) (void)dir.Unlink(also_unlink);
    if (Status s = dir.Sync(); !s.ok()) return AsRel(s, "sync directory of", rel);
    CAFS_RETURN_IF_ERROR(v.CrashPoint("unlink:redirector-removed"));
    DropLongName(v, dir, LongNameStemOf(e.backing_name), rel);
    if (!handle.ok()) return Status::OK();  // cannot tell: keep the data (fsck finds an orphan)
    auto st = (*handle)->Stat();
    if (!st.ok() || st->nlink > 0) return Status::OK();  // other names keep the file
    auto pool = v.pools_->Find(e.pool);
    if (!pool.ok() || !redirector.ok()) return Status::OK();  // the data is unreachable anyway
    RemovePoolFileOf(v, **pool, *redirector, rel);
    return Status::OK();
  }

  // Removes the pool file holding `r.guid` (never another file's data); logged on failure.
  static void RemovePoolFileOf(const Volume& v, pool::Pool& pool, const Redirector& r,
                               const std::string& rel) {
    auto path = FindPoolPath(v, pool, r, rel);
    Status s = path.ok() ? pool.RemoveFile(*path) : path.status();
    if (!s.ok() && !s.IsNotFound()) {
      CAFS_LOG_WARN("/{}: last name removed, pool file left behind: {}", rel, s.ToString());
    }
    if (r.replicas.empty()) return;
    // A mirrored file: its other copies (GUID-checked) and its mirror log go too.
    for (const ReplicaLocation& c : r.replicas) {
      auto p = v.pools_->Find(c.pool);
      Status rs = !p.ok()                                    ? p.status()
                  : PoolFileGuid(**p, c.pool_path) == r.guid ? (*p)->RemoveFile(c.pool_path)
                                                             : Status::NotFound("no copy");
      if (!rs.ok() && !rs.IsNotFound()) {
        CAFS_LOG_WARN("/{}: last name removed, copy in pool {} left behind: {}", rel, c.pool,
                      rs.ToString());
      }
    }
    if (Status ls = MirrorLog(v.root_dir_.get(), r.guid).Remove(); !ls.ok()) {
      CAFS_LOG_WARN("/{}: mirror log left behind: {}", rel, ls.ToString());
    }
  }

  // Every copy of a file: the primary (the redirector's pool and line 3), then the others.
  static std::vector<ReplicaLocation> Copies(const std::string& primary_pool, const Redirector& r) {
    std::vector<ReplicaLocation> out{{primary_pool, r.pool_path}};
    out.insert(out.end(), r.replicas.begin(), r.replicas.end());
    return out;
  }

  // Opens one copy of a mirrored file (pool configured and reachable, header GUID checked).
  static Result<std::unique_ptr<env::File>> OpenCopy(const Volume& v, const ReplicaLocation& c,
                                                     const Uuid& guid, bool read_only,
                                                     format::Header* hdr) {
    auto p = v.pools_->Find(c.pool);
    if (!p.ok()) return PoolTrouble("pool '" + c.pool + "' is not configured");
    if (Status avail = (*p)->CheckAvailable(); !avail.ok()) {
      return PoolTrouble("pool '" + c.pool + "' is not reachable: " + avail.message());
    }
    CAFS_ASSIGN_OR_RETURN(auto file,
                          (*p)->OpenFile(c.pool_path, read_only ? env::OpenOptions::ReadOnly()
                                                                : env::OpenOptions::ReadWrite()));
    CAFS_ASSIGN_OR_RETURN(*hdr, ReadHeader(*file));
    if (hdr->file_guid != guid) {
      return Status::Corruption("pool file " + c.pool_path + " in pool " + c.pool + " holds file " +
                                hdr->file_guid.ToString() + ", not " + guid.ToString());
    }
    return file;
  }

  // The data of a mirrored file (docs/redirectors.md "Mirrored files"). Read-only: the first
  // copy its mirror log does not call stale that opens (no MirrorSet). Read-write (open_mu_
  // held by OpenExisting): a handle on the file's MirrorSet.
  static Result<std::unique_ptr<env::File>> OpenMirrored(Volume& v, const Entry& e,
                                                         const Redirector& r,
                                                         const std::string& rel, bool read_only,
                                                         format::Header* hdr) {
    if (!read_only) {
      CAFS_ASSIGN_OR_RETURN(auto set, v.MirrorSetLocked(e.st.ino, e.pool, r, rel));
      std::unique_ptr<env::File> file = std::make_unique<MirroredFile>(std::move(set));
      CAFS_ASSIGN_OR_RETURN(*hdr, ReadHeader(*file));
      return file;
    }
    auto log = MirrorLog(v.root_dir_.get(), r.guid).Load();
    const std::vector<ReplicaLocation> copies = Copies(e.pool, r);
    Status last = Status::FromErrno(EIO, "every copy is stale");
    for (std::size_t i = 0; i < copies.size(); ++i) {
      if (log.ok() && *log && (*log)->copies.size() == copies.size() && (*log)->copies[i].stale) {
        continue;
      }
      auto f = OpenCopy(v, copies[i], r.guid, true, hdr);
      if (f.ok()) return f;
      last = f.status();
    }
    return PoolTrouble("/" + rel + ": no in-sync copy is reachable (" + last.message() + ")");
  }

  // Where the pool file of `r` is, in the order an open tries them: line 3; the path a new
  // file gets (a crash inside fsck's path upgrade moved it there before line 3 was
  // rewritten); the path derived from the file's name (pools of older gateways, whose renames
  // moved the pool file before rewriting line 3). NotFound when none holds `r.guid`.
  static std::vector<std::string> PoolPathCandidates(const Volume& v, const Redirector& r,
                                                     const std::string& rel) {
    std::vector<std::string> out{r.pool_path};
    for (std::string alt : {v.NewPoolPath(r.guid), rel}) {
      if (alt != r.pool_path) out.push_back(std::move(alt));
    }
    return out;
  }
  static Result<std::string> FindPoolPath(const Volume& v, pool::Pool& pool, const Redirector& r,
                                          const std::string& rel) {
    for (const std::string& path : PoolPathCandidates(v, r, rel)) {
      if (PoolFileGuid(pool, path) == r.guid) return path;
    }
    return Status::NotFound("/" + rel + ": no pool file holds " + r.guid.ToString());
  }

  static Result<Redirector> ReadRedirector(env::Dir& dir, const Entry& e, const std::string& rel) {
    auto file = dir.OpenFile(e.backing_name, env::OpenOptions::Metadata());
    if (!file.ok()) return AsRel(file.status(), "open redirector", rel);
    std::vector<std::uint8_t> buf(2 * PATH_MAX);
    auto n = (*file)->ReadAt(0, MutableByteView(buf));
    if (!n.ok()) return AsRel(n.status(), "read redirector", rel);
    auto r = DecodeRedirector(std::string_view(reinterpret_cast<const char*>(buf.data()), *n));
    if (!r.ok()) return r.status().WithContext("/" + rel);
    return r;
  }

  static Result<pool::Pool*> PoolOf(const Volume& v, const Entry& e, const std::string& rel) {
    auto p = v.pools_->Find(e.pool);
    if (!p.ok()) {
      return PoolTrouble("/" + rel + ": redirector names pool '" + e.pool +
                         "' which is not configured");
    }
    Status avail = (*p)->CheckAvailable();
    if (!avail.ok()) {
      return PoolTrouble("/" + rel + ": pool '" + e.pool +
                         "' is not reachable: " + avail.message());
    }
    return *p;
  }

  // Opens the pool file of a redirector and checks that its header carries the redirector's
  // GUID. A stale recorded path falls back to the other candidates (PoolPathCandidates) and
  // repairs the redirector.
  static Result<std::unique_ptr<env::File>> OpenPoolFile(Volume& v, env::Dir& dir, const Entry& e,
                                                         const std::string& rel, bool read_only,
                                                         format::Header* hdr) {
    // The pool first (its error wins for a file with one copy); a mirrored file opens
    // degraded without it.
    auto pool_or = PoolOf(v, e, rel);
    auto red = ReadRedirector(dir, e, rel);
    if (red.ok() && !red->replicas.empty()) return OpenMirrored(v, e, *red, rel, read_only, hdr);
    CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, std::move(pool_or));
    CAFS_ASSIGN_OR_RETURN(Redirector r, std::move(red));
    auto try_path = [&](const std::string& path) -> Result<std::unique_ptr<env::File>> {
      env::OpenOptions opts =
          read_only ? env::OpenOptions::ReadOnly() : env::OpenOptions::ReadWrite();
      CAFS_ASSIGN_OR_RETURN(auto file, pool->OpenFile(path, opts));
      CAFS_ASSIGN_OR_RETURN(*hdr, ReadHeader(*file));
      if (hdr->file_guid != r.guid) {
        return Status::Corruption("pool file " + path + " holds file " + hdr->file_guid.ToString() +
                                  ", not " + r.guid.ToString());
      }
      return file;
    };
    const std::vector<std::string> candidates = PoolPathCandidates(v, r, rel);
    auto first = try_path(candidates.front());
    if (first.ok() || (!first.status().IsNotFound() && !first.status().IsCorruption())) {
      if (!first.ok()) return first.status().WithContext("/" + rel + " (pool " + e.pool + ")");
      return first;
    }
    for (std::size_t i = 1; i < candidates.size(); ++i) {
      auto alt = try_path(candidates[i]);
      if (!alt.ok()) continue;
      // Repair the redirector to the path the data really has.
      if (auto rf = dir.OpenFile(e.backing_name, env::OpenOptions::ReadWrite()); rf.ok()) {
        Redirector repaired = r;
        repaired.pool_path = candidates[i];
        Status s = WriteRedirector(**rf, EncodeRedirector(repaired), rel);
        if (!s.ok()) CAFS_LOG_WARN("repairing redirector /{}: {}", rel, s.ToString());
      }
      return alt;
    }
    return PoolTrouble("/" + rel + ": pool file missing in pool " + e.pool + " (" +
                       first.status().message() + ")");
  }

  static Result<std::unique_ptr<format::EncryptedFile>> OpenEncrypted(
      Volume& v, env::Dir& dir, const Entry& e, const std::string& rel, bool read_only,
      const KeyLookup& keys, std::shared_ptr<DirtyMap> track = nullptr) {
    format::Header hdr;
    CAFS_ASSIGN_OR_RETURN(std::unique_ptr<env::File> file,
                          OpenPoolFile(v, dir, e, rel, read_only, &hdr));
    // A pool file of another VM set (copied, swapped or restored into the wrong place) is
    // refused before any key is looked up: EIO, like data that does not authenticate.
    if (!keys.vm_set_id.IsNil() && !hdr.vm_set_id.IsNil() && hdr.vm_set_id != keys.vm_set_id) {
      return Status::FromErrno(EIO, "/" + rel + ": pool file belongs to VM set " +
                                        hdr.vm_set_id.ToString() + ", not to this path's VM set " +
                                        keys.vm_set_id.ToString() + ": refused");
    }
    // Writes reach the change log of DR replicas (cafs/change_log.h).
    if (!read_only && v.changes_ != nullptr) {
      CAFS_ASSIGN_OR_RETURN(file, v.changes_->Wrap(hdr.file_guid, std::move(file)));
    }
    // A file being migrated: its writes (also the repair of Open) reach the dirty map.
    if (track) file = std::make_unique<DirtyTrackingFile>(std::move(file), std::move(track));
    auto dek = keys(hdr.key_guid, hdr.key_version);
    if (!dek.ok()) {
      return Status::AuthFailed("/" + rel + ": " + dek.status().message());
    }
    format::OpenParams params;
    params.expected_key_guid = hdr.key_guid;
    params.read_only = read_only;
    if (hdr.rekey.state == format::kRekeyInProgress) {  // a deep rekey to resume (rekeyer.h)
      auto target = keys(hdr.rekey.target_key_guid, hdr.rekey.target_key_version);
      if (!target.ok()) {
        return Status::AuthFailed("/" + rel + ": rekey target: " + target.status().message());
      }
      params.rekey_target_dek = *target;
    }
    auto ef = format::EncryptedFile::Open(std::move(file), **dek, params);
    if (!ef.ok()) return ef.status().WithContext("/" + rel);
    // A header written before VM set GUIDs (or an interrupted bind) is bound on a writable
    // open; a failure leaves it unbound and is retried by the next open.
    if (!read_only && !keys.vm_set_id.IsNil() && (*ef)->header().vm_set_id.IsNil()) {
      if (Status s = (*ef)->BindVmSet(keys.vm_set_id); !s.ok()) {
        CAFS_LOG_WARN("/{}: binding the pool file to VM set {}: {}", rel, keys.vm_set_id.ToString(),
                      s.ToString());
      }
    }
    return ef;
  }

  // Writes the redirector of a new file `name` (in `dir`, the file's directory; `rel` for
  // messages) naming `r` in `pool`: written and synced under a hidden temporary name (a
  // regular file without "##"), then renamed into place (no replace: AlreadyExists) and the
  // directory synced, so a crash never leaves an empty redirector. On error nothing of it is
  // left; `*crashed` is set when the crash-point hook stopped it (then nothing is cleaned).
  // `*out` gets the redirector's descriptor.
  static Status PlaceRedirector(const Volume& v, env::Dir& dir, const std::string& name,
                                const std::string& rel, const std::string& pool,
                                const Redirector& r, std::uint32_t mode, std::uint32_t uid,
                                std::uint32_t gid, std::unique_ptr<env::File>* out, bool* crashed) {
    const std::string backing_name = RedirectorBackingName(name, pool);
    const std::string temp_name = std::string(kRedirectorTempPrefix) + r.guid.ToString();
    env::OpenOptions create = env::OpenOptions::CreateNew();
    create.mode = mode & 07777;
    auto rfile = dir.OpenFile(temp_name, create);
    if (!rfile.ok()) return AsRel(rfile.status(), "create redirector", rel);
    std::unique_ptr<env::File> rf = std::move(*rfile);
    Status w = WriteRedirector(*rf, EncodeRedirector(r), rel);
    if (w.ok()) {
      if (Status s = dir.Chown(temp_name, uid, gid); !s.ok() && geteuid() == 0) {
        w = AsRel(s, "chown", rel);
      }
    }
    if (w.ok()) {
      if (Status s = dir.Chmod(temp_name, mode & 07777); !s.ok()) w = AsRel(s, "chmod", rel);
    }
    if (w.ok()) {
      if (Status c = v.CrashPoint("create:redirector-written"); !c.ok()) {
        *crashed = true;
        return c;
      }
    }
    // A long name: its side entry first (durable), the redirector named under the same lock.
    const std::string_view stem = LongNameStemOf(backing_name);
    std::unique_lock long_lock(v.long_names_mu_, std::defer_lock);
    if (w.ok() && !stem.empty()) {
      long_lock.lock();
      w = PutLongName(dir, stem, name, rel);
    }
    bool placed = false;
    if (w.ok()) {
      Status s = dir.Rename(temp_name, dir, backing_name, env::RenameMode::kNoReplace);
      placed = s.ok();
      if (!placed) {
        w = s.code() == Status::Code::kAlreadyExists ? Status::AlreadyExists("/" + rel + " exists")
                                                     : AsRel(s, "create redirector", rel);
      }
    }
    if (w.ok()) {
      if (Status s = dir.Sync(); !s.ok()) w = AsRel(s, "sync directory of", rel);
    }
    if (long_lock.owns_lock()) long_lock.unlock();
    if (!w.ok()) {
      (void)dir.Unlink(placed ? backing_name : temp_name);
      DropLongName(v, dir, stem, rel);
      return w;
    }
    *out = std::move(rf);
    return Status::OK();
  }

  // The file GUID in the header of a pool file; nil if unreadable.
  static Uuid PoolFileGuid(pool::Pool& pool, const std::string& path) {
    auto file = pool.OpenFile(path, env::OpenOptions::ReadOnly());
    if (!file.ok()) return Uuid();
    auto hdr = ReadHeader(**file);
    return hdr.ok() ? hdr->file_guid : Uuid();
  }

  // The header of a pool file, parsed without the key (GUIDs, key id, sizes).
  static Result<format::Header> ReadHeader(env::File& file) {
    std::vector<std::uint8_t> raw(format::kHeaderSize);
    CAFS_ASSIGN_OR_RETURN(std::size_t got, file.ReadAt(0, raw));
    raw.resize(got);
    return format::ParseHeaderUnverified(raw);
  }
};

Volume::Volume(std::string root, pool::PoolMapper* pools, std::unique_ptr<env::Dir> root_dir,
               Uuid owner)
    : root_(std::move(root)), pools_(pools), root_dir_(std::move(root_dir)), owner_(owner) {}

Volume::~Volume() = default;

Result<std::unique_ptr<Volume>> Volume::Open(std::string backing_root, pool::PoolMapper* pools,
                                             env::Env* env) {
  auto dir = env->OpenDirectory(backing_root);
  if (!dir.ok()) {
    return Status::FromErrno(dir.status().errno_value(), "open backing store " + backing_root);
  }
  auto owner = LoadOrMintBackingStoreId(**dir);
  if (!owner.ok()) return owner.status().WithContext("backing store " + backing_root);
  // A datastore move interrupted by a crash is finished before anything is served.
  CAFS_RETURN_IF_ERROR(RecoverDatastoreMoves(backing_root, env));
  return std::unique_ptr<Volume>(
      new Volume(std::move(backing_root), pools, std::move(*dir), *owner));
}

Status Volume::CheckName(std::string_view name) const {
  if (name.empty() || name == "." || name == "..") {
    return Status::InvalidArgument("bad name '" + std::string(name) + "'");
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("name contains '/' or NUL");
  }
  if (name.size() > max_name_length()) {  // the backing store's limit: longer names are hashed
    return Status::FromErrno(ENAMETOOLONG, "name of " + std::to_string(name.size()) +
                                               " bytes is too long (at most " +
                                               std::to_string(max_name_length()) + ")");
  }
  return Status::OK();
}

Result<std::vector<std::string>> Volume::SplitPath(std::string_view rel) const {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= rel.size() && !rel.empty()) {
    std::size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string_view comp = rel.substr(pos, slash - pos);
    CAFS_RETURN_IF_ERROR(CheckName(comp));
    out.emplace_back(comp);
    pos = slash + 1;
  }
  return out;
}

Result<FileType> Volume::EntryType(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return FileType::kDirectory;
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  return AttrFromStat(e.st).type;
}

Result<Attr> Volume::GetAttr(const std::string& rel, const KeyLookup& keys) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) {
    auto st = root_dir_->Stat(".");
    if (!st.ok()) return AsRel(st.status(), "stat", rel);
    return AttrFromStat(*st);
  }
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  return Impl::AttrOfEntry(*this, *dir, e, rel, keys);
}

Result<Attr> Volume::Impl::AttrOfEntry(Volume& v, env::Dir& dir, const Entry& e,
                                       const std::string& rel, const KeyLookup& keys) {
  Attr a = AttrFromStat(e.st);
  if (e.kind != Kind::kRedirector) return a;
  {
    std::lock_guard lock(v.open_mu_);
    auto it = v.open_files_.find(e.st.ino);
    if (it != v.open_files_.end()) {
      if (auto of = it->second.lock()) {
        SetLogicalSize(a, of->file().Size());
        return a;
      }
    }
  }
  CAFS_ASSIGN_OR_RETURN(auto ef, OpenEncrypted(v, dir, e, rel, true, keys));
  SetLogicalSize(a, ef->Size());
  if (auto pool = v.pools_->Find(e.pool); pool.ok()) {
    auto r = ReadRedirector(dir, e, rel);
    if (r.ok()) {
      if (auto info = (*pool)->Stat(r->pool_path); info.ok()) a.allocated = info->allocated_bytes;
    }
  }
  return a;
}

Result<std::vector<DirEntryAttr>> Volume::ReadDirPlus(const std::string& rel, const KeyLookup& keys,
                                                      std::size_t first, std::size_t limit) {
  CAFS_ASSIGN_OR_RETURN(auto entries, ReadDir(rel));
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size()));
  std::vector<DirEntryAttr> out;
  out.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    DirEntry& entry = entries[i];
    if (i < first || i - first >= limit) {
      out.push_back({std::move(entry), Status::NotFound("outside the range asked for")});
      continue;
    }
    const std::string child = rel.empty() ? entry.name : rel + "/" + entry.name;
    auto e = Impl::Find(*this, *dir, entry.name, child);
    Result<Attr> attr =
        e.ok() ? Impl::AttrOfEntry(*this, *dir, *e, child, keys) : Result<Attr>(e.status());
    out.push_back({std::move(entry), std::move(attr)});
  }
  return out;
}

Result<std::vector<DirEntry>> Volume::ReadDir(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size()));
  auto names = dir->List();
  if (!names.ok()) return AsRel(names.status(), "list", rel);
  std::vector<DirEntry> out;
  std::set<std::string> seen;
  for (std::string& name : *names) {
    auto st = dir->Stat(name);
    if (!st.ok()) continue;
    if (!st->is_regular() && !st->is_directory() && !st->is_symlink() && !IsSpecial(st->mode)) {
      continue;
    }
    // A regular file that is not a redirector is not ours (side entries, temporary names).
    if (st->is_regular() && !SplitRedirectorName(name)) continue;
    auto shown = Impl::NameOf(*dir, name, st->is_regular());
    if (!shown.ok()) {  // a hashed name without its side entry (fsck: missing-long-name)
      CAFS_LOG_WARN("/{}: {} not listed: {}", rel, name, shown.status().ToString());
      continue;
    }
    name = std::move(*shown);
    if (!seen.insert(name).second) continue;  // crash residue: show a name once
    out.push_back({std::move(name), TypeOf(st->mode)});
  }
  return out;
}

Result<Attr> Volume::MakeDir(const std::string& rel, std::uint32_t mode, std::uint32_t uid,
                             std::uint32_t gid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, *dir, comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  CAFS_ASSIGN_OR_RETURN(
      std::string backing,
      Impl::MakePlain(*this, *dir, comps.back(), rel, [&](const std::string& b) -> Status {
        if (Status s = dir->MakeDir(b, mode & 07777); !s.ok()) return AsRel(s, "mkdir", rel);
        return Status::OK();
      }));
  return OwnAndSync(*dir, backing, uid, gid, rel);  // durable before files go in it
}

Status Volume::RemoveDir(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EBUSY, "cannot remove /");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  const std::string backing = PlainBackingName(comps.back());
  if (Status s = dir->RemoveDir(backing); !s.ok()) {
    if (s.errno_value() == ENOENT && Impl::IsRedirector(*this, *dir, comps.back())) {
      return Status::FromErrno(ENOTDIR, "rmdir /" + rel);
    }
    return AsRel(s, "rmdir", rel);
  }
  // Acknowledged = durable (the name is gone either way; a hashed name's side entry stays
  // until the removal is known durable: fsck's orphan-long-name at worst).
  if (Status s = dir->Sync(); !s.ok()) return AsRel(s, "sync directory of", rel);
  Impl::DropLongName(*this, *dir, LongNameStemOf(backing), rel);
  return Status::OK();
}

Result<std::shared_ptr<OpenFile>> Volume::CreateFile(const std::string& rel, std::uint32_t mode,
                                                     std::uint32_t uid, std::uint32_t gid,
                                                     const Placement& placement) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, *dir, comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  auto pool_or = pools_->Find(placement.pool);
  if (!pool_or.ok()) {
    return PoolTrouble("/" + rel + ": policy names pool '" + placement.pool +
                       "' which is not configured on this gateway");
  }
  pool::Pool* pool = *pool_or;
  // Every copy of a mirrored file is written in place: each pool must be able to (before
  // reachability: a placement the pool can never serve is the error to report).
  auto can_mirror = [&](const pool::Pool& p) {
    Status can = pool::CheckPoolUse(p, pool::PoolUse::kMirrorCopy);
    if (!can.ok()) {
      CAFS_LOG_ERROR("creating /{}: the policy's placement is refused: {}", rel, can.message());
    }
    return can.WithContext("/" + rel + ": policy places it mirrored");
  };
  if (!placement.replica_pools.empty()) CAFS_RETURN_IF_ERROR(can_mirror(*pool));
  if (Status avail = pool->CheckAvailable(); !avail.ok()) {
    return PoolTrouble("/" + rel + ": pool '" + placement.pool +
                       "' is not reachable: " + avail.message());
  }
  // The pools of copies 2..N of a mirrored file (docs/redirectors.md "Mirrored files").
  std::vector<pool::Pool*> targets{pool};
  for (const std::string& name : placement.replica_pools) {
    auto rp = pools_->Find(name);
    if (!rp.ok()) {
      return PoolTrouble("/" + rel + ": policy names replica pool '" + name +
                         "' which is not configured on this gateway");
    }
    if (std::find(targets.begin(), targets.end(), *rp) != targets.end()) {
      return Status::InvalidArgument("/" + rel + ": pool '" + name + "' holds two copies");
    }
    CAFS_RETURN_IF_ERROR(can_mirror(**rp));
    if (Status avail = (*rp)->CheckAvailable(); !avail.ok()) {
      return PoolTrouble("/" + rel + ": replica pool '" + name +
                         "' is not reachable: " + avail.message());
    }
    targets.push_back(*rp);
  }
  // 1. The pool file (with its header) in each pool, so a redirector never exists without
  // data. Its path comes from its GUID alone (NewPoolPath): no name, no collision with an
  // orphan; every copy has the same path in its pool.
  format::CreateParams params = placement.params;
  if (params.file_guid.IsNil()) params.file_guid = Uuid::Random();
  const std::string pool_path = NewPoolPath(params.file_guid);
  const std::string pool_dir = ParentRel(pool_path);
  std::vector<std::unique_ptr<env::File>> files;
  auto remove_pool_files = [&] {
    for (std::size_t i = 0; i < files.size(); ++i) (void)targets[i]->RemoveFile(pool_path);
    if (targets.size() > 1) (void)MirrorLog(root_dir_.get(), params.file_guid).Remove();
  };
  for (pool::Pool* p : targets) {
    Status made = p->CreateDirs(pool_dir);
    auto file = made.ok() ? p->OpenFile(pool_path, env::OpenOptions::CreateNew())
                          : Result<std::unique_ptr<env::File>>(made);
    if (!file.ok()) {
      remove_pool_files();
      return file.status().WithContext("creating /" + rel + " in pool " + p->name());
    }
    files.push_back(std::move(*file));
  }
  std::shared_ptr<MirrorSet> mirror;
  std::unique_ptr<env::File> data = std::move(files.front());
  if (targets.size() > 1) {
    std::vector<MirrorSet::Copy> copies;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      pool::Pool* p = targets[i];
      copies.push_back({p->name(), pool_path, i == 0 ? std::move(data) : std::move(files[i]),
                        [p] { return p->CheckAvailable(); }});
    }
    auto set = MirrorSet::Open(params.file_guid, std::move(copies),
                               std::make_unique<MirrorLog>(root_dir_.get(), params.file_guid),
                               ReplicaEventsFor(rel));
    if (!set.ok()) {
      remove_pool_files();
      return set.status().WithContext("/" + rel);
    }
    mirror = *set;
    data = std::make_unique<MirroredFile>(mirror);
  }
  // DR replicas: the file's changes are logged (cafs/change_log.h), over all its copies.
  if (changes_ != nullptr) {
    auto tracked = changes_->Wrap(params.file_guid, std::move(data));
    if (!tracked.ok()) {
      remove_pool_files();
      return tracked.status().WithContext("/" + rel);
    }
    data = std::move(*tracked);
  }
  static const SecureBuffer kNoKey;
  auto ef = format::EncryptedFile::Create(std::move(data), params,
                                          placement.dek ? *placement.dek : kNoKey);
  if (!ef.ok()) {
    remove_pool_files();
    return ef.status().WithContext("/" + rel);
  }
  // The pool files' names are durable before a redirector names them (never a dangling one).
  for (pool::Pool* p : targets) {
    if (Status s = p->SyncDir(pool_dir); !s.ok()) {
      remove_pool_files();
      return s.WithContext("creating /" + rel + " in pool " + p->name());
    }
  }
  CAFS_RETURN_IF_ERROR(CrashPoint("create:pool-file-created"));
  // 2. The redirector (PlaceRedirector), naming every copy.
  Redirector red{params.file_guid, pool_path};
  for (const std::string& name : placement.replica_pools) red.replicas.push_back({name, pool_path});
  std::unique_ptr<env::File> rf;
  bool crashed = false;  // the crash-point hook stopped it: no clean-up (what kill -9 leaves)
  if (Status w = Impl::PlaceRedirector(*this, *dir, comps.back(), rel, placement.pool, red, mode,
                                       uid, gid, &rf, &crashed);
      !w.ok()) {
    if (!crashed) remove_pool_files();
    return w;
  }
  auto st = rf->Stat();
  if (!st.ok()) return AsRel(st.status(), "stat", rel);
  auto of = std::make_shared<OpenFile>(std::move(*ef), placement.pool, st->ino, std::move(rf));
  std::lock_guard lock(open_mu_);
  open_files_[st->ino] = of;
  if (mirror) mirrors_[st->ino] = mirror;
  return of;
}

Result<std::shared_ptr<OpenFile>> Volume::OpenExisting(const std::string& rel,
                                                       const KeyLookup& keys) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  Impl::Entry e;
  std::unique_lock lock(open_mu_, std::defer_lock);
  std::shared_ptr<DirtyMap> track;
  for (;;) {
    // A migration's switch renames the redirector: one that completes between Find and the
    // lock below leaves `e` naming an entry that is gone; then look again.
    lock.lock();
    const std::uint64_t switches = switches_;
    lock.unlock();
    CAFS_ASSIGN_OR_RETURN(e, Impl::Find(*this, *dir, comps.back(), rel));
    if (e.kind == Impl::Kind::kDirectory) return Status::FromErrno(EISDIR, "/" + rel);
    if (e.kind == Impl::Kind::kSymlink) {
      return Status::FromErrno(ELOOP, "/" + rel + " is a symlink");
    }
    if (e.kind == Impl::Kind::kSpecial) {
      return Status::FromErrno(ENXIO, "/" + rel + " is a special file (opened by the kernel)");
    }
    lock.lock();
    auto it = open_files_.find(e.st.ino);
    if (it != open_files_.end()) {
      if (auto of = it->second.lock()) return of;
    }
    if (switches_ != switches) {
      lock.unlock();
      continue;
    }
    auto m = migrations_.find(e.st.ino);
    if (m == migrations_.end()) break;
    std::shared_ptr<Migration> migration = m->second;
    if (!migration->switching) {
      if (!migration->committed) track = migration->dirty;
      break;
    }
    // The redirector is switching pools: open it afterwards, under its new name.
    migration_cv_.wait(lock, [&] { return !migration->switching; });
    lock.unlock();
  }
  CAFS_ASSIGN_OR_RETURN(auto ef, Impl::OpenEncrypted(*this, *dir, e, rel, false, keys, track));
  std::unique_ptr<env::File> attr;
  if (auto af = dir->OpenFile(e.backing_name, env::OpenOptions::AttributesOnly()); af.ok()) {
    auto st = (*af)->Stat();
    // Replaced since Find: attributes fall back to path lookups.
    if (st.ok() && st->ino == e.st.ino) attr = std::move(*af);
  }
  auto of = std::make_shared<OpenFile>(std::move(ef), e.pool, e.st.ino, std::move(attr));
  open_files_[e.st.ino] = of;
  // Forget dead entries now and then.
  for (auto i = open_files_.begin(); i != open_files_.end();) {
    i = i->second.expired() ? open_files_.erase(i) : std::next(i);
  }
  return of;
}

Status Volume::Unlink(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind == Impl::Kind::kDirectory) return Status::FromErrno(EISDIR, "/" + rel);
  if (e.kind != Impl::Kind::kRedirector) {  // a symlink or special file: its own entry
    if (Status s = dir->Unlink(e.backing_name); !s.ok()) return AsRel(s, "unlink", rel);
    if (Status s = dir->Sync(); !s.ok()) return AsRel(s, "sync directory of", rel);
    Impl::DropLongName(*this, *dir, LongNameStemOf(e.backing_name), rel);
    return Status::OK();
  }
  if (AbortMigrationOf(e.st.ino)) {
    CAFS_ASSIGN_OR_RETURN(e, Impl::Find(*this, *dir, comps.back(), rel));
  }
  return Impl::DropRedirector(*this, *dir, e, rel);
}

Status Volume::PlaceRestoredFile(const std::string& rel, const std::string& pool,
                                 const Redirector& r, std::uint32_t mode, std::uint32_t uid,
                                 std::uint32_t gid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, *dir, comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  if (!pools_->Find(pool).ok()) return Status::NotFound("pool '" + pool + "' is not configured");
  std::unique_ptr<env::File> rf;
  bool crashed = false;
  return Impl::PlaceRedirector(*this, *dir, comps.back(), rel, pool, r, mode, uid, gid, &rf,
                               &crashed);
}

Result<FileLocation> Volume::Locate(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind == Impl::Kind::kDirectory) return Status::FromErrno(EISDIR, "/" + rel);
  if (e.kind == Impl::Kind::kSymlink) return Status::FromErrno(ELOOP, "/" + rel + " is a symlink");
  if (e.kind == Impl::Kind::kSpecial) {
    return Status::InvalidArgument("/" + rel + " is a special file: it has no pool file");
  }
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, Impl::PoolOf(*this, e, rel));
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(*dir, e, rel));
  FileLocation loc{e.pool,     r.pool_path,       r.guid,   false,    r.pool_path, e.st.ino,
                   r.replicas, e.st.mode & 07777, e.st.uid, e.st.gid, e.st.nlink};
  // A stale recorded path: where OpenPoolFile's fallback would find it.
  if (auto found = Impl::FindPoolPath(*this, *pool, r, rel); found.ok()) loc.pool_path = *found;
  std::lock_guard lock(open_mu_);
  auto it = open_files_.find(e.st.ino);
  loc.open = it != open_files_.end() && !it->second.expired();
  return loc;
}

Status Volume::DetachRedirector(const std::string& rel, const Uuid& guid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind != Impl::Kind::kRedirector) return Status::NotFound("/" + rel + " is not a file");
  if (e.st.nlink > 1) {
    return Status::FromErrno(EMLINK, "/" + rel + " has " + std::to_string(e.st.nlink) +
                                         " names (hard links): remove the others first");
  }
  auto r = Impl::ReadRedirector(*dir, e, rel);
  if (!r.ok() || r->guid != guid) {
    return Status::NotFound("/" + rel + " no longer names file " + guid.ToString());
  }
  if (AbortMigrationOf(e.st.ino)) {
    CAFS_ASSIGN_OR_RETURN(e, Impl::Find(*this, *dir, comps.back(), rel));
  }
  if (Status s = dir->Unlink(e.backing_name); !s.ok()) return AsRel(s, "unlink", rel);
  if (Status s = dir->Sync(); !s.ok()) return AsRel(s, "sync directory of", rel);
  Impl::DropLongName(*this, *dir, LongNameStemOf(e.backing_name), rel);
  return Status::OK();
}

Status Volume::RemoveMirrorLog(const Uuid& guid) {
  return MirrorLog(root_dir_.get(), guid).Remove();
}

bool Volume::IsOpen(const Uuid& guid) {
  std::vector<std::shared_ptr<OpenFile>> open;
  {
    std::lock_guard lock(open_mu_);
    for (const auto& [ino, weak] : open_files_) {
      if (auto f = weak.lock()) open.push_back(std::move(f));
    }
  }
  // The headers are read without open_mu_ (its lock order: never with a file's I/O locks).
  return std::any_of(open.begin(), open.end(), [&](const std::shared_ptr<OpenFile>& f) {
    return f->file().header().file_guid == guid;
  });
}

Status Volume::MoveToNewPoolPath(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind != Impl::Kind::kRedirector)
    return Status::InvalidArgument("/" + rel + " is not a file");
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, Impl::PoolOf(*this, e, rel));
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(*dir, e, rel));
  const std::string target = NewPoolPath(r.guid);
  if (r.pool_path == target) return Status::OK();
  CAFS_ASSIGN_OR_RETURN(std::string from, Impl::FindPoolPath(*this, *pool, r, rel));
  if (from != target) {
    const std::string target_dir = ParentRel(target);
    CAFS_RETURN_IF_ERROR(pool->CreateDirs(target_dir));
    CAFS_RETURN_IF_ERROR(pool->Rename(from, target));
    // Line 3 may name the new path only once the move is durable in both pool directories.
    CAFS_RETURN_IF_ERROR(pool->SyncDir(target_dir));
    CAFS_RETURN_IF_ERROR(pool->SyncDir(ParentRel(from)));
    CAFS_RETURN_IF_ERROR(CrashPoint("upgrade:pool-file-moved"));
  }
  auto rf = dir->OpenFile(e.backing_name, env::OpenOptions::ReadWrite());
  if (!rf.ok()) return AsRel(rf.status(), "open redirector", rel);
  Redirector moved = r;
  moved.pool_path = target;
  return WriteRedirector(**rf, EncodeRedirector(moved), rel);
}

Status Volume::Rename(const std::string& from, const std::string& to, bool no_replace) {
  CAFS_ASSIGN_OR_RETURN(auto fc, SplitPath(from));
  CAFS_ASSIGN_OR_RETURN(auto tc, SplitPath(to));
  if (fc.empty() || tc.empty()) return Status::FromErrno(EBUSY, "cannot rename /");
  if (to.size() > from.size() && to.compare(0, from.size(), from) == 0 && to[from.size()] == '/') {
    return Status::InvalidArgument("cannot move /" + from + " into itself");
  }
  CAFS_ASSIGN_OR_RETURN(DirPtr fdir, Impl::OpenDir(*this, fc, fc.size() - 1));
  CAFS_ASSIGN_OR_RETURN(DirPtr tdir, Impl::OpenDir(*this, tc, tc.size() - 1));
  const bool same_dir = ParentRel(from) == ParentRel(to);
  CAFS_ASSIGN_OR_RETURN(Impl::Entry src, Impl::Find(*this, *fdir, fc.back(), from));
  auto dst = Impl::Find(*this, *tdir, tc.back(), to);
  // A migration of either file stops (after waiting out a switch in progress, which renames
  // the redirector): look again.
  const bool src_moving = src.kind == Impl::Kind::kRedirector && AbortMigrationOf(src.st.ino);
  const bool dst_moving =
      dst.ok() && dst->kind == Impl::Kind::kRedirector && AbortMigrationOf(dst->st.ino);
  if (src_moving || dst_moving) {
    CAFS_ASSIGN_OR_RETURN(src, Impl::Find(*this, *fdir, fc.back(), from));
    dst = Impl::Find(*this, *tdir, tc.back(), to);
  }
  if (dst.ok()) {
    if (from == to) return Status::OK();
    if (no_replace) return Status::AlreadyExists("/" + to + " exists");
    const bool src_dir = src.kind == Impl::Kind::kDirectory;
    const bool dst_dir = dst->kind == Impl::Kind::kDirectory;
    if (dst_dir && !src_dir) return Status::FromErrno(EISDIR, "/" + to + " is a directory");
    if (!dst_dir && src_dir) return Status::FromErrno(ENOTDIR, "/" + to + " is not a directory");
  } else if (!dst.status().IsNotFound()) {
    return dst.status();
  }
  // Two names of one file (hard links): rename(2) does nothing and succeeds.
  if (dst.ok() && dst->st.ino == src.st.ino) return Status::OK();
  const env::RenameMode mode = no_replace ? env::RenameMode::kNoReplace : env::RenameMode::kReplace;
  // Both directories' changes made durable (the target's first: there the new name appears).
  auto sync_both = [&]() -> Status {
    if (Status s = tdir->Sync(); !s.ok()) return AsRel(s, "sync directory of", to);
    if (same_dir) return Status::OK();
    if (Status s = fdir->Sync(); !s.ok()) return AsRel(s, "sync directory of", from);
    return Status::OK();
  };
  // The name the entry gets: a file keeps its pool suffix, anything else its plain name.
  const std::string new_name = src.kind == Impl::Kind::kRedirector
                                   ? RedirectorBackingName(tc.back(), src.pool)
                                   : PlainBackingName(tc.back());
  // A target that rename(2) replaces (same backing name): a file whose pool file goes with
  // its last name. Handle opened first: its link count after the rename says (DropRedirector).
  std::unique_ptr<env::File> replaced_handle;
  std::optional<Redirector> replaced_redirector;
  std::optional<Impl::Entry> replaced_other;  // a target under another backing name
  std::string replaced_marker;
  if (dst.ok() && dst->backing_name == new_name && dst->kind == Impl::Kind::kRedirector) {
    auto h = tdir->OpenFile(dst->backing_name, env::OpenOptions::AttributesOnly());
    auto rr = Impl::ReadRedirector(*tdir, *dst, to);
    if (h.ok() && rr.ok()) {
      replaced_handle = std::move(*h);
      replaced_redirector = std::move(*rr);
    }
  } else if (dst.ok() && dst->backing_name != new_name) {
    if (dst->kind == Impl::Kind::kRedirector) {
      // A file under another backing name (another pool, or a file replaced by a non-file):
      // `to##other` stays until it is dropped after the rename; mark it replaced first
      // (durably), so a lookup after a crash in between takes ours (Impl::Find).
      replaced_other = *dst;
      if (auto rr = Impl::ReadRedirector(*tdir, *dst, to); rr.ok()) {
        replaced_marker = Impl::ReplacedMarker(rr->guid);
        Status m = tdir->Link(dst->backing_name, *tdir, replaced_marker);
        if (m.code() == Status::Code::kAlreadyExists) m = Status::OK();  // an earlier attempt
        if (m.ok()) m = tdir->Sync();
        if (!m.ok()) {
          (void)tdir->Unlink(replaced_marker);
          return AsRel(m, "mark replaced", to);
        }
      }
    } else {
      // A symlink or special file replaced by a file (or the reverse): no rename(2) of one
      // name over the other exists, so the target goes first.
      if (Status s = tdir->Unlink(dst->backing_name); !s.ok()) return AsRel(s, "unlink", to);
    }
  }
  // 0b. A long new name: its side entry first (durable), then the rename under the same lock.
  const std::string_view new_stem = LongNameStemOf(new_name);
  std::unique_lock long_lock(long_names_mu_, std::defer_lock);
  if (!new_stem.empty()) {
    long_lock.lock();
    CAFS_RETURN_IF_ERROR(Impl::PutLongName(*tdir, new_stem, tc.back(), to));
  }
  // 1. The rename itself: the name switches atomically; a file's data stays where its
  // redirector's line 3 says (pool paths do not depend on names), so nothing else moves.
  if (Status s = fdir->Rename(src.backing_name, *tdir, new_name, mode); !s.ok()) {
    if (long_lock.owns_lock()) long_lock.unlock();
    Impl::DropLongName(*this, *tdir, new_stem, to);
    return AsRel(s, "rename", from);
  }
  Status synced = sync_both();
  if (long_lock.owns_lock()) long_lock.unlock();
  CAFS_RETURN_IF_ERROR(synced);
  CAFS_RETURN_IF_ERROR(CrashPoint("rename:redirector-moved"));
  // 1b. A long old name: its side entry, once no redirector of it is left.
  if (const std::string_view old_stem = LongNameStemOf(src.backing_name);
      !(same_dir && old_stem == new_stem)) {
    Impl::DropLongName(*this, *fdir, old_stem, from);
  }
  // 2. A replaced file whose last name this was: its pool file (GUID-checked).
  if (replaced_handle) {
    auto st = replaced_handle->Stat();
    auto pool = pools_->Find(dst->pool);
    if (st.ok() && st->nlink == 0 && pool.ok()) {
      Impl::RemovePoolFileOf(*this, **pool, *replaced_redirector, to);
    }
  }
  if (replaced_other) {
    // Until this is done, `to` has two entries; a lookup takes the unmarked one (ours) and
    // finishes the job after a crash (Impl::Find).
    Status s = Impl::DropRedirector(*this, *tdir, *replaced_other, to, replaced_marker);
    if (!s.ok()) CAFS_LOG_WARN("rename /{}: replaced file not dropped yet: {}", to, s.ToString());
  }
  return Status::OK();
}

Result<Attr> Volume::SetAttr(const std::string& rel, const SetAttrRequest& req,
                             const KeyLookup& keys) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  DirPtr dir;
  std::string name = ".";
  bool symlink = false;
  if (!comps.empty()) {
    CAFS_ASSIGN_OR_RETURN(dir, Impl::OpenDir(*this, comps, comps.size() - 1));
    CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
    name = e.backing_name;
    symlink = e.kind == Impl::Kind::kSymlink;
    if (req.size && e.kind != Impl::Kind::kRedirector) {
      return Status::FromErrno(e.kind == Impl::Kind::kDirectory ? EISDIR : EINVAL,
                               "truncate /" + rel);
    }
  } else {
    CAFS_ASSIGN_OR_RETURN(dir, Impl::OpenDir(*this, comps, 0));
  }
  // Linux has no symlink modes: ignore, as chmod on a link's target is the kernel's job.
  if (req.mode && !symlink) {
    if (Status s = dir->Chmod(name, *req.mode & 07777); !s.ok()) return AsRel(s, "chmod", rel);
  }
  if (req.uid || req.gid) {
    const std::uint32_t keep = static_cast<std::uint32_t>(-1);
    if (Status s = dir->Chown(name, req.uid ? *req.uid : keep, req.gid ? *req.gid : keep);
        !s.ok()) {
      return AsRel(s, "chown", rel);
    }
  }
  if (req.size) {
    CAFS_ASSIGN_OR_RETURN(auto of, OpenExisting(rel, keys));
    CAFS_RETURN_IF_ERROR(of->file().Truncate(*req.size));
    CAFS_RETURN_IF_ERROR(of->file().Sync());
  }
  if (req.atime || req.mtime || req.size) {
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = 0;
    times[1].tv_nsec = req.size ? UTIME_NOW : UTIME_OMIT;
    if (req.atime) times[0] = *req.atime;
    if (req.mtime) times[1] = *req.mtime;
    if (Status s = dir->SetTimes(name, times); !s.ok()) return AsRel(s, "utimens", rel);
  }
  return GetAttr(rel, keys);
}

Status Volume::TouchOpen(const OpenFile& file) {
  if (file.redirector() == nullptr) return Status::NotSupported("no redirector handle");
  Status s = file.redirector()->SetTimes(nullptr);
  if (!s.ok()) return Status::FromErrno(s.errno_value(), "utimens of an open file");
  return Status::OK();
}

Result<Attr> Volume::AttrOf(OpenFile& file) {
  if (file.redirector() == nullptr) return Status::NotSupported("no redirector handle");
  auto st = file.redirector()->Stat();
  if (!st.ok()) return Status::FromErrno(st.status().errno_value(), "stat of an open file");
  Attr a = AttrFromStat(*st);
  SetLogicalSize(a, file.file().Size());
  return a;
}

Result<Attr> Volume::SetAttrOf(OpenFile& file, const SetAttrRequest& req) {
  env::File* r = file.redirector();
  if (r == nullptr) return Status::NotSupported("no redirector handle");
  if (req.mode) {
    if (Status s = r->Chmod(*req.mode & 07777); !s.ok()) {
      return Status::FromErrno(s.errno_value(), "chmod of an open file");
    }
  }
  if (req.uid || req.gid) {
    const std::uint32_t keep = static_cast<std::uint32_t>(-1);
    if (Status s = r->Chown(req.uid ? *req.uid : keep, req.gid ? *req.gid : keep); !s.ok()) {
      return Status::FromErrno(s.errno_value(), "chown of an open file");
    }
  }
  if (req.atime || req.mtime) {
    struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (req.atime) times[0] = *req.atime;
    if (req.mtime) times[1] = *req.mtime;
    if (Status s = r->SetTimes(times); !s.ok()) {
      return Status::FromErrno(s.errno_value(), "utimens of an open file");
    }
  }
  return AttrOf(file);
}

Status Volume::Touch(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::OK();
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (Status s = dir->SetTimes(e.backing_name, nullptr); !s.ok()) return AsRel(s, "utimens", rel);
  return Status::OK();
}

Result<Attr> Volume::Symlink(const std::string& target, const std::string& rel, std::uint32_t uid,
                             std::uint32_t gid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  if (target.empty() || target.size() >= PATH_MAX) {
    return Status::FromErrno(target.empty() ? ENOENT : ENAMETOOLONG, "symlink target");
  }
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, *dir, comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  CAFS_ASSIGN_OR_RETURN(
      std::string backing,
      Impl::MakePlain(*this, *dir, comps.back(), rel, [&](const std::string& b) -> Status {
        if (Status s = dir->Symlink(target, b); !s.ok()) return AsRel(s, "symlink", rel);
        return Status::OK();
      }));
  return OwnAndSync(*dir, backing, uid, gid, rel);
}

Status Volume::Link(const std::string& from, const std::string& to) {
  CAFS_ASSIGN_OR_RETURN(auto fc, SplitPath(from));
  CAFS_ASSIGN_OR_RETURN(auto tc, SplitPath(to));
  if (fc.empty()) return Status::FromErrno(EPERM, "hard link of /");
  if (tc.empty()) return Status::AlreadyExists("/ exists");
  CAFS_ASSIGN_OR_RETURN(DirPtr fdir, Impl::OpenDir(*this, fc, fc.size() - 1));
  CAFS_ASSIGN_OR_RETURN(DirPtr tdir, Impl::OpenDir(*this, tc, tc.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry src, Impl::Find(*this, *fdir, fc.back(), from));
  if (src.kind == Impl::Kind::kDirectory) {
    return Status::FromErrno(EPERM, "/" + from + " is a directory (no hard links)");
  }
  if (Impl::Find(*this, *tdir, tc.back(), to).ok()) {
    return Status::AlreadyExists("/" + to + " exists");
  }
  // One more name of the same backing entry: a redirector stays in its pool (same GUID, same
  // line 3); the link count is the entry's.
  const std::string new_name = src.kind == Impl::Kind::kRedirector
                                   ? RedirectorBackingName(tc.back(), src.pool)
                                   : PlainBackingName(tc.back());
  // A long new name: its side entry first (durable), then the link under the same lock.
  const std::string_view new_stem = LongNameStemOf(new_name);
  std::unique_lock long_lock(long_names_mu_, std::defer_lock);
  if (!new_stem.empty()) {
    long_lock.lock();
    CAFS_RETURN_IF_ERROR(Impl::PutLongName(*tdir, new_stem, tc.back(), to));
  }
  if (Status s = fdir->Link(src.backing_name, *tdir, new_name); !s.ok()) {
    if (long_lock.owns_lock()) long_lock.unlock();
    Impl::DropLongName(*this, *tdir, new_stem, to);
    if (s.code() == Status::Code::kAlreadyExists)
      return Status::AlreadyExists("/" + to + " exists");
    return AsRel(s, "link", to);
  }
  if (Status s = tdir->Sync(); !s.ok()) return AsRel(s, "sync directory of", to);
  return Status::OK();
}

Result<Attr> Volume::MakeNode(const std::string& rel, std::uint32_t mode, std::uint64_t rdev,
                              std::uint32_t uid, std::uint32_t gid) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::AlreadyExists("/ exists");
  if (!IsSpecial(mode)) {
    return Status::InvalidArgument("/" + rel + ": not a FIFO, socket or device node");
  }
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  if (Impl::Find(*this, *dir, comps.back(), rel).ok()) {
    return Status::AlreadyExists("/" + rel + " exists");
  }
  CAFS_ASSIGN_OR_RETURN(
      std::string backing,
      Impl::MakePlain(*this, *dir, comps.back(), rel, [&](const std::string& b) -> Status {
        Status s = dir->MakeNode(b, mode & (S_IFMT | 07777), rdev);
        if (s.ok()) return s;
        if (s.code() == Status::Code::kAlreadyExists)
          return Status::AlreadyExists("/" + rel + " exists");
        return AsRel(s, "mknod", rel);
      }));
  return OwnAndSync(*dir, backing, uid, gid, rel);
}

Result<std::string> Volume::ReadLink(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::InvalidArgument("/ is not a symlink");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind != Impl::Kind::kSymlink)
    return Status::InvalidArgument("/" + rel + " is not a symlink");
  auto target = dir->ReadLink(e.backing_name);
  if (!target.ok()) return AsRel(target.status(), "readlink", rel);
  return target;
}

Result<FsStats> Volume::StatFs() {
  FsStats out;
  auto sv = root_dir_->Space();
  if (!sv.ok()) return AsRel(sv.status(), "statfs", "");
  out.total_inodes = sv->total_inodes;
  out.free_inodes = sv->free_inodes;
  out.name_max = static_cast<std::uint32_t>(max_name_length());
  out.link_max = sv->link_max;  // hard links are names of the backing entry (redirectors.md)
  for (const auto& name : pools_->names()) {
    auto pool = pools_->Find(name);
    if (!pool.ok()) continue;
    auto space = (*pool)->Space();
    if (!space.ok()) continue;  // an unreachable pool contributes nothing
    out.total_bytes += space->total_bytes;
    out.free_bytes += space->free_bytes;
  }
  if (out.total_bytes == 0) {  // no reachable pool: report the backing store
    out.total_bytes = sv->total_bytes;
    out.free_bytes = sv->free_bytes;
  }
  return out;
}

Result<std::map<std::string, std::uint64_t>> Volume::PoolBytes(const std::string& vmset) {
  CAFS_RETURN_IF_ERROR(CheckName(vmset));
  std::map<std::string, std::uint64_t> out;
  for (const auto& name : pools_->names()) out[name] = 0;
  // Pool paths carry no VM set: walk the VM set's redirectors and add up the pool files they
  // name, each (pool, GUID) once.
  std::set<std::pair<std::string, Uuid>> counted;
  std::vector<std::pair<DirPtr, std::string>> todo;
  {
    auto top = Impl::OpenDir(*this, {vmset}, 1);
    if (!top.ok()) return top.status().IsNotFound() ? Result(out) : top.status();
    todo.emplace_back(std::move(*top), vmset);
  }
  while (!todo.empty()) {
    auto [dir, dir_rel] = std::move(todo.back());
    todo.pop_back();
    auto names = dir->List();
    if (!names.ok()) continue;
    for (const std::string& n : *names) {
      auto st = dir->Stat(n);
      if (!st.ok()) continue;
      if (st->is_directory()) {
        if (auto sub = dir->OpenDir(n); sub.ok())
          todo.emplace_back(std::move(*sub), dir_rel + "/" + n);
        continue;
      }
      const auto split = SplitRedirectorName(n);
      if (!st->is_regular() || !split) continue;
      auto pool = pools_->Find(std::string(split->pool));
      if (!pool.ok()) continue;
      Impl::Entry e;
      e.kind = Impl::Kind::kRedirector;
      e.backing_name = n;
      e.pool = std::string(split->pool);
      const std::string rel = dir_rel + "/" + std::string(split->name);
      auto r = Impl::ReadRedirector(*dir, e, rel);
      if (!r.ok() || !counted.insert({e.pool, r->guid}).second) continue;
      auto path = Impl::FindPoolPath(*this, **pool, *r, rel);
      if (!path.ok()) continue;
      if (auto info = (*pool)->Stat(*path); info.ok()) out[e.pool] += info->allocated_bytes;
    }
  }
  return out;
}

// --- Pool paths of new files -----------------------------------------------------------

std::string MigrationTempPath(const std::string& to_path, const Uuid& guid) {
  const std::string parent = ParentRel(to_path);
  const std::string name = std::string(kMigrateTempPrefix) + guid.ToString();
  return parent.empty() ? name : parent + "/" + name;
}

std::string CopyTargetPath(const pool::Pool& to, const std::string& to_path, const Uuid& guid) {
  return to.capabilities().atomic_rename ? MigrationTempPath(to_path, guid) : to_path;
}

// --- Migration between pools (docs/migration.md) ----------------------------------------

namespace {

// The one rule of what a pool's capabilities allow a migration into it (docs/migration.md
// "Pool kinds"): a pool without random writes (s3: whole objects, a staged copy uploaded on
// every fsync) takes a file only while nobody has it open; an open file would go on with the
// target pool file as its own and be written in place.
Status OpenFileFits(const pool::Pool& to, const std::string& rel, bool open) {
  if (!open || to.capabilities().random_write) return Status::OK();
  return Status::FailedPrecondition(
      "/" + rel + " is open: pool " + to.name() + " (kind " + std::string(to.kind()) +
      ") takes whole objects only, not a file in use (docs/pools.md \"Capabilities\"); close "
      "it (stop the VM) and migrate again");
}

}  // namespace

Result<MigrationTicket> Volume::BeginMigration(const std::string& rel, const std::string& to_pool,
                                               std::uint64_t chunk_bytes) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind == Impl::Kind::kDirectory) {
    return Status::FromErrno(EISDIR, "/" + rel + " is a directory, not a file");
  }
  if (e.kind == Impl::Kind::kSymlink) {
    return Status::FromErrno(ELOOP, "/" + rel + " is a symlink, not a file");
  }
  CAFS_ASSIGN_OR_RETURN(pool::Pool * from, Impl::PoolOf(*this, e, rel));
  auto to = pools_->Find(to_pool);
  if (!to.ok()) return PoolTrouble("pool '" + to_pool + "' is not configured on this gateway");
  if (Status avail = (*to)->CheckAvailable(); !avail.ok()) {
    return PoolTrouble("pool '" + to_pool + "' is not reachable: " + avail.message());
  }
  if (e.pool == to_pool) {
    return Status::InvalidArgument("/" + rel + " is in pool " + to_pool + " already");
  }
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(*dir, e, rel));
  if (!r.replicas.empty()) {  // refused, not half done (docs/redirectors.md "Mirrored files")
    return Status::NotSupported("/" + rel + " is mirrored (" +
                                std::to_string(r.replicas.size() + 1) +
                                " copies): migrating mirrored files is not implemented yet");
  }
  MigrationTicket t;
  t.rel = rel;
  t.ino = e.st.ino;
  t.guid = r.guid;
  t.from_pool = e.pool;
  t.to_pool = to_pool;
  // The source: line 3, or where the open path's fallback would find it.
  auto source = Impl::FindPoolPath(*this, *from, r, rel);
  if (!source.ok()) return PoolTrouble("/" + rel + ": pool file missing in pool " + e.pool);
  t.from_path = *source;
  // The target: the one rule for a new file's pool path (its GUID path in this store).
  t.to_path = NewPoolPath(r.guid);
  if (!(*to)->Stat(t.to_path).status().IsNotFound()) {
    return Status::AlreadyExists("/" + rel + ": its pool path " + t.to_path + " in pool " +
                                 to_pool + " is taken (run `cafsd fsck`)");
  }
  t.to_temp = CopyTargetPath(**to, t.to_path, t.guid);
  t.dirty = std::make_shared<DirtyMap>(chunk_bytes);
  std::shared_ptr<OpenFile> of;
  {
    std::lock_guard lock(open_mu_);
    auto m = std::make_shared<Migration>();
    m->dirty = t.dirty;
    if (!migrations_.emplace(t.ino, std::move(m)).second) {
      return Status::FromErrno(EBUSY, "/" + rel + " is being migrated already");
    }
    if (auto it = open_files_.find(t.ino); it != open_files_.end()) of = it->second.lock();
    if (Status fits = OpenFileFits(**to, rel, of != nullptr); !fits.ok()) {
      migrations_.erase(t.ino);
      return fits;
    }
  }
  if (of) {
    // From now on every write of the open file reaches the dirty map.
    Status s = of->file().WithIoStopped([&](std::unique_ptr<env::File>& pool_file) {
      pool_file = std::make_unique<DirtyTrackingFile>(std::move(pool_file), t.dirty);
      return Status::OK();
    });
    if (!s.ok()) {
      EndMigration(t);
      return s;
    }
  }
  return t;
}

bool Volume::AbortMigrationOf(ino_t ino) {
  std::unique_lock lock(open_mu_);
  auto it = migrations_.find(ino);
  if (it == migrations_.end()) return false;
  std::shared_ptr<Migration> m = it->second;
  migration_cv_.wait(lock, [&] { return !m->switching; });
  m->aborted = true;
  return true;
}

Status Volume::SwitchRedirector(const MigrationTicket& t, bool* switched) {
  *switched = false;
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(t.rel));
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), t.rel));
  auto r = e.kind == Impl::Kind::kRedirector ? Impl::ReadRedirector(*dir, e, t.rel)
                                             : Result<Redirector>(Status::NotFound("not a file"));
  if (!r.ok() || r->guid != t.guid || e.st.ino != t.ino || e.pool != t.from_pool) {
    return Status::FailedPrecondition("/" + t.rel +
                                      " was renamed, removed or replaced during its migration");
  }
  CAFS_ASSIGN_OR_RETURN(pool::Pool * to, pools_->Find(t.to_pool));
  const bool in_place = t.to_temp == t.to_path;  // made at its path (BeginMigration)
  if (!in_place && !to->Stat(t.to_path).status().IsNotFound()) {
    return Status::AlreadyExists("/" + t.rel + ": " + t.to_path + " appeared in pool " + t.to_pool +
                                 " during the migration");
  }
  // 1. The complete copy at its path in the target pool (an orphan until the commit point).
  const std::string parent = ParentRel(t.to_path);
  if (!in_place) CAFS_RETURN_IF_ERROR(to->Rename(t.to_temp, t.to_path));
  if (Status s = to->SyncDir(parent); !s.ok()) {
    if (!in_place) (void)to->Rename(t.to_path, t.to_temp);
    return s.WithContext("/" + t.rel + ": placing the copy in pool " + t.to_pool);
  }
  CAFS_RETURN_IF_ERROR(CrashPoint("migrate:target-placed"));
  // 2. The commit point: the same redirector inode renamed to name the target pool, synced.
  // A name long in the target pool only gets its side entry first (Rename, Link do the same).
  const std::string new_name = RedirectorBackingName(comps.back(), t.to_pool);
  const std::string_view old_stem = LongNameStemOf(e.backing_name);
  const std::string_view new_stem = LongNameStemOf(new_name);
  std::unique_lock long_lock(long_names_mu_, std::defer_lock);
  Status s;
  if (!new_stem.empty() && new_stem != old_stem) {
    long_lock.lock();
    s = Impl::PutLongName(*dir, new_stem, comps.back(), t.rel);
  }
  if (s.ok()) s = dir->Rename(e.backing_name, *dir, new_name, env::RenameMode::kNoReplace);
  if (s.ok()) {
    if (s = dir->Sync(); !s.ok()) {
      // Not durable: undo, unless the undo fails too: then the name says the target pool (the
      // open file must follow it) but nobody may be told the move is done, and the old copy
      // stays (after a restart the job goes by what the disk kept).
      if (!dir->Rename(new_name, *dir, e.backing_name, env::RenameMode::kNoReplace).ok()) {
        CAFS_LOG_ERROR("migrate /{}: redirector switched to pool {} but not synced: {}", t.rel,
                       t.to_pool, s.ToString());
        *switched = true;
        return AsRel(s, "sync the switched redirector of", t.rel);
      }
      (void)dir->Sync();
    }
  }
  if (long_lock.owns_lock()) long_lock.unlock();
  if (!s.ok()) {
    if (new_stem != old_stem) Impl::DropLongName(*this, *dir, new_stem, t.rel);
    if (!in_place) (void)to->Rename(t.to_path, t.to_temp);
    return AsRel(s, "switch redirector of", t.rel);
  }
  *switched = true;
  CAFS_RETURN_IF_ERROR(CrashPoint("migrate:redirector-switched"));
  if (old_stem != new_stem) Impl::DropLongName(*this, *dir, old_stem, t.rel);
  // 3. Line 3, in place. If this fails the open path still finds the copy (it is at one of
  // PoolPathCandidates) and repairs line 3; so does the migration job after a restart.
  if (r->pool_path != t.to_path) {
    auto rf = dir->OpenFile(new_name, env::OpenOptions::ReadWrite());
    Status w =
        rf.ok() ? WriteRedirector(**rf, EncodeRedirector({t.guid, t.to_path}), t.rel) : rf.status();
    if (!w.ok()) CAFS_LOG_WARN("migrate /{}: line 3 not rewritten yet: {}", t.rel, w.ToString());
    CAFS_RETURN_IF_ERROR(CrashPoint("migrate:redirector-updated"));
  }
  return Status::OK();
}

Status Volume::CommitMigration(const MigrationTicket& t,
                               const std::function<Status()>& final_pass) {
  std::shared_ptr<Migration> m;
  std::shared_ptr<OpenFile> of;
  {
    std::lock_guard lock(open_mu_);
    auto it = migrations_.find(t.ino);
    if (it == migrations_.end()) return Status::Internal("migration not registered");
    m = it->second;
    if (m->aborted) {
      return Status::FailedPrecondition("/" + t.rel +
                                        " was renamed or removed during its migration");
    }
    if (auto o = open_files_.find(t.ino); o != open_files_.end()) of = o->second.lock();
    CAFS_ASSIGN_OR_RETURN(pool::Pool * to, pools_->Find(t.to_pool));
    CAFS_RETURN_IF_ERROR(OpenFileFits(*to, t.rel, of != nullptr));  // opened since Begin
    m->switching = true;  // opens of the file wait; `of` cannot go away meanwhile
  }
  Status s;
  bool switched = false;  // the redirector names the target pool (even if s is not OK)
  if (of) {
    s = of->file().WithIoStopped([&](std::unique_ptr<env::File>& pool_file) -> Status {
      CAFS_RETURN_IF_ERROR(final_pass());
      // The target, opened before the commit: after it the open file must be able to follow.
      CAFS_ASSIGN_OR_RETURN(pool::Pool * to, pools_->Find(t.to_pool));
      CAFS_ASSIGN_OR_RETURN(auto target, to->OpenFile(t.to_temp, env::OpenOptions::ReadWrite()));
      Status sw = SwitchRedirector(t, &switched);
      if (switched && changes_ != nullptr) {  // the change log follows the file
        auto tracked = changes_->Wrap(t.guid, std::move(target));
        if (!tracked.ok()) return tracked.status();
        target = std::move(*tracked);
      }
      if (switched) pool_file = std::move(target);  // the source (and its tracking) closed
      return sw;
    });
    if (switched) {
      std::lock_guard lock(of->pool_mu_);
      of->pool_ = t.to_pool;
    }
  } else {
    s = final_pass();
    if (s.ok()) s = SwitchRedirector(t, &switched);
  }
  {
    std::lock_guard lock(open_mu_);
    m->switching = false;
    m->committed = switched;
    if (switched) ++switches_;
  }
  migration_cv_.notify_all();
  return s;
}

void Volume::EndMigration(const MigrationTicket& t) {
  std::shared_ptr<OpenFile> of;
  {
    std::lock_guard lock(open_mu_);
    auto it = migrations_.find(t.ino);
    if (it == migrations_.end() || it->second->dirty != t.dirty) return;
    const bool committed = it->second->committed;
    migrations_.erase(it);
    if (committed) return;
    if (auto o = open_files_.find(t.ino); o != open_files_.end()) of = o->second.lock();
  }
  if (!of) return;
  // Not moved: the open file's writes stop being tracked.
  (void)of->file().WithIoStopped([&](std::unique_ptr<env::File>& pool_file) {
    auto* tracking = dynamic_cast<DirtyTrackingFile*>(pool_file.get());
    if (tracking != nullptr && tracking->map() == t.dirty) pool_file = tracking->Release();
    return Status::OK();
  });
}

Status Volume::RemovePoolCopy(const std::string& pool_name, const std::string& path,
                              const Uuid& guid) {
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, pools_->Find(pool_name));
  if (Impl::PoolFileGuid(*pool, path) != guid) return Status::OK();
  if (Status s = pool->RemoveFile(path); !s.ok() && !s.IsNotFound()) return s;
  return pool->SyncDir(ParentRel(path));
}

Status Volume::RecordPoolPath(const std::string& rel, const Uuid& guid, const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind != Impl::Kind::kRedirector) return Status::NotFound("/" + rel + " is not a file");
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(*dir, e, rel));
  if (r.guid != guid)
    return Status::NotFound("/" + rel + " no longer names file " + guid.ToString());
  if (r.pool_path == path) return Status::OK();
  auto rf = dir->OpenFile(e.backing_name, env::OpenOptions::ReadWrite());
  if (!rf.ok()) return AsRel(rf.status(), "open redirector", rel);
  return WriteRedirector(**rf, EncodeRedirector({guid, path}), rel);
}

// --- Mirrored files ---

ReplicaEventFn Volume::ReplicaEventsFor(const std::string& rel) const {
  return [this, rel](const ReplicaEvent& ev) {
    std::lock_guard lock(sink_mu_);
    if (replica_events_) replica_events_(rel, ev);
  };
}

Result<std::shared_ptr<MirrorSet>> Volume::MirrorSetLocked(ino_t ino,
                                                           const std::string& primary_pool,
                                                           const Redirector& r,
                                                           const std::string& rel) {
  if (auto it = mirrors_.find(ino); it != mirrors_.end()) {
    if (auto live = it->second.lock()) return live;
  }
  std::vector<MirrorSet::Copy> copies;
  for (const ReplicaLocation& c : Impl::Copies(primary_pool, r)) {
    MirrorSet::Copy copy{c.pool, c.pool_path, nullptr};
    format::Header hdr;
    auto f = Impl::OpenCopy(*this, c, r.guid, false, &hdr);
    if (f.ok()) {
      copy.file = std::move(*f);
    } else if (pool::IsLeaseHeld(f.status())) {
      // Another gateway writes this copy: not a failed pool, the file is not ours to open.
      return f.status().WithContext("/" + rel);
    } else {
      copy.error = f.status().ToString();
    }
    if (auto p = pools_->Find(c.pool); p.ok()) {
      copy.probe = [p = *p] { return p->CheckAvailable(); };
    }
    copies.push_back(std::move(copy));
  }
  auto set =
      MirrorSet::Open(r.guid, std::move(copies),
                      std::make_unique<MirrorLog>(root_dir_.get(), r.guid), ReplicaEventsFor(rel));
  if (!set.ok()) return set.status().WithContext("/" + rel);
  mirrors_[ino] = *set;
  for (auto i = mirrors_.begin(); i != mirrors_.end();) {
    i = i->second.expired() ? mirrors_.erase(i) : std::next(i);
  }
  return set;
}

Result<std::vector<ReplicaStatus>> Volume::Replicas(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(FileLocation loc, Locate(rel));
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  std::vector<ReplicaStatus> out;
  {
    std::lock_guard lock(open_mu_);
    if (auto it = mirrors_.find(e.st.ino); it != mirrors_.end()) {
      if (auto live = it->second.lock()) out = live->Replicas();
    }
  }
  if (out.empty()) {
    Redirector r{loc.guid, loc.recorded_path, loc.replicas};
    std::optional<MirrorLogRecord> log;
    if (!r.replicas.empty()) {
      CAFS_ASSIGN_OR_RETURN(log, MirrorLog(root_dir_.get(), r.guid).Load());
    }
    const std::vector<ReplicaLocation> copies = Impl::Copies(loc.pool, r);
    for (std::size_t i = 0; i < copies.size(); ++i) {
      ReplicaStatus st{copies[i].pool, copies[i].pool_path, ReplicaHealth::kInSync, 0, "", 0};
      if (log && log->copies.size() == copies.size() && log->copies[i].stale) {
        DirtyMap m(log->chunk_bytes);
        m.SetWords(log->copies[i].words);
        st.health = ReplicaHealth::kStale;
        st.dirty_bytes = m.DirtyChunks() * log->chunk_bytes;
        st.error = "stale (mirror log)";
        st.stale_since_ms = log->copies[i].stale_since_ms;
      }
      out.push_back(std::move(st));
    }
  }
  for (ReplicaStatus& st : out) {  // what is true now, beside what was recorded
    auto p = pools_->Find(st.pool);
    Status avail = p.ok() ? (*p)->CheckAvailable() : p.status();
    if (!avail.ok()) st.error = "pool unreachable now: " + avail.message();
  }
  return out;
}

Result<std::shared_ptr<MirrorSet>> Volume::MirrorSetOf(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto comps, SplitPath(rel));
  if (comps.empty()) return Status::FromErrno(EISDIR, "/ is a directory");
  CAFS_ASSIGN_OR_RETURN(DirPtr dir, Impl::OpenDir(*this, comps, comps.size() - 1));
  CAFS_ASSIGN_OR_RETURN(Impl::Entry e, Impl::Find(*this, *dir, comps.back(), rel));
  if (e.kind != Impl::Kind::kRedirector) {
    return Status::InvalidArgument("/" + rel + " is not a file");
  }
  CAFS_ASSIGN_OR_RETURN(Redirector r, Impl::ReadRedirector(*dir, e, rel));
  if (r.replicas.empty()) {
    return Status::InvalidArgument("/" + rel + " has one copy: nothing to resync");
  }
  std::lock_guard lock(open_mu_);
  return MirrorSetLocked(e.st.ino, e.pool, r, rel);
}

Result<std::uint64_t> Volume::ResyncFile(const std::string& rel, std::uint64_t step_bytes,
                                         const std::function<bool(std::uint64_t)>& progress) {
  CAFS_ASSIGN_OR_RETURN(std::shared_ptr<MirrorSet> set, MirrorSetOf(rel));
  return ResyncSet(*set, rel, step_bytes, progress);
}

Result<bool> Volume::ResyncStep(MirrorSet& set, const std::string& rel, std::uint64_t budget,
                                std::uint64_t* copied) {
  *copied = 0;
  std::lock_guard serial(set.resync_mu());
  std::optional<std::size_t> index = set.ResyncingCopy();
  std::vector<std::string> unreachable;
  if (!index) {
    const std::vector<ReplicaStatus> copies = set.Replicas();
    for (std::size_t i : set.StaleCopies()) {
      const ReplicaLocation c{copies[i].pool, copies[i].pool_path};
      format::Header hdr;
      auto fresh = Impl::OpenCopy(*this, c, set.guid(), false, &hdr);
      bool whole = false;
      if (!fresh.ok() && (fresh.status().IsNotFound() || fresh.status().IsCorruption())) {
        // The pool is back without the file (or with something else there): copied whole.
        auto p = pools_->Find(c.pool);
        if (!p.ok()) return p.status();
        CAFS_RETURN_IF_ERROR((*p)->CreateDirs(ParentRel(c.pool_path)));
        env::OpenOptions create = env::OpenOptions::ReadWrite();
        create.create = true;
        create.truncate = true;
        fresh = (*p)->OpenFile(c.pool_path, create);
        whole = fresh.ok();
        if (whole) CAFS_RETURN_IF_ERROR((*p)->SyncDir(ParentRel(c.pool_path)));
      }
      if (!fresh.ok()) {
        unreachable.push_back(c.pool + " (" + fresh.status().message() + ")");
        continue;
      }
      CAFS_RETURN_IF_ERROR(set.BeginResync(i, std::move(*fresh), whole));
      index = i;
      break;
    }
  }
  if (!index) {
    if (unreachable.empty()) return true;  // nothing stale
    std::string list;
    for (const std::string& u : unreachable) list += (list.empty() ? "" : ", ") + u;
    return Status::FromErrno(EIO, "/" + rel + ": copies still unreachable: " + list);
  }
  CAFS_ASSIGN_OR_RETURN(bool in_sync, set.ResyncStep(*index, budget, copied));
  return in_sync && set.StaleCopies().empty();
}

Result<std::uint64_t> Volume::ResyncSet(MirrorSet& set, const std::string& rel,
                                        std::uint64_t step_bytes,
                                        const std::function<bool(std::uint64_t)>& progress) {
  std::uint64_t total = 0;
  for (;;) {
    std::uint64_t copied = 0;
    auto done = ResyncStep(set, rel, step_bytes, &copied);
    total += copied;
    CAFS_RETURN_IF_ERROR(done.status());
    if (*done) return total;
    if (!progress(total)) {
      return Status::FailedPrecondition("/" + rel +
                                        ": resync stopped; the copy being resynced stays stale");
    }
  }
}

Result<std::vector<MirrorLogRecord>> Volume::MirrorLogs() {
  CAFS_ASSIGN_OR_RETURN(std::vector<Uuid> guids, MirrorLog::List(*root_dir_));
  std::vector<MirrorLogRecord> out;
  for (const Uuid& guid : guids) {
    auto r = MirrorLog(root_dir_.get(), guid).Load();
    if (!r.ok()) {
      CAFS_LOG_WARN("{}: {}", MirrorLog::NameFor(guid), r.status().ToString());
    } else if (*r) {
      out.push_back(std::move(**r));
    }
  }
  return out;
}

std::uint64_t Volume::ResyncOpenFiles(std::uint64_t step_bytes) {
  std::vector<std::shared_ptr<MirrorSet>> degraded;
  {
    std::lock_guard lock(open_mu_);
    for (const auto& [ino, weak] : mirrors_) {
      if (auto set = weak.lock(); set && !set->StaleCopies().empty()) degraded.push_back(set);
    }
  }
  std::uint64_t total = 0;
  for (const auto& set : degraded) {
    // Only copies whose pool answers again: a pool still down is not retried into a new failure.
    bool any_back = false;
    for (std::size_t i : set->StaleCopies()) {
      auto p = pools_->Find(set->Replicas()[i].pool);
      any_back = any_back || (p.ok() && (*p)->CheckAvailable().ok());
    }
    if (!any_back) continue;
    auto copied = ResyncSet(*set, "file " + set->guid().ToString(), step_bytes,
                            [](std::uint64_t) { return true; });
    if (copied.ok()) {
      total += *copied;
    } else {
      CAFS_LOG_INFO("mirror resync of {}: {}", set->guid().ToString(), copied.status().ToString());
    }
  }
  return total;
}

}  // namespace cafs::core
