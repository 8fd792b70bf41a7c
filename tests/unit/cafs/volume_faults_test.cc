// Faults under the gateway, deterministic (no timing, no root): the pools go through a
// FaultInjectionEnv (PosixPool is built on an Env), the backing store is a temp directory.
//  - a pool that fills up during writes: ENOSPC to the writer, other files (same pool, other
//    pool) intact, writes work again once space is back, headers intact after a restart;
//  - a pool that disappears (directory renamed away, or replaced by another directory) while
//    a file is open: EIO naming the pool, audited; other pools keep working; back again, the
//    files work;
//  - a crash (kill -9) at every step of a rename across VM directories, at the step of create
//    and unlink: after a restart every file is reachable under exactly one name, and the
//    on-disk invariant check finds no redirector without pool file; the only orphans are the
//    documented ones (pool file of an interrupted create/unlink, docs/redirectors.md);
//  - hostile names: a newline (a name like any other: it cannot forge a redirector line), "##",
//    names ending in '#'
//    (`a###pool`), the longest allowed name (NAME_MAX);
//  - long names (`.cafs-long-<hex>##pool` + side entry): every operation, fsck's findings,
//    and a crash at every step of their creation, rename, link and removal;
//  - `cafsd fsck` (CheckVolume): it finds what this file's own independent check finds after
//    every crash above, reports each kind of damage, and removes only crash residue; the
//    BackingStoreLock keeps a second user off a backing store.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cafs/backing_store_lock.h"
#include "cafs/gateway.h"
#include "cafs/key_inventory.h"
#include "cafs/migrator.h"
#include "cafs/volume_check.h"
#include "crypto/mac.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "format/header_codec.h"
#include "policy/seed_examples.h"
#include "pool/posix_pool.h"
#include "util/bytes.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kOsdiskKeyGuid[] = "062b9056-bf64-11df-8d3e-000c29abeb4d";
constexpr char kPoolA[] = "mirrored_pool_A";
constexpr char kPoolDefault[] = "default_pool";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spill(const fs::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// What a consistency check of backing store + pools finds (docs/redirectors.md).
struct Consistency {
  int redirectors = 0;
  std::vector<std::string> dangling;     // redirector whose GUID is in no file of its pool
  std::vector<std::string> orphans;      // pool file whose GUID no redirector names
  std::vector<std::string> duplicates;   // GUID named by two redirectors
  std::vector<std::string> nameless;     // hashed-name entry without its side entry
  std::vector<std::string> stray_names;  // side entry without any redirector of its stem
};

// SHA-256 of a name in hex, computed here (not with the codec under test).
std::string HexSha256(std::string_view name) {
  const auto d = crypto::Sha256(AsBytes(name));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Consistency CheckConsistency(const fs::path& backing, const fs::path& pools) {
  std::map<std::string, std::string> named;  // "pool/guid" -> redirector
  Consistency c;
  std::set<fs::path> stems_named;  // "dir/.cafs-long-<hex>" with a redirector
  std::vector<fs::path> side_entries;
  // A hashed name (`<stem>##pool` or a directory, symlink or special file `<stem>`): its side
  // entry holds a name whose SHA-256 is the stem's hex.
  auto check_stem = [&](const fs::path& entry, const fs::path& stem) {
    stems_named.insert(stem);
    const std::string text = Slurp(stem.string() + ".name");
    const std::string magic = "CAFS-LONGNAME 1\n";
    const bool good =
        text.size() > magic.size() + 1 && text.rfind(magic, 0) == 0 && text.back() == '\n' &&
        ".cafs-long-" + HexSha256(text.substr(magic.size(), text.size() - magic.size() - 1)) ==
            stem.filename().string();
    if (!good) c.nameless.push_back(entry.string());
  };
  for (const auto& e : fs::recursive_directory_iterator(backing)) {
    const std::string name = e.path().filename().string();
    const auto sep = name.rfind("##");
    if (e.is_regular_file() && name.rfind(".cafs-long-", 0) == 0 && sep == std::string::npos &&
        name.size() > 5 && name.substr(name.size() - 5) == ".name") {
      side_entries.push_back(e.path());
    }
    if (!fs::is_regular_file(e.symlink_status()) && name.rfind(".cafs-long-", 0) == 0) {
      check_stem(e.path(), e.path());
    }
    if (!e.is_regular_file() || sep == std::string::npos) continue;
    ++c.redirectors;
    if (name.rfind(".cafs-long-", 0) == 0) {
      check_stem(e.path(), e.path().parent_path() / name.substr(0, sep));
    }
    std::istringstream in(Slurp(e.path()));
    std::string line, guid;
    while (std::getline(in, line)) {
      if (line.rfind("guid ", 0) == 0) guid = line.substr(5);
    }
    const std::string key = name.substr(sep + 2) + "/" + guid;
    // Hard links of one redirector inode name one GUID legitimately.
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0) continue;
    if (auto [it, fresh] = named.emplace(key, e.path().string()); !fresh) {
      struct stat first {};
      if (::lstat(it->second.c_str(), &first) != 0 || first.st_ino != st.st_ino) {
        c.duplicates.push_back(e.path().string());
      }
    }
  }
  std::set<std::string> present;
  for (const auto& pool_dir : fs::directory_iterator(pools)) {
    for (const auto& e : fs::recursive_directory_iterator(pool_dir.path())) {
      if (!e.is_regular_file()) continue;
      auto hdr = format::ParseHeaderUnverified(AsBytes(Slurp(e.path()).substr(0, 4096)));
      const std::string key = pool_dir.path().filename().string() + "/" +
                              (hdr.ok() ? hdr->file_guid.ToString() : std::string("?"));
      present.insert(key);
      if (!named.count(key)) c.orphans.push_back(e.path().string());
    }
  }
  for (const auto& [key, redirector] : named) {
    if (!present.count(key)) c.dangling.push_back(redirector);
  }
  for (const fs::path& side : side_entries) {
    const std::string n = side.string();
    if (!stems_named.count(fs::path(n.substr(0, n.size() - 5)))) c.stray_names.push_back(n);
  }
  return c;
}

class VolumeFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cafs-faults-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Fresh();
  }

  // A new, empty datastore (my_vmset with vm1 and vm2) with a gateway on it; the backing
  // store and the pools both go through env_, which loses unsynced directory changes on a
  // crash (its stash lies outside both).
  void Fresh() {
    Halt();
    for (const auto& e : fs::directory_iterator(dir_)) fs::remove_all(e.path());
    for (const char* sub :
         {"backing", "pools/mirrored_pool_A", "pools/default_pool", "keys/my_vmset"}) {
      fs::create_directories(dir_ / sub);
    }
    ASSERT_TRUE(env_.ModelDirectoryCrashes((dir_ / "fi-stash").string()).ok());
    // The seed's policy, with the window widened: windows are another test's business.
    std::string vobjs = policy::seed_examples::kSeedVobjList;
    vobjs.replace(vobjs.find("Mon-Fri(9am-5pm)"), 16, "at_all_times");
    Spill(dir_ / "keys/my_vmset/policy.xml", vobjs);
    Spill(dir_ / "keys/my_vmset/vmset.xml", policy::seed_examples::kSeedVmSet);
    Bytes dek(64);
    ASSERT_TRUE(crypto::RandomBytes(dek).ok());
    Spill(dir_ / "keys/my_vmset/keys", std::string(kOsdiskKeyGuid) + " 1 " + ToHex(dek) + "\n");
    Boot();
    ASSERT_TRUE(gw_->MakeDir(me_, "/my_vmset", 0755).ok());
    ASSERT_TRUE(gw_->MakeDir(me_, "/my_vmset/vm1", 0755).ok());
    ASSERT_TRUE(gw_->MakeDir(me_, "/my_vmset/vm2", 0755).ok());
  }

  void TearDown() override {
    Halt();
    fs::remove_all(dir_);
  }

  // A gateway stack as cafsd builds it, pools through the fault-injecting Env.
  void Boot() {
    pools_ = std::make_unique<pool::PoolMapper>();
    for (const char* name : {kPoolA, kPoolDefault}) {
      auto p = std::make_unique<pool::PosixPool>(name, (dir_ / "pools" / name).string(), &env_);
      ASSERT_TRUE(p->CheckAvailable().ok());  // pins the pool directory, as cafsd does
      ASSERT_TRUE(pools_->Add(std::move(p)).ok());
    }
    keys_ = std::make_unique<LocalKeyProvider>((dir_ / "keys").string());
    cache_ = std::make_unique<PolicyCache>(keys_.get(), &clock_, PolicyCacheOptions{});
    auto volume = Volume::Open((dir_ / "backing").string(), pools_.get(), &env_);
    ASSERT_TRUE(volume.ok()) << volume.status().ToString();
    volume_ = std::move(*volume);
    auto log = audit::AuditLog::Open((dir_ / "audit.log").string(), audit::AuditLogOptions{});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit_ = std::move(*log);
    gw_ = std::make_unique<Gateway>(cache_.get(), volume_.get(), audit_.get(), &clock_,
                                    GatewayOptions{});
  }

  // Everything goes away at once, as with kill -9 (no Release, no flush beyond what the
  // operations already synced).
  void Halt() {
    gw_.reset();
    audit_.reset();
    volume_.reset();
    cache_.reset();
    keys_.reset();
    pools_.reset();
  }

  void Restart() {
    Halt();
    Boot();
  }

  // Each path's NFS file handle resolves back to that path (persistent handles need
  // CAP_DAC_READ_SEARCH: checked as root only).
  void ExpectHandlesRoundTrip(const std::vector<std::string>& paths) {
    if (::geteuid() != 0) return;
    for (const std::string& p : paths) {
      auto h = gw_->HandleOf(p);
      ASSERT_TRUE(h.ok()) << p << ": " << h.status().ToString();
      auto back = gw_->PathOfHandle(*h);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, p);
    }
  }

  // The paths the key inventory of my_vmset lists (none unreadable).
  std::set<std::string> InventoriedPaths() {
    const auto inventory = TakeKeyInventory((dir_ / "backing").string(), *pools_, "my_vmset");
    EXPECT_EQ(inventory.unreadable, 0u);
    std::set<std::string> out;
    for (const auto& use : inventory.keys) {
      for (const auto& f : use.listed) out.insert(f.path);
    }
    return out;
  }

  Status Put(const std::string& path, std::string_view data) {
    CAFS_ASSIGN_OR_RETURN(OpenResult f, gw_->Create(me_, path, 0644, false));
    Status s = gw_->Write(me_, f.handle, 0, AsBytes(data));
    if (s.ok()) s = gw_->Fsync(me_, f.handle);
    Status r = gw_->Release(me_, f.handle);
    return s.ok() ? r : s;
  }

  Result<std::string> Get(const std::string& path) {
    CAFS_ASSIGN_OR_RETURN(OpenResult f, gw_->Open(me_, path, false));
    std::string out(f.attr.size, '\0');
    auto n = gw_->Read(me_, f.handle, 0,
                       MutableByteView(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    (void)gw_->Release(me_, f.handle);
    if (!n.ok()) return n.status();
    out.resize(*n);
    return out;
  }

  // Audit records with result error whose reason mentions `text`.
  int ErrorsMentioning(std::string_view text) {
    auto records = audit::ReadAuditLog((dir_ / "audit.log").string());
    EXPECT_TRUE(records.ok());
    int n = 0;
    for (const auto& r : records.ok() ? *records : std::vector<audit::AuditRecord>{}) {
      n += r.result == audit::Result::kError && r.reason.find(text) != std::string::npos;
    }
    return n;
  }

  // This file's own check, and `cafsd fsck`'s (CheckVolume) must agree with it.
  Consistency Check() {
    Consistency k = CheckConsistency(dir_ / "backing", dir_ / "pools");
    auto report = Fsck();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    if (report.ok()) {
      EXPECT_EQ(report->redirectors, static_cast<std::uint64_t>(k.redirectors));
      EXPECT_EQ(Count(*report, CheckFinding::Kind::kOrphanPoolFile), k.orphans.size());
      EXPECT_EQ(Count(*report, CheckFinding::Kind::kMissingPoolFile), k.dangling.size());
      EXPECT_EQ(Count(*report, CheckFinding::Kind::kDuplicateGuid), k.duplicates.size());
      EXPECT_EQ(Count(*report, CheckFinding::Kind::kMissingLongName), k.nameless.size());
      EXPECT_EQ(Count(*report, CheckFinding::Kind::kOrphanLongName), k.stray_names.size());
    }
    return k;
  }

  Result<CheckReport> Fsck(bool remove_orphans = false) {
    CheckOptions options;
    options.remove_orphans = remove_orphans;
    return CheckVolume((dir_ / "backing").string(), *pools_, options, &env_);
  }

  // The pool file a redirector (backing-relative, "a/b##pool") names in its line 3.
  fs::path PoolFileOf(const std::string& redirector) const {
    auto r = DecodeRedirector(Slurp(dir_ / "backing" / redirector));
    EXPECT_TRUE(r.ok()) << redirector;
    const std::string pool = redirector.substr(redirector.rfind("##") + 2);
    return r.ok() ? dir_ / "pools" / pool / r->pool_path : fs::path();
  }

  // Every name under the backing store and the pools (for failure messages).
  std::string Tree() const {
    std::string out;
    for (const char* top : {"backing", "pools"}) {
      for (const auto& e : fs::recursive_directory_iterator(dir_ / top)) {
        out += e.path().lexically_relative(dir_).string() + (e.is_directory() ? "/\n" : "\n");
      }
    }
    return out;
  }

  static std::size_t Count(const CheckReport& r, CheckFinding::Kind kind) {
    return static_cast<std::size_t>(std::count_if(r.findings.begin(), r.findings.end(),
                                                  [&](const auto& f) { return f.kind == kind; }));
  }

  fs::path dir_;
  env::FaultInjectionEnv env_{env::Env::Default()};
  ManualClock clock_{std::chrono::sys_days{std::chrono::year{2026} / 11 / 18} + 10h};
  Caller me_{"755083456", static_cast<std::uint32_t>(::getuid()),
             static_cast<std::uint32_t>(::getgid())};
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<LocalKeyProvider> keys_;
  std::unique_ptr<PolicyCache> cache_;
  std::unique_ptr<Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(VolumeFaultsTest, PoolFillingUpDuringWritesIsEnospcAndHarmsNoOtherFile) {
  const std::string a(100000, 'a'), b(5000, 'b'), c(70000, 'c');
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_a.img", a).ok());  // mirrored_pool_A, encrypted
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_b.img", b).ok());
  ASSERT_TRUE(Put("/my_vmset/vm1/vm.vmx", c).ok());  // default_pool, clear

  // The pool fills up 64 KiB into a 1 MiB write: the writer gets ENOSPC, at the write or at
  // the latest at fsync.
  auto big = gw_->Create(me_, "/my_vmset/vm1/osdisk_big.img", 0644, true);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  env_.FailWritesAfter(64 * 1024);
  Status w = gw_->Write(me_, big->handle, 0, AsBytes(std::string(1 << 20, 'x')));
  if (w.ok()) w = gw_->Fsync(me_, big->handle);
  EXPECT_EQ(w.errno_value(), ENOSPC) << w.ToString();
  // A write into an existing file of the same pool fails the same way, changing nothing
  // that was synced.
  auto open_b = gw_->Open(me_, "/my_vmset/vm1/osdisk_b.img", false);
  ASSERT_TRUE(open_b.ok());
  EXPECT_EQ(gw_->Write(me_, open_b->handle, 4096, AsBytes(std::string(8192, 'y'))).errno_value(),
            ENOSPC);
  (void)gw_->Release(me_, open_b->handle);  // may fail too: its sync still meets a full pool

  // Other files, same pool and other pool, read back intact while the pool is full.
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_a.img"), a);
  EXPECT_EQ(*Get("/my_vmset/vm1/vm.vmx"), c);

  // Space comes back (files deleted by the admin): writes work again on the same handle.
  env_.ClearWriteLimit();
  const std::string after(200000, 'z');
  ASSERT_TRUE(gw_->Write(me_, big->handle, 0, AsBytes(after)).ok());
  ASSERT_TRUE(gw_->Fsync(me_, big->handle).ok());
  ASSERT_TRUE(gw_->Release(me_, big->handle).ok());

  // After a restart every header verifies (EncryptedFile::Open checks the MAC) and every
  // synced byte is there.
  Restart();
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_a.img"), a);
  auto got_b = Get("/my_vmset/vm1/osdisk_b.img");
  ASSERT_TRUE(got_b.ok()) << got_b.status().ToString();
  EXPECT_EQ(got_b->substr(0, 4096), b.substr(0, 4096));  // the failed range may be either
  EXPECT_EQ(*Get("/my_vmset/vm1/vm.vmx"), c);
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_big.img"), after);
  const Consistency k = Check();
  EXPECT_TRUE(k.orphans.empty() && k.dangling.empty() && k.duplicates.empty());
}

TEST_F(VolumeFaultsTest, PoolDisappearingUnderAnOpenFileIsEioNamingThePool) {
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk1.img", std::string(8192, '1')).ok());
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk2.img", std::string(4096, '2')).ok());
  auto open = gw_->Open(me_, "/my_vmset/vm1/osdisk1.img", false);
  ASSERT_TRUE(open.ok());

  const fs::path pool = dir_ / "pools/mirrored_pool_A";
  fs::rename(pool, dir_ / "pools.away");
  // Data written now would not be in the pool: fsync says so, with the pool's name.
  (void)gw_->Write(me_, open->handle, 0, AsBytes(std::string(4096, 'n')));
  Status synced = gw_->Fsync(me_, open->handle);
  EXPECT_EQ(synced.errno_value(), EIO) << synced.ToString();
  EXPECT_NE(synced.message().find(kPoolA), std::string::npos) << synced.ToString();
  auto other = gw_->Open(me_, "/my_vmset/vm1/osdisk2.img", false);
  EXPECT_EQ(other.status().errno_value(), EIO);
  EXPECT_EQ(gw_->Create(me_, "/my_vmset/vm1/osdisk3.img", 0644, true).status().errno_value(), EIO);
  EXPECT_GE(ErrorsMentioning(kPoolA), 2);

  // The other pool is not affected.
  ASSERT_TRUE(Put("/my_vmset/vm1/notes.txt", "still here").ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/notes.txt"), "still here");

  // An empty directory in its place (a file system that failed to mount) is not the pool.
  fs::create_directory(pool);
  EXPECT_EQ(pools_->Find(kPoolA).value()->CheckAvailable().code(), Status::Code::kUnavailable);
  EXPECT_EQ(gw_->Open(me_, "/my_vmset/vm1/osdisk2.img", false).status().errno_value(), EIO);
  EXPECT_EQ(gw_->Create(me_, "/my_vmset/vm1/osdisk3.img", 0644, true).status().errno_value(), EIO);
  EXPECT_TRUE(fs::is_empty(pool));  // nothing was created in the wrong place

  // The pool comes back: the files work again, also through the handle opened before.
  fs::remove(pool);
  fs::rename(dir_ / "pools.away", pool);
  ASSERT_TRUE(gw_->Write(me_, open->handle, 0, AsBytes(std::string(4096, 'm'))).ok());
  ASSERT_TRUE(gw_->Fsync(me_, open->handle).ok());
  ASSERT_TRUE(gw_->Release(me_, open->handle).ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk1.img"), std::string(4096, 'm') + std::string(4096, '1'));
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk2.img"), std::string(4096, '2'));
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk3.img", "new").ok());
}

// A crash at each step of a rename across VM directories: after the restart the file has
// exactly one name, the old or the new, with its data; no dangling redirector, no orphan.
class RenameCrashTest : public VolumeFaultsTest,
                        public ::testing::WithParamInterface<std::string> {};

TEST_P(RenameCrashTest, EveryFileHasExactlyOneNameAfterACrash) {
  const std::string data(12288 + 17, 'r');
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk1.img", data).ok());
  ASSERT_TRUE(Put("/my_vmset/vm1/vm.vmx", "clear").ok());
  const std::string point = GetParam();
  int hits = 0;
  volume_->SetCrashPointHookForTest([&](std::string_view p) {
    if (p != point) return Status::OK();
    ++hits;
    return Status::Internal("crash at " + std::string(p));
  });
  EXPECT_FALSE(
      gw_->Rename(me_, "/my_vmset/vm1/osdisk1.img", "/my_vmset/vm2/osdisk9.img", false).ok());
  EXPECT_FALSE(gw_->Rename(me_, "/my_vmset/vm1/vm.vmx", "/my_vmset/vm2/vm.vmx", false).ok());
  EXPECT_EQ(hits, 2);
  Restart();  // the hook is gone with the old Volume

  // The redirector rename (step 1) is the commit point: from there on the new name.
  const bool old_there = gw_->GetAttr(me_, "/my_vmset/vm1/osdisk1.img").ok();
  const bool new_there = gw_->GetAttr(me_, "/my_vmset/vm2/osdisk9.img").ok();
  EXPECT_NE(old_there, new_there);
  EXPECT_TRUE(new_there);
  EXPECT_EQ(*Get("/my_vmset/vm2/osdisk9.img"), data);
  EXPECT_EQ(*Get("/my_vmset/vm2/vm.vmx"), "clear");
  EXPECT_EQ(gw_->GetAttr(me_, "/my_vmset/vm1/vm.vmx").status().errno_value(), ENOENT);
  const Consistency k = Check();
  EXPECT_EQ(k.redirectors, 2);
  EXPECT_TRUE(k.dangling.empty());
  EXPECT_TRUE(k.orphans.empty()) << k.orphans.front();
  EXPECT_TRUE(k.duplicates.empty());

  // Line 3 names where the data is (a rename never moves a pool file: its path carries no
  // name), and renames go on from there.
  const fs::path pool_file = PoolFileOf("my_vmset/vm2/osdisk9.img##mirrored_pool_A");
  EXPECT_TRUE(fs::exists(pool_file));
  ASSERT_TRUE(
      gw_->Rename(me_, "/my_vmset/vm2/osdisk9.img", "/my_vmset/vm1/osdisk1.img", false).ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk1.img"), data);
  EXPECT_EQ(PoolFileOf("my_vmset/vm1/osdisk1.img##mirrored_pool_A"), pool_file);
}

INSTANTIATE_TEST_SUITE_P(Steps, RenameCrashTest, ::testing::Values("rename:redirector-moved"),
                         [](const ::testing::TestParamInfo<std::string>& step) {
                           std::string n = step.param.substr(step.param.find(':') + 1);
                           std::erase(n, '-');
                           return n;
                         });

TEST_F(VolumeFaultsTest, CrashInCreateOrUnlinkLeavesOnlyADocumentedOrphan) {
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_gone.img", "bye").ok());
  volume_->SetCrashPointHookForTest([](std::string_view p) {
    return p == "create:pool-file-created" || p == "unlink:redirector-removed"
               ? Status::Internal("crash")
               : Status::OK();
  });
  EXPECT_FALSE(gw_->Create(me_, "/my_vmset/vm1/osdisk_new.img", 0644, true).ok());
  EXPECT_FALSE(gw_->Unlink(me_, "/my_vmset/vm1/osdisk_gone.img").ok());
  volume_->SetCrashPointHookForTest([](std::string_view p) {
    return p == "create:redirector-written" ? Status::Internal("crash") : Status::OK();
  });
  EXPECT_FALSE(gw_->Create(me_, "/my_vmset/vm1/vm.vmx", 0644, true).ok());
  Restart();
  // No name exists; never a redirector without data, never an empty one (the one written
  // under its temporary name is hidden).
  for (const char* gone :
       {"/my_vmset/vm1/osdisk_new.img", "/my_vmset/vm1/osdisk_gone.img", "/my_vmset/vm1/vm.vmx"}) {
    EXPECT_EQ(gw_->GetAttr(me_, gone).status().errno_value(), ENOENT) << gone;
  }
  auto listed = gw_->ReadDir(me_, "/my_vmset/vm1");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  Consistency k = Check();
  EXPECT_TRUE(k.dangling.empty());
  EXPECT_EQ(k.orphans.size(), 3u);  // garbage pool files, counted by usage until removed
  // The name can be used again: the orphan is never overwritten (a `#<guid>` pool path).
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_new.img", "again").ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_new.img"), "again");
  k = Check();
  EXPECT_TRUE(k.dangling.empty());
  EXPECT_EQ(k.orphans.size(), 3u);
}

TEST_F(VolumeFaultsTest, FsckReportsEachKindAndRemovesOnlyCrashResidue) {
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_a.img", "a").ok());  // mirrored_pool_A
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_b.img", "b").ok());
  ASSERT_TRUE(Put("/my_vmset/vm1/vm.vmx", "c").ok());  // default_pool
  {
    auto clean = Fsck();
    ASSERT_TRUE(clean.ok()) << clean.status().ToString();
    EXPECT_EQ(clean->redirectors, 3u);
    EXPECT_EQ(clean->pool_files, 3u);
    EXPECT_TRUE(clean->findings.empty());
  }
  // Crash residue: an orphan pool file and a temporary redirector of two interrupted creates.
  for (const char* step : {"create:pool-file-created", "create:redirector-written"}) {
    volume_->SetCrashPointHookForTest([step](std::string_view p) {
      return p == step ? Status::Internal("crash") : Status::OK();
    });
    EXPECT_FALSE(gw_->Create(me_, std::string("/my_vmset/vm1/osdisk_") + step, 0644, true).ok());
  }
  Restart();
  // Damage from outside, which no crash leaves.
  const fs::path vm1 = dir_ / "backing/my_vmset/vm1";
  fs::remove(PoolFileOf("my_vmset/vm1/osdisk_b.img##mirrored_pool_A"));  // data lost
  Spill(vm1 / "junk##mirrored_pool_A", "not a redirector\n");
  fs::copy_file(vm1 / "osdisk_a.img##mirrored_pool_A", vm1 / "x##no_such_pool");
  fs::copy_file(vm1 / "osdisk_a.img##mirrored_pool_A", vm1 / "a_copy.img##mirrored_pool_A");
  Spill(dir_ / "pools/default_pool/stray.bin", "not ours");

  auto found = Fsck();
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  std::map<std::string, std::string> kinds;  // where -> kind
  for (const auto& f : found->findings) {
    kinds[f.where] = CheckFindingName(f.kind);
    EXPECT_FALSE(f.removed);
  }
  EXPECT_EQ(kinds["backing:my_vmset/vm1/osdisk_b.img##mirrored_pool_A"], "missing-pool-file");
  EXPECT_EQ(kinds["backing:my_vmset/vm1/junk##mirrored_pool_A"], "bad-redirector");
  EXPECT_EQ(kinds["backing:my_vmset/vm1/x##no_such_pool"], "bad-redirector");
  EXPECT_EQ(Count(*found, CheckFinding::Kind::kDuplicateGuid), 1u);  // one of the two names
  EXPECT_EQ(kinds["default_pool:stray.bin"], "bad-pool-file");
  EXPECT_EQ(Count(*found, CheckFinding::Kind::kOrphanPoolFile), 2u);  // both creates' data
  EXPECT_EQ(Count(*found, CheckFinding::Kind::kStaleTempFile), 1u);
  EXPECT_EQ(found->findings.size(), 8u);
  EXPECT_EQ(found->remaining(), 8u);

  // --remove-orphans removes the residue of the crashes and nothing else.
  auto repaired = Fsck(/*remove_orphans=*/true);
  ASSERT_TRUE(repaired.ok());
  for (const auto& f : repaired->findings) {
    const bool residue = f.kind == CheckFinding::Kind::kOrphanPoolFile ||
                         f.kind == CheckFinding::Kind::kStaleTempFile;
    EXPECT_EQ(f.removed, residue) << f.where;
  }
  EXPECT_EQ(repaired->remaining(), 5u);
  auto again = Fsck();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->findings.size(), 5u);
  EXPECT_EQ(Count(*again, CheckFinding::Kind::kOrphanPoolFile), 0u);
  EXPECT_EQ(Count(*again, CheckFinding::Kind::kStaleTempFile), 0u);
  EXPECT_TRUE(fs::exists(dir_ / "pools/default_pool/stray.bin"));  // not ours: never touched
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_a.img"), "a");
  EXPECT_EQ(*Get("/my_vmset/vm1/vm.vmx"), "c");
}

// Pool paths (docs/redirectors.md "Pool paths"): a pool shared with another gateway holds
// its files under that gateway's owner mark, and fsck never judges them; pool files at the
// name-derived paths of an older gateway keep working, survive renames, and
// `fsck --upgrade-pool-paths` moves them to their GUID paths, crash-safely.
TEST_F(VolumeFaultsTest, FsckJudgesOnlyItsOwnMarkAndUpgradesNameDerivedPoolPaths) {
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_a.img", "a").ok());
  const fs::path a_file = PoolFileOf("my_vmset/vm1/osdisk_a.img##mirrored_pool_A");
  EXPECT_EQ(a_file.lexically_relative(dir_ / "pools/mirrored_pool_A").begin()->string(),
            volume_->owner().ToString());
  // Another gateway's files: a copy of ours (an orphan, were it ours) and junk.
  const fs::path other = dir_ / "pools/mirrored_pool_A" / Uuid::Random().ToString() / "ab";
  fs::create_directories(other);
  fs::copy_file(a_file, other / "copy");
  Spill(other / "junk", "not a pool file");
  // An older gateway's file at its name-derived path, twice (one is renamed below).
  auto make_legacy = [&](const std::string& rel) {
    const std::string redirector = rel + "##mirrored_pool_A";
    auto r = DecodeRedirector(Slurp(dir_ / "backing" / redirector));
    ASSERT_TRUE(r.ok());
    fs::create_directories((dir_ / "pools/mirrored_pool_A" / rel).parent_path());
    fs::rename(PoolFileOf(redirector), dir_ / "pools/mirrored_pool_A" / rel);
    Spill(dir_ / "backing" / redirector, EncodeRedirector({r->guid, rel}));
  };
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_old.img", "old").ok());
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk_old2.img", "old2").ok());
  make_legacy("my_vmset/vm1/osdisk_old.img");
  make_legacy("my_vmset/vm1/osdisk_old2.img");
  Restart();
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_old.img"), "old");
  ASSERT_TRUE(
      gw_->Rename(me_, "/my_vmset/vm1/osdisk_old.img", "/my_vmset/vm2/osdisk_moved.img", false)
          .ok());
  EXPECT_EQ(*Get("/my_vmset/vm2/osdisk_moved.img"), "old");
  EXPECT_EQ(PoolFileOf("my_vmset/vm2/osdisk_moved.img##mirrored_pool_A"),
            dir_ / "pools/mirrored_pool_A/my_vmset/vm1/osdisk_old.img");

  auto found = Fsck(/*remove_orphans=*/true);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_TRUE(found->findings.empty()) << found->findings.front().where;
  EXPECT_EQ(found->other_owners, 1u);
  EXPECT_EQ(found->legacy_pool_paths, 2u);
  EXPECT_TRUE(fs::exists(other / "copy"));
  EXPECT_TRUE(fs::exists(other / "junk"));

  // A crash inside the upgrade of one file: moved, line 3 not yet rewritten; the next open
  // finds it at its GUID path and repairs line 3.
  volume_->SetCrashPointHookForTest([](std::string_view p) {
    return p == "upgrade:pool-file-moved" ? Status::Internal("crash") : Status::OK();
  });
  EXPECT_FALSE(volume_->MoveToNewPoolPath("my_vmset/vm1/osdisk_old2.img").ok());
  Restart();
  auto loc = volume_->Locate("my_vmset/vm1/osdisk_old2.img");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->pool_path, volume_->NewPoolPath(loc->guid));
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk_old2.img"), "old2");
  EXPECT_EQ(PoolFileOf("my_vmset/vm1/osdisk_old2.img##mirrored_pool_A"),
            dir_ / "pools/mirrored_pool_A" / volume_->NewPoolPath(loc->guid));

  CheckOptions upgrade;
  upgrade.upgrade_pool_paths = true;
  Halt();  // fsck runs with cafsd stopped
  pools_ = std::make_unique<pool::PoolMapper>();
  for (const char* name : {kPoolA, kPoolDefault}) {
    ASSERT_TRUE(
        pools_
            ->Add(std::make_unique<pool::PosixPool>(name, (dir_ / "pools" / name).string(), &env_))
            .ok());
  }
  auto upgraded = CheckVolume((dir_ / "backing").string(), *pools_, upgrade, &env_);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  EXPECT_EQ(upgraded->legacy_pool_paths, 1u);
  EXPECT_EQ(upgraded->upgraded, 1u);
  Boot();
  loc = volume_->Locate("my_vmset/vm2/osdisk_moved.img");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->pool_path, volume_->NewPoolPath(loc->guid));
  EXPECT_EQ(*Get("/my_vmset/vm2/osdisk_moved.img"), "old");
  auto again = Fsck();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->legacy_pool_paths, 0u);
  EXPECT_TRUE(again->findings.empty());
  EXPECT_TRUE(fs::exists(other / "copy"));
}

