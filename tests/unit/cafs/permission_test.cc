// core::Permission: the kernel's (knfsd's) owner/group/other, sticky-directory and SETATTR
// rules, each decision checked against what Linux answers a local caller (docs/posix.md).
#include "cafs/permission.h"

#include <gtest/gtest.h>

namespace cafs::core {
namespace {

Attr Entry(std::uint32_t mode, std::uint32_t uid, std::uint32_t gid,
           FileType type = FileType::kRegular) {
  Attr a;
  a.type = type;
  a.mode = mode;
  a.uid = uid;
  a.gid = gid;
  return a;
}

int Errno(const Status& s) { return s.ok() ? 0 : s.errno_value(); }

const Identity kRoot{0, 0, {}};
const Identity kUser{1000, 1000, {50}};
const Identity kOther{2000, 2000, {}};

TEST(PermissionTest, OwnerGroupOtherClasses) {
  const Attr f = Entry(0640, 1000, 50);
  EXPECT_EQ(Permitted(kUser, f), kMayRead | kMayWrite);
  EXPECT_EQ(Permitted(Identity{3000, 3000, {50}}, f), kMayRead);  // supplementary group
  EXPECT_EQ(Permitted(kOther, f), 0u);
  // The owner class decides for the owner even when group or other allow more.
  EXPECT_EQ(Permitted(kUser, Entry(0077, 1000, 1000)), 0u);
  EXPECT_EQ(Errno(CheckAccess(kOther, f, kMayRead)), EACCES);
  EXPECT_EQ(Errno(CheckAccess(kUser, f, kMayRead | kMayWrite)), 0);
}

TEST(PermissionTest, RootPassesButExecutesOnlyWithSomeXBit) {
  EXPECT_EQ(Errno(CheckAccess(kRoot, Entry(0000, 1000, 1000), kMayRead | kMayWrite)), 0);
  EXPECT_EQ(Errno(CheckAccess(kRoot, Entry(0644, 1000, 1000), kMayExec)), EACCES);
  EXPECT_EQ(Errno(CheckAccess(kRoot, Entry(0100, 1000, 1000), kMayExec)), 0);
  EXPECT_EQ(Errno(CheckAccess(kRoot, Entry(0000, 1000, 1000, FileType::kDirectory), kMayExec)), 0);
}

TEST(PermissionTest, OwnerOverrideIsOnlyForTheOwner) {
  const Attr ro = Entry(0444, 1000, 1000);
  EXPECT_EQ(Errno(CheckAccess(kUser, ro, kMayWrite)), EACCES);
  EXPECT_EQ(Errno(CheckAccess(kUser, ro, kMayWrite, /*owner_override=*/true)), 0);
  EXPECT_EQ(Errno(CheckAccess(kOther, ro, kMayWrite, /*owner_override=*/true)), EACCES);
}

TEST(PermissionTest, StickyDirectories) {
  const Attr sticky = Entry(01777, 0, 0, FileType::kDirectory);
  const Attr roots = Entry(0666, 0, 0);
  const Attr users = Entry(0600, 1000, 1000);
  EXPECT_EQ(Errno(CheckDelete(kUser, sticky, roots)), EPERM);
  EXPECT_EQ(Errno(CheckDelete(kUser, sticky, users)), 0);
  EXPECT_EQ(Errno(CheckDelete(kOther, sticky, users)), EPERM);
  EXPECT_EQ(Errno(CheckDelete(kRoot, sticky, users)), 0);
  // The directory's owner may remove anything in it.
  EXPECT_EQ(Errno(CheckDelete(kOther, Entry(01777, 2000, 0, FileType::kDirectory), users)), 0);
  // Without the sticky bit, write and search on the directory are enough.
  EXPECT_EQ(Errno(CheckDelete(kOther, Entry(0777, 0, 0, FileType::kDirectory), users)), 0);
  EXPECT_EQ(Errno(CheckDelete(kOther, Entry(0755, 0, 0, FileType::kDirectory), users)), EACCES);
}

TEST(PermissionTest, SetAttrRules) {
  const Attr f = Entry(0644, 1000, 1000);
  SetAttrRequest chmod;
  chmod.mode = 0600;
  EXPECT_EQ(Errno(CheckSetAttr(kUser, f, chmod)), 0);
  EXPECT_EQ(Errno(CheckSetAttr(kOther, f, chmod)), EPERM);
  EXPECT_EQ(Errno(CheckSetAttr(kRoot, f, chmod)), 0);
  SetAttrRequest chown;
  chown.uid = 2000;
  EXPECT_EQ(Errno(CheckSetAttr(kUser, f, chown)), EPERM);
  EXPECT_EQ(Errno(CheckSetAttr(kRoot, f, chown)), 0);
  chown.uid = 1000;  // to the current owner: no change
  EXPECT_EQ(Errno(CheckSetAttr(kUser, f, chown)), 0);
  SetAttrRequest chgrp;
  chgrp.gid = 50;  // a supplementary group of the owner
  EXPECT_EQ(Errno(CheckSetAttr(kUser, f, chgrp)), 0);
  chgrp.gid = 0;
  EXPECT_EQ(Errno(CheckSetAttr(kUser, f, chgrp)), EPERM);
  SetAttrRequest explicit_time;
  explicit_time.mtime = timespec{5, 0};
  EXPECT_EQ(Errno(CheckSetAttr(kOther, Entry(0666, 1000, 1000), explicit_time)), EPERM);
  EXPECT_EQ(Errno(CheckSetAttr(kUser, f, explicit_time)), 0);
  SetAttrRequest touch;
  touch.mtime = timespec{0, UTIME_NOW};
  EXPECT_EQ(Errno(CheckSetAttr(kOther, Entry(0666, 1000, 1000), touch)), 0);  // write access
  EXPECT_EQ(Errno(CheckSetAttr(kOther, f, touch)), EACCES);
  SetAttrRequest truncate;
  truncate.size = 0;
  EXPECT_EQ(Errno(CheckSetAttr(kOther, f, truncate)), EACCES);
  EXPECT_EQ(Errno(CheckSetAttr(kUser, Entry(0444, 1000, 1000), truncate)), 0);  // owner override
}

}  // namespace
}  // namespace cafs::core
