// Permission: the POSIX owner/group/other checks of a caller's identity against an entry's
// mode and owner, as the Linux kernel (and so knfsd) makes them. The FUSE front-end leaves
// these to the kernel (`default_permissions`); the NFS front-end, which answers callers the
// kernel never sees, calls these before the Gateway — in addition to the VM-set policy,
// never instead (docs/posix.md "Permission checks over NFS").
//
// Rules (the kernel's generic_permission, may_delete, notify_change, chown_ok):
//  - uid 0 passes read and write checks; it executes a file only when some x bit is set,
//    searches any directory.
//  - otherwise the owner class, else the group class (the primary or a supplementary group),
//    else the other class.
//  - `owner_override` (knfsd's NFSD_MAY_OWNER_OVERRIDE, for READ, WRITE and SETATTR size):
//    the owner passes whatever the mode says, so a file created 0444 over NFS can still be
//    written by its creator, as with a local open(O_CREAT|O_WRONLY, 0444).
//  - deleting or renaming away an entry needs write and search on its directory; in a sticky
//    directory (S_ISVTX) only root, the directory's owner or the entry's owner may (EPERM).
//  - SETATTR: mode and explicit times only by the owner or root (EPERM); the owner uid only
//    by root; the group by root, or by the owner to one of the owner's groups (EPERM);
//    times set to "now" by the owner, root or anyone with write access (EACCES).
// Errors: PermissionDenied carrying EACCES or EPERM (the front-end's one mapper turns them
// into NFS3ERR_ACCES / NFS3ERR_PERM). Pure functions: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <vector>

#include "cafs/attr.h"
#include "util/status.h"

namespace cafs::core {

struct Identity {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> groups;  // supplementary groups
  bool InGroup(std::uint32_t g) const;
};

inline constexpr unsigned kMayRead = 4;
inline constexpr unsigned kMayWrite = 2;
inline constexpr unsigned kMayExec = 1;  // execute a file, search a directory

// The rwx bits (kMay*) `who` has on `a`.
unsigned Permitted(const Identity& who, const Attr& a);
// EACCES unless `who` has every bit of `want` on `a` (or owns it, with `owner_override`).
Status CheckAccess(const Identity& who, const Attr& a, unsigned want, bool owner_override = false);
// Removing (or renaming away, or replacing) `victim` in `dir`.
Status CheckDelete(const Identity& who, const Attr& dir, const Attr& victim);
// A SETATTR of `req` on `a`.
Status CheckSetAttr(const Identity& who, const Attr& a, const SetAttrRequest& req);

}  // namespace cafs::core
