#include "frontend/nfs/nfs3_program.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cafs/permission.h"
#include "crypto/rng.h"
#include "util/logging.h"

namespace cafs::frontend::nfs {
namespace {

// FSINFO properties
constexpr std::uint32_t kFsfLink = 0x0001;
constexpr std::uint32_t kFsfSymlink = 0x0002;
constexpr std::uint32_t kFsfHomogeneous = 0x0008;
constexpr std::uint32_t kFsfCanSetTime = 0x0010;

constexpr std::size_t kFattrSize = 84;
constexpr std::size_t kPostOpAttrSize = 4 + kFattrSize;

std::size_t XdrStringSize(std::size_t n) { return 4 + n + XdrPadding(n); }

// How many `false` booleans follow the status of a reply that fails before any attribute is
// known (post_op_attr: 1, wcc_data: 2, RENAME: 2 x wcc_data, LINK: post_op_attr + wcc_data).
unsigned EmptyFailureBools(Nfs3Proc proc) {
  switch (proc) {
    case Nfs3Proc::kGetAttr:
      return 0;
    case Nfs3Proc::kSetAttr:
    case Nfs3Proc::kWrite:
    case Nfs3Proc::kCreate:
    case Nfs3Proc::kMkDir:
    case Nfs3Proc::kSymlink:
    case Nfs3Proc::kMkNod:
    case Nfs3Proc::kRemove:
    case Nfs3Proc::kRmDir:
    case Nfs3Proc::kCommit:
      return 2;
    case Nfs3Proc::kLink:
      return 3;
    case Nfs3Proc::kRename:
      return 4;
    default:
      return 1;
  }
}

bool IsModifying(Nfs3Proc proc) {
  switch (proc) {
    case Nfs3Proc::kSetAttr:
    case Nfs3Proc::kWrite:
    case Nfs3Proc::kCreate:
    case Nfs3Proc::kMkDir:
    case Nfs3Proc::kSymlink:
    case Nfs3Proc::kMkNod:
    case Nfs3Proc::kRemove:
    case Nfs3Proc::kRmDir:
    case Nfs3Proc::kRename:
    case Nfs3Proc::kLink:
      return true;
    default:
      return false;
  }
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string Parent(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return static_cast<std::uint32_t>(a.tv_sec) == static_cast<std::uint32_t>(b.tv_sec) &&
         a.tv_nsec == b.tv_nsec;
}

std::uint64_t FnvHash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ULL;
  return h | 1;
}

}  // namespace

struct Nfs3Program::Request {
  const RpcCall& call;
  XdrDecoder& in;
  XdrEncoder& out;
  Nfs3Proc proc;
  core::Caller caller;
  std::vector<std::uint32_t> gids;
  const Export* exp = nullptr;
};

// The procedures; each decodes its arguments, returns kGarbageArgs when they do not decode,
// else encodes a full reply (also for NFS errors) and returns kSuccess.
class Nfs3Program::Procs {
 public:
  explicit Procs(Nfs3Program& p) : p_(p), gw_(*p.gateway_), fsid_(p.options_.fsid) {}

  // Resolves `fh` to a gateway path, checks the export and sets the caller.
  Result<std::string> Resolve(Request& r, ByteView fh) {
    CAFS_ASSIGN_OR_RETURN(std::string path, gw_.PathOfHandle(fh));
    CAFS_RETURN_IF_ERROR(Authorize(r, path));
    return path;
  }

  // The export check and caller identity for `path`.
  Status Authorize(Request& r, const std::string& path) {
    auto exp = p_.exports_->Match(path, r.call.peer_address);
    if (!exp.ok()) {
      return Status::PermissionDenied("client " + r.call.peer_address + " may not reach " + path +
                                      ": " + exp.status().message());
    }
    r.exp = *exp;
    AuthIdentity id = r.exp->Credentials(r.call.sys.uid, r.call.sys.gid, r.call.sys.gids);
    r.caller = core::Caller{{}, id.uid, id.gid, r.call.peer_address};
    r.gids = std::move(id.gids);
    if (IsModifying(r.proc) && r.exp->read_only()) {
      return Status::FromErrno(EROFS, "export " + r.exp->path() + " is read-only");
    }
    return Status::OK();
  }

  // A file handle of a regular file as READ/WRITE/COMMIT/GETATTR see it: its path and its
  // cached open file (null when not cached and `open` is false).
  struct OpenTarget {
    std::string path;
    Nfs3OpenFiles::EntryPtr entry;
    // When `entry` is set: the request's one policy decision on it (Gateway::Grant, made
    // under `op`) and, when asked for, the open file's attributes (one fstat).
    std::optional<core::Gateway::Grant> grant;
    std::optional<core::Attr> attr;
  };

