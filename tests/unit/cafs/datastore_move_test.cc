// Planned datastore moves between two gateways sharing a pool (cafs/datastore_move.h,
// docs/pools.md "Moving a datastore to another gateway"):
//  - the move record codec against a golden file and broken ones (testdata/);
//  - a VM set (files, a long name, a hard link, a symlink, subdirectories) exported from
//    store A and imported into store B: B reads every byte, A's fsck --remove-orphans
//    removes none of the moved pool files, both checks are clean, refusals are clear;
//  - a crash at every durable step of the export and of the import (FaultInjectionEnv: every
//    write, sync and directory change of both backing stores and the pool, unsynced changes
//    lost), then a restart: the move is finished or never happened, nothing is lost.
#include "cafs/datastore_move.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cafs/volume.h"
#include "cafs/volume_check.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "pool/posix_pool.h"
#include "source_dir.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;

constexpr char kPool[] = "shared_pool";
const std::string kLongName(240, 'L');  // `name##shared_pool` exceeds NAME_MAX: a long name

fs::path TestdataDir() { return fs::path(cafs::testing::SourceDir()) / "tests/unit/cafs/testdata"; }

Bytes Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The record of testdata/move_record_v1.bin.
MoveRecord GoldenRecord() {
  MoveRecord m;
  m.move_id = *Uuid::Parse("6d6f7665-0000-4000-8000-000000000001");
  m.source = *Uuid::Parse("a0a0a0a0-0000-4000-8000-00000000000a");
  m.vmset = "my_vmset";
  m.entries.push_back({MoveEntry::Type::kDirectory, "", 040755, 0, 0, 0, 1, 2, 3, 4, ""});
  m.entries.push_back({MoveEntry::Type::kDirectory, "vm1", 040750, 1000, 1000, 0, 5, 6, 7, 8, ""});
  m.entries.push_back({MoveEntry::Type::kFile, "vm1/osdisk.img##shared_pool", 0100640, 1000, 1000,
                       0, 9, 10, 11, 12,
                       "CAFS-REDIRECTOR 1\nguid 11111111-1111-4111-8111-111111111111\npath "
                       "a0a0a0a0-0000-4000-8000-00000000000a/11/"
                       "11111111-1111-4111-8111-111111111111\n"});
  m.entries.push_back({MoveEntry::Type::kLink, "vm1/alias.img##shared_pool", 0100640, 1000, 1000, 0,
                       9, 10, 11, 12, "vm1/osdisk.img##shared_pool"});
  m.entries.push_back({MoveEntry::Type::kSymlink, "vm1/current", 0120777, 1000, 1000, 0, 13, 14, 15,
                       16, "osdisk.img"});
  m.files.push_back(
      {*Uuid::Parse("11111111-1111-4111-8111-111111111111"), "shared_pool",
       "a0a0a0a0-0000-4000-8000-00000000000a/11/11111111-1111-4111-8111-111111111111"});
  return m;
}

TEST(MoveRecordTest, GoldenFileDecodesAndEncodesByteForByte) {
  const Bytes golden = Slurp(TestdataDir() / "move_record_v1.bin");
  ASSERT_FALSE(golden.empty());
  auto m = DecodeMoveRecord(golden);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, GoldenRecord());
  EXPECT_EQ(EncodeMoveRecord(GoldenRecord()), golden);
}

TEST(MoveRecordTest, BrokenRecordsAreCorruption) {
  for (const char* name : {"move_record_v1_truncated.bin", "move_record_v1_tampered.bin"}) {
    const Bytes bytes = Slurp(TestdataDir() / name);
    ASSERT_FALSE(bytes.empty()) << name;
    auto m = DecodeMoveRecord(bytes);
    EXPECT_EQ(m.status().code(), Status::Code::kCorruption) << name;
  }
  // Every truncation, and a flip of every byte, is refused (the checksum, or the magic).
  const Bytes good = EncodeMoveRecord(GoldenRecord());
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeMoveRecord(ByteView(good.data(), n)).ok()) << n;
    Bytes bad = good;
    bad[n] ^= 0x20;
    EXPECT_FALSE(DecodeMoveRecord(bad).ok()) << n;
  }
  // A well-checksummed record whose path leaves the VM set's directory.
  MoveRecord escape = GoldenRecord();
  escape.entries[2].path = "vm1/../../etc";
  EXPECT_EQ(DecodeMoveRecord(EncodeMoveRecord(escape)).status().code(), Status::Code::kCorruption);
}

class DatastoreMoveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cafs-dsmove-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Bytes key(64);
    ASSERT_TRUE(crypto::RandomBytes(key).ok());
    dek_ = SecureBuffer(key.data(), key.size());
    key_guid_ = Uuid::Random();
    Fresh();
  }
  void TearDown() override {
    Halt();
    fs::remove_all(dir_);
  }

  // Empty stores A and B and the pool, everything through env_ (unsynced changes lost on a
  // crash), then the VM set `vs` in A (and `stays`, which does not move).
  void Fresh() {
    Halt();
    for (const auto& e : fs::directory_iterator(dir_)) fs::remove_all(e.path());
    for (const char* sub : {"a", "b", "pool", "records"}) fs::create_directories(dir_ / sub);
    ASSERT_TRUE(env_.ModelDirectoryCrashes((dir_ / "fi-stash").string()).ok());
    Boot();
    Volume& a = *a_;
    for (const char* d : {"vs", "vs/vm1", "vs/vm1/sub", "vs/vm2", "stays"}) {
      ASSERT_TRUE(a.MakeDir(d, 0750, ::getuid(), ::getgid()).ok()) << d;
    }
    Create(a, "vs/vm1/osdisk.img", Data(1));
    Create(a, "vs/vm1/sub/" + kLongName, Data(2));
    Create(a, "vs/vm2/data.img", Data(3));
    Create(a, "stays/keep.img", Data(4));
    ASSERT_TRUE(a.Link("vs/vm1/osdisk.img", "vs/vm2/alias.img").ok());
    ASSERT_TRUE(a.Symlink("osdisk.img", "vs/vm1/current", ::getuid(), ::getgid()).ok());
  }

  void Boot() {
    Halt();
    pools_a_ = Pools();
    pools_b_ = Pools();
    auto a = Volume::Open(A(), pools_a_.get(), &env_);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    a_ = std::move(*a);
    auto b = Volume::Open(B(), pools_b_.get(), &env_);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    b_ = std::move(*b);
  }
  std::unique_ptr<pool::PoolMapper> Pools() {
    auto pools = std::make_unique<pool::PoolMapper>();
    auto p = std::make_unique<pool::PosixPool>(kPool, (dir_ / "pool").string(), &env_);
    EXPECT_TRUE(p->CheckAvailable().ok());
    EXPECT_TRUE(pools->Add(std::move(p)).ok());
    return pools;
  }
  void Halt() {
    a_.reset();
    b_.reset();
    pools_a_.reset();
    pools_b_.reset();
  }
  // A crash: everything goes, unsynced changes are lost, both gateways restart.
  void CrashAndRestart() {
    Halt();
    env_.ClearFaults();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    Boot();
  }

  std::string A() const { return (dir_ / "a").string(); }
  std::string B() const { return (dir_ / "b").string(); }
  std::string Record(const std::string& name) const { return (dir_ / "records" / name).string(); }
  static std::string Data(int i) {
    return std::string(10000 + static_cast<std::size_t>(i), static_cast<char>('a' + i));
  }

  KeyLookup Keys() {
    return [this](const Uuid& k, std::uint32_t) -> Result<const SecureBuffer*> {
      if (k != key_guid_) return Status::NotFound("key");
      return &dek_;
    };
  }
  void Create(Volume& v, const std::string& rel, const std::string& data) {
    Placement p;
    p.pool = kPool;
    p.params.key_guid = key_guid_;
    p.params.key_version = 1;
    p.dek = &dek_;
    auto of = v.CreateFile(rel, 0640, ::getuid(), ::getgid(), p);
    ASSERT_TRUE(of.ok()) << rel << ": " << of.status().ToString();
    ASSERT_TRUE((*of)->file().Write(0, AsBytes(data)).ok());
    ASSERT_TRUE((*of)->file().Sync().ok());
  }
  Result<std::string> Get(Volume& v, const std::string& rel) {
    CAFS_ASSIGN_OR_RETURN(auto of, v.OpenExisting(rel, Keys()));
    std::string out(of->file().Size(), '\0');
    CAFS_ASSIGN_OR_RETURN(
        std::size_t n,
        of->file().Read(0,
                        MutableByteView(reinterpret_cast<std::uint8_t*>(out.data()), out.size())));
    out.resize(n);
    return out;
  }
  // Every file of `vs` (and the link and symlink) is served by `v` with its bytes.
  void ExpectVmSet(Volume& v) {
    EXPECT_EQ(Get(v, "vs/vm1/osdisk.img").value_or("?"), Data(1));
    EXPECT_EQ(Get(v, "vs/vm1/sub/" + kLongName).value_or("?"), Data(2));
    EXPECT_EQ(Get(v, "vs/vm2/data.img").value_or("?"), Data(3));
    EXPECT_EQ(Get(v, "vs/vm2/alias.img").value_or("?"), Data(1));
    EXPECT_EQ(v.ReadLink("vs/vm1/current").value_or("?"), "osdisk.img");
    auto attr = v.GetAttr("vs/vm1", Keys());
    ASSERT_TRUE(attr.ok()) << attr.status().ToString();
    EXPECT_EQ(attr->mode & 07777, 0750u);
    auto listed = v.ReadDir("vs/vm1/sub");
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().name, kLongName);
  }
  std::size_t PoolFiles() {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "pool")) n += e.is_regular_file();
    return n;
  }
  Result<CheckReport> Fsck(const std::string& root, pool::PoolMapper& pools) {
    CheckOptions options;
    options.remove_orphans = true;
    return CheckVolume(root, pools, options, &env_);
  }
  void ExpectClean(const Result<CheckReport>& report) {
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const auto& f : report->findings) {
      ADD_FAILURE() << CheckFindingName(f.kind) << " " << f.where << ": " << f.detail;
    }
  }

  fs::path dir_;
  env::FaultInjectionEnv env_{env::Env::Default()};
  SecureBuffer dek_;
  Uuid key_guid_;
  std::unique_ptr<pool::PoolMapper> pools_a_, pools_b_;
  std::unique_ptr<Volume> a_, b_;
};