TEST_F(VolumeFaultsTest, BackingStoreLockAdmitsOneUser) {
  const std::string backing = (dir_ / "backing").string();
  auto first = BackingStoreLock::Acquire(backing);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = BackingStoreLock::Acquire(backing);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by pid " + std::to_string(::getpid())),
            std::string::npos)
      << second.status().ToString();
  // The lock file is hidden from the namespace.
  auto listed = gw_->ReadDir(me_, "/");
  ASSERT_TRUE(listed.ok());
  for (const auto& e : *listed) EXPECT_NE(e.name, BackingStoreLock::kFileName);
  first->reset();
  EXPECT_TRUE(BackingStoreLock::Acquire(backing).ok());
  EXPECT_EQ(BackingStoreLock::Acquire((dir_ / "missing").string()).status().errno_value(), ENOENT);
}

TEST_F(VolumeFaultsTest, HostileNames) {
  // A newline in a name is a name like any other (as on ext4): the redirector's content
  // carries no name (its `path` line is the GUID path), so no line can be forged with it.
  const std::string nl = "/my_vmset/vm1/x\npath vm.vmx\nguid 0";
  ASSERT_TRUE(Put("/my_vmset/vm1/vm.vmx", "vmx").ok());
  ASSERT_TRUE(Put(nl, "newline").ok()) << Put(nl, "newline").ToString();
  EXPECT_EQ(*Get(nl), "newline");
  EXPECT_EQ(*Get("/my_vmset/vm1/vm.vmx"), "vmx");
  ASSERT_TRUE(gw_->Unlink(me_, nl).ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/vm.vmx"), "vmx");
  const std::string nl_long = "/my_vmset/vm1/osdisk\n##" + std::string(240, 'n');  // hashed
  ASSERT_TRUE(Put(nl_long, "hashed newline").ok());
  EXPECT_EQ(*Get(nl_long), "hashed newline");
  {
    auto names = gw_->ReadDir(me_, "/my_vmset/vm1");
    ASSERT_TRUE(names.ok());
    ASSERT_EQ(names->size(), 2u);
    EXPECT_TRUE(names->front().name == nl_long.substr(14) ||
                names->back().name == nl_long.substr(14));
  }
  ASSERT_TRUE(gw_->Unlink(me_, nl_long).ok());
  ASSERT_TRUE(gw_->Unlink(me_, "/my_vmset/vm1/vm.vmx").ok());
  // Names ending in '#': "a#" in default_pool is "a###default_pool"; it is listed as "a#",
  // and "a" does not exist.
  ASSERT_TRUE(Put("/my_vmset/vm1/a#", "hash").ok());
  ASSERT_TRUE(fs::exists(dir_ / "backing/my_vmset/vm1/a###default_pool"));
  auto listed = gw_->ReadDir(me_, "/my_vmset/vm1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().name, "a#");
  EXPECT_EQ(gw_->GetAttr(me_, "/my_vmset/vm1/a").status().errno_value(), ENOENT);
  EXPECT_EQ(*Get("/my_vmset/vm1/a#"), "hash");
  // Pool names starting with '#' would make that ambiguous: refused by the mapper.
  EXPECT_TRUE(pool::ValidatePoolName("#default_pool").IsInvalidArgument());
  // The longest name: the backing store's NAME_MAX (long names are hashed).
  const std::string longest(255, 'L');
  ASSERT_TRUE(Put("/my_vmset/vm1/osdisk" + longest.substr(6), "long").ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/osdisk" + longest.substr(6)), "long");
  EXPECT_EQ(gw_->Create(me_, "/my_vmset/vm1/" + longest + "L", 0644, true).status().errno_value(),
            ENAMETOOLONG);
  auto stats = gw_->StatFs(me_);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->name_max, 255u);
  // Dots and separators.
  for (const char* bad : {"/my_vmset/vm1/..", "/my_vmset/vm1/.", "/my_vmset/../etc/passwd"}) {
    EXPECT_EQ(gw_->Create(me_, bad, 0644, true).status().errno_value(), EINVAL) << bad;
  }
  // A redirector whose content names another file's pool path (edited by hand or forged):
  // the GUID check refuses to use it, and unlink never removes the other file's data.
  Spill(dir_ / "backing/my_vmset/vm1/evil##default_pool",
        "CAFS-REDIRECTOR 1\nguid 11111111-2222-3333-4444-555555555555\n"
        "path my_vmset/vm1/a#\n");
  EXPECT_EQ(Get("/my_vmset/vm1/evil").status().errno_value(), EIO);
  ASSERT_TRUE(gw_->Unlink(me_, "/my_vmset/vm1/evil").ok());
  EXPECT_EQ(*Get("/my_vmset/vm1/a#"), "hash");
}

// Names whose `name##pool` would not fit NAME_MAX (docs/redirectors.md "Long names"): every
// operation sees the full name; the backing store has `.cafs-long-<hex>##pool` and the side
// entry `.cafs-long-<hex>.name`; nothing is left behind.
const std::string kLong255 = "osdisk" + std::string(249, 'a');               // pool A: hashed
const std::string kLong254 = "osdisk" + std::string(248, 'b');               // pool A: hashed
const std::string kClear255(255, 'v');                                       // default_pool: hashed
const std::string kHashEnd = "osdisk" + std::string(248, 'c') + "#";         // 255, ends in '#'
const std::string kNotUtf8 = "osdisk\xff\xfe\xc3(" + std::string(245, 'd');  // 255
const std::string kFitsDefault = "hc_" + std::string(237, 'e');  // 240: 254 in default_pool
const std::string kLong240 = "osdisk" + std::string(234, 'f');   // 240: 257 in pool A

TEST_F(VolumeFaultsTest, LongNamesWorkForEveryOperation) {
  const std::string vm = "/my_vmset/vm1/";
  const fs::path backing = dir_ / "backing/my_vmset/vm1";
  for (const std::string* n : {&kLong255, &kLong254, &kClear255, &kHashEnd, &kNotUtf8}) {
    ASSERT_EQ(n->size() == 254 ? 254u : 255u, n->size());
    ASSERT_TRUE(Put(vm + *n, "data of " + n->substr(0, 8)).ok()) << n->substr(0, 8);
    EXPECT_EQ(*Get(vm + *n), "data of " + n->substr(0, 8));
    auto a = gw_->GetAttr(me_, vm + *n);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->size, 8 + std::min<std::size_t>(8, n->size()));
    const std::string pool = n == &kClear255 ? kPoolDefault : kPoolA;
    EXPECT_TRUE(fs::is_regular_file(backing / (".cafs-long-" + HexSha256(*n) + "##" + pool)));
    EXPECT_EQ(Slurp(backing / (".cafs-long-" + HexSha256(*n) + ".name")),
              "CAFS-LONGNAME 1\n" + *n + "\n");
  }
  // 240 bytes fit `name##default_pool` (254): stored under the name itself.
  ASSERT_TRUE(Put(vm + kFitsDefault, "fits").ok());
  EXPECT_TRUE(fs::is_regular_file(backing / (kFitsDefault + "##" + kPoolDefault)));
  auto listed = gw_->ReadDir(me_, vm);
  ASSERT_TRUE(listed.ok());
  std::set<std::string> names;
  for (const auto& e : *listed) names.insert(e.name);
  EXPECT_EQ(names, (std::set<std::string>{kLong255, kLong254, kClear255, kHashEnd, kNotUtf8,
                                          kFitsDefault}));
  // Names stay refused where the backing store refuses them.
  EXPECT_EQ(gw_->Create(me_, vm + kLong255 + "x", 0644, true).status().errno_value(), ENAMETOOLONG);
  // A name that looks like a stem is itself stored as a long name (never taken for one).
  const std::string stem_like = ".cafs-long-" + HexSha256("x");
  ASSERT_TRUE(Put(vm + stem_like, "stem-like").ok());
  EXPECT_EQ(*Get(vm + stem_like), "stem-like");
  EXPECT_TRUE(fs::exists(backing / (".cafs-long-" + HexSha256(stem_like) + "##" + kPoolDefault)));
  ASSERT_TRUE(gw_->Unlink(me_, vm + stem_like).ok());

  // Rename long -> short, short -> long, long -> long over an existing long file (its data
  // goes), long -> long into another directory.
  ASSERT_TRUE(gw_->Rename(me_, vm + kLong255, vm + "osdisk_short", false).ok());
  EXPECT_EQ(*Get(vm + "osdisk_short"), "data of osdiskaa");
  EXPECT_FALSE(fs::exists(backing / (".cafs-long-" + HexSha256(kLong255) + ".name")));
  ASSERT_TRUE(gw_->Rename(me_, vm + "osdisk_short", vm + kLong255, false).ok());
  EXPECT_EQ(*Get(vm + kLong255), "data of osdiskaa");
  ASSERT_TRUE(gw_->Rename(me_, vm + kLong255, vm + kLong254, false).ok());
  EXPECT_EQ(*Get(vm + kLong254), "data of osdiskaa");
  EXPECT_EQ(gw_->GetAttr(me_, vm + kLong255).status().errno_value(), ENOENT);
  EXPECT_EQ(gw_->Rename(me_, vm + kLong254, vm + kHashEnd, true).errno_value(), EEXIST);
  ASSERT_TRUE(gw_->Rename(me_, vm + kLong254, "/my_vmset/vm2/" + kLong254, false).ok());
  EXPECT_EQ(*Get("/my_vmset/vm2/" + kLong254), "data of osdiskaa");
  EXPECT_FALSE(fs::exists(backing / (".cafs-long-" + HexSha256(kLong254) + ".name")));
  // Hard links: a long name of a short-named file and of a long one.
  ASSERT_TRUE(gw_->Link(me_, vm + kHashEnd, vm + kLong255).ok());
  ASSERT_TRUE(gw_->Link(me_, vm + kLong255, "/my_vmset/vm2/osdisk_link").ok());
  EXPECT_EQ(gw_->GetAttr(me_, vm + kLong255)->nlink, 3u);
  ASSERT_TRUE(gw_->Unlink(me_, vm + kHashEnd).ok());
  EXPECT_EQ(*Get(vm + kLong255), "data of osdiskcc");
  EXPECT_EQ(*Get("/my_vmset/vm2/osdisk_link"), "data of osdiskcc");
  // Directories, symlinks and special files of NAME_MAX bytes are themselves (they fit).
  const std::string d255(255, 'D'), s255(255, 'S'), p255(255, 'P');
  ASSERT_TRUE(gw_->MakeDir(me_, vm + d255, 0755).ok());
  ASSERT_TRUE(Put(vm + d255 + "/" + kLong255, "inside").ok());
  EXPECT_EQ(*Get(vm + d255 + "/" + kLong255), "inside");
  ASSERT_TRUE(gw_->Symlink(me_, "target", vm + s255).ok());
  ASSERT_TRUE(gw_->MakeNode(me_, vm + p255, S_IFIFO | 0640, 0).ok());
  EXPECT_TRUE(fs::is_directory(backing / d255));
  EXPECT_TRUE(fs::is_symlink(backing / s255));
  // NFS file handles resolve to the full name (persistent handles need CAP_DAC_READ_SEARCH).
  // (Not kLong255: a handle of a linked file resolves to any of its names.)
  ExpectHandlesRoundTrip({vm + kClear255, vm + kNotUtf8, vm + d255 + "/" + kLong255});
  // The key inventory names files by their full names.
  const std::set<std::string> inventoried = InventoriedPaths();
  EXPECT_TRUE(inventoried.count(vm + kLong255)) << "listed: " << inventoried.size();
  EXPECT_TRUE(inventoried.count(vm + kNotUtf8));
  // A migration to a pool where the name fits drops the side entry, and back adds it.
  {
    ASSERT_TRUE(Put(vm + kLong240, "migrating").ok());
    const fs::path side = backing / (".cafs-long-" + HexSha256(kLong240) + ".name");
    EXPECT_TRUE(fs::exists(side));
    for (const char* to : {kPoolDefault, kPoolA}) {
      auto m = FileMigration::Start(*volume_, "my_vmset/vm1/" + kLong240, to, MigrationOptions{});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      for (;;) {
        auto p = (*m)->Step(1 << 20);
        ASSERT_TRUE(p.ok()) << p.status().ToString();
        if (p->finished()) break;
      }
      EXPECT_EQ(volume_->Locate("my_vmset/vm1/" + kLong240)->pool, to);
      EXPECT_EQ(fs::exists(side), std::string(to) == kPoolA) << to;
      EXPECT_EQ(*Get(vm + kLong240), "migrating");
    }
  }
  const Consistency k = Check();
  EXPECT_TRUE(k.nameless.empty() && k.stray_names.empty() && k.orphans.empty()) << Tree();
  // Removing everything leaves no side entry and no pool file.
  for (const std::string& n : {kLong255, kClear255, kNotUtf8, kFitsDefault, kLong240}) {
    ASSERT_TRUE(gw_->Unlink(me_, vm + n).ok()) << n.substr(0, 8);
  }
  ASSERT_TRUE(gw_->Unlink(me_, vm + d255 + "/" + kLong255).ok());
  ASSERT_TRUE(gw_->RemoveDir(me_, vm + d255).ok());
  ASSERT_TRUE(gw_->Unlink(me_, vm + s255).ok());
  ASSERT_TRUE(gw_->Unlink(me_, vm + p255).ok());
  EXPECT_EQ(*Get("/my_vmset/vm2/osdisk_link"), "data of osdiskcc");
  ASSERT_TRUE(gw_->Unlink(me_, "/my_vmset/vm2/osdisk_link").ok());
  ASSERT_TRUE(gw_->Unlink(me_, "/my_vmset/vm2/" + kLong254).ok());
  EXPECT_TRUE(fs::is_empty(backing)) << Tree();
  EXPECT_TRUE(fs::is_empty(dir_ / "backing/my_vmset/vm2")) << Tree();
  EXPECT_EQ(Check().orphans.size(), 0u);
}

// Names containing "##" are names like any other (ext4 takes them): a file is stored hashed
// (`.cafs-long-<hex>##pool` + side entry), a directory, symlink or special file under its bare
// stem `.cafs-long-<hex>` + side entry, so that none is ever taken for, or clashes with, the
// redirector `x##p` of a file x in pool p (docs/redirectors.md "Long names").
TEST_F(VolumeFaultsTest, NamesWithHashHashAreNamesLikeAnyOther) {
  const std::string vm = "/my_vmset/vm1/";
  const fs::path backing = dir_ / "backing/my_vmset/vm1";
  // File b (its redirector `b##default_pool`) and the file named `b##default_pool`.
  ASSERT_TRUE(Put(vm + "b", "plain b").ok());
  ASSERT_TRUE(Put(vm + "b##default_pool", "hashes").ok());
  EXPECT_EQ(*Get(vm + "b"), "plain b");
  EXPECT_EQ(*Get(vm + "b##default_pool"), "hashes");
  EXPECT_TRUE(fs::is_regular_file(backing / "b##default_pool"));
  EXPECT_TRUE(fs::is_regular_file(
      backing / (".cafs-long-" + HexSha256("b##default_pool") + "##" + kPoolDefault)));
  // A directory named like the redirector of file osdisk_x in pool A, made before and after
  // that file; a symlink and a FIFO of the same kind; "##" alone; a name ending in "##".
  const std::string dx = "osdisk_x##" + std::string(kPoolA),
                    sy = "osdisk_y##" + std::string(kPoolA);
  ASSERT_TRUE(gw_->MakeDir(me_, vm + dx, 0750).ok());
  ASSERT_TRUE(Put(vm + "osdisk_x", "encrypted x").ok());
  ASSERT_TRUE(Put(vm + "osdisk_y", "encrypted y").ok());
  ASSERT_TRUE(gw_->Symlink(me_, "osdisk_y", vm + sy).ok());
  ASSERT_TRUE(gw_->MakeNode(me_, vm + "##", S_IFIFO | 0600, 0).ok());
  ASSERT_TRUE(Put(vm + "osdisk_z##", "ends in hashes").ok());
  EXPECT_TRUE(fs::is_directory(backing / (".cafs-long-" + HexSha256(dx))));
  EXPECT_EQ(Slurp(backing / (".cafs-long-" + HexSha256(dx) + ".name")),
            "CAFS-LONGNAME 1\n" + dx + "\n");
  EXPECT_TRUE(fs::is_symlink(backing / (".cafs-long-" + HexSha256(sy))));
  EXPECT_EQ(gw_->GetAttr(me_, vm + dx)->type, FileType::kDirectory);
  EXPECT_EQ(gw_->GetAttr(me_, vm + dx)->mode, 0750u);
  EXPECT_EQ(*gw_->ReadLink(me_, vm + sy), "osdisk_y");
  EXPECT_EQ(gw_->GetAttr(me_, vm + "##")->type, FileType::kFifo);
  EXPECT_EQ(*Get(vm + "osdisk_x"), "encrypted x");
  EXPECT_EQ(*Get(vm + "osdisk_z##"), "ends in hashes");
  // Files inside the directory, a hard link to a "##" name, renames in and out of the form.
  ASSERT_TRUE(Put(vm + dx + "/osdisk##inner", "inner").ok());
  EXPECT_EQ(*Get(vm + dx + "/osdisk##inner"), "inner");
  ASSERT_TRUE(gw_->Link(me_, vm + "osdisk_x", vm + "osdisk_x##link").ok());
  EXPECT_EQ(gw_->GetAttr(me_, vm + "osdisk_x")->nlink, 2u);
  EXPECT_EQ(*Get(vm + "osdisk_x##link"), "encrypted x");
  ASSERT_TRUE(gw_->Rename(me_, vm + "b", vm + "b##" + std::string(kPoolA), false).ok());
  EXPECT_EQ(*Get(vm + "b##" + std::string(kPoolA)), "plain b");
  ASSERT_TRUE(gw_->Rename(me_, vm + dx, vm + "plain_dir", false).ok());
  EXPECT_EQ(*Get(vm + "plain_dir/osdisk##inner"), "inner");
  EXPECT_FALSE(fs::exists(backing / (".cafs-long-" + HexSha256(dx) + ".name")));
  ASSERT_TRUE(gw_->Rename(me_, vm + "plain_dir", vm + dx, false).ok());
  // A symlink renamed over a file of the same hashed name form, and a file over a symlink.
  ASSERT_TRUE(gw_->Symlink(me_, "t", vm + "s##1").ok());
  ASSERT_TRUE(Put(vm + "f##1", "f").ok());
  ASSERT_TRUE(gw_->Rename(me_, vm + "s##1", vm + "f##1", false).ok());
  EXPECT_EQ(gw_->GetAttr(me_, vm + "f##1")->type, FileType::kSymlink);
  ASSERT_TRUE(Put(vm + "g##1", "g").ok());
  ASSERT_TRUE(gw_->Rename(me_, vm + "g##1", vm + "f##1", false).ok());
  EXPECT_EQ(*Get(vm + "f##1"), "g");
  // The listing shows every name exactly once, and nothing of the backing form.
  auto listed = gw_->ReadDir(me_, vm);
  ASSERT_TRUE(listed.ok());
  std::set<std::string> names;
  for (const auto& e : *listed) names.insert(e.name);
  EXPECT_EQ(names,
            (std::set<std::string>{"b##default_pool", "b##" + std::string(kPoolA), dx, "osdisk_x",
                                   "osdisk_y", sy, "##", "osdisk_z##", "osdisk_x##link", "f##1"}));
  // NFS file handles resolve to the caller's names (persistent handles need
  // CAP_DAC_READ_SEARCH), also below a hashed directory.
  ExpectHandlesRoundTrip(
      {vm + dx, vm + dx + "/osdisk##inner", vm + sy, vm + "##", vm + "b##default_pool"});
  // The key inventory names the file inside the hashed directory by the caller's path.
  const std::set<std::string> inventoried = InventoriedPaths();
  EXPECT_TRUE(inventoried.count(vm + dx + "/osdisk##inner")) << inventoried.size();
  // fsck finds nothing; a hashed directory whose side entry is lost is reported (kept).
  auto report = Fsck(false);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->remaining(), 0u);
  EXPECT_TRUE(Check().nameless.empty()) << Tree();
  fs::rename(backing / (".cafs-long-" + HexSha256(sy) + ".name"), dir_ / "saved");
  report = Fsck(true);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(Count(*report, CheckFinding::Kind::kMissingLongName), 1u);
  EXPECT_EQ(report->remaining(), 1u);
  EXPECT_TRUE(fs::is_symlink(backing / (".cafs-long-" + HexSha256(sy))));
  fs::rename(dir_ / "saved", backing / (".cafs-long-" + HexSha256(sy) + ".name"));
  // Removing everything leaves nothing behind.
  for (const std::string& n : std::vector<std::string>{
           "b##default_pool", "b##" + std::string(kPoolA), "osdisk_x", "osdisk_y", "##",
           "osdisk_z##", "osdisk_x##link", sy, "f##1", dx + "/osdisk##inner"}) {
    ASSERT_TRUE(gw_->Unlink(me_, vm + n).ok()) << n;
  }
  ASSERT_TRUE(gw_->RemoveDir(me_, vm + dx).ok());
  EXPECT_TRUE(fs::is_empty(backing)) << Tree();
  EXPECT_EQ(Check().orphans.size(), 0u);
}