  // Like Resolve, but a cached open file's path stands for the handle while the gateway's
  // namespace generation is unchanged (no open_by_handle_at per request). After any rename
  // or removal the handle is resolved again; an entry whose path changed (a directory above
  // it was renamed) is dropped and the file reopened under its new path. `open`: open and
  // cache the file when it is not cached. A cached file gets the request's one policy
  // decision, as `op`, the gateway operation that follows (a denial is audited once, under
  // that name), and with `attrs` its attributes (one fstat: FetchAttr).
  Result<OpenTarget> ResolveOpen(Request& r, ByteView fh, std::string_view op, bool open,
                                 bool attrs = true) {
    const std::uint64_t generation = gw_.namespace_generation();
    OpenTarget t;
    t.entry = p_.open_.Find(fh);
    if (t.entry != nullptr && t.entry->generation.load() == generation) {
      t.path = t.entry->path;
    } else {
      CAFS_ASSIGN_OR_RETURN(t.path, gw_.PathOfHandle(fh));
      if (t.entry != nullptr && t.entry->path == t.path) {
        t.entry->generation.store(generation);
      } else if (t.entry != nullptr) {
        p_.open_.Evict(fh);
        t.entry.reset();
      }
    }
    CAFS_RETURN_IF_ERROR(Authorize(r, t.path));
    if (t.entry == nullptr && open) {
      CAFS_ASSIGN_OR_RETURN(t.entry, p_.open_.Acquire(r.caller, fh, t.path, generation));
    }
    if (t.entry != nullptr) {
      CAFS_ASSIGN_OR_RETURN(t.grant, gw_.Access(r.caller, t.entry->handle, op));
      if (attrs) CAFS_RETURN_IF_ERROR(FetchAttr(fh, t));
    }
    return t;
  }

  // The attributes of the cached open file of `t` under its grant; a file whose entry was
  // removed behind the gateway's back (link count 0) is STALE, as a handle resolution would
  // have said.
  Status FetchAttr(ByteView fh, OpenTarget& t) {
    CAFS_ASSIGN_OR_RETURN(t.attr, gw_.AttrOf(*t.grant));
    if (t.attr->nlink == 0) {
      p_.open_.Evict(fh);
      return Status::FromErrno(ESTALE, t.path + " was removed");
    }
    return Status::OK();
  }

  AcceptStat Fail(Request& r, const Status& s) {
    if (s.errno_value() != ESTALE && s.code() != Status::Code::kPermissionDenied &&
        s.code() != Status::Code::kNotFound) {
      CAFS_LOG_DEBUG("nfs: proc {} from {}: {}", static_cast<unsigned>(r.proc), r.call.peer_address,
                     s.ToString());
    }
    r.out.U32(static_cast<std::uint32_t>(ToNfs3Status(s)));
    for (unsigned i = 0; i < EmptyFailureBools(r.proc); ++i) r.out.Bool(false);
    return AcceptStat::kSuccess;
  }

  static bool Done(const XdrDecoder& in) { return in.ok() && in.remaining() == 0; }

  // The caller as the mode and owner checks see it (after the export's squash).
  static core::Identity Who(const Request& r) { return {r.caller.uid, r.caller.gid, r.gids}; }
  // knfsd's mode and owner check of `want` (core::kMay*) on an entry with attributes `a`
  // (docs/nfs.md "Permission checks"); an entry whose attributes could not be read is left
  // to the gateway, which answers for it.
  Status MayAccess(Request& r, const std::optional<core::Attr>& a, unsigned want,
                   bool owner_override = false) {
    return a ? core::CheckAccess(Who(r), *a, want, owner_override) : Status::OK();
  }
  // Removing or replacing the entry `child` of the directory whose attributes are `dir`.
  Status MayDelete(Request& r, const std::optional<core::Attr>& dir, const std::string& child) {
    if (!dir) return Status::OK();
    auto victim = gw_.GetAttr(r.caller, child);
    if (!victim.ok()) return core::CheckAccess(Who(r), *dir, core::kMayWrite | core::kMayExec);
    return core::CheckDelete(Who(r), *dir, *victim);
  }

  std::optional<core::Attr> AttrOf(Request& r, const std::string& path) {
    auto a = gw_.GetAttr(r.caller, path);
    return a.ok() ? std::optional<core::Attr>(*a) : std::nullopt;
  }
  void PostOp(Request& r, const std::optional<core::Attr>& a) {
    EncodePostOpAttr(r.out, a ? &*a : nullptr, fsid_);
  }
  void Wcc(Request& r, const std::optional<core::Attr>& before,
           const std::optional<core::Attr>& after) {
    EncodeWcc(r.out, before ? &*before : nullptr, after ? &*after : nullptr, fsid_);
  }
  void Status3(Request& r, Nfs3Status s) { r.out.U32(static_cast<std::uint32_t>(s)); }
  void Status3(Request& r, const Status& s) { Status3(r, ToNfs3Status(s)); }

  // Handler prologue for procedures whose arguments are one handle.
  AcceptStat Getattr(Request& r) {
    Bytes fh = DecodeFh(r.in);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto target = ResolveOpen(r, fh, "getattr", /*open=*/false);
    if (!target.ok()) return Fail(r, target.status());
    auto attr =
        target->attr ? Result<core::Attr>(*target->attr) : gw_.GetAttr(r.caller, target->path);
    if (!attr.ok()) return Fail(r, attr.status());
    Status3(r, Nfs3Status::kOk);
    EncodeFattr(r.out, *attr, fsid_);
    return AcceptStat::kSuccess;
  }

  AcceptStat Setattr(Request& r) {
    Bytes fh = DecodeFh(r.in);
    core::SetAttrRequest req = DecodeSattr(r.in);
    const bool check = r.in.Bool();
    struct timespec guard {};
    if (check) guard = DecodeTime(r.in);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto path = Resolve(r, fh);
    if (!path.ok()) return Fail(r, path.status());
    auto before = AttrOf(r, *path);
    if (check && before && !SameTime(before->ctime, guard)) {
      Status3(r, Nfs3Status::kNotSync);
      Wcc(r, before, before);
      return AcceptStat::kSuccess;
    }
    Status may = before ? core::CheckSetAttr(Who(r), *before, req) : Status::OK();
    auto after = may.ok() ? gw_.SetAttr(r.caller, *path, req) : Result<core::Attr>(may);
    Status3(r, after.status());
    Wcc(r, before, after.ok() ? std::optional<core::Attr>(*after) : AttrOf(r, *path));
    return AcceptStat::kSuccess;
  }

