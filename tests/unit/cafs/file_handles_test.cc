// FileHandles over a temp backing store laid out as the Volume does (directories, redirectors
// `name##pool`, symlinks): handles survive a new instance (restart) and renames, go stale on
// remove, and altered, forged or out-of-store handles are refused. Needs root
// (CAP_DAC_READ_SEARCH for open_by_handle_at): skipped otherwise.
#include "cafs/file_handles.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/mac.h"
#include "util/bytes.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;

class FileHandlesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "open_by_handle_at needs root (CAP_DAC_READ_SEARCH)";
    char tmpl[] = "/tmp/cafs-fh-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    top_ = tmpl;
    backing_ = top_ / "backing";
    fs::create_directories(backing_ / "vs/vm");
    std::ofstream(backing_ / "vs/vm/disk.vmdk##pool_a") << "CAFS-REDIRECTOR 1\n";
    fs::create_symlink("disk.vmdk", backing_ / "vs/vm/link");
    ASSERT_EQ(::mkfifo((backing_ / "vs/vm/fifo").c_str(), 0644), 0);
    std::ofstream(top_ / "outside##pool_a") << "not in the store\n";
    Open();
  }
  void TearDown() override {
    handles_.reset();
    if (!top_.empty()) fs::remove_all(top_);
  }
  void Open() {
    auto h = FileHandles::Open(backing_.string());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handles_ = std::move(*h);
  }
  Bytes HandleOf(std::vector<std::string> comps) {
    auto h = handles_->HandleOf(comps);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : Bytes{};
  }
  void ExpectStale(const Bytes& handle) {
    auto p = handles_->Resolve(handle);
    ASSERT_FALSE(p.ok()) << "resolved to " << *p;
    EXPECT_EQ(p.status().errno_value(), ESTALE) << p.status().ToString();
  }
  std::string Resolve(const Bytes& handle) {
    auto p = handles_->Resolve(handle);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : std::string();
  }

  fs::path top_;
  fs::path backing_;
  std::unique_ptr<FileHandles> handles_;
};