TEST_F(DatastoreMoveTest, MovedVmSetIsServedByTheOtherGatewayAndNeitherFsckRemovesIt) {
  const std::size_t pool_files = PoolFiles();
  ASSERT_EQ(pool_files, 4u);
  auto exported = ExportDatastore(A(), "vs", Record("vs.move"), &env_);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  EXPECT_EQ(exported->files.size(), 3u);  // the hard link is one file
  EXPECT_EQ(a_->GetAttr("vs", Keys()).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Get(*a_, "stays/keep.img").value_or("?"), Data(4));

  // A's fsck with --remove-orphans: the moved files are not its orphans.
  auto a_report = Fsck(A(), *pools_a_);
  ExpectClean(a_report);
  EXPECT_EQ(a_report->moved_out, 3u);
  EXPECT_EQ(PoolFiles(), pool_files);

  // The same record cannot come back into A; a second export to the same file is refused.
  EXPECT_EQ(ImportDatastore(A(), Record("vs.move"), *pools_a_, &env_).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ExportDatastore(A(), "stays", Record("vs.move"), &env_).status().code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(ExportDatastore(A(), "vs", Record("again.move"), &env_).status().code(),
            Status::Code::kNotFound);
  ASSERT_TRUE(a_->MakeDir("a##b", 0755, ::getuid(), ::getgid()).ok());
  EXPECT_EQ(ExportDatastore(A(), "a##b", Record("hashed.move"), &env_).status().code(),
            Status::Code::kInvalidArgument);
  ASSERT_TRUE(a_->RemoveDir("a##b").ok());

  auto imported = ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_).status().code(),
            Status::Code::kAlreadyExists);
  Boot();  // B as a restarted cafsd would see it
  ExpectVmSet(*b_);
  auto b_report = Fsck(B(), *pools_b_);
  ExpectClean(b_report);
  EXPECT_EQ(b_report->adopted, 3u);
  EXPECT_EQ(b_report->legacy_pool_paths, 0u);
  EXPECT_EQ(b_report->other_owners, 1u);  // A's mark: only the adopted files were read

  // B owns them now: it writes one, removes another (its pool file goes), both checks clean.
  {
    auto of = b_->OpenExisting("vs/vm1/osdisk.img", Keys());
    ASSERT_TRUE(of.ok()) << of.status().ToString();
    ASSERT_TRUE((*of)->file().Write(0, AsBytes(std::string("B WROTE"))).ok());
    ASSERT_TRUE((*of)->file().Sync().ok());
  }
  ASSERT_TRUE(b_->Unlink("vs/vm2/data.img").ok());
  EXPECT_EQ(PoolFiles(), pool_files - 1);
  ExpectClean(Fsck(B(), *pools_b_));
  ExpectClean(Fsck(A(), *pools_a_));
  EXPECT_EQ(PoolFiles(), pool_files - 1);
  EXPECT_EQ(Get(*b_, "vs/vm2/alias.img").value_or("?").substr(0, 7), "B WROTE");
}

