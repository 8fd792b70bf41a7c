// Nfs3Program against a real Gateway over a temp backing store (LocalKeyProvider, the seed's
// policy, the client at 127.0.0.1 registered as its server 755083456): every procedure through
// Dispatch with XDR-encoded arguments, decoding the replies as a client would; write stability and
// the verifier; exclusive create retransmission; cookies; stale handles; export and policy denials
// (with the audit record); read-only exports; the errno -> nfsstat3 mapping. Needs root for the
// persistent file handles (open_by_handle_at): skipped otherwise.
#include "frontend/nfs/nfs3_program.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <stdexcept>

#include "cafs/key_provider.h"
#include "cafs/redirector.h"
#include "crypto/rng.h"
#include "env/fault_injection_env.h"
#include "frontend/nfs/mount3.h"
#include "policy/seed_examples.h"
#include "pool/posix_pool.h"

namespace cafs::frontend::nfs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using core::Attr;

constexpr char kClient[] = "127.0.0.1";
constexpr char kOsdiskKey[] = "062b9056-bf64-11df-8d3e-000c29abeb4d";

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// What a reply's fattr3 says (the fields the tests look at).
struct Fattr {
  std::uint32_t type = 0;
  std::uint32_t mode = 0;
  std::uint64_t size = 0;
  std::uint64_t fileid = 0;
  timespec atime{}, mtime{}, ctime{};
};

Fattr ReadFattr(XdrDecoder& d) {
  Fattr f;
  f.type = d.U32();
  f.mode = d.U32();
  d.U32();  // nlink
  d.U32();  // uid
  d.U32();  // gid
  f.size = d.U64();
  d.U64();  // used
  d.U64();  // rdev
  d.U64();  // fsid
  f.fileid = d.U64();
  for (timespec* t : {&f.atime, &f.mtime, &f.ctime}) *t = DecodeTime(d);
  return f;
}

std::optional<Fattr> ReadPostOp(XdrDecoder& d) {
  if (!d.Bool()) return std::nullopt;
  return ReadFattr(d);
}

void SkipWcc(XdrDecoder& d) {
  if (d.Bool()) {
    d.U64();
    DecodeTime(d);
    DecodeTime(d);
  }
  ReadPostOp(d);
}

void EncodeName(XdrEncoder& e, ByteView dir, std::string_view name) {
  EncodeFh(e, dir);
  e.String(name);
}

void EncodeNoSattr(XdrEncoder& e, std::optional<std::uint32_t> mode = std::nullopt) {
  e.Bool(mode.has_value());
  if (mode) e.U32(*mode);
  e.Bool(false);  // uid
  e.Bool(false);  // gid
  e.Bool(false);  // size
  e.U32(0);       // atime: don't change
  e.U32(0);       // mtime
}

