#include "cafs/permission.h"

#include <algorithm>
#include <cerrno>

namespace cafs::core {
namespace {

Status Denied(int err, const char* what) {
  return Status::FromErrno(err, std::string("permission: ") + what);
}

bool IsNow(const struct timespec& t) { return t.tv_nsec == UTIME_NOW; }

}  // namespace

bool Identity::InGroup(std::uint32_t g) const {
  return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

unsigned Permitted(const Identity& who, const Attr& a) {
  if (who.uid == 0) {
    const bool x = a.type == FileType::kDirectory || (a.mode & 0111) != 0;
    return kMayRead | kMayWrite | (x ? kMayExec : 0);
  }
  if (who.uid == a.uid) return (a.mode >> 6) & 7;
  if (who.InGroup(a.gid)) return (a.mode >> 3) & 7;
  return a.mode & 7;
}

Status CheckAccess(const Identity& who, const Attr& a, unsigned want, bool owner_override) {
  if (owner_override && who.uid == a.uid) return Status::OK();
  if ((Permitted(who, a) & want) == want) return Status::OK();
  return Denied(EACCES, "mode does not allow this caller");
}

Status CheckDelete(const Identity& who, const Attr& dir, const Attr& victim) {
  CAFS_RETURN_IF_ERROR(CheckAccess(who, dir, kMayWrite | kMayExec));
  if ((dir.mode & S_ISVTX) != 0 && who.uid != 0 && who.uid != dir.uid && who.uid != victim.uid) {
    return Denied(EPERM, "sticky directory: only the owner of the entry or directory removes it");
  }
  return Status::OK();
}

Status CheckSetAttr(const Identity& who, const Attr& a, const SetAttrRequest& req) {
  const bool root = who.uid == 0;
  const bool owner = who.uid == a.uid;
  if (req.mode && !root && !owner) return Denied(EPERM, "chmod by a non-owner");
  if (req.uid && *req.uid != a.uid && !root) return Denied(EPERM, "chown to another user");
  if (req.gid && *req.gid != a.gid && !root && !(owner && who.InGroup(*req.gid))) {
    return Denied(EPERM, "chgrp to a group the caller is not in");
  }
  const bool explicit_time = (req.atime && !IsNow(*req.atime)) || (req.mtime && !IsNow(*req.mtime));
  if (explicit_time && !root && !owner) return Denied(EPERM, "setting times of another's file");
  if ((req.atime || req.mtime) && !explicit_time) {
    CAFS_RETURN_IF_ERROR(CheckAccess(who, a, kMayWrite, /*owner_override=*/true));
  }
  if (req.size) CAFS_RETURN_IF_ERROR(CheckAccess(who, a, kMayWrite, /*owner_override=*/true));
  return Status::OK();
}

}  // namespace cafs::core