// The codec (redirector.h): where the long form starts, per pool; what a side entry must hold.
TEST(LongNameCodecTest, ThresholdPerPoolAndStrictSideEntries) {
  const std::string n240(240, 'x');  // 240 + 2 + 12 = 254 fits; 240 + 2 + 15 = 257 does not
  EXPECT_FALSE(NeedsLongName(n240, kPoolDefault));
  EXPECT_TRUE(NeedsLongName(n240, kPoolA));
  EXPECT_EQ(RedirectorBackingName(n240, kPoolDefault), n240 + "##" + kPoolDefault);
  const std::string stem = ".cafs-long-" + HexSha256(n240);
  EXPECT_EQ(LongNameStem(n240), stem);
  EXPECT_EQ(RedirectorBackingName(n240, kPoolA), stem + "##" + std::string(kPoolA));
  EXPECT_TRUE(IsRedirectorOf(stem + "##" + std::string(kPoolA), n240));
  EXPECT_TRUE(IsRedirectorOf(stem + "##unconfigured_pool", n240));  // any possible pool
  EXPECT_FALSE(IsRedirectorOf(stem + "##" + kPoolDefault, n240));   // fits there: not its form
  EXPECT_FALSE(IsRedirectorOf(stem + "##" + std::string(kPoolA), "other"));
  // A caller name of the stem's form is itself long, whatever its length.
  EXPECT_TRUE(IsLongNameStem(stem));
  EXPECT_TRUE(NeedsLongName(stem, kPoolDefault));
  EXPECT_FALSE(IsLongNameStem(stem.substr(0, stem.size() - 1)));
  EXPECT_FALSE(IsLongNameStem(".cafs-long-" + std::string(64, 'G')));
  EXPECT_EQ(LongNameEntryStem(stem + ".name"), std::optional<std::string_view>(stem));
  EXPECT_FALSE(LongNameEntryStem(".cafs-long-x.name"));
  // Side entry: magic, one name line, the stem's hash, the long form in that pool.
  EXPECT_EQ(EncodeLongNameEntry(n240), "CAFS-LONGNAME 1\n" + n240 + "\n");
  EXPECT_EQ(*DecodeLongNameEntry(EncodeLongNameEntry(n240), stem), n240);
  for (const std::string& bad :
       {std::string("CAFS-LONGNAME 2\n") + n240 + "\n", "CAFS-LONGNAME 1\n" + n240,
        std::string("CAFS-LONGNAME 1\n\n"), "CAFS-LONGNAME 1\n" + n240 + "\nx\n",
        "CAFS-LONGNAME 1\n" + n240 + "y\n"}) {
    EXPECT_TRUE(DecodeLongNameEntry(bad, stem).status().IsCorruption()) << bad.substr(0, 20);
  }
  auto read = [&](const std::string&) -> Result<std::string> { return EncodeLongNameEntry(n240); };
  EXPECT_EQ(*CallerNameOf({stem, kPoolA}, read), n240);
  // The same side entry under a pool where the name fits: not a name stored this way.
  EXPECT_TRUE(CallerNameOf({stem, kPoolDefault}, read).status().IsCorruption());
  EXPECT_EQ(*CallerNameOf({"short", kPoolA}, read), "short");  // no side entry read
  // "##" in a name: a file is hashed in every pool; a directory, symlink or special file is
  // stored under its bare stem when its name contains "##" or looks like one of ours.
  EXPECT_TRUE(NeedsLongName("a##b", kPoolDefault));
  EXPECT_FALSE(NeedsLongName("a#", kPoolDefault));
  for (const std::string& n :
       {std::string("x##") + kPoolA, std::string("##"), stem, stem + ".name"}) {
    EXPECT_TRUE(NeedsHashedPlainName(n)) << n;
    EXPECT_EQ(PlainBackingName(n), LongNameStem(n)) << n;
  }
  EXPECT_FALSE(NeedsHashedPlainName("a#"));
  EXPECT_EQ(PlainBackingName(n240), n240);
  EXPECT_EQ(LongNameStemOf(stem), stem);
  EXPECT_EQ(LongNameStemOf(stem + "##" + std::string(kPoolA)), stem);
  EXPECT_EQ(LongNameStemOf("a##" + std::string(kPoolA)), "");
  const std::string dstem = LongNameStem("d##p");
  auto read_d = [&](const std::string&) -> Result<std::string> {
    return EncodeLongNameEntry("d##p");
  };
  EXPECT_EQ(*CallerNameOfEntry(dstem, false, read_d), "d##p");
  EXPECT_EQ(*CallerNameOfEntry("plain", false, read_d), "plain");
  EXPECT_TRUE(CallerNameOfEntry(".cafs-lock", true, read_d).status().IsNotFound());
  EXPECT_EQ(*CallerNameOfEntry(dstem + "##" + kPoolDefault, true, read_d), "d##p");
  // A side entry of a name that is stored under its own name: not ours.
  EXPECT_TRUE(CallerNameOfEntry(LongNameStem("plain"), false,
                                [](const std::string&) -> Result<std::string> {
                                  return EncodeLongNameEntry("plain");
                                })
                  .status()
                  .IsCorruption());
}