  // Decodes diropargs3 and resolves the directory; `child` gets the entry's path.
  Result<std::string> DirOp(Request& r, const Bytes& dirfh, const std::string& name,
                            std::string* child) {
    CAFS_ASSIGN_OR_RETURN(std::string dir, Resolve(r, dirfh));
    CAFS_RETURN_IF_ERROR(gw_.CheckName(name));
    *child = Join(dir, name);
    return dir;
  }

  AcceptStat Lookup(Request& r) {
    Bytes fh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto dir = Resolve(r, fh);
    if (!dir.ok()) return Fail(r, dir.status());
    const auto dir_attr = AttrOf(r, *dir);  // a lookup does not change it
    if (Status may = MayAccess(r, dir_attr, core::kMayExec); !may.ok()) {
      Status3(r, may);
      PostOp(r, dir_attr);
      return AcceptStat::kSuccess;
    }
    std::string child;
    if (name == ".") {
      child = *dir;
    } else if (name == "..") {
      child = *dir == r.exp->path() ? *dir : Parent(*dir);
    } else {
      Status ok = gw_.CheckName(name);
      if (!ok.ok()) {
        Status3(r, ok);
        PostOp(r, dir_attr);
        return AcceptStat::kSuccess;
      }
      child = Join(*dir, name);
    }
    Result<core::Attr> attr = gw_.Lookup(r.caller, child);
    Result<Bytes> handle = attr.ok() ? gw_.HandleOf(child) : Result<Bytes>(attr.status());
    if (!handle.ok()) {
      Status3(r, handle.status());
      PostOp(r, dir_attr);
      return AcceptStat::kSuccess;
    }
    Status3(r, Nfs3Status::kOk);
    EncodeFh(r.out, *handle);
    PostOp(r, *attr);
    PostOp(r, dir_attr);
    return AcceptStat::kSuccess;
  }

  static std::uint32_t AccessBits(const core::Attr& a, const Request& r) {
    const unsigned rwx = core::Permitted(Who(r), a);
    std::uint32_t bits = 0;
    if (rwx & 4) bits |= kAccessRead;
    if (rwx & 2) bits |= kAccessModify | kAccessExtend | kAccessDelete;
    if (rwx & 1) bits |= a.type == core::FileType::kDirectory ? kAccessLookup : kAccessExecute;
    if (r.exp->read_only()) bits &= ~(kAccessModify | kAccessExtend | kAccessDelete);
    return bits;
  }

  AcceptStat Access(Request& r) {
    Bytes fh = DecodeFh(r.in);
    const std::uint32_t wanted = r.in.U32();
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto path = Resolve(r, fh);
    if (!path.ok()) return Fail(r, path.status());
    auto attr = gw_.GetAttr(r.caller, *path);
    if (!attr.ok()) return Fail(r, attr.status());
    Status3(r, Nfs3Status::kOk);
    PostOp(r, *attr);
    r.out.U32(wanted & AccessBits(*attr, r));
    return AcceptStat::kSuccess;
  }

  AcceptStat Readlink(Request& r) {
    Bytes fh = DecodeFh(r.in);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto path = Resolve(r, fh);
    if (!path.ok()) return Fail(r, path.status());
    auto target = gw_.ReadLink(r.caller, *path);
    Status3(r, target.status());
    PostOp(r, AttrOf(r, *path));
    if (target.ok()) r.out.String(*target);
    return AcceptStat::kSuccess;
  }

  AcceptStat Read(Request& r) {
    Bytes fh = DecodeFh(r.in);
    const std::uint64_t offset = r.in.U64();
    const std::size_t count = std::min<std::size_t>(r.in.U32(), kNfs3MaxData);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto target = ResolveOpen(r, fh, "read", /*open=*/true);
    if (!target.ok()) return Fail(r, target.status());
    const std::optional<core::Attr>& attr = target->attr;
    if (Status may = MayAccess(r, attr, core::kMayRead, /*owner_override=*/true); !may.ok()) {
      Status3(r, may);
      PostOp(r, attr);
      return AcceptStat::kSuccess;
    }
    const std::size_t start = r.out.size();
    Status3(r, Nfs3Status::kOk);
    PostOp(r, attr);
    const std::size_t count_slot = r.out.ReserveU32();
    const std::size_t eof_slot = r.out.ReserveU32();
    const std::size_t len_slot = r.out.ReserveU32();
    const std::size_t data = r.out.AppendSpace(count);
    // Straight into the reply (AppendSpace does not zero it). On the compute pool the read
    // must not wait for storage: data not in the page cache sends the call to the blocking
    // pool (kAcceptWouldWait), which serves it again from the start.
    using Wait = format::EncryptedFile::Wait;
    auto n = gw_.Read(r.caller, *target->grant, offset,
                      MutableByteView(r.out.bytes().data() + data, count),
                      r.call.may_wait ? Wait::kMay : Wait::kNever);
    if (!n.ok() && !r.call.may_wait && n.status().errno_value() == EAGAIN) {
      return kAcceptWouldWait;
    }
    if (!n.ok()) {
      r.out.Truncate(start);
      Status3(r, n.status());
      PostOp(r, attr);
      return AcceptStat::kSuccess;
    }
    r.out.Truncate(data + *n);
    r.out.AlignTo4();
    r.out.PatchU32(count_slot, static_cast<std::uint32_t>(*n));
    r.out.PatchU32(eof_slot, offset + *n >= attr->size ? 1u : 0u);
    r.out.PatchU32(len_slot, static_cast<std::uint32_t>(*n));
    return AcceptStat::kSuccess;
  }

