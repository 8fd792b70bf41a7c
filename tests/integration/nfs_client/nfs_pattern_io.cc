// nfs_pattern_io: pattern I/O on one file over NFSv3 through libnfs's raw calls, the way a
// hypervisor's NFS client drives a disk image, while the server moves the file between pools
// (nfs_migrate_cafs_test.sh; issue 15 "live migration test ... through NFS (libnfs)"):
//  - the file PATH (below the export "/"; missing directories are made) is created if needed
//    and filled with generation 0 of every block (32 KiB blocks, FILE_SYNC);
//  - then, until STOP_FILE exists or SECONDS pass: a random block gets its next generation
//    (UNSTABLE WRITE, a COMMIT every 8 writes) and is read back and compared at once (like
//    `qemu-io -c "write -P" -c "read -P"`); every 16 writes GETATTR of the handle taken at
//    the start must answer NFS3_OK with the same fileid and size, and LOOKUP of the name must
//    return that same handle (the handle stays valid: it never goes NFS3ERR_STALE);
//  - at the end every block reads back as its last generation.
// A block's content is a function of (SEED, block, generation), so nothing is kept but the
// generation numbers. Usage: nfs_pattern_io HOST NFS_PORT MOUNT_PORT PATH MIB STOP_FILE
// SECONDS SEED. Prints one line per failed check and "pattern-io: N checks passed (W writes,
// R reads verified, A attribute checks)" or "FAILED"; exit 0 / 1 / 2 (usage).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "check_counter.h"
#include "nfs3_client.h"