// fsck and long names: a side entry without a redirector is crash residue (removed with
// --remove-orphans); a redirector without its side entry, or with one that does not match,
// is damage (reported, kept: the file still works by its name, only listings miss it).
TEST_F(VolumeFaultsTest, FsckReportsLongNameEntriesWithoutTheirPartner) {
  const fs::path backing = dir_ / "backing/my_vmset/vm1";
  ASSERT_TRUE(Put("/my_vmset/vm1/" + kLong255, "kept").ok());
  ASSERT_TRUE(Put("/my_vmset/vm1/" + kLong254, "forged").ok());
  const std::string stray = ".cafs-long-" + HexSha256("gone") + ".name";
  Spill(backing / stray, "CAFS-LONGNAME 1\ngone\n");
  fs::remove(backing / (".cafs-long-" + HexSha256(kLong255) + ".name"));
  Spill(backing / (".cafs-long-" + HexSha256(kLong254) + ".name"), "CAFS-LONGNAME 1\nother\n");
  const Consistency k = Check();
  EXPECT_EQ(k.nameless.size(), 2u);
  EXPECT_EQ(k.stray_names.size(), 1u);
  auto listed = gw_->ReadDir(me_, "/my_vmset/vm1");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());                          // neither name can be shown
  EXPECT_EQ(*Get("/my_vmset/vm1/" + kLong255), "kept");  // but both work by their names
  EXPECT_EQ(*Get("/my_vmset/vm1/" + kLong254), "forged");
  auto report = Fsck(/*remove_orphans=*/true);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(Count(*report, CheckFinding::Kind::kOrphanLongName), 1u);
  EXPECT_EQ(Count(*report, CheckFinding::Kind::kMissingLongName), 2u);
  EXPECT_EQ(report->remaining(), 2u);
  EXPECT_FALSE(fs::exists(backing / stray));
  EXPECT_STREQ(CheckFindingName(CheckFinding::Kind::kOrphanLongName), "orphan-long-name");
  EXPECT_STREQ(CheckFindingName(CheckFinding::Kind::kMissingLongName), "missing-long-name");
  // A rename gives the file its side entry back.
  ASSERT_TRUE(
      gw_->Rename(me_, "/my_vmset/vm1/" + kLong255, "/my_vmset/vm1/" + kHashEnd, false).ok());
  listed = gw_->ReadDir(me_, "/my_vmset/vm1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().name, kHashEnd);
}

