// READDIRPLUS packing (dir_reply.h): attributes per entry, inode numbers from the InodeTable,
// lookup counts raised exactly for the entries the kernel receives with a nonzero inode
// ("." and ".." never, entries that did not fit never, entries whose attributes failed
// never), offsets that continue a listing. The buffers are decoded with the kernel's own
// structures (linux/fuse.h).
#include "frontend/fuse/dir_reply.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>

#include <cstring>
#include <map>

namespace cafs::frontend {
namespace {

struct Decoded {
  std::string name;
  std::uint64_t nodeid = 0;  // entry_out.nodeid: 0 = no attributes
  std::uint64_t d_ino = 0;   // dirent.ino
  std::uint32_t d_type = 0;  // DT_*
  std::uint64_t next_off = 0;
  fuse_attr attr{};
};

std::vector<Decoded> DecodePlus(const std::vector<char>& buf, std::size_t used) {
  std::vector<Decoded> out;
  std::size_t pos = 0;
  while (pos < used) {
    fuse_direntplus dp{};
    EXPECT_LE(pos + sizeof(dp), used);
    std::memcpy(&dp, buf.data() + pos, sizeof(dp));
    Decoded d;
    d.nodeid = dp.entry_out.nodeid;
    d.attr = dp.entry_out.attr;
    d.d_ino = dp.dirent.ino;
    d.d_type = dp.dirent.type;
    d.next_off = dp.dirent.off;
    d.name.assign(buf.data() + pos + FUSE_NAME_OFFSET_DIRENTPLUS, dp.dirent.namelen);
    out.push_back(d);
    pos += FUSE_DIRENTPLUS_SIZE(&dp);
  }
  return out;
}

class DirReplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    entries_ = {{"osdisk1.vmdk", core::FileType::kRegular},
                {"snapshots", core::FileType::kDirectory},
                {"link", core::FileType::kSymlink},
                {"denied.vmdk", core::FileType::kRegular}};
    dir_ino_ = inodes_.Remember("/vs/vm1");
  }

  // Sizes by name; "denied.vmdk" fails like a policy denial.
  Result<core::Attr> AttrOf(const std::string& path) {
    ++attr_calls_;
    if (path == "/vs/vm1/denied.vmdk") return Status::PermissionDenied("outside the window");
    core::Attr a;
    a.mode = 0640;
    if (path == "/vs/vm1/osdisk1.vmdk") a.size = 12345;
    if (path == "/vs/vm1/snapshots") a.type = core::FileType::kDirectory;
    if (path == "/vs/vm1/link") {
      a.type = core::FileType::kSymlink;
      a.size = 12;
    }
    return a;
  }

  std::size_t Fill(std::vector<char>& buf, std::uint64_t off, std::vector<std::uint64_t>* rem) {
    return FillReadDirPlus(
        nullptr, buf, dir_ino_, "/vs/vm1", entries_, off,
        [this](const std::string& p) { return AttrOf(p); }, DirPlusOptions{}, inodes_, rem);
  }

  // nlookup of `ino` as the table counts it: forgets one at a time until the path is gone.
  std::uint64_t DrainLookups(std::uint64_t ino) {
    std::uint64_t n = 0;
    while (inodes_.PathOf(ino).has_value() && n < 100) {
      inodes_.Forget(ino, 1);
      ++n;
    }
    return n;
  }

  InodeTable inodes_;
  std::vector<core::DirEntry> entries_;
  std::uint64_t dir_ino_ = 0;
  int attr_calls_ = 0;
};

