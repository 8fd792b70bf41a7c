// nfs_posix: POSIX semantics over NFSv3 (issue 17 items 4, 6, 7), through libnfs's raw calls
// with chosen AUTH_SYS identities, against a server that exports "/" with no_root_squash and
// "/my_vmset/squashed" with root_squash to 127.0.0.1 (nfs_posix_cafs_test.sh sets cafsd up):
//  - modes: CREATE and MKDIR get exactly the sattr3 mode (0666, 0640, 0777, 01777, 0750),
//    for a clear-text name and an encrypted (*osdisk*) one, whatever cafsd's umask;
//  - MOUNT: a configured VM set whose directory does not exist yet (`new_vmset`) mounts, and
//    its directory then exists; an unknown VM set and a missing path below a VM set are
//    MNT3ERR_NOENT;
//  - permission checks as knfsd makes them, with non-root uids (1000, 2000): a non-owner's
//    WRITE to a 0644 or 0444 file, CREATE/MKDIR in another's 0755 directory, LOOKUP and
//    READDIR in another's 0700 directory -> NFS3ERR_ACCES; a non-owner's chmod, an owner's
//    chown to another user or chgrp to a group it is not in -> NFS3ERR_PERM; REMOVE and RENAME
//    of another's file in a sticky directory -> NFS3ERR_PERM while the owner may; the owner
//    writes its own 0444 file (knfsd's owner override); root passes;
//  - root squash: uid 0 through the root_squash export acts as 65534 (refused in a 0755
//    root directory, owner 65534 in a 0777 one).
// Usage: nfs_posix HOST NFS_PORT MOUNT_PORT. Prints one line per failed check and
// "posix: N checks passed" or "FAILED"; exit 0 / 1 / 2 (usage).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "check_counter.h"
#include "nfs3_client.h"

namespace cafs::nfs_test {
namespace {

constexpr std::uint32_t kUser = 1000;
constexpr std::uint32_t kOther = 2000;
constexpr std::uint32_t kNobody = 65534;

Nfs3Client::SetAttrs Mode(std::uint32_t mode) {
  Nfs3Client::SetAttrs a;
  a.mode = mode;
  return a;
}

class Posix : private CheckCounter {
 public:
  Posix(std::string host, int nfs_port, int mount_port)
      : host_(std::move(host)), nfs_port_(nfs_port), mount_port_(mount_port) {}

  bool Run() {
    if (!mount_rpc_.Connect(host_, mount_port_, MOUNT_PROGRAM, MOUNT_V3) ||
        !nfs_rpc_.Connect(host_, nfs_port_, NFS_PROGRAM, NFS_V3)) {
      return Fail("connect: " + mount_rpc_.error() + nfs_rpc_.error());
    }
    As(0, 0);
    const auto root = mount_.Mnt("/");
    if (root.status != MNT3_OK) return Fail("MNT /: " + MountStatusName(root.status));
    const auto vmset = nfs_.Lookup(root.fh, "my_vmset");
    if (vmset.status != NFS3_OK) return Fail("LOOKUP my_vmset: " + NfsStatusName(vmset.status));
    const std::string work_name = "posix-" + std::to_string(::getpid());
    const auto work = nfs_.Mkdir(vmset.fh, work_name, Mode(0777));
    if (work.status != NFS3_OK) return Fail("MKDIR work: " + NfsStatusName(work.status));
    work_ = work.fh;
    Modes();
    Mount(root.fh);
    Permissions();
    RootSquash(vmset.fh);
    return Summary("posix");
  }

 private:
  // The AUTH_SYS identity of the next NFS calls.
  void As(std::uint32_t uid, std::uint32_t gid) {
    rpc_set_uid(nfs_rpc_.context(), static_cast<int>(uid));
    rpc_set_gid(nfs_rpc_.context(), static_cast<int>(gid));
  }

  void Modes() {
    As(0, 0);
    for (const std::string name : {"vm.vmx", "osdisk1.vmdk"}) {
      for (const std::uint32_t mode : {0666u, 0640u, 0600u, 0755u}) {
        const std::string n = std::to_string(mode) + "-" + name;
        const auto made = nfs_.Create(work_, n, UNCHECKED, Mode(mode));
        Expect("CREATE " + n, made.status, NFS3_OK);
        const auto got = nfs_.Lookup(work_, n);
        Check(got.attr && (got.attr->mode & 07777) == mode,
              "CREATE " + n + " mode " + (got.attr ? std::to_string(got.attr->mode & 07777) : "?"));
      }
    }
    for (const std::uint32_t mode : {0777u, 01777u, 0750u, 0700u}) {
      const std::string n = "dir" + std::to_string(mode);
      const auto made = nfs_.Mkdir(work_, n, Mode(mode));
      Expect("MKDIR " + n, made.status, NFS3_OK);
      const auto got = nfs_.Getattr(made.fh);
      Check(got.status == NFS3_OK && (got.attr.mode & 07777) == mode,
            "MKDIR " + n + " mode " + std::to_string(got.attr.mode & 07777));
    }
  }