  void Verifier(Request& r) {
    auto v = p_.write_verifier();
    r.out.FixedOpaque(v);
  }

  AcceptStat Write(Request& r) {
    const Write3Header w = DecodeWrite3Header(r.in);
    const ByteView data = r.in.OpaqueView(kNfs3MaxData);  // into the record: no copy
    if (!Done(r.in) || w.stable > 2) return AcceptStat::kGarbageArgs;
    if (w.count > data.size()) return Fail(r, Status::InvalidArgument("count above the data"));
    auto target = ResolveOpen(r, w.fh, "write", /*open=*/true);
    if (!target.ok()) return Fail(r, target.status());
    const core::Gateway::Grant& grant = *target->grant;
    Status s = MayAccess(r, target->attr, core::kMayWrite, /*owner_override=*/true);
    if (s.ok()) s = gw_.Write(r.caller, grant, w.offset, data.first(w.count));
    const bool sync = static_cast<StableHow>(w.stable) != StableHow::kUnstable;
    if (s.ok() && sync) s = gw_.Fsync(r.caller, grant);
    // Post-op attributes: a stable WRITE moved mtime and ctime (Gateway::Fsync), which only
    // an fstat tells; an UNSTABLE one changed the size alone (the times move at COMMIT), so
    // the attributes fetched for the permission check serve, with the size now.
    std::optional<core::Attr> after;
    if (sync || !s.ok()) {
      auto a = gw_.AttrOf(grant);
      if (a.ok()) after = *a;
    } else {
      after = gw_.WithCurrentSize(grant, *target->attr);
    }
    Status3(r, s);
    // No pre-op attributes: target->attr was read before the write without a lock, so another
    // WRITE may have landed in between; pre-op attributes that are not atomic with the write
    // would let a client keep a cache another writer made stale (RFC 1813, wcc_data).
    Wcc(r, std::nullopt, after);
    if (s.ok()) {
      r.out.U32(w.count);
      r.out.U32(static_cast<std::uint32_t>(sync ? StableHow::kFileSync : StableHow::kUnstable));
      Verifier(r);
    }
    return AcceptStat::kSuccess;
  }

  // Ends CREATE/MKDIR/SYMLINK/MKNOD: status, on success post_op_fh3 + post_op_attr, then the
  // directory's wcc_data.
  AcceptStat NewEntryReply(Request& r, const Status& s, const std::string& child,
                           const std::optional<core::Attr>& attr, const std::string& dir,
                           const std::optional<core::Attr>& dir_before) {
    Status3(r, s);
    if (s.ok()) {
      auto handle = gw_.HandleOf(child);
      r.out.Bool(handle.ok());
      if (handle.ok()) EncodeFh(r.out, *handle);
      PostOp(r, attr);
    }
    Wcc(r, dir_before, AttrOf(r, dir));
    return AcceptStat::kSuccess;
  }

  // Applies what of `req` the create call did not (owner, size, times).
  Result<core::Attr> ApplyRest(Request& r, const std::string& path, core::SetAttrRequest req,
                               const core::Attr& created) {
    req.mode.reset();
    if (req.uid == created.uid) req.uid.reset();
    if (req.gid == created.gid) req.gid.reset();
    if (req.size == created.size) req.size.reset();
    if (IsEmpty(req)) return created;
    return gw_.SetAttr(r.caller, path, req);
  }

