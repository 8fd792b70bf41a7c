// InodeTable: stable numbers, lookup counting, renames of subtrees, detach; ToFuseErrno.
#include "frontend/fuse/inode_table.h"

#include <gtest/gtest.h>

#include "frontend/fuse/fuse_frontend.h"

namespace cafs::frontend {
namespace {

TEST(InodeTableTest, NumbersAreStableUntilForgotten) {
  InodeTable t;
  EXPECT_EQ(t.PathOf(InodeTable::kRootIno), "/");
  const auto a = t.Remember("/vs/vm1/disk");
  EXPECT_EQ(t.Remember("/vs/vm1/disk"), a);  // nlookup 2
  EXPECT_NE(t.Remember("/vs/vm1/other"), a);
  t.Forget(a, 1);
  EXPECT_EQ(t.PathOf(a), "/vs/vm1/disk");
  t.Forget(a, 1);
  EXPECT_FALSE(t.PathOf(a).has_value());
  EXPECT_NE(t.Remember("/vs/vm1/disk"), a);  // never reused
  t.Forget(InodeTable::kRootIno, 100);
  EXPECT_EQ(t.PathOf(InodeTable::kRootIno), "/");
}

TEST(InodeTableTest, RenameMovesSubtreesAndDetachesTheTarget) {
  InodeTable t;
  const auto dir = t.Remember("/vs/vm1");
  const auto file = t.Remember("/vs/vm1/disk");
  const auto sibling = t.Remember("/vs/vm10/disk");  // shares a prefix, must not move
  const auto target = t.Remember("/vs/vm2");
  t.Rename("/vs/vm1", "/vs/vm2");
  EXPECT_EQ(t.PathOf(dir), "/vs/vm2");
  EXPECT_EQ(t.PathOf(file), "/vs/vm2/disk");
  EXPECT_EQ(t.PathOf(sibling), "/vs/vm10/disk");
  EXPECT_FALSE(t.PathOf(target).has_value());
  t.Detach("/vs/vm2/disk");
  EXPECT_FALSE(t.PathOf(file).has_value());
  EXPECT_EQ(InodeTable::Child("/", "a"), "/a");
  EXPECT_EQ(InodeTable::Child("/a", "b"), "/a/b");
}

// Hard links: the names of one backing inode are one FUSE inode (what tar and rsync -H compare);
// it stays reachable through any name that is left.
TEST(InodeTableTest, HardLinkedNamesShareOneInode) {
  InodeTable t;
  const auto a = t.Remember("/vs/vm1/disk", 100, 1);  // created: one name
  const auto b = t.Remember("/vs/vm2/link", 100, 2);  // linked
  EXPECT_EQ(a, b);
  EXPECT_EQ(t.Remember("/vs/vm1/other", 200, 1), t.Remember("/vs/vm1/other", 200, 1));
  EXPECT_NE(t.Remember("/vs/vm1/other", 200, 1), a);
  t.Rename("/vs/vm1/disk", "/vs/vm2/link");  // onto another name of itself: nothing
  EXPECT_EQ(t.PathOf(a), "/vs/vm1/disk");
  t.Detach("/vs/vm1/disk");
  EXPECT_EQ(t.PathOf(a), "/vs/vm2/link");
  t.Rename("/vs/vm2/link", "/vs/vm2/renamed");
  EXPECT_EQ(t.PathOf(a), "/vs/vm2/renamed");
  t.Detach("/vs/vm2/renamed");
  EXPECT_FALSE(t.PathOf(a).has_value());
  // A new file reusing the backing inode number gets an inode of its own.
  EXPECT_NE(t.Remember("/vs/vm1/new", 100, 2), a);
}

// fstat of an open, unlinked file: the detached inode still names its open handles.
TEST(InodeTableTest, DetachedInodeKeepsItsOpenHandles) {
  InodeTable t;
  const auto file = t.Remember("/vs/vm1/disk");
  EXPECT_FALSE(t.AnyOpen(file).has_value());
  t.AddOpen(file, 7);
  t.AddOpen(file, 9);
  t.Detach("/vs/vm1/disk");
  EXPECT_FALSE(t.PathOf(file).has_value());
  EXPECT_EQ(t.AnyOpen(file), 7u);
  t.RemoveOpen(file, 7);
  EXPECT_EQ(t.AnyOpen(file), 9u);
  t.RemoveOpen(file, 9);
  EXPECT_FALSE(t.AnyOpen(file).has_value());
  t.AddOpen(12345, 1);  // unknown inode: ignored
  EXPECT_FALSE(t.AnyOpen(12345).has_value());
  t.Forget(file, 1);
  EXPECT_FALSE(t.AnyOpen(file).has_value());
}

TEST(ToFuseErrnoTest, OnePlaceMapsStatusToErrno) {
  EXPECT_EQ(ToFuseErrno(Status::OK()), 0);
  EXPECT_EQ(ToFuseErrno(Status::PermissionDenied("x")), EACCES);
  EXPECT_EQ(ToFuseErrno(Status::AuthFailed("x")), EIO);
  EXPECT_EQ(ToFuseErrno(Status::Corruption("x")), EIO);
  EXPECT_EQ(ToFuseErrno(Status::NotFound("x")), ENOENT);
  EXPECT_EQ(ToFuseErrno(Status::FromErrno(ENAMETOOLONG, "x")), ENAMETOOLONG);
  EXPECT_EQ(ToFuseErrno(Status::Unavailable("x")), EAGAIN);
  EXPECT_EQ(ToFuseErrno(Status::NotSupported("x")), EOPNOTSUPP);
}

}  // namespace
}  // namespace cafs::frontend