class Nfs3ProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "NFS file handles need root (open_by_handle_at)";
    char tmpl[] = "/tmp/cafs-nfs3-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "backing");
    fs::create_directories(root_ / "pools/mirrored_pool_A");
    fs::create_directories(root_ / "pools/default_pool");
    fs::create_directories(root_ / "keys/my_vmset");
    WriteFile(root_ / "keys/my_vmset/vmset.xml", policy::seed_examples::kSeedVmSet);
    WriteFile(root_ / "keys/my_vmset/policy.xml", policy::seed_examples::kSeedVobjList);
    Bytes key(64);
    ASSERT_TRUE(crypto::RandomBytes(key).ok());
    WriteFile(root_ / "keys/my_vmset/keys", std::string(kOsdiskKey) + " 1 " + ToHex(key) + "\n");

    pools_ = std::make_unique<pool::PoolMapper>();
    for (const char* name : {"mirrored_pool_A", "default_pool"}) {
      ASSERT_TRUE(pools_
                      ->Add(std::make_unique<pool::PosixPool>(
                          name, (root_ / "pools" / name).string(), &fenv_))
                      .ok());
    }
    // The client at 127.0.0.1 is the seed's server 755083456 (docs/nfs.md "Server identity").
    provider_ = std::make_unique<core::LocalKeyProvider>(
        (root_ / "keys").string(), std::vector<policy::RegisteredServer>{{"755083456", {kClient}}});
    cache_ = std::make_unique<core::PolicyCache>(
        provider_.get(), &clock_, core::PolicyCacheOptions{.ttl = 30s, .grace = 10min});
    // Through a FaultInjectionEnv (no faults unless a test sets some): its counters tell what
    // a request cost (file_stats: fstat of open files), and it can make reads miss the cache.
    auto volume = core::Volume::Open((root_ / "backing").string(), pools_.get(), &fenv_);
    ASSERT_TRUE(volume.ok()) << volume.status().ToString();
    volume_ = std::move(*volume);
    auto log = audit::AuditLog::Open((root_ / "audit.log").string(),
                                     audit::AuditLogOptions{.sync_every_record = false});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit_ = std::move(*log);
    gw_ = std::make_unique<core::Gateway>(cache_.get(), volume_.get(), audit_.get(), &clock_,
                                          core::GatewayOptions{});
    ExportConfig rw;
    rw.path = "/";
    rw.clients = {"127.0.0.0/24"};
    rw.squash = Squash::kNoRootSquash;
    auto exports = Exports::Create({rw});
    ASSERT_TRUE(exports.ok()) << exports.status().ToString();
    exports_ = std::make_unique<Exports>(std::move(*exports));
    program_ = std::make_unique<Nfs3Program>(gw_.get(), exports_.get());
    auto root = gw_->HandleOf("/");
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    root_fh_ = *root;
  }

  void TearDown() override {
    program_.reset();
    gw_.reset();
    audit_.reset();
    volume_.reset();
    if (!root_.empty()) fs::remove_all(root_);
  }

  struct Reply {
    AcceptStat stat = AcceptStat::kSystemErr;
    Bytes bytes;
    std::unique_ptr<XdrDecoder> dec;
    Nfs3Status status = Nfs3Status::kServerFault;
    XdrDecoder& d() { return *dec; }
  };

  Reply Call(Nfs3Proc proc, const std::function<void(XdrEncoder&)>& args,
             const std::string& peer = kClient, Nfs3Program* program = nullptr) {
    XdrEncoder enc;
    args(enc);
    RpcCall call;
    call.procedure = static_cast<std::uint32_t>(proc);
    call.program = kNfsProgram;
    call.version = 3;
    call.flavor = AuthFlavor::kSys;
    call.sys.uid = 0;
    call.sys.gid = 0;
    call.peer_address = peer;
    call.may_wait = may_wait_;
    XdrDecoder in(enc.bytes());
    XdrEncoder out;
    Reply r;
    r.stat = (program ? program : program_.get())->Dispatch(call, in, out);
    r.bytes = out.ToBytes();
    r.dec = std::make_unique<XdrDecoder>(r.bytes);
    if (r.stat == AcceptStat::kSuccess && proc != Nfs3Proc::kNull) {
      r.status = static_cast<Nfs3Status>(r.d().U32());
    }
    return r;
  }

  // LOOKUP/CREATE/MKDIR/SYMLINK success: the new object's handle.
  Bytes MakeDir(const Bytes& dir, const std::string& name) {
    Reply r = Call(Nfs3Proc::kMkDir, [&](XdrEncoder& e) {
      EncodeName(e, dir, name);
      EncodeNoSattr(e, 0755);
    });
    EXPECT_EQ(r.status, Nfs3Status::kOk) << name;
    EXPECT_TRUE(r.d().Bool());
    return DecodeFh(r.d());
  }
  Reply Create(const Bytes& dir, const std::string& name, CreateMode how,
               std::array<std::uint8_t, 8> verf = {}) {
    return Call(Nfs3Proc::kCreate, [&](XdrEncoder& e) {
      EncodeName(e, dir, name);
      e.U32(static_cast<std::uint32_t>(how));
      if (how == CreateMode::kExclusive) {
        e.FixedOpaque(verf);
      } else {
        EncodeNoSattr(e, 0640);
      }
    });
  }
  Bytes CreateFile(const Bytes& dir, const std::string& name) {
    Reply r = Create(dir, name, CreateMode::kGuarded);
    EXPECT_EQ(r.status, Nfs3Status::kOk) << name;
    EXPECT_TRUE(r.d().Bool());
    return DecodeFh(r.d());
  }
  Reply Lookup(const Bytes& dir, const std::string& name, const std::string& peer = kClient) {
    return Call(
        Nfs3Proc::kLookup, [&](XdrEncoder& e) { EncodeName(e, dir, name); }, peer);
  }
  Reply GetAttr(const Bytes& fh, const std::string& peer = kClient) {
    return Call(
        Nfs3Proc::kGetAttr, [&](XdrEncoder& e) { EncodeFh(e, fh); }, peer);
  }
  Reply Write(const Bytes& fh, std::uint64_t off, std::string_view data, StableHow how,
              const std::string& peer = kClient, Nfs3Program* program = nullptr) {
    return Call(
        Nfs3Proc::kWrite,
        [&](XdrEncoder& e) {
          EncodeFh(e, fh);
          e.U64(off);
          e.U32(static_cast<std::uint32_t>(data.size()));
          e.U32(static_cast<std::uint32_t>(how));
          e.Opaque(AsBytes(data));
        },
        peer, program);
  }
  // READ as sent; the reply undecoded past its status.
  Reply ReadReply(const Bytes& fh, std::uint64_t off, std::uint32_t count,
                  const std::string& peer = kClient) {
    return Call(
        Nfs3Proc::kRead,
        [&](XdrEncoder& e) {
          EncodeFh(e, fh);
          e.U64(off);
          e.U32(count);
        },
        peer);
  }
  // READ: data + eof.
  std::pair<std::string, bool> Read(const Bytes& fh, std::uint64_t off, std::uint32_t count) {
    Reply r = ReadReply(fh, off, count);
    EXPECT_EQ(r.status, Nfs3Status::kOk);
    EXPECT_TRUE(ReadPostOp(r.d()).has_value());
    const std::uint32_t n = r.d().U32();
    const bool eof = r.d().Bool();
    Bytes data = r.d().Opaque(kNfs3MaxData);
    EXPECT_EQ(n, data.size());
    EXPECT_TRUE(r.d().ok() && r.d().remaining() == 0);
    return {std::string(data.begin(), data.end()), eof};
  }
  // Lists a directory with READDIR or READDIRPLUS in pages of `maxcount` bytes.
  std::vector<std::string> List(const Bytes& dir, bool plus, std::uint32_t maxcount) {
    std::vector<std::string> names;
    std::uint64_t cookie = 0;
    std::array<std::uint8_t, 8> verf{};
    for (int page = 0; page < 100; ++page) {
      Reply r = Call(plus ? Nfs3Proc::kReadDirPlus : Nfs3Proc::kReadDir, [&](XdrEncoder& e) {
        EncodeFh(e, dir);
        e.U64(cookie);
        e.FixedOpaque(verf);
        if (plus) e.U32(maxcount);
        e.U32(maxcount);
      });
      EXPECT_EQ(r.status, Nfs3Status::kOk);
      if (r.status != Nfs3Status::kOk) break;
      ReadPostOp(r.d());
      r.d().FixedOpaque(verf.size(), verf.data());
      while (r.d().Bool()) {
        const std::uint64_t fileid = r.d().U64();
        names.push_back(r.d().String(255));
        cookie = r.d().U64();
        if (plus) {
          auto attr = ReadPostOp(r.d());
          EXPECT_TRUE(attr.has_value());
          if (attr) {
            EXPECT_EQ(attr->fileid, fileid);
          }
          EXPECT_TRUE(r.d().Bool());
          Bytes fh = DecodeFh(r.d());
          EXPECT_EQ(GetAttr(fh).status, Nfs3Status::kOk);
        }
      }
      const bool eof = r.d().Bool();
      EXPECT_TRUE(r.d().ok() && r.d().remaining() == 0);
      if (eof) return names;
    }
    ADD_FAILURE() << "no eof";
    return names;
  }

  Bytes VmDir() {
    Bytes vs = MakeDir(root_fh_, "my_vmset");
    return MakeDir(vs, "vm1");
  }

  fs::path root_;
  ManualClock clock_{std::chrono::sys_days{std::chrono::year{2026} / 11 / 18} + 10h};
  env::FaultInjectionEnv fenv_{env::Env::Default()};
  bool may_wait_ = true;  // RpcCall::may_wait of the calls Call makes
  std::unique_ptr<pool::PoolMapper> pools_;
  std::unique_ptr<core::LocalKeyProvider> provider_;
  std::unique_ptr<core::PolicyCache> cache_;
  std::unique_ptr<core::Volume> volume_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<Exports> exports_;
  std::unique_ptr<Nfs3Program> program_;
  Bytes root_fh_;
};