  void Mount(const std::string& root_fh) {
    const auto fresh = mount_.Mnt("/new_vmset");
    Expect("MNT /new_vmset (configured, no directory yet)", fresh.status, MNT3_OK);
    if (fresh.status == MNT3_OK) {
      const auto attr = nfs_.Getattr(fresh.fh);
      Check(attr.status == NFS3_OK && attr.attr.type == NF3DIR, "new_vmset is a directory");
      Expect("LOOKUP new_vmset", nfs_.Lookup(root_fh, "new_vmset").status, NFS3_OK);
      Expect("MNT /new_vmset again", mount_.Mnt("/new_vmset").status, MNT3_OK);
    }
    Expect("MNT /unknown_vmset", mount_.Mnt("/unknown_vmset").status, MNT3ERR_NOENT);
    Expect("MNT /new_vmset/no_vm", mount_.Mnt("/new_vmset/no_vm").status, MNT3ERR_NOENT);
    Expect("LOOKUP unknown_vmset", nfs_.Lookup(root_fh, "unknown_vmset").status, NFS3ERR_NOENT);
  }

  void Permissions() {
    // Root's entries.
    As(0, 0);
    const std::string rootfile = Make(work_, "root.vmx", 0644);
    const std::string ro = Make(work_, "ro-osdisk.img", 0444);
    const auto rootdir = nfs_.Mkdir(work_, "rootdir", Mode(0755));
    const auto priv = nfs_.Mkdir(work_, "private", Mode(0700));
    const auto sticky = nfs_.Mkdir(work_, "sticky", Mode(01777));
    Expect("MKDIR rootdir", rootdir.status, NFS3_OK);
    Expect("MKDIR private", priv.status, NFS3_OK);
    Expect("MKDIR sticky", sticky.status, NFS3_OK);
    Make(rootdir.fh, "inside.vmx", 0666);
    Make(priv.fh, "secret.vmx", 0666);
    Make(sticky.fh, "s-root.vmx", 0666);

    As(kUser, kUser);
    Expect("READ root's 0644 file", nfs_.Read(rootfile, 0, 16).status, NFS3_OK);
    Expect("WRITE root's 0644 file", nfs_.Write(rootfile, 0, "x", FILE_SYNC).status, NFS3ERR_ACCES);
    Expect("WRITE root's 0444 file", nfs_.Write(ro, 0, "x", FILE_SYNC).status, NFS3ERR_ACCES);
    Expect("SETATTR size of root's file", nfs_.Setattr(rootfile, Size(0)), NFS3ERR_ACCES);
    Expect("chmod root's file", nfs_.Setattr(rootfile, Mode(0666)), NFS3ERR_PERM);
    Expect("chown root's file", nfs_.Setattr(rootfile, Uid(kUser)), NFS3ERR_PERM);
    Expect("CREATE in root's 0755 dir",
           nfs_.Create(rootdir.fh, "mine.vmx", UNCHECKED, Mode(0644)).status, NFS3ERR_ACCES);
    Expect("MKDIR in root's 0755 dir", nfs_.Mkdir(rootdir.fh, "d", Mode(0755)).status,
           NFS3ERR_ACCES);
    Expect("REMOVE in root's 0755 dir", nfs_.Remove(rootdir.fh, "inside.vmx"), NFS3ERR_ACCES);
    Expect("LOOKUP in root's 0700 dir", nfs_.Lookup(priv.fh, "secret.vmx").status, NFS3ERR_ACCES);
    Expect("READDIR of root's 0700 dir", nfs_.Readdir(priv.fh, 4096).status, NFS3ERR_ACCES);
    // The user's own files.
    const std::string mine = Make(work_, "mine-osdisk.img", 0444);
    const auto mine_attr = nfs_.Getattr(mine);
    Check(mine_attr.attr.uid == kUser && mine_attr.attr.gid == kUser, "CREATE owner is the caller");
    Expect("owner WRITEs its 0444 file", nfs_.Write(mine, 0, "data", FILE_SYNC).status, NFS3_OK);
    Expect("owner chmods", nfs_.Setattr(mine, Mode(0644)), NFS3_OK);
    Expect("owner chowns to root", nfs_.Setattr(mine, Uid(0)), NFS3ERR_PERM);
    Expect("owner chgrps to a group it is not in", nfs_.Setattr(mine, Gid(0)), NFS3ERR_PERM);
    Expect("owner chgrps to its group", nfs_.Setattr(mine, Gid(kUser)), NFS3_OK);
    // Sticky directory.
    Expect("REMOVE root's file in sticky dir", nfs_.Remove(sticky.fh, "s-root.vmx"), NFS3ERR_PERM);
    Expect("RENAME root's file in sticky dir",
           nfs_.Rename(sticky.fh, "s-root.vmx", sticky.fh, "taken.vmx"), NFS3ERR_PERM);
    Make(sticky.fh, "s-user.vmx", 0666);
    As(kOther, kOther);
    Expect("REMOVE another user's file in sticky dir", nfs_.Remove(sticky.fh, "s-user.vmx"),
           NFS3ERR_PERM);
    Expect("RENAME over another user's file in sticky dir",
           nfs_.Rename(work_, "mine-osdisk.img", sticky.fh, "s-user.vmx"), NFS3ERR_PERM);
    As(kUser, kUser);
    Expect("owner REMOVEs its file in sticky dir", nfs_.Remove(sticky.fh, "s-user.vmx"), NFS3_OK);
    // Root passes every check.
    As(0, 0);
    Expect("root REMOVEs in sticky dir", nfs_.Remove(sticky.fh, "s-root.vmx"), NFS3_OK);
    Expect("root chowns", nfs_.Setattr(mine, Uid(kOther)), NFS3_OK);
    Expect("root WRITEs a 0444 file", nfs_.Write(ro, 0, "r", FILE_SYNC).status, NFS3_OK);
  }

