// nfs_procedures: calls every MOUNT v3 procedure and all 22 NFSv3 procedures (RFC 1813)
// against a server, through libnfs (raw rpc_mount3_* / rpc_nfs3_* calls for exact arguments
// and statuses, and libnfs's high-level sync API as a second, independent client), and
// checks each reply: data read back equals data written, attributes after SETATTR, directory
// listings, CREATE GUARDED/EXCLUSIVE semantics, error statuses (EXIST, NOENT, NOTEMPTY,
// NOTDIR, NAMETOOLONG, NOT_SYNC, STALE), UNSTABLE WRITE + COMMIT verifiers.
//
// Usage: nfs_procedures [--server ganesha|cafs|any] [--subdir PATH]
//                       [--restart save|check STATE_FILE] URL
//   URL       nfs://HOST/EXPORT[?nfsport=N&mountport=M] (no port: ask the portmapper)
//   --server  expectations that differ by server: ganesha (FSAL_VFS) has hard links and
//             FIFOs; cafs answers LINK and MKNOD with NFS3ERR_NOTSUPP; any accepts both.
//   --subdir  a directory under the export to work in (cafs: a VM set, e.g. my_vmset); the
//             program makes its own directory there and removes it at the end.
//   --restart save STATE, then (after restarting the server) --restart check STATE: only
//             this: a file's handle from before a restart still names it and its committed
//             data after, and the WRITE verifier changed.
// Prints one line per procedure (ok / FAIL with the failed checks) and exits 0 only if every
// procedure passed, 1 if one failed, 2 on bad usage.

#include <fcntl.h>
#include <sanitizer/lsan_interface.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nfs3_client.h"

namespace cafs::nfs_test {
namespace {

constexpr int kAuthSys = 1;  // AUTH_SYS / AUTH_UNIX flavor number

const char* const kMountProcedures[] = {"NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"};
const char* const kNfsProcedures[] = {
    "NULL",    "GETATTR",     "SETATTR", "LOOKUP", "ACCESS",   "READLINK", "READ",   "WRITE",
    "CREATE",  "MKDIR",       "SYMLINK", "MKNOD",  "REMOVE",   "RMDIR",    "RENAME", "LINK",
    "READDIR", "READDIRPLUS", "FSSTAT",  "FSINFO", "PATHCONF", "COMMIT"};

enum class Server { kGanesha, kCafs, kAny };

struct Options {
  Server server = Server::kAny;
  std::string url;
  std::string host;
  std::string export_path;
  int nfs_port = 0;
  int mount_port = 0;
  std::string subdir;
  std::string restart_phase;  // "", "save" or "check"
  std::string restart_state;
};

// One line per procedure: how many checks passed, which failed.
class Report {
 public:
  void Check(const std::string& proc, bool ok, const std::string& what) {
    Entry& e = entries_[proc];
    ++e.checks;
    if (!ok) e.failures.push_back(what);
  }
  void Status(const std::string& proc, const std::string& what, int got, int want) {
    Check(proc, got == want,
          what + ": " + NfsStatusName(got) + (got == want ? "" : ", want " + NfsStatusName(want)));
  }
  // Prints the lines in `order`; a procedure with no check is a failure (never reached).
  bool Print(const std::string& prefix, const std::vector<std::string>& order) const {
    bool all_ok = true;
    for (const std::string& proc : order) {
      auto it = entries_.find(proc);
      if (it == entries_.end()) {
        std::printf("%-7s %-12s FAIL  not exercised (an earlier step failed)\n", prefix.c_str(),
                    proc.c_str());
        all_ok = false;
        continue;
      }
      const Entry& e = it->second;
      if (e.failures.empty()) {
        std::printf("%-7s %-12s ok    %d checks\n", prefix.c_str(), proc.c_str(), e.checks);
        continue;
      }
      all_ok = false;
      std::string joined;
      for (const std::string& f : e.failures) joined += (joined.empty() ? "" : "; ") + f;
      std::printf("%-7s %-12s FAIL  %zu of %d checks: %s\n", prefix.c_str(), proc.c_str(),
                  e.failures.size(), e.checks, joined.c_str());
    }
    return all_ok;
  }