TEST_F(DatastoreMoveTest, ImportRefusesAPoolItDoesNotHaveOrAMissingPoolFile) {
  auto exported = ExportDatastore(A(), "vs", Record("vs.move"), &env_);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  pool::PoolMapper none;
  auto refused = ImportDatastore(B(), Record("vs.move"), none, &env_);
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("'shared_pool'"), std::string::npos)
      << refused.status().ToString();
  const MovedFile& f = exported->files.front();
  fs::rename(dir_ / "pool" / f.pool_path, dir_ / "pool" / (f.pool_path + ".away"));
  refused = ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_);
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(f.guid.ToString()), std::string::npos);
  EXPECT_EQ(b_->GetAttr("vs", Keys()).status().code(), Status::Code::kNotFound);
  fs::rename(dir_ / "pool" / (f.pool_path + ".away"), dir_ / "pool" / f.pool_path);
  ASSERT_TRUE(ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_).ok());
  ExpectVmSet(*b_);
}

// A crash after every durable step of the export, then of the import; after each restart the
// move either finished or never happened, and nothing is lost either way.
TEST_F(DatastoreMoveTest, CrashAtEveryStepOfExportAndImportFinishesOrRollsBack) {
  int export_crashes = 0, import_crashes = 0;
  for (std::uint64_t step = 0;; ++step) {
    SCOPED_TRACE("export, crash after step " + std::to_string(step));
    ASSERT_LT(step, 500u) << "the export never completed";
    Fresh();
    const std::size_t pool_files = PoolFiles();
    env_.CrashAfter(step);
    auto exported = ExportDatastore(A(), "vs", Record("vs.move"), &env_);
    const bool crashed = env_.crashed();
    CrashAndRestart();  // Volume::Open finishes a committed export
    const bool committed = a_->GetAttr("vs", Keys()).status().IsNotFound();
    if (!committed) {
      ExpectVmSet(*a_);  // never happened: A serves all of it
      ExpectClean(Fsck(A(), *pools_a_));
      fs::remove(Record("vs.move"));
      exported = ExportDatastore(A(), "vs", Record("vs.move"), &env_);
      ASSERT_TRUE(exported.ok()) << exported.status().ToString();
    } else {
      EXPECT_TRUE(fs::exists(Record("vs.move")));
    }
    ExpectClean(Fsck(A(), *pools_a_));
    EXPECT_EQ(PoolFiles(), pool_files);
    auto imported = ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_);
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    ExpectVmSet(*b_);
    if (HasFailure()) return;
    if (!crashed) {
      EXPECT_TRUE(exported.ok());
      break;
    }
    ++export_crashes;
  }
  for (std::uint64_t step = 0;; ++step) {
    SCOPED_TRACE("import, crash after step " + std::to_string(step));
    ASSERT_LT(step, 500u) << "the import never completed";
    Fresh();
    const std::size_t pool_files = PoolFiles();
    ASSERT_TRUE(ExportDatastore(A(), "vs", Record("vs.move"), &env_).ok());
    env_.CrashAfter(step);
    auto imported = ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_);
    const bool crashed = env_.crashed();
    CrashAndRestart();  // Volume::Open finishes a committed import
    if (b_->GetAttr("vs", Keys()).status().IsNotFound()) {
      imported = ImportDatastore(B(), Record("vs.move"), *pools_b_, &env_);
      ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    }
    ExpectVmSet(*b_);
    ExpectClean(Fsck(B(), *pools_b_));
    ExpectClean(Fsck(A(), *pools_a_));
    EXPECT_EQ(PoolFiles(), pool_files);
    if (HasFailure()) return;
    if (!crashed) {
      EXPECT_TRUE(imported.ok());
      break;
    }
    ++import_crashes;
  }
  std::printf("export: %d crashes, import: %d crashes\n", export_crashes, import_crashes);
  EXPECT_GT(export_crashes, 5);
  EXPECT_GT(import_crashes, 5);
}

}  // namespace
}  // namespace cafs::core