TEST_F(Nfs3ProgramTest, NullGetattrAndFilesystemInfo) {
  EXPECT_EQ(Call(Nfs3Proc::kNull, [](XdrEncoder&) {}).stat, AcceptStat::kSuccess);
  Reply g = GetAttr(root_fh_);
  ASSERT_EQ(g.status, Nfs3Status::kOk);
  EXPECT_EQ(ReadFattr(g.d()).type, kNf3Dir);

  Reply info = Call(Nfs3Proc::kFsInfo, [&](XdrEncoder& e) { EncodeFh(e, root_fh_); });
  ASSERT_EQ(info.status, Nfs3Status::kOk);
  ReadPostOp(info.d());
  EXPECT_EQ(info.d().U32(), 1u << 20);  // rtmax
  info.d().U32();
  info.d().U32();
  EXPECT_EQ(info.d().U32(), 1u << 20);  // wtmax
  info.d().U32();
  info.d().U32();
  EXPECT_GT(info.d().U32(), 0u);  // dtpref
  EXPECT_GT(info.d().U64(), 1ULL << 40);
  DecodeTime(info.d());
  EXPECT_EQ(info.d().U32() & 0x1, 0x1u);  // FSF3_LINK: hard links
  EXPECT_EQ(info.d().remaining(), 0u);

  Reply st = Call(Nfs3Proc::kFsStat, [&](XdrEncoder& e) { EncodeFh(e, root_fh_); });
  ASSERT_EQ(st.status, Nfs3Status::kOk);
  ReadPostOp(st.d());
  EXPECT_GT(st.d().U64(), 0u);
  Reply pc = Call(Nfs3Proc::kPathConf, [&](XdrEncoder& e) { EncodeFh(e, root_fh_); });
  ASSERT_EQ(pc.status, Nfs3Status::kOk);
  ReadPostOp(pc.d());
  // linkmax: the backing store's LINK_MAX (hard links are names of the backing entry).
  const long link_max = ::pathconf((root_ / "backing").c_str(), _PC_LINK_MAX);
  ASSERT_GT(link_max, 1);
  EXPECT_EQ(pc.d().U32(), static_cast<std::uint32_t>(link_max));
  EXPECT_GT(pc.d().U32(), 200u);
}

TEST_F(Nfs3ProgramTest, WriteStabilityCommitAndRead) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "osdisk.vmdk");
  Reply w = Write(file, 0, "hello ", StableHow::kUnstable);
  ASSERT_EQ(w.status, Nfs3Status::kOk);
  SkipWcc(w.d());
  EXPECT_EQ(w.d().U32(), 6u);
  EXPECT_EQ(w.d().U32(), static_cast<std::uint32_t>(StableHow::kUnstable));
  std::array<std::uint8_t, 8> verf{};
  w.d().FixedOpaque(8, verf.data());
  EXPECT_EQ(verf, program_->write_verifier());

  Reply w2 = Write(file, 6, "world", StableHow::kFileSync);
  ASSERT_EQ(w2.status, Nfs3Status::kOk);
  SkipWcc(w2.d());
  w2.d().U32();
  EXPECT_EQ(w2.d().U32(), static_cast<std::uint32_t>(StableHow::kFileSync));
  Reply w3 = Write(file, 11, "!", StableHow::kDataSync);
  ASSERT_EQ(w3.status, Nfs3Status::kOk);

  Reply c = Call(Nfs3Proc::kCommit, [&](XdrEncoder& e) {
    EncodeFh(e, file);
    e.U64(0);
    e.U32(0);
  });
  ASSERT_EQ(c.status, Nfs3Status::kOk);
  SkipWcc(c.d());
  std::array<std::uint8_t, 8> cverf{};
  c.d().FixedOpaque(8, cverf.data());
  EXPECT_EQ(cverf, verf);

  EXPECT_EQ(Read(file, 0, 100), std::make_pair(std::string("hello world!"), true));
  EXPECT_EQ(Read(file, 6, 5), std::make_pair(std::string("world"), false));
  Reply g = GetAttr(file);
  ASSERT_EQ(g.status, Nfs3Status::kOk);
  Fattr a = ReadFattr(g.d());
  EXPECT_EQ(a.size, 12u);
  EXPECT_EQ(a.mode, 0640u);
  EXPECT_EQ(a.type, kNf3Reg);

  // The pool file holds ciphertext (osdisk is encrypted by policy).
  program_.reset();  // closes the cached file
  // (where its redirector's line 3 says: pool paths carry no names)
  std::ifstream redirector(root_ / "backing/my_vmset/vm1/osdisk.vmdk##mirrored_pool_A");
  auto r = core::DecodeRedirector(
      std::string((std::istreambuf_iterator<char>(redirector)), std::istreambuf_iterator<char>()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::ifstream pool(root_ / "pools/mirrored_pool_A" / r->pool_path, std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(pool)), {});
  EXPECT_GT(raw.size(), 4096u);
  EXPECT_EQ(raw.find("hello world"), std::string::npos);

  // Another instance (a server restart) has another verifier; handles still work.
  program_ = std::make_unique<Nfs3Program>(gw_.get(), exports_.get());
  EXPECT_NE(program_->write_verifier(), verf);
  EXPECT_EQ(Read(file, 0, 5).first, "hello");
}

TEST_F(Nfs3ProgramTest, CreateModesAndExclusiveRetransmission) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "vm.vmx");
  ASSERT_EQ(Write(file, 0, "data", StableHow::kFileSync).status, Nfs3Status::kOk);
  EXPECT_EQ(Create(vm, "vm.vmx", CreateMode::kGuarded).status, Nfs3Status::kExist);
  // UNCHECKED on an existing file keeps it (no size in the sattr3).
  Reply u = Create(vm, "vm.vmx", CreateMode::kUnchecked);
  ASSERT_EQ(u.status, Nfs3Status::kOk);
  ASSERT_TRUE(u.d().Bool());
  EXPECT_EQ(DecodeFh(u.d()), file);
  EXPECT_EQ(Read(file, 0, 10).first, "data");

  const std::array<std::uint8_t, 8> verf{1, 2, 3, 4, 5, 6, 7, 8};
  Reply x1 = Create(vm, ".lck-1", CreateMode::kExclusive, verf);
  ASSERT_EQ(x1.status, Nfs3Status::kOk);
  ASSERT_TRUE(x1.d().Bool());
  Bytes lock = DecodeFh(x1.d());
  auto a1 = ReadPostOp(x1.d());
  ASSERT_TRUE(a1);
  EXPECT_EQ(a1->atime.tv_sec, 0x01020304);  // knfsd: verifier in atime/mtime
  EXPECT_EQ(a1->mtime.tv_sec, 0x05060708);
  Reply x2 = Create(vm, ".lck-1", CreateMode::kExclusive, verf);  // retransmission
  ASSERT_EQ(x2.status, Nfs3Status::kOk);
  ASSERT_TRUE(x2.d().Bool());
  EXPECT_EQ(DecodeFh(x2.d()), lock);
  auto a2 = ReadPostOp(x2.d());
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->fileid, a1->fileid);
  const std::array<std::uint8_t, 8> other{9, 9, 9, 9, 9, 9, 9, 9};
  EXPECT_EQ(Create(vm, ".lck-1", CreateMode::kExclusive, other).status, Nfs3Status::kExist);
}