  // `/my_vmset/squashed` (root's, 0755) and `/my_vmset/squashed/open` (0777) exist before the
  // server starts; every handle below `/my_vmset/squashed` is served under its root_squash
  // export, however the client reached it (the longest export covering the path decides).
  void RootSquash(const std::string& vmset_fh) {
    As(0, 0);
    const auto m = mount_.Mnt("/my_vmset/squashed");
    Expect("MNT /my_vmset/squashed", m.status, MNT3_OK);
    if (m.status != MNT3_OK) return;
    Expect("squashed root CREATE in root's 0755 dir",
           nfs_.Create(m.fh, "sq.vmx", UNCHECKED, Mode(0644)).status, NFS3ERR_ACCES);
    Expect("squashed root chmod of root's dir", nfs_.Setattr(m.fh, Mode(0777)), NFS3ERR_PERM);
    const auto via_root = nfs_.Lookup(vmset_fh, "squashed");
    Expect("squashed root chmod through the \"/\" export's handle",
           nfs_.Setattr(via_root.fh, Mode(0777)), NFS3ERR_PERM);
    const auto open = nfs_.Lookup(m.fh, "open");
    Expect("LOOKUP open", open.status, NFS3_OK);
    const auto made = nfs_.Create(open.fh, "sq.vmx", UNCHECKED, Mode(0644));
    Expect("squashed root CREATE in a 0777 dir", made.status, NFS3_OK);
    Check(made.attr && made.attr->uid == kNobody && made.attr->gid == kNobody,
          "squashed root's file is owned by 65534");
  }

  std::string Make(const std::string& dir, const std::string& name, std::uint32_t mode) {
    const auto made = nfs_.Create(dir, name, UNCHECKED, Mode(mode));
    Expect("CREATE " + name, made.status, NFS3_OK);
    return made.fh;
  }
  static Nfs3Client::SetAttrs Size(std::uint64_t size) {
    Nfs3Client::SetAttrs a;
    a.size = size;
    return a;
  }
  static Nfs3Client::SetAttrs Uid(std::uint32_t uid) {
    Nfs3Client::SetAttrs a;
    a.uid = uid;
    return a;
  }
  static Nfs3Client::SetAttrs Gid(std::uint32_t gid) {
    Nfs3Client::SetAttrs a;
    a.gid = gid;
    return a;
  }

  const std::string host_;
  const int nfs_port_;
  const int mount_port_;
  SyncRpc mount_rpc_;
  SyncRpc nfs_rpc_;
  MountClient mount_{mount_rpc_};
  Nfs3Client nfs_{nfs_rpc_};
  std::string work_;
};

}  // namespace
}  // namespace cafs::nfs_test

// As nfs_procedures: whole allocation stacks under LeakSanitizer (nfs_client/lsan.supp).
extern "C" const char* __lsan_default_options() { return "fast_unwind_on_malloc=0"; }

int main(int argc, char** argv) {
  if (argc != 4 || std::atoi(argv[2]) <= 0 || std::atoi(argv[3]) <= 0) {
    std::fprintf(stderr, "usage: nfs_posix HOST NFS_PORT MOUNT_PORT\n");
    return 2;
  }
  return cafs::nfs_test::Posix(argv[1], std::atoi(argv[2]), std::atoi(argv[3])).Run() ? 0 : 1;
}
