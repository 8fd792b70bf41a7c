// Typed, synchronous MOUNT v3 and NFSv3 calls over SyncRpc (libnfs's raw rpc_mount3_* and
// rpc_nfs3_* calls), one method per procedure, each returning the reply's status and the
// fields a conformance test checks, copied out of libnfs's reply buffers.
//
// Contract: file handles are opaque byte strings. `status` is the MOUNT/NFS status of the
// reply, or kNoReply when no reply was decoded (transport failure; SyncRpc::error() says
// why). Not thread-safe; the SyncRpc must outlive the client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sync_rpc.h"  // before the raw headers: libnfs.h defines what they need

// clang-format off
#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>
// clang-format on

namespace cafs::nfs_test {

inline constexpr int kNoReply = -1;

// "NFS3ERR_EXIST", "MNT3_OK", or "no reply".
std::string NfsStatusName(int status);
std::string MountStatusName(int status);

// A verifier (write, create, cookie): 8 opaque bytes.
using Verifier = std::string;

class MountClient {
 public:
  explicit MountClient(SyncRpc& rpc) : rpc_(rpc) {}

  struct MntResult {
    int status = kNoReply;
    std::string fh;
    std::vector<int> flavors;
  };
  struct ListResult {
    bool replied = false;
    std::vector<std::string> hosts;  // DUMP only; parallel to dirs
    std::vector<std::string> dirs;
  };

  bool Null();
  MntResult Mnt(const std::string& path);
  ListResult Dump();
  bool Umnt(const std::string& path);
  bool Umntall();
  ListResult Export();

 private:
  SyncRpc& rpc_;
};

class Nfs3Client {
 public:
  explicit Nfs3Client(SyncRpc& rpc) : rpc_(rpc) {}

  struct Attr {
    int status = kNoReply;
    fattr3 attr{};
  };
  struct Obj {  // LOOKUP, CREATE, MKDIR, SYMLINK, MKNOD
    int status = kNoReply;
    std::string fh;  // empty when the server sent no handle
    std::optional<fattr3> attr;
  };
  struct AccessResult {
    int status = kNoReply;
    uint32_t granted = 0;
  };
  struct ReadResult {
    int status = kNoReply;
    std::string data;
    bool eof = false;
  };
  struct WriteResult {
    int status = kNoReply;
    uint32_t count = 0;
    int committed = -1;
    Verifier verf;
  };
  struct CommitResult {
    int status = kNoReply;
    Verifier verf;
  };
  struct LinkResult {
    int status = kNoReply;
    std::optional<fattr3> file_attr;
  };
  struct ReadlinkResult {
    int status = kNoReply;
    std::string target;
  };
  struct DirEntry {
    std::string name;
    uint64_t fileid = 0;
    uint64_t cookie = 0;
    std::optional<fattr3> attr;  // READDIRPLUS only
    std::string fh;              // READDIRPLUS only, empty when not sent
  };
  struct DirResult {
    int status = kNoReply;
    std::vector<DirEntry> entries;
    int pages = 0;
  };
  struct FsstatResult {
    int status = kNoReply;
    FSSTAT3resok ok{};
  };
  struct FsinfoResult {
    int status = kNoReply;
    FSINFO3resok ok{};
  };
  struct PathconfResult {
    int status = kNoReply;
    PATHCONF3resok ok{};
  };

  // Attributes for SETATTR/CREATE/MKDIR: set only what is given.
  struct SetAttrs {
    std::optional<uint32_t> mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    std::optional<uint64_t> size;
    std::optional<nfstime3> mtime;  // SET_TO_CLIENT_TIME
  };

  bool Null();
  Attr Getattr(const std::string& fh);
  int Setattr(const std::string& fh, const SetAttrs& attrs,
              std::optional<nfstime3> guard_ctime = std::nullopt);
  Obj Lookup(const std::string& dir, const std::string& name);
  AccessResult Access(const std::string& fh, uint32_t bits);
  ReadlinkResult Readlink(const std::string& fh);
  ReadResult Read(const std::string& fh, uint64_t offset, uint32_t count);
  WriteResult Write(const std::string& fh, uint64_t offset, const std::string& data,
                    stable_how stable);
  // mode UNCHECKED/GUARDED use `attrs`; EXCLUSIVE uses `verf` (8 bytes).
  Obj Create(const std::string& dir, const std::string& name, createmode3 mode,
             const SetAttrs& attrs, const Verifier& verf = {});
  Obj Mkdir(const std::string& dir, const std::string& name, const SetAttrs& attrs);
  Obj Symlink(const std::string& dir, const std::string& name, const std::string& target);
  Obj Mknod(const std::string& dir, const std::string& name, ftype3 type);  // FIFO or SOCK
  // Any MKNOD type; major:minor are sent for a character (NF3CHR) or block (NF3BLK) device.
  Obj MknodDevice(const std::string& dir, const std::string& name, ftype3 type, uint32_t major,
                  uint32_t minor);
  int Remove(const std::string& dir, const std::string& name);
  int Rmdir(const std::string& dir, const std::string& name);
  int Rename(const std::string& from_dir, const std::string& from_name, const std::string& to_dir,
             const std::string& to_name);
  LinkResult Link(const std::string& fh, const std::string& dir, const std::string& name);
  // Reads the whole directory, `count` bytes per page (READDIR count; READDIRPLUS maxcount,
  // dircount = count / 2), following cookies until eof.
  DirResult Readdir(const std::string& dir, uint32_t count);
  DirResult Readdirplus(const std::string& dir, uint32_t count);
  FsstatResult Fsstat(const std::string& fh);
  FsinfoResult Fsinfo(const std::string& fh);
  PathconfResult Pathconf(const std::string& fh);
  CommitResult Commit(const std::string& fh, uint64_t offset, uint32_t count);

 private:
  // Calls `fn(rpc, cb, &args, pd)`; for an NFS3_OK reply runs `take(reply)`. Returns the
  // reply's status or kNoReply.
  template <class Res, class Args, class Take>
  int Invoke(const char* what, int (*fn)(rpc_context*, rpc_cb, Args*, void*), Args& args,
             Take take);
  // READDIR / READDIRPLUS until eof, following cookies and the cookie verifier.
  template <class Res, class Args>
  DirResult ReadAll(const char* what, int (*fn)(rpc_context*, rpc_cb, Args*, void*), Args& args);

  SyncRpc& rpc_;
};

}  // namespace cafs::nfs_test