// Names are bytes (issue 20 classes 10, 11): a name that is not UTF-8, in the all_records
// vobj, and "a#" beside "a" are files of their own; each handle resolves to its own file.
TEST_F(Nfs3ProgramTest, NamesWithHashesAndBytesThatAreNotUtf8) {
  Bytes vm = VmDir();
  Bytes a = CreateFile(vm, "osdisk");
  ASSERT_EQ(Write(a, 0, "plain", StableHow::kFileSync).status, Nfs3Status::kOk);
  Bytes a_hash = CreateFile(vm, "osdisk#");
  EXPECT_NE(a_hash, a);
  // A removal makes the program resolve handles afresh (no cached paths): `osdisk#`'s handle
  // must name `osdisk#`, not `osdisk`.
  CreateFile(vm, "scratch");
  ASSERT_EQ(Call(Nfs3Proc::kRemove, [&](XdrEncoder& e) { EncodeName(e, vm, "scratch"); }).status,
            Nfs3Status::kOk);
  ASSERT_EQ(Write(a_hash, 0, "hash", StableHow::kFileSync).status, Nfs3Status::kOk);
  EXPECT_EQ(Read(a, 0, 10).first, "plain");  // `osdisk#` did not write into `osdisk`
  EXPECT_EQ(Read(a_hash, 0, 10).first, "hash");
  const std::string odd = "osdisk\xff\xfe.img";
  Bytes f = CreateFile(vm, odd);
  ASSERT_EQ(Write(f, 0, "odd", StableHow::kFileSync).status, Nfs3Status::kOk);
  Reply found = Lookup(vm, odd);
  ASSERT_EQ(found.status, Nfs3Status::kOk);
  EXPECT_EQ(DecodeFh(found.d()), f);
  EXPECT_EQ(Read(f, 0, 10).first, "odd");
  const auto names = List(vm, true, 4096);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"osdisk", "osdisk#", odd}));
  EXPECT_EQ(Create(vm, "x##y", CreateMode::kGuarded).status, Nfs3Status::kOk);  // hashed
  EXPECT_EQ(Create(vm, "a/b", CreateMode::kGuarded).status, Nfs3Status::kInval);
  EXPECT_EQ(
      Create(vm, std::string(volume_->max_name_length() + 1, 'n'), CreateMode::kGuarded).status,
      Nfs3Status::kNameTooLong);
}

// An env that throws when asked to create a file, as a bug or std::bad_alloc below a procedure
// would.
class ThrowingEnv : public env::EnvWrapper {
 public:
  ThrowingEnv() : EnvWrapper(env::Env::Default()) {}
  Result<std::unique_ptr<env::File>> OpenFile(const std::string& path,
                                              const env::OpenOptions& options) override {
    if (options.create) throw std::runtime_error("injected failure creating " + path);
    return EnvWrapper::OpenFile(path, options);
  }
};

// The NFS front-end's one catch-all (issue 20 class 11): an exception thrown anywhere below a
// procedure is NFS3ERR_IO with the procedure's failure body, never an RPC error or an abort,
// and the program goes on serving.
TEST_F(Nfs3ProgramTest, AnExceptionBelowAProcedureIsNfs3ErrIo) {
  Bytes vm = VmDir();
  ThrowingEnv env;
  pool::PoolMapper pools;
  for (const char* name : {"mirrored_pool_A", "default_pool"}) {
    ASSERT_TRUE(
        pools.Add(std::make_unique<pool::PosixPool>(name, (root_ / "pools" / name).string(), &env))
            .ok());
  }
  auto volume = core::Volume::Open((root_ / "backing").string(), &pools);
  ASSERT_TRUE(volume.ok());
  core::Gateway gw(cache_.get(), volume->get(), audit_.get(), &clock_, core::GatewayOptions{});
  Nfs3Program program(&gw, exports_.get());
  Reply r = Call(
      Nfs3Proc::kCreate,
      [&](XdrEncoder& e) {
        EncodeName(e, vm, "osdisk.img");
        e.U32(static_cast<std::uint32_t>(CreateMode::kGuarded));
        EncodeNoSattr(e, 0640);
      },
      kClient, &program);
  ASSERT_EQ(r.stat, AcceptStat::kSuccess);
  EXPECT_EQ(r.status, Nfs3Status::kIo);
  EXPECT_FALSE(r.d().Bool());  // CREATE3resfail: dir_wcc without attributes
  EXPECT_FALSE(r.d().Bool());
  EXPECT_TRUE(r.d().ok() && r.d().remaining() == 0);
  Reply g = Call(
      Nfs3Proc::kGetAttr, [&](XdrEncoder& e) { EncodeFh(e, vm); }, kClient, &program);
  EXPECT_EQ(g.status, Nfs3Status::kOk);
}

TEST_F(Nfs3ProgramTest, SetattrGuardAndTruncate) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "vm.nvram");
  ASSERT_EQ(Write(file, 0, "0123456789", StableHow::kFileSync).status, Nfs3Status::kOk);
  Reply g = GetAttr(file);
  Fattr a = ReadFattr(g.d());
  auto setattr = [&](bool guard, timespec ctime) {
    return Call(Nfs3Proc::kSetAttr, [&](XdrEncoder& e) {
      EncodeFh(e, file);
      e.Bool(false);
      e.Bool(false);
      e.Bool(false);
      e.Bool(true);
      e.U64(4);  // size
      e.U32(0);
      e.U32(0);
      e.Bool(guard);
      if (guard) EncodeTime(e, ctime);
    });
  };
  EXPECT_EQ(setattr(true, timespec{a.ctime.tv_sec + 1, 0}).status, Nfs3Status::kNotSync);
  EXPECT_EQ(Read(file, 0, 100).first, "0123456789");
  Reply ok = setattr(true, a.ctime);
  ASSERT_EQ(ok.status, Nfs3Status::kOk);
  EXPECT_EQ(Read(file, 0, 100), std::make_pair(std::string("0123"), true));
}

