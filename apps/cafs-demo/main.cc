// cafs-demo: a short tour of the CAFS foundation on embedded defaults, no daemons.
//
//  1. reads the seed's VM set and policy descriptor XML verbatim;
//  2. maps the seed's example VM files to virtual objects (pool, key, cipher);
//  3. evaluates access for a listed server inside and outside its window, and for an
//     unlisted server, writing the decisions to a hash-chained audit log and verifying it;
//  4. stores a VM disk and a VM config through EncryptedFile in two local storage pools and
//     shows that the encrypted pool file holds ciphertext and the clear one plaintext;
//  5. shows that a tampered header and a wrong key are refused, never decrypted into garbage.
//
// Usage: cafs-demo [--dir DIR] [--keep] | --print-seed vmset|policy. Exit code 0 when every
// step behaved as expected.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "audit/audit_log.h"
#include "crypto/rng.h"
#include "env/env.h"
#include "format/encrypted_file.h"
#include "policy/evaluator.h"
#include "policy/policy_descriptor.h"
#include "policy/seed_examples.h"
#include "policy/vm_set.h"
#include "policy/vmset_path.h"
#include "pool/pool_mapper.h"
#include "pool/posix_pool.h"

namespace {

namespace fs = std::filesystem;
using namespace cafs;  // NOLINT(google-build-using-namespace): a demo's main file

using policy::seed_examples::kSeedVmSet;
using policy::seed_examples::kSeedVobjList;

int failures = 0;

format::OpenParams ReadOnlyOpen() {
  format::OpenParams p;
  p.read_only = true;
  return p;
}

void Step(const std::string& title) { fmt::print("\n== {} ==\n", title); }

void Check(bool ok, const std::string& what) {
  fmt::print("  [{}] {}\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    fmt::print(stderr, "cafs-demo: {}: {}\n", what, r.status().ToString());
    std::exit(1);
  }
  return std::move(r).value();
}

void Must(const Status& s, const char* what) {
  if (!s.ok()) {
    fmt::print(stderr, "cafs-demo: {}: {}\n", what, s.ToString());
    std::exit(1);
  }
}

std::string HexLine(const Bytes& b, std::size_t n) {
  return ToHex(ByteView(b).first(std::min(n, b.size())));
}

// A UTC time point from a calendar date and hour.
Clock::TimePoint At(int y, unsigned m, unsigned d, int hour) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hour};
}