// A crash at every durable step (every write, sync and directory change through the Env, of
// the backing store and the pools alike) of each namespace operation, with everything not
// synced lost (FaultInjectionEnv::CrashAfter + DropUnsyncedData): after a restart no
// redirector is without its data, no GUID has two names, the only orphan is the documented
// one (a pool file of an interrupted create or unlink), a file has exactly one name with its
// data, and an operation that returned OK is durable.
class StepCrashTest;

struct StepCase {
  const char* name;
  // Puts the files the operation needs (fully synced; no crash armed yet).
  std::function<void(StepCrashTest&)> prepare;
  // The operation, run with the crash armed.
  std::function<Status(StepCrashTest&)> op;
  // Checks after the restart; `acknowledged`: the operation returned OK.
  std::function<void(StepCrashTest&, bool acknowledged)> check;
};

class StepCrashTest : public VolumeFaultsTest, public ::testing::WithParamInterface<StepCase> {
 public:
  // The public face of the fixture for the cases.
  Status DoPut(const std::string& path, std::string_view data) { return Put(path, data); }
  Result<std::string> DoGet(const std::string& path) { return Get(path); }
  bool Exists(const std::string& path) { return gw_->GetAttr(me_, path).ok(); }
  Result<CheckReport> DoFsck(bool remove_orphans) { return Fsck(remove_orphans); }
  Gateway& gw() { return *gw_; }
  const Caller& me() const { return me_; }
  Volume& volume() { return *volume_; }
};