  AcceptStat Create(Request& r) {
    Bytes dirfh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    const std::uint32_t how = r.in.U32();
    core::SetAttrRequest req;
    std::array<std::uint8_t, 8> verf{};
    if (how == static_cast<std::uint32_t>(CreateMode::kExclusive)) {
      r.in.FixedOpaque(verf.size(), verf.data());
    } else if (how <= static_cast<std::uint32_t>(CreateMode::kGuarded)) {
      req = DecodeSattr(r.in);
    } else {
      r.in.Fail();
    }
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    std::string child;
    auto dir = DirOp(r, dirfh, name, &child);
    if (!dir.ok()) return Fail(r, dir.status());
    auto before = AttrOf(r, *dir);
    if (Status may = MayAccess(r, before, core::kMayWrite | core::kMayExec); !may.ok()) {
      return NewEntryReply(r, may, child, {}, *dir, before);
    }
    const std::uint64_t generation = gw_.namespace_generation();
    const std::uint32_t mode = req.mode.value_or(0644);
    const auto mode_how = static_cast<CreateMode>(how);
    Result<core::OpenResult> created = Status::Internal("unset");
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (mode_how == CreateMode::kUnchecked) {
        auto existing = gw_.GetAttr(r.caller, child);
        if (existing.ok()) {
          if (existing->type != core::FileType::kRegular) {
            return NewEntryReply(r, Status::AlreadyExists(child), child, {}, *dir, before);
          }
          Status may = core::CheckSetAttr(Who(r), *existing, req);
          auto attr = may.ok() ? ApplyRest(r, child, req, *existing) : Result<core::Attr>(may);
          return NewEntryReply(r, attr.status(), child,
                               attr.ok() ? std::optional<core::Attr>(*attr) : std::nullopt, *dir,
                               before);
        }
        if (!existing.status().IsNotFound()) {
          return NewEntryReply(r, existing.status(), child, {}, *dir, before);
        }
      }
      created = gw_.Create(r.caller, child, mode, /*exclusive=*/true);
      if (created.ok() || created.status().code() != Status::Code::kAlreadyExists ||
          mode_how != CreateMode::kUnchecked) {
        break;  // UNCHECKED that lost a race to another creator: treat as existing
      }
    }
    if (!created.ok() && mode_how == CreateMode::kExclusive &&
        created.status().code() == Status::Code::kAlreadyExists) {
      // A retransmission finds the verifier it stored: the same answer as the first time.
      auto existing = gw_.GetAttr(r.caller, child);
      if (existing.ok() && existing->type == core::FileType::kRegular &&
          existing->atime.tv_sec == static_cast<time_t>(LoadBe32(verf.data()) & 0x7fffffff) &&
          existing->mtime.tv_sec == static_cast<time_t>(LoadBe32(verf.data() + 4) & 0x7fffffff)) {
        return NewEntryReply(r, Status::OK(), child, *existing, *dir, before);
      }
    }
    if (!created.ok()) return NewEntryReply(r, created.status(), child, {}, *dir, before);
    if (mode_how == CreateMode::kExclusive) {
      req = core::SetAttrRequest{};
      req.atime = timespec{static_cast<time_t>(LoadBe32(verf.data()) & 0x7fffffff), 0};
      req.mtime = timespec{static_cast<time_t>(LoadBe32(verf.data() + 4) & 0x7fffffff), 0};
    }
    auto attr = ApplyRest(r, child, req, created->attr);
    auto handle = gw_.HandleOf(child);
    if (handle.ok()) {
      p_.open_.Adopt(r.caller, *handle, created->handle, child, generation);
    } else {
      (void)gw_.Release(r.caller, created->handle);
    }
    return NewEntryReply(r, attr.status(), child,
                         attr.ok() ? std::optional<core::Attr>(*attr) : std::nullopt, *dir, before);
  }

  AcceptStat Mkdir(Request& r) {
    Bytes dirfh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    core::SetAttrRequest req = DecodeSattr(r.in);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    std::string child;
    auto dir = DirOp(r, dirfh, name, &child);
    if (!dir.ok()) return Fail(r, dir.status());
    auto before = AttrOf(r, *dir);
    if (Status may = MayAccess(r, before, core::kMayWrite | core::kMayExec); !may.ok()) {
      return NewEntryReply(r, may, child, {}, *dir, before);
    }
    auto made = gw_.MakeDir(r.caller, child, req.mode.value_or(0755));
    Result<core::Attr> attr = made.ok() ? ApplyRest(r, child, req, *made) : made;
    return NewEntryReply(r, attr.status(), child,
                         attr.ok() ? std::optional<core::Attr>(*attr) : std::nullopt, *dir, before);
  }

  AcceptStat Symlink(Request& r) {
    Bytes dirfh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    (void)DecodeSattr(r.in);  // a symlink's mode and owner are the caller's
    std::string target = r.in.String(kNfs3MaxPath);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    std::string child;
    auto dir = DirOp(r, dirfh, name, &child);
    if (!dir.ok()) return Fail(r, dir.status());
    auto before = AttrOf(r, *dir);
    if (Status may = MayAccess(r, before, core::kMayWrite | core::kMayExec); !may.ok()) {
      return NewEntryReply(r, may, child, {}, *dir, before);
    }
    auto attr = gw_.Symlink(r.caller, target, child);
    return NewEntryReply(r, attr.status(), child,
                         attr.ok() ? std::optional<core::Attr>(*attr) : std::nullopt, *dir, before);
  }

  AcceptStat Mknod(Request& r) {
    Bytes dirfh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    const std::uint32_t type = r.in.U32();
    core::SetAttrRequest sattr;
    std::uint32_t major_no = 0, minor_no = 0;
    if (type == kNf3Chr || type == kNf3Blk) {
      sattr = DecodeSattr(r.in);
      major_no = r.in.U32();  // specdata3
      minor_no = r.in.U32();
    } else if (type == kNf3Sock || type == kNf3Fifo) {
      sattr = DecodeSattr(r.in);
    } else if (type < kNf3Reg || type > kNf3Fifo) {
      r.in.Fail();
    }
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    std::string child;
    auto dir = DirOp(r, dirfh, name, &child);
    if (!dir.ok()) return Fail(r, dir.status());
    auto before = AttrOf(r, *dir);
    // Regular files and directories have their own procedures (RFC 1813: NFS3ERR_BADTYPE).
    if (type == kNf3Reg || type == kNf3Dir || type == kNf3Lnk) {
      Status3(r, Nfs3Status::kBadType);
      Wcc(r, before, before);
      return AcceptStat::kSuccess;
    }
    if (Status may = MayAccess(r, before, core::kMayWrite | core::kMayExec); !may.ok()) {
      return NewEntryReply(r, may, child, {}, *dir, before);
    }
    const std::uint32_t perms = sattr.mode.value_or(0644) & 07777;
    const std::uint32_t kind = type == kNf3Chr    ? S_IFCHR
                               : type == kNf3Blk  ? S_IFBLK
                               : type == kNf3Sock ? S_IFSOCK
                                                  : S_IFIFO;
    auto attr = gw_.MakeNode(r.caller, child, kind | perms, makedev(major_no, minor_no));
    return NewEntryReply(r, attr.status(), child,
                         attr.ok() ? std::optional<core::Attr>(*attr) : std::nullopt, *dir, before);
  }