TEST_F(Nfs3ProgramTest, LookupSymlinkAccessLinkMknod) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "osdisk.vmdk");
  Reply l = Lookup(vm, "osdisk.vmdk");
  ASSERT_EQ(l.status, Nfs3Status::kOk);
  EXPECT_EQ(DecodeFh(l.d()), file);
  EXPECT_EQ(Lookup(vm, "missing").status, Nfs3Status::kNoEnt);
  EXPECT_EQ(Lookup(vm, std::string(300, 'a')).status, Nfs3Status::kNameTooLong);
  EXPECT_EQ(Lookup(vm, "a##b").status, Nfs3Status::kNoEnt);  // a name like any other
  EXPECT_EQ(Lookup(vm, "a/b").status, Nfs3Status::kInval);
  Reply dot = Lookup(vm, ".");
  ASSERT_EQ(dot.status, Nfs3Status::kOk);
  EXPECT_EQ(DecodeFh(dot.d()), vm);

  Reply s = Call(Nfs3Proc::kSymlink, [&](XdrEncoder& e) {
    EncodeName(e, vm, "current");
    EncodeNoSattr(e);
    e.String("osdisk.vmdk");
  });
  ASSERT_EQ(s.status, Nfs3Status::kOk);
  ASSERT_TRUE(s.d().Bool());
  Bytes link = DecodeFh(s.d());
  Reply rl = Call(Nfs3Proc::kReadLink, [&](XdrEncoder& e) { EncodeFh(e, link); });
  ASSERT_EQ(rl.status, Nfs3Status::kOk);
  ReadPostOp(rl.d());
  EXPECT_EQ(rl.d().String(100), "osdisk.vmdk");

  Reply acc = Call(Nfs3Proc::kAccess, [&](XdrEncoder& e) {
    EncodeFh(e, file);
    e.U32(0x3f);
  });
  ASSERT_EQ(acc.status, Nfs3Status::kOk);
  ReadPostOp(acc.d());
  EXPECT_EQ(acc.d().U32(), kAccessRead | kAccessModify | kAccessExtend | kAccessDelete);

  Reply ln = Call(Nfs3Proc::kLink, [&](XdrEncoder& e) {
    EncodeFh(e, file);
    EncodeName(e, vm, "osdisk_hard");  // the same vobj (*osdisk*): EXDEV otherwise
  });
  EXPECT_EQ(ln.status, Nfs3Status::kOk);
  // Both names are one file: one backing inode, so one handle.
  Reply hard = Lookup(vm, "osdisk_hard");
  ASSERT_EQ(hard.status, Nfs3Status::kOk);
  EXPECT_EQ(DecodeFh(hard.d()), file);
  Reply ln2 = Call(Nfs3Proc::kLink, [&](XdrEncoder& e) {
    EncodeFh(e, file);
    EncodeName(e, vm, "osdisk_hard");
  });
  EXPECT_EQ(ln2.status, Nfs3Status::kExist);
  Reply mk = Call(Nfs3Proc::kMkNod, [&](XdrEncoder& e) {
    EncodeName(e, vm, "fifo");
    e.U32(kNf3Fifo);
    EncodeNoSattr(e);
  });
  EXPECT_EQ(mk.status, Nfs3Status::kOk);
  EXPECT_EQ(Lookup(vm, "fifo").status, Nfs3Status::kOk);
  Reply reg = Call(Nfs3Proc::kMkNod, [&](XdrEncoder& e) {
    EncodeName(e, vm, "regular");
    e.U32(kNf3Reg);
  });
  EXPECT_EQ(reg.status, Nfs3Status::kBadType);
  SkipWcc(reg.d());
  EXPECT_EQ(reg.d().remaining(), 0u);
}

// What one request costs the gateway (docs/performance.md "One decision per request"): one
// policy decision (Gateway::policy_decisions) and one fstat of the open file (the
// FaultInjectionEnv's file_stats) per READ, GETATTR, UNSTABLE WRITE and COMMIT of a cached open
// file; a stable WRITE also one decision, and a second fstat after the sync moved the times.
TEST_F(Nfs3ProgramTest, OneDecisionAndOneFstatPerRequest) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "osdisk.vmdk");  // cached open (CREATE adopts it)
  ASSERT_EQ(Write(file, 0, "warm", StableHow::kUnstable).status, Nfs3Status::kOk);
  struct Cost {
    std::uint64_t decisions, fstats;
    bool operator==(const Cost&) const = default;
  };
  auto cost = [&](const std::function<void()>& request) {
    const std::uint64_t d0 = gw_->policy_decisions();
    const std::uint64_t s0 = fenv_.file_stats();
    request();
    return Cost{gw_->policy_decisions() - d0, fenv_.file_stats() - s0};
  };
  auto ok = [](const Reply& r) { EXPECT_EQ(r.status, Nfs3Status::kOk); };
  EXPECT_EQ(cost([&] { ok(ReadReply(file, 0, 4)); }), (Cost{1, 1})) << "READ";
  EXPECT_EQ(cost([&] { ok(GetAttr(file)); }), (Cost{1, 1})) << "GETATTR";
  EXPECT_EQ(cost([&] { ok(Write(file, 4, "more", StableHow::kUnstable)); }), (Cost{1, 1}))
      << "UNSTABLE WRITE";
  EXPECT_EQ(cost([&] { ok(Write(file, 8, "sync", StableHow::kFileSync)); }), (Cost{1, 2}))
      << "FILE_SYNC WRITE";
  EXPECT_EQ(cost([&] {
              ok(Call(Nfs3Proc::kCommit, [&](XdrEncoder& e) {
                EncodeFh(e, file);
                e.U64(0);
                e.U32(0);
              }));
            }),
            (Cost{1, 1}))
      << "COMMIT";
  // The UNSTABLE WRITE's post-op attributes (no fstat after it) carry the new size.
  Reply w = Write(file, 100, "x", StableHow::kUnstable);
  ASSERT_EQ(w.status, Nfs3Status::kOk);
  ASSERT_FALSE(w.d().Bool());  // no pre-op attributes
  auto after = ReadPostOp(w.d());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->size, 101u);
  EXPECT_EQ(ReadFattr(GetAttr(file).d()).mtime.tv_sec, after->mtime.tv_sec);
}