// The migration cases (cafs/migrator.h, docs/migration.md "Crash table"): the file moves from
// mirrored_pool_A to default_pool in 4 KiB chunks with a dirty pass, while a handle is open
// (and writes 8 bytes + fsync after the first step) or while it is closed.
const std::string kData(12288 + 17, 'r');

constexpr char kMigrated[] = "/my_vmset/vm1/osdisk1.img";
bool g_migration_write_synced = false;  // the fsync of the write during the migration was OK

// `path`: kMigrated, or a long name that leaves the long form in the target pool (kLong240:
// hashed in mirrored_pool_A, `name##default_pool` fits).
Status MigrateInSteps(StepCrashTest& s, bool open_handle, const std::string& path = kMigrated) {
  g_migration_write_synced = false;
  std::optional<OpenResult> h;
  if (open_handle) {
    auto o = s.gw().Open(s.me(), path, false);
    if (!o.ok()) return o.status();
    h = *o;
  }
  MigrationOptions options;
  options.chunk_bytes = 4096;
  options.small_rest_bytes = 0;
  options.max_passes = 2;
  Status result;
  {
    auto m = FileMigration::Start(s.volume(), path.substr(1), kPoolDefault, options);
    result = m.status();
    for (int i = 0; result.ok(); ++i) {
      auto p = (*m)->Step(4096);
      if (!p.ok()) {
        result = p.status();
      } else if (p->finished()) {
        break;
      }
      if (i == 0 && h) {
        g_migration_write_synced = s.gw().Write(s.me(), h->handle, 100, AsBytes("NEWBYTES")).ok() &&
                                   s.gw().Fsync(s.me(), h->handle).ok();
      }
    }
  }
  if (h) (void)s.gw().Release(s.me(), h->handle);
  return result;
}