  // Drops a cached open file whose name is about to go (REMOVE, RENAME over it).
  void Forget(const std::string& path) {
    auto handle = gw_.HandleOf(path);
    if (handle.ok()) p_.open_.Evict(*handle);
  }

  AcceptStat Remove(Request& r, bool dir_op) {
    Bytes dirfh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    std::string child;
    auto dir = DirOp(r, dirfh, name, &child);
    if (!dir.ok()) return Fail(r, dir.status());
    auto before = AttrOf(r, *dir);
    Status s = MayDelete(r, before, child);
    if (s.ok() && dir_op) {
      s = gw_.RemoveDir(r.caller, child);
    } else if (s.ok()) {
      Forget(child);
      s = gw_.Unlink(r.caller, child);
    }
    Status3(r, s);
    Wcc(r, before, AttrOf(r, *dir));
    return AcceptStat::kSuccess;
  }

  AcceptStat Rename(Request& r) {
    Bytes from_fh = DecodeFh(r.in);
    std::string from_name = r.in.String(kNfs3MaxPath);
    Bytes to_fh = DecodeFh(r.in);
    std::string to_name = r.in.String(kNfs3MaxPath);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    std::string from, to;
    auto to_dir = DirOp(r, to_fh, to_name, &to);
    if (!to_dir.ok()) return Fail(r, to_dir.status());
    const Export* to_export = r.exp;
    auto from_dir = DirOp(r, from_fh, from_name, &from);
    if (!from_dir.ok()) return Fail(r, from_dir.status());
    auto from_before = AttrOf(r, *from_dir);
    auto to_before = AttrOf(r, *to_dir);
    Status s = MayDelete(r, from_before, from);
    if (s.ok()) s = MayDelete(r, to_before, to);
    if (s.ok() && to_export != r.exp) s = Status::FromErrno(EXDEV, "rename across exports");
    if (s.ok()) {
      if (from != to) {
        // A cached open file keeps the path it was opened at: reopen under the new name.
        Forget(from);
        Forget(to);
      }
      s = gw_.Rename(r.caller, from, to, /*no_replace=*/false);
    }
    Status3(r, s);
    Wcc(r, from_before, AttrOf(r, *from_dir));
    Wcc(r, to_before, AttrOf(r, *to_dir));
    return AcceptStat::kSuccess;
  }

  AcceptStat Link(Request& r) {
    Bytes fh = DecodeFh(r.in);
    Bytes dirfh = DecodeFh(r.in);
    std::string name = r.in.String(kNfs3MaxPath);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto file = Resolve(r, fh);
    if (!file.ok()) return Fail(r, file.status());
    std::string child;
    auto dir = DirOp(r, dirfh, name, &child);
    if (!dir.ok()) return Fail(r, dir.status());
    auto before = AttrOf(r, *dir);
    Status s = MayAccess(r, before, core::kMayWrite | core::kMayExec);
    if (s.ok()) s = gw_.Link(r.caller, *file, child).status();
    Status3(r, s);
    PostOp(r, AttrOf(r, *file));
    Wcc(r, before, AttrOf(r, *dir));
    return AcceptStat::kSuccess;
  }