// The decision is carried through one request, never across two: a policy refresh between
// two requests (here: the VM set's server list changed, the cached entry invalidated) applies
// to the second, although the handle's last decision was from the same minute.
TEST_F(Nfs3ProgramTest, APolicyChangeBetweenTwoRequestsApplies) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "osdisk.vmdk");
  ASSERT_EQ(Write(file, 0, "before", StableHow::kFileSync).status, Nfs3Status::kOk);
  ASSERT_EQ(Read(file, 0, 6).first, "before");
  auto rewrite = [&](const std::string& from, const std::string& to) {
    for (const char* name : {"vmset.xml", "policy.xml"}) {
      const fs::path p = root_ / "keys/my_vmset" / name;
      std::ifstream in(p);
      std::string text((std::istreambuf_iterator<char>(in)), {});
      for (std::size_t at; (at = text.find(from)) != std::string::npos;) {
        text.replace(at, from.size(), to);
      }
      WriteFile(p, text);
    }
    cache_->Invalidate("my_vmset");
  };
  rewrite("755083456", "755083999");  // 127.0.0.1 is no longer a server of the VM set
  EXPECT_EQ(ReadReply(file, 0, 6).status, Nfs3Status::kAcces);
  EXPECT_EQ(Write(file, 0, "after", StableHow::kUnstable).status, Nfs3Status::kAcces);
  EXPECT_EQ(GetAttr(file).status, Nfs3Status::kAcces);
  rewrite("755083999", "755083456");
  EXPECT_EQ(Read(file, 0, 6).first, "before");
}

// A READ on the compute pool (RpcCall::may_wait false) reads with RWF_NOWAIT; data not in the
// page cache (injected) answers kAcceptWouldWait, having sent nothing, and the same call then
// served where it may wait reads through the blocking fallback.
TEST_F(Nfs3ProgramTest, AReadThatWouldWaitRunsAgainWhereItMay) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "osdisk.vmdk");
  ASSERT_EQ(Write(file, 0, "cached or not", StableHow::kFileSync).status, Nfs3Status::kOk);
  may_wait_ = false;
  EXPECT_EQ(Read(file, 0, 100).first, "cached or not");  // in the page cache: served at once
  fenv_.SetNoWaitMiss([](const std::string&, std::uint64_t, std::uint64_t) { return true; });
  Reply miss = ReadReply(file, 0, 100);
  EXPECT_EQ(miss.stat, kAcceptWouldWait);
  EXPECT_EQ(fenv_.nowait_misses(), 1u);
  may_wait_ = true;
  EXPECT_EQ(Read(file, 0, 100).first, "cached or not");
  EXPECT_EQ(fenv_.nowait_misses(), 1u);  // the second run did not ask for NOWAIT
  fenv_.ClearFaults();
}

TEST_F(Nfs3ProgramTest, ReaddirPagesWithCookies) {
  Bytes vm = VmDir();
  std::set<std::string> want;
  for (int i = 0; i < 40; ++i) {
    const std::string name = "file-" + std::to_string(i) + ".vmx";
    CreateFile(vm, name);
    want.insert(name);
  }
  for (bool plus : {false, true}) {
    auto names = List(vm, plus, plus ? 1500 : 300);
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want) << plus;
    EXPECT_EQ(names.size(), want.size());
  }
  Reply tiny = Call(Nfs3Proc::kReadDir, [&](XdrEncoder& e) {
    EncodeFh(e, vm);
    e.U64(0);
    e.FixedOpaque(std::array<std::uint8_t, 8>{});
    e.U32(100);
  });
  EXPECT_EQ(tiny.status, Nfs3Status::kTooSmall);
  Reply bad = Call(Nfs3Proc::kReadDir, [&](XdrEncoder& e) {
    EncodeFh(e, vm);
    e.U64(3);
    e.FixedOpaque(std::array<std::uint8_t, 8>{1, 1, 1, 1, 1, 1, 1, 1});
    e.U32(4096);
  });
  EXPECT_EQ(bad.status, Nfs3Status::kBadCookie);
}

TEST_F(Nfs3ProgramTest, RenameKeepsHandlesRemoveMakesThemStale) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "a.vmx");
  ASSERT_EQ(Write(file, 0, "x", StableHow::kUnstable).status, Nfs3Status::kOk);
  Reply rn = Call(Nfs3Proc::kRename, [&](XdrEncoder& e) {
    EncodeName(e, vm, "a.vmx");
    EncodeName(e, vm, "b.vmx");
  });
  ASSERT_EQ(rn.status, Nfs3Status::kOk);
  SkipWcc(rn.d());
  SkipWcc(rn.d());
  EXPECT_EQ(rn.d().remaining(), 0u);
  EXPECT_EQ(GetAttr(file).status, Nfs3Status::kOk);
  EXPECT_EQ(Lookup(vm, "a.vmx").status, Nfs3Status::kNoEnt);
  Reply l = Lookup(vm, "b.vmx");
  ASSERT_EQ(l.status, Nfs3Status::kOk);
  EXPECT_EQ(DecodeFh(l.d()), file);

  Reply sub = Call(Nfs3Proc::kMkDir, [&](XdrEncoder& e) {
    EncodeName(e, vm, "sub");
    EncodeNoSattr(e);
  });
  ASSERT_EQ(sub.status, Nfs3Status::kOk);
  Reply rmvm = Call(Nfs3Proc::kRmDir, [&](XdrEncoder& e) { EncodeName(e, root_fh_, "my_vmset"); });
  EXPECT_EQ(rmvm.status, Nfs3Status::kNotEmpty);
  Reply rm = Call(Nfs3Proc::kRemove, [&](XdrEncoder& e) { EncodeName(e, vm, "b.vmx"); });
  ASSERT_EQ(rm.status, Nfs3Status::kOk);
  EXPECT_EQ(GetAttr(file).status, Nfs3Status::kStale);
  Reply rd = Call(Nfs3Proc::kRmDir, [&](XdrEncoder& e) { EncodeName(e, vm, "sub"); });
  EXPECT_EQ(rd.status, Nfs3Status::kOk);
  EXPECT_EQ(Call(Nfs3Proc::kRemove, [&](XdrEncoder& e) { EncodeName(e, vm, "b.vmx"); }).status,
            Nfs3Status::kNoEnt);
}