// After the restart: the migration's recovery (roll back or forward), then one authoritative
// copy, the data (with the write if its fsync was acknowledged), in the target pool if the
// migration was acknowledged.
void CheckMigratedAt(StepCrashTest& s, bool acknowledged, const std::string& path) {
  const std::string rel = path.substr(1);
  auto loc = s.volume().Locate(rel);
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  if (acknowledged) {
    EXPECT_EQ(loc->pool, kPoolDefault);
  }
  // Source and target path: the file's GUID path (the one rule for pool paths), in each pool.
  const std::string pool_path = s.volume().NewPoolPath(loc->guid);
  auto outcome = FileMigration::Recover(s.volume(), rel, loc->guid, kPoolA, pool_path, kPoolDefault,
                                        pool_path);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome == MigrationOutcome::kCommitted, loc->pool == kPoolDefault);
  // Nothing left but, for a long name, a side entry naming nothing (removable residue).
  auto report = s.DoFsck(/*remove_orphans=*/true);
  ASSERT_TRUE(report.ok());
  for (const auto& f : report->findings) {
    EXPECT_EQ(f.kind, CheckFinding::Kind::kOrphanLongName) << f.where << ": " << f.detail;
    EXPECT_TRUE(f.removed) << f.where;
  }
  auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ("/my_vmset/vm1/" + listed->front().name, path);
  auto got = s.DoGet(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  std::string patched = kData;
  patched.replace(100, 8, "NEWBYTES");
  if (g_migration_write_synced) {
    EXPECT_EQ(*got, patched);
  } else {
    EXPECT_TRUE(*got == kData || *got == patched);
  }
}

void CheckMigrated(StepCrashTest& s, bool acknowledged) {
  CheckMigratedAt(s, acknowledged, kMigrated);
}

TEST_P(StepCrashTest, NothingAcknowledgedIsLostAndNoRedirectorDangles) {
  const StepCase& c = GetParam();
  int crashes = 0;
  for (std::uint64_t step = 0; step < 200; ++step) {
    SCOPED_TRACE(std::string(c.name) + ", crash after step " + std::to_string(step));
    Fresh();
    c.prepare(*this);
    env_.CrashAfter(step);
    const Status result = c.op(*this);
    const bool crashed = env_.crashed();
    Halt();
    env_.ClearFaults();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    Boot();
    const Consistency k = Check();
    EXPECT_TRUE(k.dangling.empty()) << k.dangling.front();
    EXPECT_TRUE(k.duplicates.empty()) << k.duplicates.front();
    EXPECT_TRUE(k.nameless.empty()) << k.nameless.front();  // no long name without its name
    EXPECT_LE(k.orphans.size(), 1u);
    c.check(*this, result.ok());
    if (HasFailure()) {
      ADD_FAILURE() << "the operation returned " << result.ToString() << "; on disk:\n" << Tree();
      return;
    }
    if (!crashed) {
      EXPECT_TRUE(result.ok()) << result.ToString();
      EXPECT_GT(crashes, 2) << "the operation should have several durable steps";
      return;
    }
    ++crashes;
  }
  FAIL() << "the operation never completed";
}