 private:
  struct Entry {
    int checks = 0;
    std::vector<std::string> failures;
  };
  std::map<std::string, Entry> entries_;
};

std::string Pattern(size_t size, unsigned seed) {
  std::string s(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

// First byte where a and b differ, or -1.
long FirstDiff(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<long>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<long>(n);
}

std::string DataMismatch(const std::string& got, const std::string& want) {
  const long at = FirstDiff(got, want);
  if (at < 0) return "data equal";
  return "data differ at byte " + std::to_string(at) + " (got " + std::to_string(got.size()) +
         " bytes, want " + std::to_string(want.size()) + ")";
}

std::string Hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

std::string QueryValue(const std::string& url, const std::string& key) {
  const size_t q = url.find('?');
  if (q == std::string::npos) return "";
  size_t pos = q + 1;
  while (pos < url.size()) {
    const size_t amp = url.find('&', pos);
    const std::string kv =
        url.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

bool ParseUrl(Options& o) {
  const std::string scheme = "nfs://";
  if (o.url.rfind(scheme, 0) != 0) return false;
  const std::string rest = o.url.substr(scheme.size(), o.url.find('?') - scheme.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  o.host = rest.substr(0, slash);
  o.export_path = rest.substr(slash);
  while (o.export_path.size() > 1 && o.export_path.back() == '/') o.export_path.pop_back();
  const std::string nfs_port = QueryValue(o.url, "nfsport");
  const std::string mount_port = QueryValue(o.url, "mountport");
  o.nfs_port = nfs_port.empty() ? 0 : std::atoi(nfs_port.c_str());
  o.mount_port = mount_port.empty() ? 0 : std::atoi(mount_port.c_str());
  return true;
}

std::set<std::string> Names(const Nfs3Client::DirResult& dir) {
  std::set<std::string> names;
  for (const auto& e : dir.entries) {
    if (e.name != "." && e.name != "..") names.insert(e.name);
  }
  return names;
}

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return "{" + out + "}";
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

nfstime3 Time(uint32_t seconds, uint32_t nseconds = 0) {
  nfstime3 t{};
  t.seconds = seconds;
  t.nseconds = nseconds;
  return t;
}

// The whole run. Each step records its checks in `report`; a step whose prerequisite failed
// is skipped, and its procedures show as "not exercised".
class Run {
 public:
  // `other`: the sync-API line and the restart phases.
  Run(const Options& options, Report& mount_report, Report& nfs_report, Report& other)
      : o_(options), mnt_(mount_report), nfs_(nfs_report), api_(other), restart_(other) {}

  void All() {
    if (!MountPhase()) return;
    if (!nfs_rpc_.Connect(o_.host, o_.nfs_port, NFS_PROGRAM, NFS_V3)) {
      nfs_.Check("NULL", false, nfs_rpc_.error());
      return;
    }
    nfs_.Check("NULL", nfs_client_.Null(), "NULL call: " + Err(nfs_rpc_));
    FsPhase();
    if (!WorkDir()) return;
    if (DataPhase()) {
      CreatePhase();
      LinkPhase();
      DirPhase();
      SyncApiPhase();
      RenameRemovePhase();
    }
    Cleanup();
    UnmountPhase();
  }

  // --restart save STATE: a file under --subdir with data made durable (UNSTABLE + COMMIT);
  // its handle, fileid and the write verifier go to STATE.
  void RestartSave(const std::string& state) {
    if (!Attach()) return;
    nfs_client_.Remove(base_, kRestartFile);
    const auto file = nfs_client_.Create(base_, kRestartFile, UNCHECKED, {});
    restart_.Status(kRestart, "CREATE", file.status, NFS3_OK);
    const std::string fh = file.fh.empty() ? nfs_client_.Lookup(base_, kRestartFile).fh : file.fh;
    const auto w = nfs_client_.Write(fh, 0, Pattern(65536, 9), UNSTABLE);
    restart_.Status(kRestart, "WRITE UNSTABLE", w.status, NFS3_OK);
    const auto c = nfs_client_.Commit(fh, 0, 0);
    restart_.Status(kRestart, "COMMIT", c.status, NFS3_OK);
    restart_.Check(kRestart, c.verf == w.verf, "COMMIT verifier equals WRITE's");
    const auto attr = nfs_client_.Getattr(fh);
    FILE* f = std::fopen(state.c_str(), "w");
    restart_.Check(kRestart, f != nullptr, "write " + state);
    if (f == nullptr) return;
    std::fprintf(f, "%s %llu %s\n", Hex(fh).c_str(),
                 static_cast<unsigned long long>(attr.attr.fileid), Hex(w.verf).c_str());
    std::fclose(f);
  }

  // --restart check STATE (after the server restarted): the saved handle still names the
  // file and its data (handles survive restarts), and the write verifier has changed (the
  // client must resend uncommitted writes); then removes the file.
  void RestartCheck(const std::string& state) {
    char fh_hex[2 * NFS3_FHSIZE + 1] = {};
    char verf_hex[2 * NFS3_WRITEVERFSIZE + 1] = {};
    unsigned long long fileid = 0;
    FILE* f = std::fopen(state.c_str(), "r");
    const bool read =
        f != nullptr && std::fscanf(f, "%128s %llu %16s", fh_hex, &fileid, verf_hex) == 3;
    if (f != nullptr) std::fclose(f);
    restart_.Check(kRestart, read, "read " + state);
    if (!read || !Attach()) return;
    const std::string fh = Unhex(fh_hex);
    const auto attr = nfs_client_.Getattr(fh);
    restart_.Status(kRestart, "GETATTR with the handle from before the restart", attr.status,
                    NFS3_OK);
    restart_.Check(kRestart, attr.attr.fileid == fileid, "same fileid after the restart");
    const auto r = nfs_client_.Read(fh, 0, 65536);
    restart_.Check(kRestart, r.status == NFS3_OK && r.data == Pattern(65536, 9),
                   "data committed before the restart: " + DataMismatch(r.data, Pattern(65536, 9)));
    const auto w = nfs_client_.Write(fh, 0, Pattern(4096, 10), UNSTABLE);
    restart_.Status(kRestart, "WRITE UNSTABLE", w.status, NFS3_OK);
    restart_.Check(kRestart, !w.verf.empty() && Hex(w.verf) != verf_hex,
                   "write verifier changed across the restart (" + std::string(verf_hex) + " -> " +
                       Hex(w.verf) + ")");
    restart_.Status(kRestart, "REMOVE", nfs_client_.Remove(base_, kRestartFile), NFS3_OK);
  }

 private:
  static constexpr const char* kRestart = "RESTART";
  static constexpr const char* kRestartFile = "osdisk-nfsproc-restart.img";

  // MNT and an NFS connection without the MOUNT checks, then --subdir: for the restart
  // phases.
  bool Attach() {
    if (!mount_rpc_.Connect(o_.host, o_.mount_port, MOUNT_PROGRAM, MOUNT_V3) ||
        !nfs_rpc_.Connect(o_.host, o_.nfs_port, NFS_PROGRAM, NFS_V3)) {
      restart_.Check(kRestart, false, "connect: " + mount_rpc_.error() + nfs_rpc_.error());
      return false;
    }
    const auto mnt = mount_client_.Mnt(o_.export_path);
    restart_.Check(kRestart, mnt.status == MNT3_OK, "MNT: " + MountStatusName(mnt.status));
    root_ = mnt.fh;
    return mnt.status == MNT3_OK && WalkSubdir();
  }

  static std::string Err(const SyncRpc& rpc) { return rpc.error().empty() ? "ok" : rpc.error(); }

  // MOUNT: NULL, EXPORT, MNT (ours and a path that is not exported), DUMP.
  bool MountPhase() {
    if (!mount_rpc_.Connect(o_.host, o_.mount_port, MOUNT_PROGRAM, MOUNT_V3)) {
      mnt_.Check("NULL", false, mount_rpc_.error());
      return false;
    }
    mnt_.Check("NULL", mount_client_.Null(), "NULL call: " + Err(mount_rpc_));
    const auto exports = mount_client_.Export();
    mnt_.Check("EXPORT", exports.replied, "EXPORT call: " + Err(mount_rpc_));
    std::string listed;
    for (const auto& d : exports.dirs) listed += " " + d;
    mnt_.Check("EXPORT", Contains(exports.dirs, o_.export_path),
               "export list contains " + o_.export_path + " (listed:" + listed + ")");

    const auto bad =
        mount_client_.Mnt((o_.export_path == "/" ? "" : o_.export_path) + "/no-such-export-dir");
    mnt_.Check(
        "MNT", bad.status != MNT3_OK && bad.status != kNoReply,
        "MNT of a path that is not exported: " + MountStatusName(bad.status) + " (want an error)");
    const auto mnt = mount_client_.Mnt(o_.export_path);
    mnt_.Check("MNT", mnt.status == MNT3_OK,
               "MNT " + o_.export_path + ": " + MountStatusName(mnt.status) + " " +
                   (mnt.status == kNoReply ? Err(mount_rpc_) : ""));
    if (mnt.status != MNT3_OK) return false;
    mnt_.Check("MNT", !mnt.fh.empty() && mnt.fh.size() <= NFS3_FHSIZE,
               "root handle size " + std::to_string(mnt.fh.size()) + " in 1..64");
    bool sys = false;
    for (int f : mnt.flavors) sys = sys || f == kAuthSys;
    mnt_.Check("MNT", sys, "auth flavors include AUTH_SYS");
    root_ = mnt.fh;

    const auto dump = mount_client_.Dump();
    mnt_.Check("DUMP", dump.replied, "DUMP call: " + Err(mount_rpc_));
    // RFC 1813 leaves the list's accuracy to the server (Ganesha keeps none): when it lists
    // entries, ours must be among them.
    mnt_.Check("DUMP", dump.dirs.empty() || Contains(dump.dirs, o_.export_path),
               "mount list is empty or names " + o_.export_path);
    return true;
  }

  void UnmountPhase() {
    mnt_.Check("UMNT", mount_client_.Umnt(o_.export_path), "UMNT call: " + Err(mount_rpc_));
    const auto dump = mount_client_.Dump();
    mnt_.Check("UMNT", dump.replied && !Contains(dump.dirs, o_.export_path),
               "DUMP after UMNT no longer lists " + o_.export_path);
    mnt_.Check("UMNTALL", mount_client_.Umntall(), "UMNTALL call: " + Err(mount_rpc_));
    mnt_.Check("NULL", mount_client_.Null(), "NULL after UMNTALL: " + Err(mount_rpc_));
  }

  // GETATTR, FSSTAT, FSINFO, PATHCONF on the root, and handles that are no handles.
  void FsPhase() {
    const auto attr = nfs_client_.Getattr(root_);
    nfs_.Status("GETATTR", "root", attr.status, NFS3_OK);
    nfs_.Check("GETATTR", attr.attr.type == NF3DIR, "root is a directory");

    const auto fsstat = nfs_client_.Fsstat(root_);
    nfs_.Status("FSSTAT", "root", fsstat.status, NFS3_OK);
    const FSSTAT3resok& st = fsstat.ok;
    nfs_.Check("FSSTAT", st.tbytes > 0 && st.fbytes <= st.tbytes && st.abytes <= st.fbytes,
               "0 < tbytes, abytes <= fbytes <= tbytes (" + std::to_string(st.abytes) + "/" +
                   std::to_string(st.fbytes) + "/" + std::to_string(st.tbytes) + ")");
    nfs_.Check("FSSTAT", st.afiles <= st.ffiles && st.ffiles <= st.tfiles,
               "afiles <= ffiles <= tfiles");

    const auto fsinfo = nfs_client_.Fsinfo(root_);
    nfs_.Status("FSINFO", "root", fsinfo.status, NFS3_OK);
    const FSINFO3resok& fi = fsinfo.ok;
    nfs_.Check("FSINFO",
               fi.rtmax >= 8192 && fi.wtmax >= 8192 && fi.rtpref <= fi.rtmax &&
                   fi.wtpref <= fi.wtmax && fi.dtpref > 0,
               "rtmax " + std::to_string(fi.rtmax) + ", wtmax " + std::to_string(fi.wtmax) +
                   " >= 8192, prefs <= max, dtpref > 0");
    nfs_.Check("FSINFO", fi.maxfilesize >= (uint64_t{1} << 40),
               "maxfilesize " + std::to_string(fi.maxfilesize) + " >= 1 TiB (VM disks)");
    nfs_.Check("FSINFO", (fi.properties & FSF3_CANSETTIME) != 0, "FSF3_CANSETTIME set");
    wtmax_ = fi.wtmax;
    rtmax_ = fi.rtmax;

    const auto pc = nfs_client_.Pathconf(root_);
    nfs_.Status("PATHCONF", "root", pc.status, NFS3_OK);
    name_max_ = pc.ok.name_max;
    nfs_.Check("PATHCONF", pc.ok.name_max >= 200,
               "name_max " + std::to_string(pc.ok.name_max) + " >= 200");
    nfs_.Check("PATHCONF", pc.ok.no_trunc != 0 && pc.ok.case_preserving != 0,
               "no_trunc and case_preserving");

    std::string garbage = root_;
    for (char& c : garbage) c = static_cast<char>(~c);
    const auto bad = nfs_client_.Getattr(garbage);
    nfs_.Check("GETATTR", bad.status == NFS3ERR_STALE || bad.status == NFS3ERR_BADHANDLE,
               "bit-flipped root handle: " + NfsStatusName(bad.status) +
                   " (want NFS3ERR_STALE or NFS3ERR_BADHANDLE)");
  }

  // LOOKUP of each --subdir component from the root; sets base_ and base_path_.
  bool WalkSubdir() {
    std::string base = root_;
    std::string path;
    size_t pos = 0;
    while (pos < o_.subdir.size()) {
      size_t slash = o_.subdir.find('/', pos);
      if (slash == std::string::npos) slash = o_.subdir.size();
      const std::string part = o_.subdir.substr(pos, slash - pos);
      pos = slash + 1;
      if (part.empty()) continue;
      path += "/" + part;
      const auto r = nfs_client_.Lookup(base, part);
      nfs_.Status("LOOKUP", "--subdir " + path, r.status, NFS3_OK);
      if (r.status != NFS3_OK) return false;
      base = r.fh;
    }
    base_ = base;
    base_path_ = path;
    return true;
  }

  // LOOKUP of --subdir, then MKDIR of our own directory.
  bool WorkDir() {
    if (!WalkSubdir()) return false;
    work_name_ = "nfsproc-" + std::to_string(getpid()) + "-" + std::to_string(time(nullptr));
    Nfs3Client::SetAttrs attrs;
    attrs.mode = 0755;
    const auto dir = nfs_client_.Mkdir(base_, work_name_, attrs);
    nfs_.Status("MKDIR", work_name_, dir.status, NFS3_OK);
    if (dir.status != NFS3_OK) return false;
    work_ = dir.fh.empty() ? nfs_client_.Lookup(base_, work_name_).fh : dir.fh;
    nfs_.Check("MKDIR", dir.attr && dir.attr->type == NF3DIR && (dir.attr->mode & 07777) == 0755,
               "new directory attributes: a directory, mode 0755");
    nfs_.Status("MKDIR", "the same name again", nfs_client_.Mkdir(base_, work_name_, attrs).status,
                NFS3ERR_EXIST);
    nfs_.Status("LOOKUP", "a missing name", nfs_client_.Lookup(work_, "missing").status,
                NFS3ERR_NOENT);
    return !work_.empty();
  }

  // CREATE UNCHECKED, WRITE (FILE_SYNC, DATA_SYNC, UNSTABLE), READ, COMMIT, SETATTR, ACCESS.
  bool DataPhase() {
    Nfs3Client::SetAttrs attrs;
    attrs.mode = 0644;
    const auto file = nfs_client_.Create(work_, kFile, UNCHECKED, attrs);
    nfs_.Status("CREATE", "UNCHECKED " + std::string(kFile), file.status, NFS3_OK);
    if (file.status != NFS3_OK) return false;
    const auto looked = nfs_client_.Lookup(work_, kFile);
    nfs_.Status("LOOKUP", kFile, looked.status, NFS3_OK);
    file_ = file.fh.empty() ? looked.fh : file.fh;
    nfs_.Check("CREATE", file.attr && file.attr->type == NF3REG && file.attr->size == 0,
               "new file attributes: a regular file of size 0");
    nfs_.Check("LOOKUP", looked.attr && file.attr && looked.attr->fileid == file.attr->fileid,
               "LOOKUP finds the created file (same fileid)");

    // FILE_SYNC 64 KiB at 0, DATA_SYNC 4 KiB after it, an unaligned 100 bytes inside.
    const uint32_t chunk = std::min<uint32_t>(65536, wtmax_);
    std::string expect = Pattern(chunk, 1);
    Write("FILE_SYNC", 0, expect, FILE_SYNC);
    const std::string tail = Pattern(4096, 2);
    Write("DATA_SYNC", expect.size(), tail, DATA_SYNC);
    expect += tail;
    const std::string patch = Pattern(100, 3);
    Write("FILE_SYNC unaligned", 5000, patch, FILE_SYNC);
    expect.replace(5000, patch.size(), patch);
    ReadBack("after stable writes", expect);

    // UNSTABLE twice, then COMMIT: one verifier for the whole server instance.
    const std::string u1 = Pattern(32768, 4);
    const auto w1 = nfs_client_.Write(file_, expect.size(), u1, UNSTABLE);
    nfs_.Status("WRITE", "UNSTABLE 32 KiB", w1.status, NFS3_OK);
    expect += u1;
    const std::string u2 = Pattern(8192, 5);
    const auto w2 = nfs_client_.Write(file_, 1000, u2, UNSTABLE);
    nfs_.Status("WRITE", "UNSTABLE 8 KiB overwrite", w2.status, NFS3_OK);
    expect.replace(1000, u2.size(), u2);
    nfs_.Check("WRITE", w1.verf.size() == 8 && w1.verf == w2.verf,
               "UNSTABLE verifiers equal (" + Hex(w1.verf) + ", " + Hex(w2.verf) + ")");
    const auto commit = nfs_client_.Commit(file_, 0, 0);
    nfs_.Status("COMMIT", "whole file", commit.status, NFS3_OK);
    nfs_.Check("COMMIT", commit.verf == w1.verf,
               "COMMIT verifier " + Hex(commit.verf) + " equals WRITE's " + Hex(w1.verf));
    const auto commit_range = nfs_client_.Commit(file_, 4096, 8192);
    nfs_.Status("COMMIT", "a range", commit_range.status, NFS3_OK);
    nfs_.Check("COMMIT", commit_range.verf == w1.verf, "range COMMIT verifier unchanged");
    const auto stable_verf = nfs_client_.Write(file_, 0, expect.substr(0, 512), FILE_SYNC);
    nfs_.Check("WRITE", stable_verf.verf == w1.verf, "FILE_SYNC reply carries the same verifier");
    ReadBack("after UNSTABLE + COMMIT", expect);

    const auto attr = nfs_client_.Getattr(file_);
    nfs_.Status("GETATTR", kFile, attr.status, NFS3_OK);
    nfs_.Check("GETATTR", attr.attr.type == NF3REG && attr.attr.size == expect.size(),
               "size " + std::to_string(attr.attr.size) + " == " + std::to_string(expect.size()));

    const auto past = nfs_client_.Read(file_, 1 << 30, 4096);
    nfs_.Status("READ", "past end of file", past.status, NFS3_OK);
    nfs_.Check("READ", past.data.empty() && past.eof, "past EOF: 0 bytes and eof");
    const auto dir_read = nfs_client_.Read(work_, 0, 4096);
    nfs_.Status("READ", "a directory", dir_read.status, NFS3ERR_ISDIR);

    SetattrPhase(attr.attr, expect);
    AccessPhase();
    return true;
  }

  void Write(const std::string& what, uint64_t offset, const std::string& data, stable_how how) {
    const auto w = nfs_client_.Write(file_, offset, data, how);
    nfs_.Status("WRITE", what, w.status, NFS3_OK);
    nfs_.Check("WRITE", w.count == data.size(),
               what + " count " + std::to_string(w.count) + " == " + std::to_string(data.size()));
    nfs_.Check("WRITE", w.committed >= how,
               what + " committed " + std::to_string(w.committed) + " >= " + std::to_string(how));
  }

  void ReadBack(const std::string& what, const std::string& expect) {
    std::string got;
    bool eof = false;
    while (got.size() < expect.size() + 1 && !eof) {
      const auto r = nfs_client_.Read(file_, got.size(), std::min<uint32_t>(rtmax_, 1 << 20));
      if (r.status != NFS3_OK) {
        nfs_.Status("READ", what, r.status, NFS3_OK);
        return;
      }
      got += r.data;
      eof = r.eof;
      if (r.data.empty()) break;
    }
    nfs_.Check("READ", got == expect, what + ": " + DataMismatch(got, expect));
    nfs_.Check("READ", eof, what + ": eof at the end");
  }

  void SetattrPhase(const fattr3& before, std::string expect) {
    Nfs3Client::SetAttrs mode;
    mode.mode = 0600;
    nfs_.Status("SETATTR", "mode 0600", nfs_client_.Setattr(file_, mode), NFS3_OK);
    Nfs3Client::SetAttrs size;
    size.size = 1000;
    nfs_.Status("SETATTR", "size 1000", nfs_client_.Setattr(file_, size), NFS3_OK);
    Nfs3Client::SetAttrs mtime;
    mtime.mtime = Time(1577934245, 0);  // 2020-01-02 03:04:05 UTC
    nfs_.Status("SETATTR", "mtime", nfs_client_.Setattr(file_, mtime), NFS3_OK);
    const auto attr = nfs_client_.Getattr(file_);
    nfs_.Check("SETATTR", (attr.attr.mode & 07777) == 0600, "GETATTR shows mode 0600");
    nfs_.Check("SETATTR", attr.attr.size == 1000,
               "GETATTR shows size " + std::to_string(attr.attr.size) + " == 1000");
    nfs_.Check("SETATTR", attr.attr.mtime.seconds == 1577934245,
               "GETATTR shows mtime " + std::to_string(attr.attr.mtime.seconds));
    nfs_.Check("SETATTR", attr.attr.fileid == before.fileid, "same fileid after SETATTR");
    expect.resize(1000);
    ReadBack("after SETATTR size 1000", expect);
    // Guarded SETATTR: a wrong ctime is NOT_SYNC, the current one applies.
    nfs_.Status("SETATTR", "guard with a wrong ctime", nfs_client_.Setattr(file_, mode, Time(1, 0)),
                NFS3ERR_NOT_SYNC);
    nfs_.Status("SETATTR", "guard with the current ctime",
                nfs_client_.Setattr(file_, mode, attr.attr.ctime), NFS3_OK);
    file_data_ = expect;
  }

  void AccessPhase() {
    const uint32_t file_bits = ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_EXECUTE;
    const auto a = nfs_client_.Access(file_, file_bits);
    nfs_.Status("ACCESS", "file", a.status, NFS3_OK);
    const uint32_t want = ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND;
    nfs_.Check("ACCESS", (a.granted & want) == want && (a.granted & ~file_bits) == 0,
               "file: granted " + std::to_string(a.granted) +
                   " has READ|MODIFY|EXTEND, no "
                   "bit not asked for");
    const uint32_t dir_bits = ACCESS3_LOOKUP | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
    const auto d = nfs_client_.Access(work_, dir_bits);
    nfs_.Status("ACCESS", "directory", d.status, NFS3_OK);
    nfs_.Check("ACCESS",
               (d.granted & (ACCESS3_LOOKUP | ACCESS3_MODIFY)) == (ACCESS3_LOOKUP | ACCESS3_MODIFY),
               "directory: LOOKUP|MODIFY granted (" + std::to_string(d.granted) + ")");
  }

  // CREATE GUARDED / EXCLUSIVE semantics, NAMETOOLONG; SYMLINK + READLINK.
  void CreatePhase() {
    Nfs3Client::SetAttrs attrs;
    attrs.mode = 0644;
    nfs_.Status("CREATE", "GUARDED", nfs_client_.Create(work_, "guarded", GUARDED, attrs).status,
                NFS3_OK);
    nfs_.Status("CREATE", "GUARDED again",
                nfs_client_.Create(work_, "guarded", GUARDED, attrs).status, NFS3ERR_EXIST);
    const Verifier v1 = "CAFSvrf1";
    const auto e1 = nfs_client_.Create(work_, "excl", EXCLUSIVE, {}, v1);
    nfs_.Status("CREATE", "EXCLUSIVE", e1.status, NFS3_OK);
    const auto e2 = nfs_client_.Create(work_, "excl", EXCLUSIVE, {}, v1);
    nfs_.Status("CREATE", "EXCLUSIVE retransmit, same verifier", e2.status, NFS3_OK);
    const auto id1 =
        nfs_client_.Getattr(e1.fh.empty() ? nfs_client_.Lookup(work_, "excl").fh : e1.fh);
    const auto id2 =
        nfs_client_.Getattr(e2.fh.empty() ? nfs_client_.Lookup(work_, "excl").fh : e2.fh);
    nfs_.Check("CREATE", id1.status == NFS3_OK && id1.attr.fileid == id2.attr.fileid,
               "EXCLUSIVE retransmit returns the same file");
    nfs_.Status("CREATE", "EXCLUSIVE, another verifier",
                nfs_client_.Create(work_, "excl", EXCLUSIVE, {}, "CAFSvrf2").status, NFS3ERR_EXIST);
    // The client sets the attributes after an EXCLUSIVE create (the verifier may live in them).
    Nfs3Client::SetAttrs after;
    after.mode = 0640;
    nfs_.Status("SETATTR", "mode after EXCLUSIVE create",
                nfs_client_.Setattr(
                    id1.status == NFS3_OK ? nfs_client_.Lookup(work_, "excl").fh : "", after),
                NFS3_OK);
    nfs_.Status("CREATE", "UNCHECKED on an existing file",
                nfs_client_.Create(work_, "guarded", UNCHECKED, attrs).status, NFS3_OK);
    const std::string long_name(name_max_ + 1, 'n');
    nfs_.Status("CREATE", "name of name_max+1 bytes",
                nfs_client_.Create(work_, long_name, GUARDED, attrs).status, NFS3ERR_NAMETOOLONG);

    const auto link = nfs_client_.Symlink(work_, "link", kFile);
    nfs_.Status("SYMLINK", "link -> " + std::string(kFile), link.status, NFS3_OK);
    const std::string link_fh = link.fh.empty() ? nfs_client_.Lookup(work_, "link").fh : link.fh;
    const auto link_attr = nfs_client_.Getattr(link_fh);
    nfs_.Check("SYMLINK",
               link_attr.status == NFS3_OK && link_attr.attr.type == NF3LNK &&
                   link_attr.attr.size == std::strlen(kFile),
               "GETATTR: a symlink of size " + std::to_string(std::strlen(kFile)));
    nfs_.Status("SYMLINK", "the same name again", nfs_client_.Symlink(work_, "link", "x").status,
                NFS3ERR_EXIST);
    const auto target = nfs_client_.Readlink(link_fh);
    nfs_.Status("READLINK", "link", target.status, NFS3_OK);
    nfs_.Check("READLINK", target.target == kFile, "target '" + target.target + "'");
    nfs_.Status("READLINK", "a regular file", nfs_client_.Readlink(file_).status, NFS3ERR_INVAL);
  }

  // Whether a LINK/MKNOD reply is judged as "not supported by this server" (a server of
  // unknown kind may not support them; Ganesha and cafs do).
  bool Unsupported(int status) const {
    return o_.server == Server::kAny && status == NFS3ERR_NOTSUPP;
  }

  // LINK and MKNOD. The new name of the hard link contains "osdisk" like the file's, so on cafs
  // the same vobj governs both names (a link into another vobj is EXDEV there: checked too).
  // Issue 17 item 1 over NFS: device nodes (the caller is root, the export no_root_squash)
  // are made with the type and numbers asked for, carry no data (no pool file, no key) and are
  // removed like any entry. On cafs only (Ganesha's FSAL_VFS export may refuse them).
  void DevicePhase() {
    const struct {
      ftype3 type;
      const char* name;
      uint32_t major, minor;
    } nodes[] = {{NF3CHR, "chr-osdisk", 1, 3}, {NF3BLK, "blk-osdisk", 7, 42}};
    for (const auto& n : nodes) {
      const auto made = nfs_client_.MknodDevice(work_, n.name, n.type, n.major, n.minor);
      nfs_.Status("MKNOD", std::string("device ") + n.name, made.status, NFS3_OK);
      if (made.status != NFS3_OK) continue;
      const auto attr =
          nfs_client_.Getattr(made.fh.empty() ? nfs_client_.Lookup(work_, n.name).fh : made.fh);
      nfs_.Check("MKNOD",
                 attr.status == NFS3_OK && attr.attr.type == n.type &&
                     attr.attr.rdev.specdata1 == n.major && attr.attr.rdev.specdata2 == n.minor,
                 std::string("GETATTR of ") + n.name + ": type " + std::to_string(attr.attr.type) +
                     ", rdev " + std::to_string(attr.attr.rdev.specdata1) + ":" +
                     std::to_string(attr.attr.rdev.specdata2));
      nfs_.Status("MKNOD", std::string(n.name) + " again",
                  nfs_client_.MknodDevice(work_, n.name, n.type, n.major, n.minor).status,
                  NFS3ERR_EXIST);
      nfs_.Status("REMOVE", std::string("device ") + n.name, nfs_client_.Remove(work_, n.name),
                  NFS3_OK);
    }
  }

  void LinkPhase() {
    const auto fifo = nfs_client_.Mknod(work_, "fifo", NF3FIFO);
    const auto link = nfs_client_.Link(file_, work_, "hard-osdisk");
    if (o_.server == Server::kCafs) {
      nfs_.Status("LINK", "into another vobj's names",
                  nfs_client_.Link(file_, work_, "hard").status, NFS3ERR_XDEV);
    }
    if (Unsupported(fifo.status)) {
      nfs_.Status("MKNOD", "FIFO (not supported here)", fifo.status, NFS3ERR_NOTSUPP);
    } else {
      nfs_.Status("MKNOD", "FIFO", fifo.status, NFS3_OK);
      const auto attr =
          nfs_client_.Getattr(fifo.fh.empty() ? nfs_client_.Lookup(work_, "fifo").fh : fifo.fh);
      nfs_.Check("MKNOD", attr.status == NFS3_OK && attr.attr.type == NF3FIFO,
                 "GETATTR: a FIFO (status " + std::to_string(attr.status) + ", type " +
                     std::to_string(attr.attr.type) + ", handle from " +
                     (fifo.fh.empty() ? "LOOKUP" : "MKNOD") + ")");
      nfs_.Status("MKNOD", "FIFO again", nfs_client_.Mknod(work_, "fifo", NF3FIFO).status,
                  NFS3ERR_EXIST);
      expected_.insert("fifo");
    }
    if (o_.server == Server::kCafs) DevicePhase();
    if (Unsupported(link.status)) {
      nfs_.Status("LINK", "hard link (not supported here)", link.status, NFS3ERR_NOTSUPP);
    } else {
      nfs_.Status("LINK", "hard link", link.status, NFS3_OK);
      nfs_.Check("LINK", link.file_attr && link.file_attr->nlink == 2, "file's nlink is 2");
      const auto looked = nfs_client_.Lookup(work_, "hard-osdisk");
      nfs_.Check("LINK", looked.attr && looked.attr->fileid == link.file_attr->fileid,
                 "the new name is the same file");
      nfs_.Status("LINK", "onto an existing name",
                  nfs_client_.Link(file_, work_, "hard-osdisk").status, NFS3ERR_EXIST);
      expected_.insert("hard-osdisk");
    }
  }

  // READDIR / READDIRPLUS with small pages (cookies and verifiers across calls).
  void DirPhase() {
    Nfs3Client::SetAttrs attrs;
    attrs.mode = 0755;
    nfs_.Status("MKDIR", "sub", nfs_client_.Mkdir(work_, "sub", attrs).status, NFS3_OK);
    for (int i = 0; i < 40; ++i) {  // enough entries for several pages
      const std::string name = "entry-" + std::to_string(i);
      nfs_client_.Create(work_, name, GUARDED, attrs);
      expected_.insert(name);
    }
    expected_.insert({kFile, "guarded", "excl", "link", "sub"});

    const auto file_attr = nfs_client_.Getattr(file_);
    const auto dir = nfs_client_.Readdir(work_, 512);
    nfs_.Status("READDIR", "work directory", dir.status, NFS3_OK);
    nfs_.Check("READDIR", Names(dir) == expected_,
               "names " + Join(Names(dir)) + " == " + Join(expected_));
    nfs_.Check("READDIR", dir.pages > 1,
               "512-byte pages: several calls (" + std::to_string(dir.pages) + ")");
    bool fileid_ok = false;
    std::set<uint64_t> cookies;
    for (const auto& e : dir.entries) {
      if (e.name == kFile) fileid_ok = e.fileid == file_attr.attr.fileid;
      cookies.insert(e.cookie);
    }
    nfs_.Check("READDIR", fileid_ok, "fileid of " + std::string(kFile) + " matches GETATTR");
    nfs_.Check("READDIR", cookies.size() == dir.entries.size() && !cookies.contains(0),
               "cookies distinct and non-zero");
    nfs_.Status("READDIR", "a file", nfs_client_.Readdir(file_, 4096).status, NFS3ERR_NOTDIR);

    const auto plus = nfs_client_.Readdirplus(work_, 1024);
    nfs_.Status("READDIRPLUS", "work directory", plus.status, NFS3_OK);
    nfs_.Check("READDIRPLUS", Names(plus) == expected_,
               "names " + Join(Names(plus)) + " == " + Join(expected_));
    nfs_.Check("READDIRPLUS", plus.pages > 1,
               "1024-byte pages: several calls (" + std::to_string(plus.pages) + ")");
    bool found = false;
    for (const auto& e : plus.entries) {
      if (e.name != kFile) continue;
      found = true;
      nfs_.Check(
          "READDIRPLUS",
          e.attr && e.attr->size == file_data_.size() && e.attr->fileid == file_attr.attr.fileid,
          "attributes of " + std::string(kFile) + " (size, fileid)");
      const auto via = nfs_client_.Getattr(e.fh);
      nfs_.Check("READDIRPLUS",
                 !e.fh.empty() && via.status == NFS3_OK && via.attr.fileid == file_attr.attr.fileid,
                 "handle of " + std::string(kFile) + " names the file");
    }
    nfs_.Check("READDIRPLUS", found, std::string(kFile) + " listed");
  }

  // The high-level sync API (nfs_mount, nfs_stat64, nfs_open/nfs_pread, nfs_opendir): a
  // second client path that must agree with the raw calls.
  void SyncApiPhase() {
    nfs_context* nfs = nfs_init_context();
    if (nfs == nullptr) {
      api_.Check("SYNC-API", false, "nfs_init_context");
      return;
    }
    nfs_url* url = nfs_parse_url_dir(nfs, o_.url.c_str());
    const int rc = url == nullptr ? -1 : nfs_mount(nfs, url->server, url->path);
    const char* error = nfs_get_error(nfs);
    api_.Check("SYNC-API", rc == 0, std::string("nfs_mount: ") + (error != nullptr ? error : "ok"));
    if (rc == 0) {
      const std::string dir = base_path_ + "/" + work_name_;
      const std::string path = dir + "/" + kFile;
      nfs_stat_64 st{};
      api_.Check("SYNC-API",
                 nfs_stat64(nfs, path.c_str(), &st) == 0 && st.nfs_size == file_data_.size() &&
                     (st.nfs_mode & 07777) == 0600,
                 "nfs_stat64 " + path + ": size and mode");
      nfsfh* fh = nullptr;
      std::string got(file_data_.size() + 100, '\0');
      int n = -1;
      if (nfs_open(nfs, path.c_str(), O_RDONLY, &fh) == 0) {
        n = nfs_pread(nfs, fh, 0, got.size(), got.data());
        nfs_close(nfs, fh);
      }
      got.resize(n < 0 ? 0 : static_cast<size_t>(n));
      api_.Check("SYNC-API", got == file_data_, "nfs_pread: " + DataMismatch(got, file_data_));
      nfsdir* d = nullptr;
      std::set<std::string> names;
      if (nfs_opendir(nfs, dir.c_str(), &d) == 0) {
        while (nfsdirent* e = nfs_readdir(nfs, d)) {
          if (std::strcmp(e->name, ".") != 0 && std::strcmp(e->name, "..") != 0)
            names.insert(e->name);
        }
        nfs_closedir(nfs, d);
      }
      api_.Check("SYNC-API", names == expected_, "nfs_opendir lists " + Join(names));
    }
    if (url != nullptr) nfs_destroy_url(url);
    nfs_destroy_context(nfs);
  }

  // RENAME (into a subdirectory, over an existing name), REMOVE, RMDIR, and stale handles.
  void RenameRemovePhase() {
    const auto before = nfs_client_.Getattr(file_);
    const std::string sub = nfs_client_.Lookup(work_, "sub").fh;
    nfs_.Status("RENAME", "into sub/", nfs_client_.Rename(work_, kFile, sub, "osdisk-moved.img"),
                NFS3_OK);
    nfs_.Status("LOOKUP", "old name after RENAME", nfs_client_.Lookup(work_, kFile).status,
                NFS3ERR_NOENT);
    const auto moved = nfs_client_.Lookup(sub, "osdisk-moved.img");
    nfs_.Status("LOOKUP", "new name after RENAME", moved.status, NFS3_OK);
    nfs_.Check("RENAME", moved.attr && moved.attr->fileid == before.attr.fileid,
               "same file under the new name");
    const auto data = nfs_client_.Read(moved.fh, 0, 4096);
    nfs_.Check("RENAME", data.data == file_data_,
               "content after RENAME: " + DataMismatch(data.data, file_data_));
    nfs_.Status("RENAME", "a missing name", nfs_client_.Rename(work_, "missing", work_, "x"),
                NFS3ERR_NOENT);
    // Over an existing file: atomic replace (ESXi's lock files rely on it).
    nfs_.Status("RENAME", "over an existing name",
                nfs_client_.Rename(work_, "guarded", work_, "excl"), NFS3_OK);
    nfs_.Status("LOOKUP", "replaced source", nfs_client_.Lookup(work_, "guarded").status,
                NFS3ERR_NOENT);
    nfs_.Status("RENAME", "a directory into itself", nfs_client_.Rename(work_, "sub", sub, "loop"),
                NFS3ERR_INVAL);

    nfs_.Status("RMDIR", "a non-empty directory", nfs_client_.Rmdir(work_, "sub"),
                NFS3ERR_NOTEMPTY);
    nfs_.Status("RMDIR", "a file", nfs_client_.Rmdir(work_, "excl"), NFS3ERR_NOTDIR);
    if (expected_.contains("hard-osdisk")) {
      nfs_.Status("REMOVE", "the hard link", nfs_client_.Remove(work_, "hard-osdisk"), NFS3_OK);
    }
    nfs_.Status("REMOVE", "sub/osdisk-moved.img", nfs_client_.Remove(sub, "osdisk-moved.img"),
                NFS3_OK);
    nfs_.Status("REMOVE", "the same name again", nfs_client_.Remove(sub, "osdisk-moved.img"),
                NFS3ERR_NOENT);
    nfs_.Status("GETATTR", "handle of a removed file", nfs_client_.Getattr(file_).status,
                NFS3ERR_STALE);
    nfs_.Status("READ", "handle of a removed file", nfs_client_.Read(file_, 0, 10).status,
                NFS3ERR_STALE);
    nfs_.Status("RMDIR", "sub (now empty)", nfs_client_.Rmdir(work_, "sub"), NFS3_OK);
    nfs_.Status("RMDIR", "sub again", nfs_client_.Rmdir(work_, "sub"), NFS3ERR_NOENT);
    nfs_.Status("GETATTR", "handle of a removed directory", nfs_client_.Getattr(sub).status,
                NFS3ERR_STALE);
  }

  // Removes what is left and our directory; READDIR must then show it empty.
  void Cleanup() {
    const auto left = nfs_client_.Readdir(work_, 8192);
    for (const auto& name : Names(left)) {
      int status = nfs_client_.Remove(work_, name);
      if (status == NFS3ERR_ISDIR || status == NFS3ERR_NOTSUPP || status == NFS3ERR_PERM) {
        status = nfs_client_.Rmdir(work_, name);
      }
      nfs_.Status("REMOVE", "cleanup " + name, status, NFS3_OK);
    }
    nfs_.Check("READDIR", Names(nfs_client_.Readdir(work_, 8192)).empty(), "empty after cleanup");
    nfs_.Status("RMDIR", "work directory", nfs_client_.Rmdir(base_, work_name_), NFS3_OK);
  }

  static constexpr const char* kFile = "osdisk-nfsproc.img";  // *osdisk*: encrypted on cafs

  const Options& o_;
  Report& mnt_;
  Report& nfs_;
  Report& api_;
  Report& restart_;
  SyncRpc mount_rpc_;
  SyncRpc nfs_rpc_;
  MountClient mount_client_{mount_rpc_};
  Nfs3Client nfs_client_{nfs_rpc_};
  std::string root_, base_, base_path_, work_, work_name_, file_, file_data_;
  uint32_t wtmax_ = 65536, rtmax_ = 65536, name_max_ = 255;
  std::set<std::string> expected_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: nfs_procedures [--server ganesha|cafs|any] [--subdir PATH] "
               "[--restart save|check STATE] "
               "nfs://HOST/EXPORT[?nfsport=N&mountport=M]\n");
  return 2;
}

}  // namespace
}  // namespace cafs::nfs_test

// Under LeakSanitizer (the ASan build): whole allocation stacks. libnfs is built without frame
// pointers, so the fast unwinder stops at its first frame, and nfs_client/lsan.supp could
// then only name the library, not the libnfs call (nfs_mount) whose leak it suppresses.
extern "C" const char* __lsan_default_options() { return "fast_unwind_on_malloc=0"; }

int main(int argc, char** argv) {
  using namespace cafs::nfs_test;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--server" && i + 1 < argc) {
      const std::string s = argv[++i];
      if (s == "ganesha") {
        o.server = Server::kGanesha;
      } else if (s == "cafs") {
        o.server = Server::kCafs;
      } else if (s == "any") {
        o.server = Server::kAny;
      } else {
        return Usage();
      }
    } else if (a == "--subdir" && i + 1 < argc) {
      o.subdir = argv[++i];
    } else if (a == "--restart" && i + 2 < argc) {
      o.restart_phase = argv[++i];
      o.restart_state = argv[++i];
      if (o.restart_phase != "save" && o.restart_phase != "check") return Usage();
    } else if (a.rfind("nfs://", 0) == 0 && o.url.empty()) {
      o.url = a;
    } else {
      return Usage();
    }
  }
  if (o.url.empty() || !ParseUrl(o)) return Usage();

  Report mount_report, nfs_report, api_report;
  if (!o.restart_phase.empty()) {
    Run run(o, mount_report, nfs_report, api_report);
    if (o.restart_phase == "save") {
      run.RestartSave(o.restart_state);
    } else {
      run.RestartCheck(o.restart_state);
    }
    const bool ok = api_report.Print("restart", {"RESTART"});
    return ok ? 0 : 1;
  }
  Run(o, mount_report, nfs_report, api_report).All();
  const bool mount_ok = mount_report.Print(
      "MOUNT3", std::vector<std::string>(std::begin(kMountProcedures), std::end(kMountProcedures)));
  const bool nfs_ok = nfs_report.Print(
      "NFS3", std::vector<std::string>(std::begin(kNfsProcedures), std::end(kNfsProcedures)));
  const bool api_ok = api_report.Print("libnfs", {"SYNC-API"});
  const bool ok = mount_ok && nfs_ok && api_ok;
  std::printf("%s\n", ok ? "all procedures passed" : "FAILED");
  return ok ? 0 : 1;
}