TEST_F(DirReplyTest, EntriesCarryAttributesAndRaiseLookupCounts) {
  std::vector<char> buf(64 * 1024);
  std::vector<std::uint64_t> remembered;
  const std::size_t used = Fill(buf, 0, &remembered);
  auto got = DecodePlus(buf, used);
  ASSERT_EQ(got.size(), 6u);
  std::map<std::string, Decoded> by_name;
  for (const auto& d : got) by_name[d.name] = d;

  // "." and "..": no attributes, no lookup count (the kernel ignores them).
  EXPECT_EQ(by_name["."].nodeid, 0u);
  EXPECT_EQ(by_name["."].d_ino, dir_ino_);
  EXPECT_EQ(by_name[".."].nodeid, 0u);
  EXPECT_EQ(by_name["."].d_type, static_cast<std::uint32_t>(DT_DIR));

  const Decoded& disk = by_name["osdisk1.vmdk"];
  EXPECT_NE(disk.nodeid, 0u);
  EXPECT_EQ(disk.nodeid, disk.d_ino);
  EXPECT_EQ(disk.attr.size, 12345u);
  EXPECT_EQ(disk.attr.mode, static_cast<std::uint32_t>(S_IFREG | 0640));
  EXPECT_EQ(disk.d_type, static_cast<std::uint32_t>(DT_REG));
  EXPECT_EQ(inodes_.PathOf(disk.nodeid), "/vs/vm1/osdisk1.vmdk");
  EXPECT_EQ(by_name["snapshots"].attr.mode, static_cast<std::uint32_t>(S_IFDIR | 0640));
  EXPECT_EQ(by_name["link"].d_type, static_cast<std::uint32_t>(DT_LNK));
  EXPECT_EQ(by_name["link"].attr.size, 12u);

  // A denied entry is listed (name and type) without attributes; its LOOKUP reports EACCES.
  const Decoded& denied = by_name["denied.vmdk"];
  EXPECT_EQ(denied.nodeid, 0u);
  EXPECT_NE(denied.d_ino, 0u);
  EXPECT_EQ(denied.d_type, static_cast<std::uint32_t>(DT_REG));

  // Exactly the three entries with attributes were remembered, once each.
  ASSERT_EQ(remembered.size(), 3u);
  EXPECT_EQ(attr_calls_, 4);
  for (std::uint64_t ino : remembered) EXPECT_EQ(DrainLookups(ino), 1u);
  EXPECT_EQ(DrainLookups(dir_ino_), 1u);  // the directory itself was not counted again
}

TEST_F(DirReplyTest, ASmallBufferRaisesCountsOnlyForWhatFitsAndOffsetsContinue) {
  // Room for "." and ".." and one entry: each direntplus is FUSE_NAME_OFFSET_DIRENTPLUS +
  // the name, 8-byte aligned.
  const std::size_t dot = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 1);
  const std::size_t dotdot = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 2);
  const std::size_t disk = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 12);
  std::vector<char> buf(dot + dotdot + disk + 8);
  std::vector<std::uint64_t> remembered;
  std::size_t used = Fill(buf, 0, &remembered);
  auto first = DecodePlus(buf, used);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[2].name, "osdisk1.vmdk");
  EXPECT_EQ(remembered.size(), 1u);
  EXPECT_EQ(attr_calls_, 1);  // "snapshots" did not fit: not even asked
  const std::size_t table_before = inodes_.size();

  // The kernel continues at the offset of the last entry it got.
  std::vector<char> rest(64 * 1024);
  std::vector<std::uint64_t> more;
  used = Fill(rest, first.back().next_off, &more);
  auto second = DecodePlus(rest, used);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[0].name, "snapshots");
  EXPECT_EQ(second[2].name, "denied.vmdk");
  EXPECT_EQ(more.size(), 2u);
  EXPECT_EQ(inodes_.size(), table_before + 2);

  // Past the end: an empty reply (end of directory).
  std::vector<std::uint64_t> none;
  EXPECT_EQ(Fill(rest, second.back().next_off, &none), 0u);
  EXPECT_TRUE(none.empty());
}

TEST_F(DirReplyTest, ListingTwiceCountsTwiceWithTheSameInode) {
  std::vector<char> buf(64 * 1024);
  std::vector<std::uint64_t> a, b;
  Fill(buf, 0, &a);
  Fill(buf, 0, &b);
  ASSERT_EQ(a, b);  // same numbers for the same paths
  for (std::uint64_t ino : a) EXPECT_EQ(DrainLookups(ino), 2u);
}

TEST_F(DirReplyTest, PlainReadDirCarriesTypesAndNoInodes) {
  std::vector<char> buf(64 * 1024);
  const std::size_t used = FillReadDir(nullptr, buf, dir_ino_, entries_, 0);
  std::size_t pos = 0;
  std::vector<std::string> names;
  while (pos < used) {
    fuse_dirent d{};
    std::memcpy(&d, buf.data() + pos, sizeof(d));
    names.emplace_back(buf.data() + pos + FUSE_NAME_OFFSET, d.namelen);
    EXPECT_NE(d.ino, 0u);
    pos += FUSE_DIRENT_SIZE(&d);
  }
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "osdisk1.vmdk", "snapshots", "link",
                                             "denied.vmdk"}));
  EXPECT_EQ(inodes_.size(), 2u);  // root + the directory: plain readdir remembers nothing
}

}  // namespace
}  // namespace cafs::frontend