INSTANTIATE_TEST_SUITE_P(
    Operations, StepCrashTest,
    ::testing::Values(
        StepCase{"migrate_open_file",
                 [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut(kMigrated, kData).ok()); },
                 [](StepCrashTest& s) { return MigrateInSteps(s, true); }, CheckMigrated},
        StepCase{"migrate_closed_file",
                 [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut(kMigrated, kData).ok()); },
                 [](StepCrashTest& s) { return MigrateInSteps(s, false); }, CheckMigrated},
        StepCase{
            "migrate_long_name_out_of_the_long_form",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/" + kLong240, kData).ok()); },
            [](StepCrashTest& s) { return MigrateInSteps(s, true, "/my_vmset/vm1/" + kLong240); },
            [](StepCrashTest& s, bool acknowledged) {
              CheckMigratedAt(s, acknowledged, "/my_vmset/vm1/" + kLong240);
            }},
        StepCase{"create", [](StepCrashTest&) {},
                 [](StepCrashTest& s) { return s.DoPut("/my_vmset/vm1/osdisk1.img", kData); },
                 [](StepCrashTest& s, bool acknowledged) {
                   auto got = s.DoGet("/my_vmset/vm1/osdisk1.img");
                   if (acknowledged) {
                     ASSERT_TRUE(got.ok()) << got.status().ToString();
                     EXPECT_EQ(*got, kData);
                   } else if (got.ok()) {  // created, data not yet synced: a prefix of it
                     EXPECT_EQ(*got, kData.substr(0, got->size()));
                   } else {
                     EXPECT_EQ(got.status().errno_value(), ENOENT) << got.status().ToString();
                   }
                 }},
        StepCase{
            "unlink",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok()); },
            [](StepCrashTest& s) { return s.gw().Unlink(s.me(), "/my_vmset/vm1/osdisk1.img"); },
            [](StepCrashTest& s, bool acknowledged) {
              auto got = s.DoGet("/my_vmset/vm1/osdisk1.img");
              if (acknowledged || !got.ok()) {
                EXPECT_EQ(got.status().errno_value(), ENOENT) << got.status().ToString();
              } else {
                EXPECT_EQ(*got, kData);
              }
            }},
        StepCase{
            "rename_across_vms",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok()); },
            [](StepCrashTest& s) {
              return s.gw().Rename(s.me(), "/my_vmset/vm1/osdisk1.img", "/my_vmset/vm2/osdisk9.img",
                                   false);
            },
            [](StepCrashTest& s, bool acknowledged) {
              const bool old_there = s.Exists("/my_vmset/vm1/osdisk1.img");
              const bool new_there = s.Exists("/my_vmset/vm2/osdisk9.img");
              EXPECT_NE(old_there, new_there);
              if (acknowledged) {
                EXPECT_TRUE(new_there);
              }
              auto got =
                  s.DoGet(new_there ? "/my_vmset/vm2/osdisk9.img" : "/my_vmset/vm1/osdisk1.img");
              ASSERT_TRUE(got.ok()) << got.status().ToString();
              EXPECT_EQ(*got, kData);
              // The file goes on being renamable.
              ASSERT_TRUE(
                  s.gw()
                      .Rename(s.me(),
                              new_there ? "/my_vmset/vm2/osdisk9.img" : "/my_vmset/vm1/osdisk1.img",
                              "/my_vmset/vm1/osdisk_back.img", false)
                      .ok());
              EXPECT_EQ(*s.DoGet("/my_vmset/vm1/osdisk_back.img"), kData);
            }},
        StepCase{"rename_over_a_file_of_another_pool",
                 [](StepCrashTest& s) {
                   ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok());  // pool A
                   // The target: the same *osdisk* vobj (a rename stays inside one vobj),
                   // moved to default_pool by a migration, so its backing name differs.
                   ASSERT_TRUE(s.DoPut("/my_vmset/vm2/osdisk_t.img", "replaced").ok());
                   ASSERT_TRUE(MigrateInSteps(s, false, "/my_vmset/vm2/osdisk_t.img").ok());
                 },
                 [](StepCrashTest& s) {
                   return s.gw().Rename(s.me(), "/my_vmset/vm1/osdisk1.img",
                                        "/my_vmset/vm2/osdisk_t.img", false);
                 },
                 [](StepCrashTest& s, bool acknowledged) {
                   // fsck --remove-orphans keeps the marker of an interrupted replacement
                   // while it still marks a redirector (only then can the lookups below
                   // tell the two redirectors of vm.vmx apart).
                   auto report = s.DoFsck(/*remove_orphans=*/true);
                   ASSERT_TRUE(report.ok());
                   for (const auto& f : report->findings) {
                     if (f.where.find(".cafs-new-replaced-") == std::string::npos) continue;
                     EXPECT_EQ(f.removed, f.detail.find("(kept)") == std::string::npos) << f.where;
                   }
                   const bool old_there = s.Exists("/my_vmset/vm1/osdisk1.img");
                   auto target = s.DoGet("/my_vmset/vm2/osdisk_t.img");
                   ASSERT_TRUE(target.ok()) << target.status().ToString();
                   if (acknowledged) {
                     EXPECT_FALSE(old_there);
                   }
                   if (old_there) {
                     EXPECT_EQ(*target, "replaced");
                     EXPECT_EQ(*s.DoGet("/my_vmset/vm1/osdisk1.img"), kData);
                   } else {
                     EXPECT_EQ(*target, kData);
                   }
                   auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm2");
                   ASSERT_TRUE(listed.ok());
                   EXPECT_EQ(listed->size(), 1u);  // one name, even mid-replacement
                 }},
        StepCase{
            "link_then_unlink_the_first_name",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok()); },
            [](StepCrashTest& s) {
              CAFS_RETURN_IF_ERROR(
                  s.gw()
                      .Link(s.me(), "/my_vmset/vm1/osdisk1.img", "/my_vmset/vm2/osdisk_l.img")
                      .status());
              return s.gw().Unlink(s.me(), "/my_vmset/vm1/osdisk1.img");
            },
            [](StepCrashTest& s, bool acknowledged) {
              const bool old_there = s.Exists("/my_vmset/vm1/osdisk1.img");
              const bool new_there = s.Exists("/my_vmset/vm2/osdisk_l.img");
              EXPECT_TRUE(old_there || new_there);
              if (acknowledged) {
                EXPECT_FALSE(old_there);
                EXPECT_TRUE(new_there);
              }
              for (const char* p : {"/my_vmset/vm1/osdisk1.img", "/my_vmset/vm2/osdisk_l.img"}) {
                if (!s.Exists(p)) continue;
                auto got = s.DoGet(p);
                ASSERT_TRUE(got.ok()) << p << ": " << got.status().ToString();
                EXPECT_EQ(*got, kData) << p;
              }
            }},
        StepCase{
            "unlink_both_names_of_a_linked_file",
            [](StepCrashTest& s) {
              ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok());
              ASSERT_TRUE(
                  s.gw()
                      .Link(s.me(), "/my_vmset/vm1/osdisk1.img", "/my_vmset/vm1/osdisk2.img")
                      .ok());
            },
            [](StepCrashTest& s) {
              CAFS_RETURN_IF_ERROR(s.gw().Unlink(s.me(), "/my_vmset/vm1/osdisk1.img"));
              return s.gw().Unlink(s.me(), "/my_vmset/vm1/osdisk2.img");
            },
            [](StepCrashTest& s, bool acknowledged) {
              for (const char* p : {"/my_vmset/vm1/osdisk1.img", "/my_vmset/vm1/osdisk2.img"}) {
                if (acknowledged) {
                  EXPECT_FALSE(s.Exists(p)) << p;
                }
                if (!s.Exists(p)) continue;
                auto got = s.DoGet(p);
                ASSERT_TRUE(got.ok()) << p << ": " << got.status().ToString();
                EXPECT_EQ(*got, kData) << p;
              }
            }},
        StepCase{"rename_over_a_linked_file",
                 [](StepCrashTest& s) {
                   ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok());
                   ASSERT_TRUE(s.DoPut("/my_vmset/vm2/osdisk2.img", "linked").ok());
                   ASSERT_TRUE(
                       s.gw()
                           .Link(s.me(), "/my_vmset/vm2/osdisk2.img", "/my_vmset/vm2/osdisk3.img")
                           .ok());
                 },
                 [](StepCrashTest& s) {
                   return s.gw().Rename(s.me(), "/my_vmset/vm1/osdisk1.img",
                                        "/my_vmset/vm2/osdisk2.img", false);
                 },
                 [](StepCrashTest& s, bool acknowledged) {
                   // The other name of the replaced file keeps its data, whatever happened.
                   EXPECT_EQ(*s.DoGet("/my_vmset/vm2/osdisk3.img"), "linked");
                   auto target = s.DoGet("/my_vmset/vm2/osdisk2.img");
                   ASSERT_TRUE(target.ok()) << target.status().ToString();
                   if (acknowledged) {
                     EXPECT_EQ(*target, kData);
                   }
                   EXPECT_EQ(s.Exists("/my_vmset/vm1/osdisk1.img"), *target != kData);
                 }},
        StepCase{"create_long_name", [](StepCrashTest&) {},
                 [](StepCrashTest& s) { return s.DoPut("/my_vmset/vm1/" + kLong255, kData); },
                 [](StepCrashTest& s, bool acknowledged) {
                   auto got = s.DoGet("/my_vmset/vm1/" + kLong255);
                   if (acknowledged) {
                     ASSERT_TRUE(got.ok()) << got.status().ToString();
                     EXPECT_EQ(*got, kData);
                   } else if (!got.ok()) {
                     EXPECT_EQ(got.status().errno_value(), ENOENT) << got.status().ToString();
                   }
                   // Visible by lookup exactly when listed.
                   auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
                   ASSERT_TRUE(listed.ok());
                   EXPECT_EQ(listed->size(), got.ok() ? 1u : 0u);
                   if (got.ok()) {
                     EXPECT_EQ(listed->front().name, kLong255);
                   }
                   // What is left is removable crash residue, and the name can be made again.
                   ASSERT_TRUE(s.DoFsck(/*remove_orphans=*/true).ok());
                   auto again = s.DoFsck(false);
                   ASSERT_TRUE(again.ok());
                   EXPECT_EQ(again->remaining(), 0u);
                   if (!got.ok()) {
                     ASSERT_TRUE(s.DoPut("/my_vmset/vm1/" + kLong255, "again").ok());
                   }
                 }},
        StepCase{
            "unlink_long_name",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/" + kLong255, kData).ok()); },
            [](StepCrashTest& s) { return s.gw().Unlink(s.me(), "/my_vmset/vm1/" + kLong255); },
            [](StepCrashTest& s, bool acknowledged) {
              auto got = s.DoGet("/my_vmset/vm1/" + kLong255);
              if (acknowledged || !got.ok()) {
                EXPECT_EQ(got.status().errno_value(), ENOENT) << got.status().ToString();
              } else {
                EXPECT_EQ(*got, kData);
              }
              auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
              ASSERT_TRUE(listed.ok());
              EXPECT_EQ(listed->size(), got.ok() ? 1u : 0u);
            }},
        StepCase{"rename_short_over_a_long_name",
                 [](StepCrashTest& s) {
                   ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok());
                   ASSERT_TRUE(s.DoPut("/my_vmset/vm2/" + kLong255, "replaced").ok());
                 },
                 [](StepCrashTest& s) {
                   return s.gw().Rename(s.me(), "/my_vmset/vm1/osdisk1.img",
                                        "/my_vmset/vm2/" + kLong255, false);
                 },
                 [](StepCrashTest& s, bool acknowledged) {
                   const bool old_there = s.Exists("/my_vmset/vm1/osdisk1.img");
                   auto target = s.DoGet("/my_vmset/vm2/" + kLong255);
                   ASSERT_TRUE(target.ok()) << target.status().ToString();
                   if (acknowledged) {
                     EXPECT_FALSE(old_there);
                   }
                   EXPECT_EQ(*target, old_there ? "replaced" : kData);
                   auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm2");
                   ASSERT_TRUE(listed.ok());
                   ASSERT_EQ(listed->size(), 1u);
                   EXPECT_EQ(listed->front().name, kLong255);
                 }},
        StepCase{
            "rename_long_to_short_across_vms",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/" + kLong255, kData).ok()); },
            [](StepCrashTest& s) {
              return s.gw().Rename(s.me(), "/my_vmset/vm1/" + kLong255, "/my_vmset/vm2/osdisk9.img",
                                   false);
            },
            [](StepCrashTest& s, bool acknowledged) {
              const bool old_there = s.Exists("/my_vmset/vm1/" + kLong255);
              const bool new_there = s.Exists("/my_vmset/vm2/osdisk9.img");
              EXPECT_NE(old_there, new_there);
              if (acknowledged) {
                EXPECT_TRUE(new_there);
              }
              auto got =
                  s.DoGet(new_there ? "/my_vmset/vm2/osdisk9.img" : "/my_vmset/vm1/" + kLong255);
              ASSERT_TRUE(got.ok()) << got.status().ToString();
              EXPECT_EQ(*got, kData);
              auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
              ASSERT_TRUE(listed.ok());
              EXPECT_EQ(listed->size(), old_there ? 1u : 0u);
            }},
        StepCase{
            "link_long_then_unlink_the_first_name",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/" + kLong254, kData).ok()); },
            [](StepCrashTest& s) {
              CAFS_RETURN_IF_ERROR(
                  s.gw()
                      .Link(s.me(), "/my_vmset/vm1/" + kLong254, "/my_vmset/vm1/" + kLong255)
                      .status());
              return s.gw().Unlink(s.me(), "/my_vmset/vm1/" + kLong254);
            },
            [](StepCrashTest& s, bool acknowledged) {
              const bool old_there = s.Exists("/my_vmset/vm1/" + kLong254);
              const bool new_there = s.Exists("/my_vmset/vm1/" + kLong255);
              EXPECT_TRUE(old_there || new_there);
              if (acknowledged) {
                EXPECT_FALSE(old_there);
                EXPECT_TRUE(new_there);
              }
              auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
              ASSERT_TRUE(listed.ok());
              EXPECT_EQ(listed->size(), (old_there ? 1u : 0u) + (new_there ? 1u : 0u));
              for (const std::string* n : {&kLong254, &kLong255}) {
                if (!s.Exists("/my_vmset/vm1/" + *n)) continue;
                EXPECT_EQ(*s.DoGet("/my_vmset/vm1/" + *n), kData);
              }
            }},
        StepCase{
            "mkdir_hashed_name_then_create_inside", [](StepCrashTest&) {},
            [](StepCrashTest& s) {
              CAFS_RETURN_IF_ERROR(
                  s.gw().MakeDir(s.me(), "/my_vmset/vm1/d##" + std::string(kPoolA), 0755).status());
              return s.DoPut("/my_vmset/vm1/d##" + std::string(kPoolA) + "/osdisk1.img", kData);
            },
            [](StepCrashTest& s, bool acknowledged) {
              const bool there = s.Exists("/my_vmset/vm1/d##" + std::string(kPoolA));
              auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
              ASSERT_TRUE(listed.ok());
              ASSERT_EQ(listed->size(), there ? 1u : 0u);  // listed exactly when found
              if (there) {
                EXPECT_EQ(listed->front().name, "d##" + std::string(kPoolA));
              }
              if (acknowledged) {
                EXPECT_EQ(*s.DoGet("/my_vmset/vm1/d##" + std::string(kPoolA) + "/osdisk1.img"),
                          kData);
              }
              // Residue is removable, and the name can be made (again) and is no file.
              ASSERT_TRUE(s.DoFsck(/*remove_orphans=*/true).ok());
              auto again = s.DoFsck(false);
              ASSERT_TRUE(again.ok());
              EXPECT_EQ(again->remaining(), 0u);
              if (!there) {
                ASSERT_TRUE(
                    s.gw().MakeDir(s.me(), "/my_vmset/vm1/d##" + std::string(kPoolA), 0755).ok());
              }
              EXPECT_EQ(s.DoGet("/my_vmset/vm1/d").status().errno_value(), ENOENT);
            }},
        StepCase{
            "rename_file_to_a_name_with_hashes_across_vms",
            [](StepCrashTest& s) { ASSERT_TRUE(s.DoPut("/my_vmset/vm1/osdisk1.img", kData).ok()); },
            [](StepCrashTest& s) {
              return s.gw().Rename(s.me(), "/my_vmset/vm1/osdisk1.img",
                                   "/my_vmset/vm2/osdisk1.img##" + std::string(kPoolA), false);
            },
            [](StepCrashTest& s, bool acknowledged) {
              const bool old_there = s.Exists("/my_vmset/vm1/osdisk1.img");
              const bool new_there = s.Exists("/my_vmset/vm2/osdisk1.img##" + std::string(kPoolA));
              EXPECT_NE(old_there, new_there);
              if (acknowledged) {
                EXPECT_TRUE(new_there);
              }
              EXPECT_EQ(*s.DoGet(new_there ? "/my_vmset/vm2/osdisk1.img##" + std::string(kPoolA)
                                           : std::string("/my_vmset/vm1/osdisk1.img")),
                        kData);
              EXPECT_FALSE(s.Exists("/my_vmset/vm2/osdisk1.img"));
              auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm2");
              ASSERT_TRUE(listed.ok());
              EXPECT_EQ(listed->size(), new_there ? 1u : 0u);
            }},
        StepCase{"rmdir_hashed_name",
                 [](StepCrashTest& s) {
                   ASSERT_TRUE(s.gw().MakeDir(s.me(), "/my_vmset/vm1/##", 0755).ok());
                 },
                 [](StepCrashTest& s) { return s.gw().RemoveDir(s.me(), "/my_vmset/vm1/##"); },
                 [](StepCrashTest& s, bool acknowledged) {
                   const bool there = s.Exists("/my_vmset/vm1/##");
                   if (acknowledged) {
                     EXPECT_FALSE(there);
                   }
                   auto listed = s.gw().ReadDir(s.me(), "/my_vmset/vm1");
                   ASSERT_TRUE(listed.ok());
                   EXPECT_EQ(listed->size(), there ? 1u : 0u);
                   ASSERT_TRUE(s.DoFsck(/*remove_orphans=*/true).ok());
                   auto again = s.DoFsck(false);
                   ASSERT_TRUE(again.ok());
                   EXPECT_EQ(again->remaining(), 0u);
                 }},
        StepCase{"mkdir_then_create_inside", [](StepCrashTest&) {},
                 [](StepCrashTest& s) {
                   CAFS_RETURN_IF_ERROR(s.gw().MakeDir(s.me(), "/my_vmset/vm3", 0755).status());
                   return s.DoPut("/my_vmset/vm3/osdisk1.img", kData);
                 },
                 [](StepCrashTest& s, bool acknowledged) {
                   auto got = s.DoGet("/my_vmset/vm3/osdisk1.img");
                   if (acknowledged) {
                     ASSERT_TRUE(got.ok()) << got.status().ToString();
                     EXPECT_EQ(*got, kData);
                   }
                 }}),
    [](const ::testing::TestParamInfo<StepCase>& step) { return std::string(step.param.name); });

}  // namespace
}  // namespace cafs::core