// READ/WRITE/GETATTR use a cached open file's path instead of resolving the handle each time;
// renames and removals, through NFS or straight through the gateway (FUSE), must still reach
// them: a file below a renamed directory keeps working, a removed one is STALE.
TEST_F(Nfs3ProgramTest, CachedOpenFilesFollowRenamesAndRemovals) {
  Bytes vm = VmDir();
  Bytes disks = MakeDir(vm, "disks");
  Bytes file = CreateFile(disks, "osdisk.vmdk");
  ASSERT_EQ(Write(file, 0, "hello", StableHow::kUnstable).status, Nfs3Status::kOk);
  EXPECT_EQ(Read(file, 0, 5).first, "hello");

  Reply rn = Call(Nfs3Proc::kRename, [&](XdrEncoder& e) {
    EncodeName(e, vm, "disks");
    EncodeName(e, vm, "disks2");
  });
  ASSERT_EQ(rn.status, Nfs3Status::kOk);
  EXPECT_EQ(Read(file, 0, 5).first, "hello");
  ASSERT_EQ(Write(file, 5, " world", StableHow::kFileSync).status, Nfs3Status::kOk);
  Reply a = GetAttr(file);
  ASSERT_EQ(a.status, Nfs3Status::kOk);
  EXPECT_EQ(ReadFattr(a.d()).size, 11u);

  const core::Caller caller{{}, 0, 0, kClient};  // the NFS client, directly on the gateway
  ASSERT_TRUE(gw_->Rename(caller, "/my_vmset/vm1/disks2", "/my_vmset/vm1/disks3", false).ok());
  EXPECT_EQ(Read(file, 0, 11).first, "hello world");
  auto on_disk = gw_->GetAttr(caller, "/my_vmset/vm1/disks3/osdisk.vmdk");
  ASSERT_TRUE(on_disk.ok()) << on_disk.status().ToString();
  EXPECT_EQ(on_disk->size, 11u);

  ASSERT_TRUE(gw_->Unlink(caller, "/my_vmset/vm1/disks3/osdisk.vmdk").ok());
  EXPECT_EQ(GetAttr(file).status, Nfs3Status::kStale);
  EXPECT_EQ(Write(file, 0, "x", StableHow::kUnstable).status, Nfs3Status::kStale);

  // Removed from the backing store behind the gateway's back (no namespace generation change):
  // the cached file's link count says so.
  Bytes other = CreateFile(vm, "osdisk2.vmdk");
  ASSERT_EQ(Write(other, 0, "abc", StableHow::kUnstable).status, Nfs3Status::kOk);
  ASSERT_TRUE(fs::remove(root_ / "backing/my_vmset/vm1/osdisk2.vmdk##mirrored_pool_A"));
  Reply gone = ReadReply(other, 0, 3);
  EXPECT_EQ(gone.status, Nfs3Status::kStale);
  EXPECT_EQ(GetAttr(other).status, Nfs3Status::kStale);
}

// Which pool a call runs on (RpcProgram::WaitsForDisk): reads and UNSTABLE writes use the
// CPU; stable writes, COMMIT and namespace changes wait for the disk.
TEST_F(Nfs3ProgramTest, CallsThatWaitForTheDisk) {
  auto waits = [&](Nfs3Proc proc, const std::function<void(XdrEncoder&)>& args) {
    XdrEncoder e;
    args(e);
    RpcCall call;
    call.procedure = static_cast<std::uint32_t>(proc);
    return program_->WaitsForDisk(call, e.bytes());
  };
  auto write = [&](StableHow how) {
    return [how](XdrEncoder& e) {
      EncodeFh(e, Bytes(40, 7));
      e.U64(4096);
      e.U32(3);
      e.U32(static_cast<std::uint32_t>(how));
      e.Opaque(Bytes{1, 2, 3});
    };
  };
  const auto fh = [](XdrEncoder& e) { EncodeFh(e, Bytes(40, 7)); };
  EXPECT_FALSE(waits(Nfs3Proc::kWrite, write(StableHow::kUnstable)));
  EXPECT_TRUE(waits(Nfs3Proc::kWrite, write(StableHow::kDataSync)));
  EXPECT_TRUE(waits(Nfs3Proc::kWrite, write(StableHow::kFileSync)));
  EXPECT_TRUE(waits(Nfs3Proc::kWrite, [](XdrEncoder& e) { e.U32(1000); }));  // garbage
  EXPECT_FALSE(waits(Nfs3Proc::kRead, fh));
  EXPECT_FALSE(waits(Nfs3Proc::kGetAttr, fh));
  EXPECT_FALSE(waits(Nfs3Proc::kReadDirPlus, fh));
  EXPECT_TRUE(waits(Nfs3Proc::kCommit, fh));
  EXPECT_TRUE(waits(Nfs3Proc::kCreate, fh));
  EXPECT_TRUE(waits(Nfs3Proc::kRename, fh));
}

TEST_F(Nfs3ProgramTest, ForgedHandlesExportsAndPolicyDenials) {
  Bytes vm = VmDir();
  Bytes file = CreateFile(vm, "osdisk.vmdk");
  Bytes forged = file;
  forged[8] ^= 0x40;
  EXPECT_EQ(GetAttr(forged).status, Nfs3Status::kStale);
  EXPECT_EQ(GetAttr(Bytes(3, 1)).status, Nfs3Status::kStale);
  // Not on the export's allow list.
  EXPECT_EQ(GetAttr(file, "192.0.2.9").status, Nfs3Status::kAcces);
  // On the allow list but no registered server of the VM set: the gateway denies and audits.
  EXPECT_EQ(GetAttr(file, "127.0.0.2").status, Nfs3Status::kAcces);
  EXPECT_EQ(Lookup(vm, "osdisk.vmdk", "127.0.0.2").status, Nfs3Status::kAcces);
  // The file is cached open (CREATE): READ and WRITE are denied and audited under their names.
  EXPECT_EQ(Write(file, 0, "x", StableHow::kUnstable, "127.0.0.2").status, Nfs3Status::kAcces);
  EXPECT_EQ(ReadReply(file, 0, 1, "127.0.0.2").status, Nfs3Status::kAcces);
  gw_->Tick(/*force=*/true);
  auto records = audit::ReadAuditLog((root_ / "audit.log").string());
  ASSERT_TRUE(records.ok());
  std::set<std::string> denied_ops;
  for (const auto& rec : *records) {
    if (rec.client == "127.0.0.2" && rec.server.empty() && rec.result == audit::Result::kDenied) {
      denied_ops.insert(rec.op);
    }
  }
  EXPECT_TRUE(denied_ops.count("write")) << "denied ops: " << denied_ops.size();
  EXPECT_TRUE(denied_ops.count("read"));
  // Above VM set level everyone admitted by the export may look.
  EXPECT_EQ(GetAttr(root_fh_, "127.0.0.2").status, Nfs3Status::kOk);

  // A read-only export: modifying procedures answer ROFS, reads work.
  ExportConfig ro;
  ro.path = "/";
  ro.clients = {"*"};
  ro.read_only = true;
  auto exports = Exports::Create({ro});
  ASSERT_TRUE(exports.ok());
  Nfs3Program ro_program(gw_.get(), &*exports);
  Reply w = Write(file, 0, "x", StableHow::kFileSync, kClient, &ro_program);
  EXPECT_EQ(w.status, Nfs3Status::kRoFs);
  Reply mk = Call(
      Nfs3Proc::kMkDir,
      [&](XdrEncoder& e) {
        EncodeName(e, vm, "d");
        EncodeNoSattr(e);
      },
      kClient, &ro_program);
  EXPECT_EQ(mk.status, Nfs3Status::kRoFs);
  EXPECT_EQ(Call(
                Nfs3Proc::kGetAttr, [&](XdrEncoder& e) { EncodeFh(e, file); }, kClient, &ro_program)
                .status,
            Nfs3Status::kOk);
}