Bytes ReadRaw(const fs::path& path, std::uint64_t offset, std::size_t n) {
  auto f = Must(env::Env::Default()->OpenFile(path.string(), env::OpenOptions::ReadOnly()),
                "open pool file");
  Bytes out(n);
  auto got = Must(f->ReadAt(offset, MutableByteView(out)), "read pool file");
  out.resize(got);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cafs-demo: a tour of the CAFS foundation (policy, audit, encrypted pool files)"};
  std::string dir;
  bool keep = false;
  app.add_option("--dir", dir, "working directory (default: a new temporary directory)");
  app.add_flag("--keep", keep, "keep the working directory afterwards");
  std::string print_seed;
  app.add_option("--print-seed", print_seed,
                 "print the seed's XML verbatim and exit: 'vmset' (its <vmset>) or 'policy' "
                 "(its <vobj-list>); scripts/demo.sh and the tests use this one copy")
      ->check(CLI::IsMember({"vmset", "policy"}));
  CLI11_PARSE(app, argc, argv);
  if (!print_seed.empty()) {
    std::fputs(print_seed == "vmset" ? kSeedVmSet : kSeedVobjList, stdout);
    return 0;
  }
  if (dir.empty()) {
    dir = (fs::temp_directory_path() / fmt::format("cafs-demo-{}", ::getpid())).string();
  }
  fs::create_directories(dir);
  env::Env* env = env::Env::Default();

  Step("1. The seed's VM set and policy descriptor");
  auto vmset = Must(policy::VmSet::Parse(kSeedVmSet), "parse VM set");
  auto descriptor = Must(policy::PolicyDescriptor::Parse(kSeedVobjList), "parse policy");
  fmt::print("  VM set {} at {} (policy {}), servers: {}\n", vmset.name, vmset.mount_point,
             vmset.policy_descriptor.ToString(), fmt::join(vmset.servers, ", "));
  for (std::size_t i = 0; i < descriptor.objects.size(); ++i) {
    const auto& o = descriptor.objects[i];
    fmt::print("  vobj {}: {:<12} key {} pool {:<16} cipher {:<12} access {:<18} audit {}\n", i + 1,
               o.vglob.pattern(), o.symkey.ToString(), o.storage_pool, crypto::CipherName(o.cipher),
               o.access.ToString(), policy::AuditLevelName(o.audit));
  }

  Step("2. Which virtual object governs each VM file (first match wins)");
  for (const char* path :
       {"/nfs/my_vmset/windows_xp/osdisk1.vmdk", "/nfs/my_vmset/windows_xp/osdisk2.vmdk",
        "/nfs/my_vmset/rh_linux/linux_osdisk.vmdk", "/nfs/my_vmset/rh_linux/root_osdisk.vmdk",
        "/nfs/my_vmset/windows_xp/windows_xp.vmx"}) {
    auto where = Must(policy::ResolveVmSetPath(vmset, path), "resolve path");
    auto* vobj = Must(descriptor.Match(where.path_within_vmset), "match");
    fmt::print("  {:<42} -> VM {:<11} pool {:<16} {}\n", path, where.vm_name, vobj->storage_pool,
               vobj->IsClearText() ? "clear text" : "encrypted");
  }

  Step("3. Access control and the audit trail");
  auto evaluator = Must(policy::Evaluator::Create(vmset, descriptor), "evaluator");
  fs::path audit_path = fs::path(dir) / "audit.jsonl";
  fs::remove(audit_path);
  auto audit_log = Must(audit::AuditLog::Open(audit_path.string()), "audit log");
  struct Attempt {
    const char* server;
    Clock::TimePoint when;
    bool expect_allowed;
    const char* label;
  };
  const Attempt attempts[] = {
      {"755083456", At(2026, 11, 18, 10), true, "listed server, Wednesday 10:00"},
      {"755083456", At(2026, 11, 21, 14), false, "listed server, Saturday 14:00"},
      {"10.2.45.68", At(2026, 11, 18, 10), false, "unlisted server, Wednesday 10:00"},
  };
  for (const auto& a : attempts) {
    auto d = Must(evaluator.Evaluate(a.server, "windows_xp/osdisk1.vmdk", a.when), "evaluate");
    Check(d.allowed == a.expect_allowed,
          fmt::format("{}: {} ({})", a.label, d.allowed ? "allowed" : "denied", d.reason));
    if (d.ShouldAudit()) {
      audit::AuditRecord rec;
      rec.time_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(a.when.time_since_epoch()).count();
      rec.server = a.server;
      rec.vmset = vmset.name;
      rec.vm = "windows_xp";
      rec.file = "osdisk1.vmdk";
      rec.op = "lookup";
      rec.result = d.allowed ? audit::Result::kOk : audit::Result::kDenied;
      rec.reason = d.allowed ? "" : d.reason;
      Must(audit_log->Append(rec).status(), "audit append");
    }
  }
  auto report = Must(audit::VerifyAuditLog(audit_path.string()), "verify audit");
  Check(report.ok && report.records == 3,
        fmt::format("audit trail {} holds {} hash-chained records and verifies",
                    audit_path.string(), report.records));

  Step("4. Storing VM files in storage pools");
  pool::PoolMapper pools;
  for (const char* name : {"mirrored_pool_A", "default_pool"}) {
    fs::path root = fs::path(dir) / "pools" / name;
    fs::remove_all(root);
    fs::create_directories(root);
    Must(pools.Add(std::make_unique<pool::PosixPool>(name, root.string(), env)), "add pool");
  }
  // In the product the key comes from the key & policy server; here a fresh random DEK.
  auto dek = Must(crypto::RandomKey(crypto::CipherKeySize(crypto::CipherId::kAes256Xts)), "DEK");
  Bytes disk(8 << 20);
  for (std::size_t i = 0; i < disk.size(); ++i) {
    disk[i] = static_cast<std::uint8_t>("CAFS protects VM disks. "[i % 24]);
  }
  Bytes vmx_text(AsBytes("displayName = \"windows_xp\"\nmemsize = \"2048\"\n").begin(),
                 AsBytes("displayName = \"windows_xp\"\nmemsize = \"2048\"\n").end());

  struct Stored {
    std::string file;
    const Bytes* content;
    fs::path pool_path;
  };
  std::vector<Stored> stored;
  for (const auto& [file, content] :
       {std::pair<std::string, const Bytes*>{"windows_xp/osdisk1.vmdk", &disk},
        std::pair<std::string, const Bytes*>{"windows_xp/windows_xp.vmx", &vmx_text}}) {
    auto* vobj = Must(descriptor.Match(file), "match");
    auto* target = Must(pools.Find(vobj->storage_pool), "pool");
    std::string rel = vmset.name + "/" + file;
    Must(target->CreateDirs(vmset.name + "/windows_xp"), "mkdir");
    auto raw = Must(target->OpenFile(rel, env::OpenOptions::CreateNew()), "create pool file");
    format::CreateParams params;
    params.vm_set_id = Uuid::Random();
    params.policy_guid = vmset.policy_descriptor;
    params.key_guid = vobj->symkey;
    params.key_version = 1;
    params.kps_locator = "sqlite:embedded";
    params.cipher = vobj->cipher;
    params.sector_size = vobj->sector_size;
    SecureBuffer no_key;
    auto ef = Must(
        format::EncryptedFile::Create(std::move(raw), params, vobj->IsClearText() ? no_key : dek),
        "create encrypted file");
    Must(ef->Write(0, *content), "write");
    Must(ef->Sync(), "sync");
    fs::path on_disk = fs::path(target->location()) / rel;
    fmt::print("  {:<26} -> {} ({}, {} bytes)\n", file, on_disk.string(),
               crypto::CipherName(vobj->cipher), content->size());
    stored.push_back({file, content, on_disk});
  }
  Bytes disk_head = ReadRaw(stored[0].pool_path, format::kHeaderSize, 32);
  Bytes vmx_head = ReadRaw(stored[1].pool_path, format::kHeaderSize, vmx_text.size());
  fmt::print("  plaintext of osdisk1.vmdk : {}\n", HexLine(disk, 32));
  fmt::print("  pool bytes of osdisk1.vmdk: {}\n", HexLine(disk_head, 32));
  Check(!std::equal(disk_head.begin(), disk_head.end(), disk.begin()),
        "the encrypted pool file holds ciphertext after its 4096-byte header");
  Check(vmx_head == vmx_text, "the clear-text pool file holds plaintext after its header");

  {
    auto raw =
        Must(env->OpenFile(stored[0].pool_path.string(), env::OpenOptions::ReadOnly()), "open");
    auto ef = Must(format::EncryptedFile::Open(std::move(raw), dek, ReadOnlyOpen()),
                   "reopen encrypted file");
    Bytes back(disk.size());
    auto n = Must(ef->Read(0, MutableByteView(back)), "read back");
    Check(n == disk.size() && back == disk, "reading it back through CAFS gives the plaintext");
  }

  Step("5. Tampering and wrong keys are refused");
  {
    auto wrong = Must(crypto::RandomKey(dek.size()), "key");
    auto raw =
        Must(env->OpenFile(stored[0].pool_path.string(), env::OpenOptions::ReadOnly()), "open");
    auto r = format::EncryptedFile::Open(std::move(raw), wrong, ReadOnlyOpen());
    Check(!r.ok(), fmt::format("wrong key: {}", r.status().ToString()));
  }
  {
    fs::path copy = fs::path(dir) / "tampered.vmdk";
    fs::copy_file(stored[0].pool_path, copy, fs::copy_options::overwrite_existing);
    auto f = Must(env->OpenFile(copy.string(), env::OpenOptions::ReadWrite()), "open copy");
    Bytes b = ReadRaw(copy, 100, 1);
    b[0] ^= 0x01;
    Must(f->WriteAt(100, b), "flip a byte");
    auto r = format::EncryptedFile::Open(std::move(f), dek, ReadOnlyOpen());
    Check(!r.ok(), fmt::format("header byte 100 flipped: {}", r.status().ToString()));
  }

  fmt::print("\n{}\n", failures == 0 ? "cafs-demo: every step behaved as expected"
                                     : fmt::format("cafs-demo: {} step(s) FAILED", failures));
  if (keep) {
    fmt::print("files kept in {}\n", dir);
  } else {
    fs::remove_all(dir);
  }
  return failures == 0 ? 0 : 1;
}