namespace cafs::nfs_test {
namespace {

constexpr std::uint32_t kBlock = 32 * 1024;

std::string Content(std::uint64_t seed, std::uint64_t block, std::uint64_t gen) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL ^ (block << 20) ^ gen);
  std::string out(kBlock, '\0');
  for (std::size_t i = 0; i < out.size(); i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

class PatternIo : private CheckCounter {
 public:
  PatternIo(std::string host, int nfs_port, int mount_port)
      : host_(std::move(host)), nfs_port_(nfs_port), mount_port_(mount_port) {}

  bool Run(const std::string& path, std::uint64_t mib, const std::string& stop_file, int seconds,
           std::uint64_t seed) {
    if (!mount_rpc_.Connect(host_, mount_port_, MOUNT_PROGRAM, MOUNT_V3) ||
        !nfs_rpc_.Connect(host_, nfs_port_, NFS_PROGRAM, NFS_V3)) {
      return Fail("connect: " + mount_rpc_.error() + nfs_rpc_.error());
    }
    const auto root = mount_.Mnt("/");
    if (root.status != MNT3_OK) return Fail("MNT /: " + MountStatusName(root.status));
    // The directories, then the file.
    std::vector<std::string> comps;
    std::stringstream ss(path);
    for (std::string c; std::getline(ss, c, '/');) {
      if (!c.empty()) comps.push_back(c);
    }
    if (comps.empty()) return Fail("empty path");
    std::string dir = root.fh;
    for (std::size_t i = 0; i + 1 < comps.size(); ++i) {
      auto d = nfs_.Lookup(dir, comps[i]);
      if (d.status == NFS3ERR_NOENT) {
        Nfs3Client::SetAttrs mode;
        mode.mode = 0755;
        d = nfs_.Mkdir(dir, comps[i], mode);
      }
      if (d.status != NFS3_OK)
        return Fail("directory " + comps[i] + ": " + NfsStatusName(d.status));
      dir = d.fh;
    }
    dir_ = dir;
    name_ = comps.back();
    auto f = nfs_.Lookup(dir_, name_);
    if (f.status == NFS3ERR_NOENT) {
      Nfs3Client::SetAttrs mode;
      mode.mode = 0644;
      f = nfs_.Create(dir_, name_, UNCHECKED, mode);
    }
    if (f.status != NFS3_OK || f.fh.empty())
      return Fail("file " + path + ": " + NfsStatusName(f.status));
    fh_ = f.fh;
    blocks_ = mib * 1024 * 1024 / kBlock;
    gen_.assign(blocks_, 0);
    seed_ = seed;
    const auto before = nfs_.Getattr(fh_);
    if (before.status != NFS3_OK) return Fail("GETATTR: " + NfsStatusName(before.status));
    fileid_ = before.attr.fileid;
    if (before.attr.size != blocks_ * kBlock) {  // a new file: fill it
      for (std::uint64_t b = 0; b < blocks_; ++b) {
        const auto w = nfs_.Write(fh_, b * kBlock, Content(seed_, b, 0), FILE_SYNC);
        if (w.status != NFS3_OK || w.count != kBlock)
          return Fail("fill: " + NfsStatusName(w.status));
      }
    }
    std::printf("pattern-io: %s fileid %llu, %llu blocks of %u bytes\n", path.c_str(),
                static_cast<unsigned long long>(fileid_), static_cast<unsigned long long>(blocks_),
                kBlock);
    std::fflush(stdout);
    Loop(stop_file, seconds);
    // Everything, at the end.
    for (std::uint64_t b = 0; b < blocks_; ++b) VerifyBlock(b);
    CheckAttrs();
    std::printf("pattern-io: %d writes, %d reads verified, %d attribute checks\n", writes_, reads_,
                attr_checks_);
    return Summary("pattern-io");
  }

 private:
  void Loop(const std::string& stop_file, int seconds) {
    std::mt19937_64 rng(seed_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    struct stat st {};
    while (std::chrono::steady_clock::now() < deadline && ::stat(stop_file.c_str(), &st) != 0) {
      const std::uint64_t b = rng() % blocks_;
      const std::uint64_t gen = gen_[b] + 1;
      const auto w = nfs_.Write(fh_, b * kBlock, Content(seed_, b, gen), UNSTABLE);
      Check(w.status == NFS3_OK && w.count == kBlock,
            "WRITE block " + std::to_string(b) + ": " + NfsStatusName(w.status));
      if (w.status != NFS3_OK) return;
      gen_[b] = gen;
      ++writes_;
      if (writes_ % 8 == 0) {
        const auto c = nfs_.Commit(fh_, 0, 0);
        Check(c.status == NFS3_OK, "COMMIT: " + NfsStatusName(c.status));
      }
      VerifyBlock(b);
      if (writes_ % 16 == 0) CheckAttrs();
      if (failures() > 0) return;
    }
  }

  void VerifyBlock(std::uint64_t b) {
    const auto r = nfs_.Read(fh_, b * kBlock, kBlock);
    Check(r.status == NFS3_OK && r.data == Content(seed_, b, gen_[b]),
          "READ block " + std::to_string(b) + " (generation " + std::to_string(gen_[b]) +
              "): " + NfsStatusName(r.status) + ", " + std::to_string(r.data.size()) + " bytes" +
              (r.status == NFS3_OK ? ", content differs" : ""));
    ++reads_;
  }

  // The handle taken at the start: valid, same fileid and size; LOOKUP gives it again.
  void CheckAttrs() {
    ++attr_checks_;
    const auto a = nfs_.Getattr(fh_);
    Check(a.status == NFS3_OK, "GETATTR of the first handle: " + NfsStatusName(a.status));
    if (a.status == NFS3_OK) {
      Check(a.attr.fileid == fileid_, "fileid changed: " + std::to_string(a.attr.fileid) +
                                          ", was " + std::to_string(fileid_));
      Check(a.attr.size == blocks_ * kBlock, "size changed: " + std::to_string(a.attr.size));
    }
    const auto l = nfs_.Lookup(dir_, name_);
    Check(l.status == NFS3_OK && l.fh == fh_, "LOOKUP " + name_ + ": " + NfsStatusName(l.status) +
                                                  (l.fh == fh_ ? "" : ", another handle"));
  }

  const std::string host_;
  const int nfs_port_;
  const int mount_port_;
  SyncRpc mount_rpc_;
  SyncRpc nfs_rpc_;
  MountClient mount_{mount_rpc_};
  Nfs3Client nfs_{nfs_rpc_};
  std::string dir_;
  std::string name_;
  std::string fh_;
  std::uint64_t fileid_ = 0;
  std::uint64_t blocks_ = 0;
  std::uint64_t seed_ = 0;
  std::vector<std::uint64_t> gen_;
  int writes_ = 0;
  int reads_ = 0;
  int attr_checks_ = 0;
};

}  // namespace
}  // namespace cafs::nfs_test

// As nfs_procedures: whole allocation stacks under LeakSanitizer (nfs_client/lsan.supp).
extern "C" const char* __lsan_default_options() { return "fast_unwind_on_malloc=0"; }

int main(int argc, char** argv) {
  if (argc != 9 || std::atoi(argv[2]) <= 0 || std::atoi(argv[3]) <= 0 || std::atoi(argv[5]) <= 0 ||
      std::atoi(argv[7]) <= 0) {
    std::fprintf(
        stderr, "usage: nfs_pattern_io HOST NFS_PORT MOUNT_PORT PATH MIB STOP_FILE SECONDS SEED\n");
    return 2;
  }
  return cafs::nfs_test::PatternIo(argv[1], std::atoi(argv[2]), std::atoi(argv[3]))
                 .Run(argv[4], std::strtoull(argv[5], nullptr, 10), argv[6], std::atoi(argv[7]),
                      std::strtoull(argv[8], nullptr, 10))
             ? 0
             : 1;
}