TEST_F(Nfs3ProgramTest, GarbageArgumentsAndUnknownProcedures) {
  EXPECT_EQ(Call(Nfs3Proc::kGetAttr, [](XdrEncoder& e) { e.U32(200); }).stat,
            AcceptStat::kGarbageArgs);
  EXPECT_EQ(Call(Nfs3Proc::kGetAttr,
                 [&](XdrEncoder& e) {
                   EncodeFh(e, root_fh_);
                   e.U32(1);  // left over
                 })
                .stat,
            AcceptStat::kGarbageArgs);
  EXPECT_EQ(Call(Nfs3Proc::kNull, [](XdrEncoder& e) { e.U32(1); }).stat, AcceptStat::kGarbageArgs);
  EXPECT_EQ(Call(static_cast<Nfs3Proc>(22), [](XdrEncoder&) {}).stat, AcceptStat::kProcUnavail);
  EXPECT_EQ(Call(Nfs3Proc::kCreate,
                 [&](XdrEncoder& e) {
                   EncodeName(e, root_fh_, "x");
                   e.U32(7);  // no such createmode3
                 })
                .stat,
            AcceptStat::kGarbageArgs);
}

TEST(Nfs3StatusTest, EveryGatewayErrorMapsToItsNfsStatus) {
  const std::pair<int, Nfs3Status> table[] = {
      {EACCES, Nfs3Status::kAcces},
      {ENOENT, Nfs3Status::kNoEnt},
      {EEXIST, Nfs3Status::kExist},
      {ENOTEMPTY, Nfs3Status::kNotEmpty},
      {ENAMETOOLONG, Nfs3Status::kNameTooLong},
      {EINVAL, Nfs3Status::kInval},
      {ENOSPC, Nfs3Status::kNoSpc},
      {EIO, Nfs3Status::kIo},
      {ESTALE, Nfs3Status::kStale},
      {ENOTSUP, Nfs3Status::kNotSupp},
      {EAGAIN, Nfs3Status::kJukebox},
      {EROFS, Nfs3Status::kRoFs},
      {ENOTDIR, Nfs3Status::kNotDir},
      {EISDIR, Nfs3Status::kIsDir},
      {EXDEV, Nfs3Status::kXdev},
      {EPERM, Nfs3Status::kPerm},
      {EDQUOT, Nfs3Status::kDQuot},
      {EFBIG, Nfs3Status::kFBig},
      {EBADF, Nfs3Status::kBadHandle},
      {EMLINK, Nfs3Status::kMLink},
  };
  for (const auto& [err, want] : table) {
    EXPECT_EQ(ToNfs3Status(Status::FromErrno(err, "x")), want) << err;
  }
  EXPECT_EQ(ToNfs3Status(Status::OK()), Nfs3Status::kOk);
  EXPECT_EQ(ToNfs3Status(Status::PermissionDenied("policy")), Nfs3Status::kAcces);
  EXPECT_EQ(ToNfs3Status(Status::AuthFailed("wrong key")), Nfs3Status::kIo);
  EXPECT_EQ(ToNfs3Status(Status::Corruption("mac")), Nfs3Status::kIo);
  EXPECT_EQ(ToNfs3Status(Status::Unavailable("kps down")), Nfs3Status::kJukebox);
  EXPECT_EQ(ToNfs3Status(Status::NotSupported("link")), Nfs3Status::kNotSupp);
  EXPECT_EQ(ToNfs3Status(Status::AlreadyExists("x")), Nfs3Status::kExist);
  EXPECT_EQ(ToNfs3Status(Status::NoSpace("x")), Nfs3Status::kNoSpc);
  EXPECT_EQ(ToNfs3Status(Status::FromErrno(EHOSTDOWN, "x")), Nfs3Status::kIo);
}

// MOUNT v3 wired to this gateway as cafsd wires it (Mount3Program::OverGateway): a directory
// mounts, a file is MNT3ERR_NOTDIR (RFC 1813), a missing path MNT3ERR_NOENT. A client the
// policy denies cannot be told the type: its handle stands (every NFS call on it is denied).
TEST_F(Nfs3ProgramTest, MountOverGatewayRefusesAFile) {
  Bytes vm = VmDir();
  CreateFile(vm, "osdisk.vmdk");
  std::unique_ptr<Mount3Program> mount = Mount3Program::OverGateway(exports_.get(), gw_.get());
  auto mnt = [&](const std::string& path, const std::string& peer = kClient) {
    XdrEncoder args;
    args.String(path);
    RpcCall call;
    call.program = kMountProgram;
    call.version = kMountVersion3;
    call.procedure = 1;  // MNT
    call.peer_address = peer;
    XdrDecoder in(args.bytes());
    XdrEncoder out;
    EXPECT_EQ(mount->Dispatch(call, in, out), AcceptStat::kSuccess) << path;
    return XdrDecoder(out.bytes()).U32();
  };
  EXPECT_EQ(mnt("/my_vmset/vm1"), 0u);
  EXPECT_EQ(mnt("/my_vmset/vm1/osdisk.vmdk"), 20u);  // MNT3ERR_NOTDIR
  EXPECT_EQ(mnt("/my_vmset/vm1/no-such-dir"), 2u);   // MNT3ERR_NOENT
  EXPECT_EQ(mount->mounts(), (std::vector<MountEntry>{{kClient, "/my_vmset/vm1"}}));
  EXPECT_EQ(mnt("/my_vmset/vm1/osdisk.vmdk", "127.0.0.2"), 0u);
}

}  // namespace
}  // namespace cafs::frontend::nfs
