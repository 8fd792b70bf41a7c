// nfs_names: file names are bytes, over NFSv3 (issue 20 classes 10 and 11). Through libnfs's raw
// calls (exact name bytes, no client-side mangling), in a new directory under --subdir:
//  - `a`, then `a#` beside it: `a` keeps its data (a `a#` handle must never resolve to `a`);
//    `b#` alone; names starting or ending in '#', with spaces, UTF-8, bytes that are not UTF-8
//    (`osdisk\xff\xfe.img`: in the seed's *osdisk* vobj, audited with all_records), and a name
//    of exactly PATHCONF name_max bytes: CREATE, WRITE (FILE_SYNC), LOOKUP (same handle), READ,
//    READDIR (exact names), RENAME to another such name, MKDIR/RMDIR of such names; long names
//    (name_max bytes, encrypted and clear, ending in '#', not UTF-8; name_max is 255) with
//    RENAME long <-> short and long over an existing long file;
//  - refused names: "x##y" (NFS3ERR_INVAL), name_max + 1 bytes (NFS3ERR_NAMETOOLONG);
//  - then REMOVE of everything (unless --keep: the caller inspects the backing store and the
//    pools, then removes the directory itself).
// Usage: nfs_names [--subdir PATH] [--keep] nfs://HOST/EXPORT?nfsport=N&mountport=M
// Prints one line per failed check and "names: N checks passed" or "FAILED"; exit 0 / 1 / 2.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "check_counter.h"
#include "nfs3_client.h"

