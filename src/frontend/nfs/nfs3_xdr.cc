#include "frontend/nfs/nfs3_xdr.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>

namespace cafs::frontend::nfs {

Nfs3Status ToNfs3Status(const Status& status) {
  if (status.ok()) return Nfs3Status::kOk;
  switch (status.code()) {
    case Status::Code::kCorruption:
    case Status::Code::kAuthFailed:
    case Status::Code::kInternal:
      return Nfs3Status::kIo;
    case Status::Code::kNotSupported:
      return Nfs3Status::kNotSupp;
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout:
      return Nfs3Status::kJukebox;  // a key server that cannot be reached now: retry later
    case Status::Code::kPermissionDenied:
      return status.errno_value() == EPERM ? Nfs3Status::kPerm : Nfs3Status::kAcces;
    default:
      break;
  }
  switch (status.errno_value()) {
    case EPERM:
      return Nfs3Status::kPerm;
    case ENOENT:
      return Nfs3Status::kNoEnt;
    case ENXIO:
      return Nfs3Status::kNxio;
    case EACCES:
      return Nfs3Status::kAcces;
    case EEXIST:
      return Nfs3Status::kExist;
    case EXDEV:
      return Nfs3Status::kXdev;
    case ENODEV:
      return Nfs3Status::kNoDev;
    case ENOTDIR:
    case ELOOP:
      return Nfs3Status::kNotDir;
    case EISDIR:
      return Nfs3Status::kIsDir;
    case EINVAL:
      return Nfs3Status::kInval;
    case EFBIG:
      return Nfs3Status::kFBig;
    case ENOSPC:
      return Nfs3Status::kNoSpc;
    case EROFS:
      return Nfs3Status::kRoFs;
    case EMLINK:
      return Nfs3Status::kMLink;
    case ENAMETOOLONG:
      return Nfs3Status::kNameTooLong;
    case ENOTEMPTY:
      return Nfs3Status::kNotEmpty;
    case EDQUOT:
      return Nfs3Status::kDQuot;
    case ESTALE:
      return Nfs3Status::kStale;
    case EBADF:
      return Nfs3Status::kBadHandle;
    case ENOTSUP:
      return Nfs3Status::kNotSupp;
    case EAGAIN:
    case ETIMEDOUT:
      return Nfs3Status::kJukebox;
    default:
      return Nfs3Status::kIo;
  }
}

Bytes DecodeFh(XdrDecoder& in) { return in.Opaque(kNfs3FhSize); }

void EncodeFh(XdrEncoder& out, ByteView fh) { out.Opaque(fh); }

Write3Header DecodeWrite3Header(XdrDecoder& in) {
  Write3Header h;
  h.fh = in.OpaqueView(kNfs3FhSize);
  h.offset = in.U64();
  h.count = in.U32();
  h.stable = in.U32();
  return h;
}

void EncodeTime(XdrEncoder& out, const struct timespec& t) {
  out.U32(static_cast<std::uint32_t>(t.tv_sec));
  out.U32(static_cast<std::uint32_t>(t.tv_nsec));
}

struct timespec DecodeTime(XdrDecoder& in) {
  struct timespec t {};
  t.tv_sec = static_cast<time_t>(in.U32());
  t.tv_nsec = static_cast<long>(in.U32());
  if (t.tv_nsec >= 1000000000L) in.Fail();
  return t;
}

void EncodeFattr(XdrEncoder& out, const core::Attr& a, std::uint64_t fsid) {
  std::uint32_t type = kNf3Reg;
  if (a.type == core::FileType::kDirectory) type = kNf3Dir;
  if (a.type == core::FileType::kSymlink) type = kNf3Lnk;
  if (a.type == core::FileType::kFifo) type = kNf3Fifo;
  if (a.type == core::FileType::kSocket) type = kNf3Sock;
  if (a.type == core::FileType::kCharDevice) type = kNf3Chr;
  if (a.type == core::FileType::kBlockDevice) type = kNf3Blk;
  out.U32(type);
  out.U32(a.mode & 07777);
  out.U32(a.nlink);
  out.U32(a.uid);
  out.U32(a.gid);
  out.U64(a.size);
  out.U64(a.allocated);
  out.U32(static_cast<std::uint32_t>(major(static_cast<dev_t>(a.rdev))));  // specdata3
  out.U32(static_cast<std::uint32_t>(minor(static_cast<dev_t>(a.rdev))));
  out.U64(fsid);
  out.U64(a.backing_ino);
  EncodeTime(out, a.atime);
  EncodeTime(out, a.mtime);
  EncodeTime(out, a.ctime);
}

void EncodePostOpAttr(XdrEncoder& out, const core::Attr* attr, std::uint64_t fsid) {
  out.Bool(attr != nullptr);
  if (attr != nullptr) EncodeFattr(out, *attr, fsid);
}

void EncodeWcc(XdrEncoder& out, const core::Attr* before, const core::Attr* after,
               std::uint64_t fsid) {
  out.Bool(before != nullptr);
  if (before != nullptr) {
    out.U64(before->size);
    EncodeTime(out, before->mtime);
    EncodeTime(out, before->ctime);
  }
  EncodePostOpAttr(out, after, fsid);
}

core::SetAttrRequest DecodeSattr(XdrDecoder& in) {
  core::SetAttrRequest r;
  if (in.Bool()) r.mode = in.U32() & 07777;
  if (in.Bool()) r.uid = in.U32();
  if (in.Bool()) r.gid = in.U32();
  if (in.Bool()) r.size = in.U64();
  for (std::optional<struct timespec>* t : {&r.atime, &r.mtime}) {
    switch (in.U32()) {  // time_how
      case 0:            // DONT_CHANGE
        break;
      case 1:  // SET_TO_SERVER_TIME
        *t = timespec{0, UTIME_NOW};
        break;
      case 2:  // SET_TO_CLIENT_TIME
        *t = DecodeTime(in);
        break;
      default:
        in.Fail();
    }
  }
  return r;
}

bool IsEmpty(const core::SetAttrRequest& r) {
  return !r.mode && !r.uid && !r.gid && !r.size && !r.atime && !r.mtime;
}

}  // namespace cafs::frontend::nfs