  AcceptStat Readdir(Request& r, bool plus) {
    Bytes fh = DecodeFh(r.in);
    const std::uint64_t cookie = r.in.U64();
    std::array<std::uint8_t, 8> verf{};
    r.in.FixedOpaque(verf.size(), verf.data());
    const std::uint32_t dircount = plus ? r.in.U32() : 0;
    const std::uint32_t maxcount = r.in.U32();
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto dir = Resolve(r, fh);
    if (!dir.ok()) return Fail(r, dir.status());
    auto dir_attr = AttrOf(r, *dir);
    Status may = MayAccess(r, dir_attr, core::kMayRead);
    // Attributes (fileid, and for PLUS the post_op_attr) and handles from one pass over the
    // directory: no lookup per entry.
    // (Only for the entries this reply can hold: each takes at least kMinEntrySize bytes.)
    constexpr std::size_t kMinEntrySize = 4 + 8 + 4 + 4 + 8;  // follows, fileid, name, cookie
    auto entries =
        may.ok() ? gw_.ReadDirPlus(r.caller, *dir, /*handles=*/plus,
                                   static_cast<std::size_t>(cookie), maxcount / kMinEntrySize + 1)
                 : Result<std::vector<core::Gateway::DirEntryPlus>>(may);
    if (!entries.ok()) {
      Status3(r, entries.status());
      PostOp(r, dir_attr);
      return AcceptStat::kSuccess;
    }
    // The cookie verifier is the directory's mtime: a cookie from before a change is refused.
    std::array<std::uint8_t, 8> current{};
    if (dir_attr) {
      StoreBe32(current.data(), static_cast<std::uint32_t>(dir_attr->mtime.tv_sec));
      StoreBe32(current.data() + 4, static_cast<std::uint32_t>(dir_attr->mtime.tv_nsec));
    }
    const bool zero_verf = std::all_of(verf.begin(), verf.end(), [](auto b) { return b == 0; });
    if (cookie != 0 && !zero_verf && verf != current) {
      Status3(r, Nfs3Status::kBadCookie);
      PostOp(r, dir_attr);
      return AcceptStat::kSuccess;
    }
    if (cookie > entries->size()) {
      Status3(r, Nfs3Status::kBadCookie);
      PostOp(r, dir_attr);
      return AcceptStat::kSuccess;
    }
    const std::size_t start = r.out.size();
    Status3(r, Nfs3Status::kOk);
    PostOp(r, dir_attr);
    r.out.FixedOpaque(current);
    std::size_t total = 4 + kPostOpAttrSize + 8 + 8;  // status, attr, verifier, end + eof
    std::size_t dir_bytes = 0;
    std::size_t sent = 0;
    std::size_t i = static_cast<std::size_t>(cookie);
    for (; i < entries->size(); ++i) {
      const core::DirEntry& e = (*entries)[i].entry;
      const std::optional<core::Attr> attr =
          (*entries)[i].attr.ok() ? std::optional<core::Attr>(*(*entries)[i].attr) : std::nullopt;
      const Result<Bytes>& handle = (*entries)[i].handle;
      const std::size_t base = 8 + XdrStringSize(e.name.size()) + 8;
      std::size_t size = 4 + base;
      if (plus) {
        size += 4 + (attr ? kFattrSize : 0) + 4 + (handle.ok() ? XdrStringSize(handle->size()) : 0);
      }
      if (total + size > maxcount || (plus && dir_bytes + base > dircount)) break;
      total += size;
      dir_bytes += base;
      r.out.Bool(true);
      r.out.U64(attr ? attr->backing_ino : FnvHash(Join(*dir, e.name)));
      r.out.String(e.name);
      r.out.U64(i + 1);
      if (plus) {
        PostOp(r, attr);
        r.out.Bool(handle.ok());
        if (handle.ok()) EncodeFh(r.out, *handle);
      }
      ++sent;
    }
    if (sent == 0 && i < entries->size()) {
      r.out.Truncate(start);
      Status3(r, Nfs3Status::kTooSmall);
      PostOp(r, dir_attr);
      return AcceptStat::kSuccess;
    }
    r.out.Bool(false);
    r.out.Bool(i >= entries->size());
    return AcceptStat::kSuccess;
  }

  // FSSTAT, FSINFO, PATHCONF: one handle in, post_op_attr + fixed fields out.
  AcceptStat FsProc(Request& r) {
    Bytes fh = DecodeFh(r.in);
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto path = Resolve(r, fh);
    if (!path.ok()) return Fail(r, path.status());
    auto attr = AttrOf(r, *path);
    auto stats = gw_.StatFs(r.caller);
    if (!stats.ok()) {
      Status3(r, stats.status());
      PostOp(r, attr);
      return AcceptStat::kSuccess;
    }
    Status3(r, Nfs3Status::kOk);
    PostOp(r, attr);
    switch (r.proc) {
      case Nfs3Proc::kFsStat:
        r.out.U64(stats->total_bytes);
        r.out.U64(stats->free_bytes);
        r.out.U64(stats->free_bytes);
        r.out.U64(stats->total_inodes);
        r.out.U64(stats->free_inodes);
        r.out.U64(stats->free_inodes);
        r.out.U32(0);  // invarsec
        break;
      case Nfs3Proc::kFsInfo:
        r.out.U32(kNfs3MaxData);  // rtmax
        r.out.U32(kNfs3MaxData);  // rtpref
        r.out.U32(4096);          // rtmult
        r.out.U32(kNfs3MaxData);  // wtmax
        r.out.U32(kNfs3MaxData);  // wtpref
        r.out.U32(4096);          // wtmult
        r.out.U32(64 * 1024);     // dtpref
        r.out.U64(0x7fffffffffffffffULL);
        r.out.U32(0);  // time_delta: 1 ns
        r.out.U32(1);
        r.out.U32(kFsfLink | kFsfSymlink | kFsfHomogeneous | kFsfCanSetTime);
        break;
      default:  // PATHCONF
        // linkmax: a file's names are the backing entry's (docs/redirectors.md "Hard links").
        r.out.U32(static_cast<std::uint32_t>(std::min<std::uint64_t>(stats->link_max, UINT32_MAX)));
        r.out.U32(stats->name_max);
        r.out.Bool(true);   // no_trunc
        r.out.Bool(true);   // chown_restricted
        r.out.Bool(false);  // case_insensitive
        r.out.Bool(true);   // case_preserving
        break;
    }
    return AcceptStat::kSuccess;
  }

  AcceptStat Commit(Request& r) {
    Bytes fh = DecodeFh(r.in);
    r.in.U64();  // offset, count: the whole file is synced
    r.in.U32();
    if (!Done(r.in)) return AcceptStat::kGarbageArgs;
    auto target = ResolveOpen(r, fh, "fsync", /*open=*/false, /*attrs=*/false);
    if (!target.ok()) return Fail(r, target.status());
    Status s;
    std::optional<core::Attr> attr;
    // A file no longer cached was synced when it was closed (or the verifier changed).
    if (target->entry != nullptr) {
      s = gw_.Fsync(r.caller, *target->grant);
      // After the sync (it moved the times): the one fstat, which also finds a removed file.
      if (Status a = FetchAttr(fh, *target); !a.ok() && a.errno_value() == ESTALE) {
        return Fail(r, a);
      }
      attr = target->attr;
    } else {
      attr = AttrOf(r, target->path);
    }
    Status3(r, s);
    Wcc(r, std::nullopt, attr);
    if (s.ok()) Verifier(r);
    return AcceptStat::kSuccess;
  }