namespace cafs::nfs_test {
namespace {

struct Url {
  std::string host, export_path;
  int nfs_port = 0, mount_port = 0;
};

std::string Query(const std::string& url, const std::string& key) {
  const std::size_t q = url.find('?');
  if (q == std::string::npos) return "";
  for (std::size_t pos = q + 1; pos < url.size();) {
    std::size_t amp = url.find('&', pos);
    if (amp == std::string::npos) amp = url.size();
    const std::string kv = url.substr(pos, amp - pos);
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    pos = amp + 1;
  }
  return "";
}

bool ParseUrl(const std::string& url, Url& u) {
  const std::string scheme = "nfs://";
  if (url.rfind(scheme, 0) != 0) return false;
  const std::string rest = url.substr(scheme.size(), url.find('?') - scheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  u.host = rest.substr(0, slash);
  u.export_path = rest.substr(slash);
  u.nfs_port = std::atoi(Query(url, "nfsport").c_str());
  u.mount_port = std::atoi(Query(url, "mountport").c_str());
  return u.nfs_port > 0 && u.mount_port > 0;
}

Nfs3Client::SetAttrs Mode(std::uint32_t mode) {
  Nfs3Client::SetAttrs a;
  a.mode = mode;
  return a;
}

// Printable form of a name for messages: bytes outside 0x20..0x7e as \xNN.
std::string Show(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out.size() > 60 ? out.substr(0, 60) + "...(" + std::to_string(s.size()) + " bytes)" : out;
}

class Names : private CheckCounter {
 public:
  Names(const Url& url, std::string subdir, bool keep)
      : url_(url), subdir_(std::move(subdir)), keep_(keep) {}

  bool Run() {
    if (!mount_rpc_.Connect(url_.host, url_.mount_port, MOUNT_PROGRAM, MOUNT_V3) ||
        !nfs_rpc_.Connect(url_.host, url_.nfs_port, NFS_PROGRAM, NFS_V3)) {
      return Fail("connect: " + mount_rpc_.error() + nfs_rpc_.error());
    }
    const auto mnt = mount_.Mnt(url_.export_path);
    if (mnt.status != 0) return Fail("MNT " + url_.export_path);
    std::string dir = mnt.fh;
    for (std::size_t pos = 0; pos < subdir_.size();) {
      std::size_t slash = subdir_.find('/', pos);
      if (slash == std::string::npos) slash = subdir_.size();
      const auto r = nfs_.Lookup(dir, subdir_.substr(pos, slash - pos));
      if (r.status != NFS3_OK) return Fail("LOOKUP --subdir: " + NfsStatusName(r.status));
      dir = r.fh;
      pos = slash + 1;
    }
    const auto pc = nfs_.Pathconf(dir);
    if (pc.status != NFS3_OK) return Fail("PATHCONF: " + NfsStatusName(pc.status));
    const std::size_t name_max = pc.ok.name_max;
    const std::string work_name = "names-" + std::to_string(::getpid());
    const auto work = nfs_.Mkdir(dir, work_name, Mode(0755));
    if (work.status != NFS3_OK) return Fail("MKDIR work: " + NfsStatusName(work.status));
    dir_ = work.fh;

    // `a` first, then `a#` beside it: `a` must keep its data (issue 20 class 10).
    CreateAndCheck("a");
    CreateAndCheck("a#");
    // Handles are resolved afresh after any rename or removal (the server's open-file cache
    // keeps paths only until then): a handle of `a#` must still be `a#`, not `a`.
    BumpNamespace();
    CheckData("a");
    CheckData("a#");
    const std::vector<std::string> names = {
        "b#",  // alone
        "#c", "#", "d #", "with space.img", " leading and trailing ",
        "caf\xc3\xa9-\xe2\x82\xac.img",  // UTF-8
        "osdisk\xff\xfe.img",            // not UTF-8, audited with all_records
        "osdisk#", "osdisk\x80#", std::string(name_max, 'n'),  // at the limit
        // Long names (stored hashed with a side entry when `name##pool` does not fit):
        "osdisk" + std::string(name_max - 6, 'L'),            // encrypted, at the limit
        std::string(name_max - 2, 'h') + "#",                 // one byte less, ending in '#'
        "osdisk\xff" + std::string(name_max - 8, 'u') + "#",  // not UTF-8
    };
    Check(name_max >= 255, "PATHCONF name_max " + std::to_string(name_max) + " >= 255");
    for (const auto& n : names) CreateAndCheck(n);
    BumpNamespace();
    for (const auto& [n, data] : data_) CheckData(n);
    Expect("CREATE x##y", nfs_.Create(dir_, "x##y", UNCHECKED, Mode(0644)).status, NFS3ERR_INVAL);
    Expect("CREATE name_max + 1",
           nfs_.Create(dir_, std::string(name_max + 1, 'n'), UNCHECKED, Mode(0644)).status,
           NFS3ERR_NAMETOOLONG);
    CheckListing();

    // RENAME between such names; the old one is gone, the new one has the data.
    Rename("osdisk\xff\xfe.img", "osdisk\xfe\xff #.img");
    Rename("a#", "a##b" /* refused */, NFS3ERR_INVAL);
    Rename("b#", "b");
    // Long names: long -> short -> long, and long over an existing long file.
    Rename(std::string(name_max - 2, 'h') + "#", "h-short");
    Rename("h-short", std::string(name_max, 'm'));
    Rename(std::string(name_max, 'm'), std::string(name_max, 'n'));
    CheckData("a");
    CheckListing();

    // Directories with such names.
    for (const std::string& d : {std::string("dir\xff#"), std::string("dir #"), std::string("#"),
                                 std::string(name_max - 1, 'd')}) {
      const auto made = nfs_.Mkdir(dir_, "D" + d, Mode(0755));
      Expect("MKDIR " + Show(d), made.status, NFS3_OK);
      const auto found = nfs_.Lookup(dir_, "D" + d);
      Expect("LOOKUP dir " + Show(d), found.status, NFS3_OK);
      Check(found.fh == made.fh, "LOOKUP dir " + Show(d) + " gives the MKDIR handle");
      Expect("RMDIR " + Show(d), nfs_.Rmdir(dir_, "D" + d), NFS3_OK);
    }

    if (!keep_) {
      for (const auto& [n, data] : data_)
        Expect("REMOVE " + Show(n), nfs_.Remove(dir_, n), NFS3_OK);
      Expect("RMDIR work", nfs_.Rmdir(dir, work_name), NFS3_OK);
    } else {
      std::printf("kept: %s\n", work_name.c_str());
    }
    return Summary("names");
  }

 private:
  void CreateAndCheck(const std::string& n) {
    const std::string data = "data of " + Show(n) + "\n";
    const auto made = nfs_.Create(dir_, n, UNCHECKED, Mode(0644));
    Expect("CREATE " + Show(n), made.status, NFS3_OK);
    if (made.status != NFS3_OK || made.fh.empty()) return;
    const auto w = nfs_.Write(made.fh, 0, data, FILE_SYNC);
    Expect("WRITE " + Show(n), w.status, NFS3_OK);
    const auto found = nfs_.Lookup(dir_, n);
    Expect("LOOKUP " + Show(n), found.status, NFS3_OK);
    Check(found.fh == made.fh, "LOOKUP " + Show(n) + " gives the CREATE handle");
    data_[n] = data;
    CheckData(n);
  }

  // A rename and a removal of a scratch file: the gateway's namespace generation grows.
  void BumpNamespace() {
    Expect("CREATE scratch", nfs_.Create(dir_, "scratch", UNCHECKED, Mode(0644)).status, NFS3_OK);
    Expect("RENAME scratch", nfs_.Rename(dir_, "scratch", dir_, "scratch2"), NFS3_OK);
    Expect("REMOVE scratch", nfs_.Remove(dir_, "scratch2"), NFS3_OK);
  }

  void CheckData(const std::string& n) {
    const auto found = nfs_.Lookup(dir_, n);
    Expect("LOOKUP " + Show(n), found.status, NFS3_OK);
    if (found.status != NFS3_OK) return;
    const auto r = nfs_.Read(found.fh, 0, 4096);
    Expect("READ " + Show(n), r.status, NFS3_OK);
    Check(r.data == data_[n],
          "READ " + Show(n) + " gives its own data, got '" + Show(r.data) + "'");
  }

  void CheckListing() {
    const auto list = nfs_.Readdirplus(dir_, 8192);
    Expect("READDIRPLUS", list.status, NFS3_OK);
    std::set<std::string> got, want;
    for (const auto& e : list.entries) {
      if (e.name != "." && e.name != "..") got.insert(e.name);
    }
    for (const auto& [n, data] : data_) want.insert(n);
    std::string diff;
    for (const auto& n : got) {
      if (!want.contains(n)) diff += " +" + Show(n);
    }
    for (const auto& n : want) {
      if (!got.contains(n)) diff += " -" + Show(n);
    }
    Check(diff.empty(), "READDIRPLUS shows exactly the names:" + diff);
  }

  void Rename(const std::string& from, const std::string& to, int want = NFS3_OK) {
    Expect("RENAME " + Show(from) + " -> " + Show(to), nfs_.Rename(dir_, from, dir_, to), want);
    if (want != NFS3_OK) return;
    data_[to] = data_[from];
    data_.erase(from);
    Expect("LOOKUP renamed-away " + Show(from), nfs_.Lookup(dir_, from).status, NFS3ERR_NOENT);
    CheckData(to);
  }

  const Url url_;
  const std::string subdir_;
  const bool keep_;
  SyncRpc mount_rpc_;
  SyncRpc nfs_rpc_;
  MountClient mount_{mount_rpc_};
  Nfs3Client nfs_{nfs_rpc_};
  std::string dir_;
  std::map<std::string, std::string> data_;  // name -> content
};

}  // namespace
}  // namespace cafs::nfs_test

// As nfs_procedures: whole allocation stacks under LeakSanitizer (nfs_client/lsan.supp).
extern "C" const char* __lsan_default_options() { return "fast_unwind_on_malloc=0"; }

int main(int argc, char** argv) {
  using namespace cafs::nfs_test;
  std::string subdir, url;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--subdir" && i + 1 < argc) {
      subdir = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (url.empty() && a.rfind("nfs://", 0) == 0) {
      url = a;
    } else {
      url.clear();
      break;
    }
  }
  Url u;
  if (url.empty() || !ParseUrl(url, u)) {
    std::fprintf(
        stderr,
        "usage: nfs_names [--subdir PATH] [--keep] nfs://HOST/EXPORT?nfsport=N&mountport=M\n");
    return 2;
  }
  return Names(u, subdir, keep).Run() ? 0 : 1;
}