TEST_F(FileHandlesTest, ResolvesEveryKindAndFitsNfs3) {
  const Bytes root = HandleOf({});
  const Bytes dir = HandleOf({"vs", "vm"});
  const Bytes file = HandleOf({"vs", "vm", "disk.vmdk"});
  const Bytes link = HandleOf({"vs", "vm", "link"});
  for (const Bytes* h : {&root, &dir, &file, &link}) {
    EXPECT_LE(h->size(), FileHandles::kMaxSize);
    EXPECT_EQ((*h)[0], FileHandles::kVersion);
  }
  EXPECT_EQ(Resolve(root), "/");
  EXPECT_EQ(Resolve(dir), "/vs/vm");
  EXPECT_EQ(Resolve(file), "/vs/vm/disk.vmdk");
  EXPECT_EQ(Resolve(link), "/vs/vm/link");
  EXPECT_NE(file, link);
  // A special file (kept in the backing store as itself) resolves under its own name.
  EXPECT_EQ(Resolve(HandleOf({"vs", "vm", "fifo"})), "/vs/vm/fifo");
  // With the configured pools named (the Gateway's fast path) the handle is the same.
  auto fast = handles_->HandleOf({"vs", "vm", "disk.vmdk"}, {"pool_b", "pool_a"});
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(*fast, file);
  auto missing = handles_->HandleOf({"vs", "vm", "nope"});
  EXPECT_EQ(missing.status().errno_value(), ENOENT);
  // The secret is private to the store's owner and hidden from the Volume (no "##").
  struct stat st {};
  ASSERT_EQ(::stat((backing_ / FileHandles::kSecretName).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(FileHandlesTest, StableAcrossRestart) {
  const Bytes file = HandleOf({"vs", "vm", "disk.vmdk"});
  const Bytes dir = HandleOf({"vs"});
  handles_.reset();
  Open();  // a new instance reads the same secret
  EXPECT_EQ(HandleOf({"vs", "vm", "disk.vmdk"}), file);
  EXPECT_EQ(Resolve(file), "/vs/vm/disk.vmdk");
  EXPECT_EQ(Resolve(dir), "/vs");
}

TEST_F(FileHandlesTest, FollowsRenames) {
  const Bytes file = HandleOf({"vs", "vm", "disk.vmdk"});
  const Bytes dir = HandleOf({"vs", "vm"});
  fs::rename(backing_ / "vs/vm/disk.vmdk##pool_a", backing_ / "vs/vm/renamed.vmdk##pool_a");
  EXPECT_EQ(Resolve(file), "/vs/vm/renamed.vmdk");
  fs::rename(backing_ / "vs/vm", backing_ / "vs/vm2");
  EXPECT_EQ(Resolve(dir), "/vs/vm2");
  EXPECT_EQ(Resolve(file), "/vs/vm2/renamed.vmdk");
}

TEST_F(FileHandlesTest, StaleAfterRemove) {
  const Bytes file = HandleOf({"vs", "vm", "disk.vmdk"});
  const Bytes link = HandleOf({"vs", "vm", "link"});
  fs::remove(backing_ / "vs/vm/disk.vmdk##pool_a");
  fs::remove(backing_ / "vs/vm/link");
  const Bytes fifo = HandleOf({"vs", "vm", "fifo"});
  fs::remove(backing_ / "vs/vm/fifo");
  ExpectStale(file);
  ExpectStale(link);
  ExpectStale(fifo);
  const Bytes dir = HandleOf({"vs", "vm"});
  fs::remove(backing_ / "vs/vm");
  ExpectStale(dir);
}

TEST_F(FileHandlesTest, AlteredAndForgedHandlesAreStale) {
  const Bytes file = HandleOf({"vs", "vm", "disk.vmdk"});
  for (std::size_t i = 0; i < file.size(); ++i) {
    Bytes altered = file;
    altered[i] ^= 0x01;
    ExpectStale(altered);
  }
  ExpectStale(Bytes(file.begin(), file.end() - 1));
  ExpectStale(Bytes{});
  ExpectStale(Bytes(64, 0));
  // A handle from another store (another secret) is refused even for the same inode.
  fs::remove(backing_ / FileHandles::kSecretName);
  handles_.reset();
  Open();
  ExpectStale(file);
}

TEST_F(FileHandlesTest, EntryOutsideTheStoreIsRefusedEvenWithAValidMac) {
  // Build a correctly MAC'd handle for a file outside the backing root, as someone who
  // stole the secret could: the path check still refuses it.
  const Bytes inside = HandleOf({"vs", "vm", "disk.vmdk"});
  alignas(struct file_handle) std::uint8_t storage[sizeof(struct file_handle) + MAX_HANDLE_SZ]{};
  auto* kfh = reinterpret_cast<struct file_handle*>(storage);
  kfh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  ASSERT_EQ(::name_to_handle_at(AT_FDCWD, (top_ / "outside##pool_a").c_str(), kfh, &mount_id, 0),
            0);
  Bytes forged(7);
  forged[0] = FileHandles::kVersion;
  forged[1] = 0;
  StoreLe32(&forged[2], static_cast<std::uint32_t>(kfh->handle_type));
  forged[6] = static_cast<std::uint8_t>(kfh->handle_bytes);
  forged.insert(forged.end(), kfh->f_handle, kfh->f_handle + kfh->handle_bytes);
  std::ifstream in(backing_ / FileHandles::kSecretName, std::ios::binary);
  Bytes secret(32);
  in.read(reinterpret_cast<char*>(secret.data()), 32);
  auto mac = crypto::HmacSha256(secret, forged);
  ASSERT_TRUE(mac.ok());
  forged.insert(forged.end(), mac->begin(), mac->begin() + FileHandles::kMacSize);
  ASSERT_NE(forged, inside);
  ExpectStale(forged);
}

// Issue 20 class 10: handles split redirector names with the one codec (redirector.h: the
// last "##"), so "a#" (backing "a###pool_a") and "a" (backing "a##pool_a") are two files,
// found and resolved apart, also when only the scan (an unconfigured pool) can find them.
TEST_F(FileHandlesTest, NamesEndingInHashAreTheirOwnFiles) {
  std::ofstream(backing_ / "vs/vm/a##pool_a") << "CAFS-REDIRECTOR 1\n";
  std::ofstream(backing_ / "vs/vm/a###pool_a") << "CAFS-REDIRECTOR 1\n";
  std::ofstream(backing_ / "vs/vm/b####pool_a") << "CAFS-REDIRECTOR 1\n";  // "b##": no name
  std::ofstream(backing_ / "vs/vm/#a###pool_b") << "CAFS-REDIRECTOR 1\n";
  const std::vector<std::string> pools = {"pool_a"};
  for (const auto& configured : {pools, std::vector<std::string>{}}) {
    auto a = handles_->HandleOf({"vs", "vm", "a"}, configured);
    auto a_hash = handles_->HandleOf({"vs", "vm", "a#"}, configured);
    ASSERT_TRUE(a.ok() && a_hash.ok());
    EXPECT_NE(*a, *a_hash);
    EXPECT_EQ(Resolve(*a), "/vs/vm/a");
    EXPECT_EQ(Resolve(*a_hash), "/vs/vm/a#");
    auto odd = handles_->HandleOf({"vs", "vm", "#a#"}, configured);
    ASSERT_TRUE(odd.ok()) << odd.status().ToString();
    EXPECT_EQ(Resolve(*odd), "/vs/vm/#a#");
    // "a##" would only be found by a split at the first "##" (a file named "a##" is stored
    // hashed: `.cafs-long-<hex>##pool`).
    EXPECT_FALSE(handles_->HandleOf({"vs", "vm", "a##"}, configured).ok());
  }
  // "a#" alone: the scan must not hand out "a#"'s redirector for "a".
  fs::remove(backing_ / "vs/vm/a##pool_a");
  EXPECT_FALSE(handles_->HandleOf({"vs", "vm", "a"}, {}).ok());
  EXPECT_EQ(Resolve(HandleOf({"vs", "vm", "a#"})), "/vs/vm/a#");
}

TEST_F(FileHandlesTest, NamesAreBytes) {
  const std::string name = "osdisk\xff\xfe \xc3\xa9 #.img";
  std::ofstream(backing_ / "vs/vm" / (name + "##pool_a")) << "CAFS-REDIRECTOR 1\n";
  EXPECT_EQ(Resolve(HandleOf({"vs", "vm", name})), "/vs/vm/" + name);
}

}  // namespace
}  // namespace cafs::core