 private:
  Nfs3Program& p_;
  core::Gateway& gw_;
  const std::uint64_t fsid_;
};

Nfs3Program::Nfs3Program(core::Gateway* gateway, const Exports* exports, Nfs3Options options)
    : gateway_(gateway),
      exports_(exports),
      options_(options),
      open_(gateway, options.max_open_files, options.idle_close, [this] { NewVerifier(); }) {
  NewVerifier();
  idle_thread_ = std::thread([this] {
    std::unique_lock lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      open_.ReleaseIdle();
      lock.lock();
    }
  });
}

Nfs3Program::~Nfs3Program() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  idle_thread_.join();
}

void Nfs3Program::NewVerifier() {
  std::array<std::uint8_t, 8> v{};
  if (!crypto::RandomBytes(v).ok()) {
    // Still different from the last one: a counter mixed with the time.
    const auto now =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    StoreBe64(v.data(), now);
  }
  std::lock_guard lock(verf_mu_);
  verifier_ = v;
}

std::array<std::uint8_t, 8> Nfs3Program::write_verifier() const {
  std::lock_guard lock(verf_mu_);
  return verifier_;
}

bool Nfs3Program::WaitsForDisk(const RpcCall& call, ByteView args) const {
  switch (static_cast<Nfs3Proc>(call.procedure)) {
    case Nfs3Proc::kNull:
    case Nfs3Proc::kGetAttr:
    case Nfs3Proc::kLookup:
    case Nfs3Proc::kAccess:
    case Nfs3Proc::kReadLink:
    case Nfs3Proc::kRead:
    case Nfs3Proc::kReadDir:
    case Nfs3Proc::kReadDirPlus:
    case Nfs3Proc::kFsStat:
    case Nfs3Proc::kFsInfo:
    case Nfs3Proc::kPathConf:
      return false;
    case Nfs3Proc::kWrite: {
      XdrDecoder in(args);
      const Write3Header w = DecodeWrite3Header(in);
      return !in.ok() || w.stable != static_cast<std::uint32_t>(StableHow::kUnstable);
    }
    default:
      return true;
  }
}

AcceptStat Nfs3Program::Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) {
  if (call.procedure > static_cast<std::uint32_t>(Nfs3Proc::kCommit)) {
    return AcceptStat::kProcUnavail;
  }
  Request r{call, args, reply, static_cast<Nfs3Proc>(call.procedure), {}, {}, nullptr};
  r.caller.uid = r.caller.gid = kNobodyId;
  Procs procs(*this);
  // The one place an exception from a procedure (or from the gateway under it) ends: it is
  // logged and answered NFS3ERR_IO with the procedure's empty failure body; the partly
  // encoded reply is dropped. The server and the connection go on.
  const std::size_t body_start = reply.size();
  std::string what;
  try {
    return Serve(r, procs);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  CAFS_LOG_ERROR("nfs: procedure {} from {} failed: {} (answered NFS3ERR_IO)", call.procedure,
                 call.peer_address, what);
  reply.Truncate(body_start);
  return procs.Fail(r, Status::FromErrno(EIO, what));
}

AcceptStat Nfs3Program::Serve(Request& r, Procs& procs) {
  XdrDecoder& args = r.in;
  switch (r.proc) {
    case Nfs3Proc::kNull:
      return Procs::Done(args) ? AcceptStat::kSuccess : AcceptStat::kGarbageArgs;
    case Nfs3Proc::kGetAttr:
      return procs.Getattr(r);
    case Nfs3Proc::kSetAttr:
      return procs.Setattr(r);
    case Nfs3Proc::kLookup:
      return procs.Lookup(r);
    case Nfs3Proc::kAccess:
      return procs.Access(r);
    case Nfs3Proc::kReadLink:
      return procs.Readlink(r);
    case Nfs3Proc::kRead:
      return procs.Read(r);
    case Nfs3Proc::kWrite:
      return procs.Write(r);
    case Nfs3Proc::kCreate:
      return procs.Create(r);
    case Nfs3Proc::kMkDir:
      return procs.Mkdir(r);
    case Nfs3Proc::kSymlink:
      return procs.Symlink(r);
    case Nfs3Proc::kMkNod:
      return procs.Mknod(r);
    case Nfs3Proc::kRemove:
      return procs.Remove(r, false);
    case Nfs3Proc::kRmDir:
      return procs.Remove(r, true);
    case Nfs3Proc::kRename:
      return procs.Rename(r);
    case Nfs3Proc::kLink:
      return procs.Link(r);
    case Nfs3Proc::kReadDir:
      return procs.Readdir(r, false);
    case Nfs3Proc::kReadDirPlus:
      return procs.Readdir(r, true);
    case Nfs3Proc::kFsStat:
    case Nfs3Proc::kFsInfo:
    case Nfs3Proc::kPathConf:
      return procs.FsProc(r);
    case Nfs3Proc::kCommit:
      return procs.Commit(r);
  }
  return AcceptStat::kProcUnavail;
}

}  // namespace cafs::frontend::nfs
