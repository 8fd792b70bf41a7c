// nfs_names: file names are bytes, over NFSv3 (issue 20 classes 10 and 11). Through libnfs's raw
// calls (exact name bytes, no client-side mangling), in a new directory under --subdir:
//  - `a`, then `a#` beside it: `a` keeps its data (a `a#` handle must never resolve to `a`);
//    `b#` alone; names starting or ending in '#', with spaces, UTF-8, bytes that are not UTF-8
//    (`osdisk\xff\xfe.img`: in the seed's *osdisk* vobj, audited with all_records), and a name
//    of exactly PATHCONF name_max bytes: CREATE, WRITE (FILE_SYNC), LOOKUP (same handle), READ,
//    READDIR (exact names), RENAME to another such name, MKDIR/RMDIR of such names; long names
//    (name_max bytes, encrypted and clear, ending in '#', not UTF-8; name_max is 255) with
//    RENAME long <-> short and long over an existing long file;
//  - names containing "##" are names like any other (stored hashed): files `x##y`, `##`,
//    `a##default_pool` beside file `a` (whose redirector has that backing name), encrypted
//    `osdisk##mirrored_pool_A`; a RENAME to such a name; directories, a symlink, a FIFO (and
//    a hard link of it) and a socket named so, and a file inside such a directory;
//  - refused names: name_max + 1 bytes (NFS3ERR_NAMETOOLONG);
//  - RENAME of a file, or of a directory with a file below it, into another vobj's names
//    (NFS3ERR_XDEV; inside one vobj it moves);
//  - LINK of a clear-text and an encrypted file: nlink, one handle, data through both names,
//    REMOVE of one keeps the other; LOOKUP-then-CREATE of `noise-N` / `osdisk-noise-N` (the
//    shell script checks that no audit `error` record is written for them);
//  - a path deeper than PATH_MAX (20 directories of name_max - 5 bytes, one with "##"): the
//    handles of the bottom directory and of a file in it still resolve after the server's
//    cached paths are dropped (READ, WRITE, GETATTR, LOOKUP, READDIRPLUS, RENAME, REMOVE);
//  - then REMOVE of everything (unless --keep: the caller inspects the backing store and the
//    pools, then removes the directory itself).
//  - PATHCONF linkmax is the backing store's LINK_MAX (--link-max N, from getconf).
// Usage: nfs_names [--subdir PATH] [--keep] [--link-max N] nfs://HOST/EXPORT?nfsport=N&mountport=M
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
  Names(const Url& url, std::string subdir, bool keep, long link_max)
      : url_(url), subdir_(std::move(subdir)), keep_(keep), link_max_(link_max) {}

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
    // Hard links are names of the backing entry: PATHCONF linkmax is the backing store's.
    if (link_max_ > 0) {
      Check(pc.ok.linkmax == static_cast<std::uint32_t>(link_max_),
            "PATHCONF linkmax " + std::to_string(pc.ok.linkmax) + ", the backing store's " +
                std::to_string(link_max_));
    }
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
        // "##" (stored hashed; `a##default_pool` is also the backing name of file a):
        "x##y", "##", "a##default_pool", "osdisk##mirrored_pool_A", "new\nline",
        "osdisk\npath x",  // a newline: a name like any other
    };
    Check(name_max >= 255, "PATHCONF name_max " + std::to_string(name_max) + " >= 255");
    for (const auto& n : names) CreateAndCheck(n);
    BumpNamespace();
    for (const auto& [n, data] : data_) CheckData(n);
    Expect("CREATE name_max + 1",
           nfs_.Create(dir_, std::string(name_max + 1, 'n'), UNCHECKED, Mode(0644)).status,
           NFS3ERR_NAMETOOLONG);
    CheckListing();

    // RENAME between such names; the old one is gone, the new one has the data.
    Rename("osdisk\xff\xfe.img", "osdisk\xfe\xff #.img");
    Rename("x##y", "x##z");  // hashed to hashed
    Rename("b#", "b");
    // Long names: long -> short -> long, and long over an existing long file.
    Rename(std::string(name_max - 2, 'h') + "#", "h-short");
    Rename("h-short", std::string(name_max, 'm'));
    Rename(std::string(name_max, 'm'), std::string(name_max, 'n'));
    CheckData("a");
    CheckListing();
    RenamesKeepTheVobj();

    // Directories with such names.
    for (const std::string& d :
         {std::string("dir\xff#"), std::string("dir #"), std::string("#"),
          std::string(name_max - 1, 'd'), std::string("##default_pool"), std::string("##")}) {
      const auto made = nfs_.Mkdir(dir_, "D" + d, Mode(0755));
      Expect("MKDIR " + Show(d), made.status, NFS3_OK);
      const auto found = nfs_.Lookup(dir_, "D" + d);
      Expect("LOOKUP dir " + Show(d), found.status, NFS3_OK);
      Check(found.fh == made.fh, "LOOKUP dir " + Show(d) + " gives the MKDIR handle");
      Expect("RMDIR " + Show(d), nfs_.Rmdir(dir_, "D" + d), NFS3_OK);
    }
    HashedPlainEntries();
    DeepPath(name_max);
    // Hard links over NFS, a clear-text file and an encrypted one (issue 17 item 2).
    LinkAndCheck("a", "a-link");
    LinkAndCheck("osdisk#", "osdisk#link");
    AuditNoise();

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
  // LINK `to` to `from`: nlink 2 on both, one handle, the same data through both names; then
  // REMOVE of `from` keeps `to` (and its data), and `from` is linked back.
  void LinkAndCheck(const std::string& from, const std::string& to) {
    const auto f = nfs_.Lookup(dir_, from);
    Expect("LOOKUP " + from, f.status, NFS3_OK);
    const auto l = nfs_.Link(f.fh, dir_, to);
    Expect("LINK " + from + " -> " + to, l.status, NFS3_OK);
    Check(l.file_attr && l.file_attr->nlink == 2, "LINK " + to + ": nlink 2");
    const auto t = nfs_.Lookup(dir_, to);
    Check(t.status == NFS3_OK && t.fh == f.fh, "LOOKUP " + to + " gives " + from + "'s handle");
    data_[to] = data_[from];
    CheckData(to);
    Expect("WRITE through " + to, nfs_.Write(t.fh, 0, "LINKED", FILE_SYNC).status, NFS3_OK);
    data_[to].replace(0, 6, "LINKED");
    data_[from] = data_[to];
    CheckData(from);
    Expect("REMOVE " + from, nfs_.Remove(dir_, from), NFS3_OK);
    const auto left = nfs_.Getattr(t.fh);
    Check(left.status == NFS3_OK && left.attr.nlink == 1,
          "GETATTR " + to + " after REMOVE: nlink 1");
    CheckData(to);
    Expect("LINK back " + from, nfs_.Link(t.fh, dir_, from).status, NFS3_OK);
    CheckData(from);
  }

  // A RENAME that would put a file under another vobj's rules is NFS3ERR_XDEV (issue 17
  // item 2, docs/redirectors.md "Hard links"): a clear-text file into the *osdisk* names, an
  // encrypted one out of them, a directory with a clear-text file below it into them; the
  // same directory renamed inside its vobj moves.
  void RenamesKeepTheVobj() {
    Rename("a", "osdisk-a", NFS3ERR_XDEV);
    Rename("osdisk#", "plain#", NFS3ERR_XDEV);
    CheckData("a");
    CheckData("osdisk#");
    const auto d = nfs_.Mkdir(dir_, "vobj-dir", Mode(0755));
    Expect("MKDIR vobj-dir", d.status, NFS3_OK);
    Expect("CREATE vobj-dir/g", nfs_.Create(d.fh, "g", GUARDED, Mode(0644)).status, NFS3_OK);
    Expect("RENAME vobj-dir -> osdisk-dir", nfs_.Rename(dir_, "vobj-dir", dir_, "osdisk-dir"),
           NFS3ERR_XDEV);
    Expect("RENAME vobj-dir -> vobj-dir2", nfs_.Rename(dir_, "vobj-dir", dir_, "vobj-dir2"),
           NFS3_OK);
    const auto moved = nfs_.Lookup(dir_, "vobj-dir2");
    Expect("LOOKUP vobj-dir2", moved.status, NFS3_OK);
    Expect("LOOKUP vobj-dir2/g", nfs_.Lookup(moved.fh, "g").status, NFS3_OK);
    Expect("REMOVE vobj-dir2/g", nfs_.Remove(moved.fh, "g"), NFS3_OK);
    Expect("RMDIR vobj-dir2", nfs_.Rmdir(dir_, "vobj-dir2"), NFS3_OK);
  }

  // A create-heavy run (LOOKUP of a missing name, then CREATE, as every client does) in a
  // clear-text and an encrypted (all_records) vobj: the shell script checks that the audit
  // log holds no `error` record for these names and one `create` each (issue 17 item 8).
  void AuditNoise() {
    for (int i = 0; i < 5; ++i) {
      for (const std::string& n :
           {"noise-" + std::to_string(i), "osdisk-noise-" + std::to_string(i)}) {
        Expect("LOOKUP missing " + n, nfs_.Lookup(dir_, n).status, NFS3ERR_NOENT);
        const auto made = nfs_.Create(dir_, n, GUARDED, Mode(0644));
        Expect("CREATE " + n, made.status, NFS3_OK);
        Expect("REMOVE " + n, nfs_.Remove(dir_, n), NFS3_OK);
      }
    }
  }

  // A directory, symlink and FIFO whose names contain "##" (one of them the backing name of
  // file a's redirector): made, found, listed, a file inside the directory, removed.
  void HashedPlainEntries() {
    const auto d = nfs_.Mkdir(dir_, "a##mirrored_pool_A", Mode(0755));
    Expect("MKDIR a##mirrored_pool_A", d.status, NFS3_OK);
    const auto inner = nfs_.Create(d.fh, "osdisk##inner", UNCHECKED, Mode(0644));
    Expect("CREATE inside a##mirrored_pool_A", inner.status, NFS3_OK);
    Expect("WRITE inside", nfs_.Write(inner.fh, 0, "inner", FILE_SYNC).status, NFS3_OK);
    const auto s = nfs_.Symlink(dir_, "s##default_pool", "a");
    Expect("SYMLINK s##default_pool", s.status, NFS3_OK);
    const auto f = nfs_.Mknod(dir_, "p##x", NF3FIFO);
    Expect("MKNOD p##x", f.status, NFS3_OK);
    const auto sock = nfs_.Mknod(dir_, "sock##x", NF3SOCK);
    Expect("MKNOD sock##x", sock.status, NFS3_OK);
    // A special file's hard link (issue 17 item 1): one handle, nlink 2.
    const auto fl = nfs_.Link(f.fh, dir_, "p##link");
    Expect("LINK p##x -> p##link", fl.status, NFS3_OK);
    Check(fl.file_attr && fl.file_attr->nlink == 2, "LINK of a FIFO: nlink 2");
    Check(nfs_.Lookup(dir_, "p##link").fh == f.fh, "LOOKUP p##link gives the FIFO's handle");
    BumpNamespace();
    const auto r = nfs_.Read(inner.fh, 0, 100);
    Check(r.status == NFS3_OK && r.data == "inner", "READ inside a##mirrored_pool_A");
    Check(nfs_.Readlink(s.fh).target == "a", "READLINK s##default_pool");
    Check(nfs_.Getattr(f.fh).attr.type == NF3FIFO, "GETATTR p##x is a FIFO");
    Check(nfs_.Getattr(sock.fh).attr.type == NF3SOCK, "GETATTR sock##x is a socket");
    CheckData("a");
    const auto list = nfs_.Readdirplus(dir_, 8192);
    std::set<std::string> got;
    for (const auto& e : list.entries) got.insert(e.name);
    for (const char* n :
         {"a##mirrored_pool_A", "s##default_pool", "p##x", "p##link", "sock##x", "a"}) {
      Check(got.contains(n), std::string("READDIRPLUS lists ") + n);
    }
    Expect("REMOVE inside", nfs_.Remove(d.fh, "osdisk##inner"), NFS3_OK);
    Expect("RMDIR a##mirrored_pool_A", nfs_.Rmdir(dir_, "a##mirrored_pool_A"), NFS3_OK);
    Expect("REMOVE s##default_pool", nfs_.Remove(dir_, "s##default_pool"), NFS3_OK);
    for (const char* n : {"p##x", "p##link", "sock##x"}) {
      Expect(std::string("REMOVE ") + n, nfs_.Remove(dir_, n), NFS3_OK);
    }
  }

  // 20 directories of name_max - 5 bytes (~5000 bytes below the work directory, past
  // PATH_MAX): handles of the bottom directory and of a file in it resolve after the
  // server's cached paths are dropped (BumpNamespace).
  void DeepPath(std::size_t name_max) {
    std::vector<std::string> chain{dir_};
    std::vector<std::string> names;
    for (int level = 0; level < 20; ++level) {
      std::string n = std::to_string(100 + level) + std::string(name_max - 8, 'd');
      if (level == 7) n.replace(3, 2, "##");  // one hashed directory in the chain
      const auto made = nfs_.Mkdir(chain.back(), n, Mode(0755));
      Expect("MKDIR deep level " + std::to_string(level), made.status, NFS3_OK);
      if (made.status != NFS3_OK) return;
      chain.push_back(made.fh);
      names.push_back(n);
    }
    const std::string& bottom = chain.back();
    const auto f = nfs_.Create(bottom, "osdisk-deep", UNCHECKED, Mode(0640));
    Expect("CREATE deep", f.status, NFS3_OK);
    Expect("WRITE deep", nfs_.Write(f.fh, 0, "deep data", FILE_SYNC).status, NFS3_OK);
    BumpNamespace();  // the server resolves the handles again, from the backing store
    const auto r = nfs_.Read(f.fh, 0, 100);
    Check(r.status == NFS3_OK && r.data == "deep data",
          "READ deep by handle: " + NfsStatusName(r.status));
    Expect("WRITE deep again", nfs_.Write(f.fh, 4, "DATA", FILE_SYNC).status, NFS3_OK);
    Expect("GETATTR deep dir", nfs_.Getattr(bottom).status, NFS3_OK);
    const auto found = nfs_.Lookup(bottom, "osdisk-deep");
    Expect("LOOKUP deep", found.status, NFS3_OK);
    Check(found.fh == f.fh, "LOOKUP deep gives the CREATE handle");
    const auto list = nfs_.Readdirplus(bottom, 8192);
    Check(list.status == NFS3_OK && list.entries.size() >= 1, "READDIRPLUS deep");
    Expect("RENAME deep", nfs_.Rename(bottom, "osdisk-deep", chain[10], "osdisk-up"), NFS3_OK);
    BumpNamespace();
    const auto moved = nfs_.Read(f.fh, 0, 100);
    Check(moved.status == NFS3_OK && moved.data == "deepDATAa",
          "READ by handle after a rename up the chain: " + NfsStatusName(moved.status));
    Expect("REMOVE deep", nfs_.Remove(chain[10], "osdisk-up"), NFS3_OK);
    for (std::size_t i = names.size(); i-- > 0;) {
      Expect("RMDIR deep level " + std::to_string(i), nfs_.Rmdir(chain[i], names[i]), NFS3_OK);
    }
  }

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
  const long link_max_;  // the backing store's LINK_MAX (0: not checked)
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
  long link_max = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--subdir" && i + 1 < argc) {
      subdir = argv[++i];
    } else if (a == "--link-max" && i + 1 < argc) {
      link_max = std::atol(argv[++i]);
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
    std::fprintf(stderr,
                 "usage: nfs_names [--subdir PATH] [--keep] [--link-max N] "
                 "nfs://HOST/EXPORT?nfsport=N&mountport=M\n");
    return 2;
  }
  return Names(u, subdir, keep, link_max).Run() ? 0 : 1;
}
