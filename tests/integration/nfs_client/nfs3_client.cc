#include "nfs3_client.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace cafs::nfs_test {
namespace {

constexpr int kMaxDirPages = 10000;

// libnfs 4.0 decodes lists (exports, mount list, directory entries) into an arena that only
// aligns to 4 bytes, so a node may sit at an address its type may not be read from (UBSan:
// "misaligned address"). Nodes are copied out with memcpy before their fields are read.
template <class T>
T Load(const void* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// libnfs's argument structs hold non-const pointers: these views alias strings that live
// until the call returns (SyncRpc::Call is synchronous; libnfs encodes the call at once).
nfs_fh3 FhView(std::string& fh) {
  nfs_fh3 view{};
  view.data.data_len = static_cast<u_int>(fh.size());
  view.data.data_val = fh.data();
  return view;
}

std::string Copy(const nfs_fh3& fh) {
  return fh.data.data_val == nullptr ? std::string()
                                     : std::string(fh.data.data_val, fh.data.data_len);
}

std::string Copy(const post_op_fh3& fh) {
  return fh.handle_follows != 0 ? Copy(fh.post_op_fh3_u.handle) : std::string();
}

std::optional<fattr3> Copy(const post_op_attr& attr) {
  if (attr.attributes_follow == 0) return std::nullopt;
  return attr.post_op_attr_u.attributes;
}

sattr3 ToSattr(const Nfs3Client::SetAttrs& attrs) {
  sattr3 s{};
  if (attrs.mode) {
    s.mode.set_it = 1;
    s.mode.set_mode3_u.mode = *attrs.mode;
  }
  if (attrs.uid) {
    s.uid.set_it = 1;
    s.uid.set_uid3_u.uid = *attrs.uid;
  }
  if (attrs.gid) {
    s.gid.set_it = 1;
    s.gid.set_gid3_u.gid = *attrs.gid;
  }
  if (attrs.size) {
    s.size.set_it = 1;
    s.size.set_size3_u.size = *attrs.size;
  }
  s.atime.set_it = DONT_CHANGE;
  s.mtime.set_it = DONT_CHANGE;
  if (attrs.mtime) {
    s.mtime.set_it = SET_TO_CLIENT_TIME;
    s.mtime.set_mtime_u.mtime = *attrs.mtime;
  }
  return s;
}

std::string StatusName(const char* name, int status) {
  if (status == kNoReply) return "no reply";
  return name != nullptr ? std::string(name) : "status " + std::to_string(status);
}

}  // namespace

std::string NfsStatusName(int status) {
  return StatusName(status == kNoReply ? nullptr : nfsstat3_to_str(status), status);
}

std::string MountStatusName(int status) {
  return StatusName(status == kNoReply ? nullptr : mountstat3_to_str(status), status);
}

// ---- MOUNT v3 ----

bool MountClient::Null() {
  return rpc_.Call<char>(
      "MOUNT3 NULL",
      [&](rpc_cb cb, void* pd) { return rpc_mount3_null_async(rpc_.context(), cb, pd); },
      [](const char&) {});
}

MountClient::MntResult MountClient::Mnt(const std::string& path) {
  MntResult r;
  std::string p = path;
  rpc_.Call<mountres3>(
      "MOUNT3 MNT",
      [&](rpc_cb cb, void* pd) { return rpc_mount3_mnt_async(rpc_.context(), cb, p.data(), pd); },
      [&](const mountres3& res) {
        r.status = res.fhs_status;
        if (res.fhs_status != MNT3_OK) return;
        const mountres3_ok& ok = res.mountres3_u.mountinfo;
        r.fh.assign(ok.fhandle.fhandle3_val, ok.fhandle.fhandle3_len);
        r.flavors.assign(ok.auth_flavors.auth_flavors_val,
                         ok.auth_flavors.auth_flavors_val + ok.auth_flavors.auth_flavors_len);
      });
  return r;
}

MountClient::ListResult MountClient::Dump() {
  ListResult r;
  r.replied = rpc_.Call<mountlist>(
      "MOUNT3 DUMP",
      [&](rpc_cb cb, void* pd) { return rpc_mount3_dump_async(rpc_.context(), cb, pd); },
      [&](const mountlist& list) {
        for (const void* p = list; p != nullptr;) {
          const auto m = Load<mountbody>(p);
          r.hosts.emplace_back(m.ml_hostname != nullptr ? m.ml_hostname : "");
          r.dirs.emplace_back(m.ml_directory != nullptr ? m.ml_directory : "");
          p = m.ml_next;
        }
      });
  return r;
}

bool MountClient::Umnt(const std::string& path) {
  std::string p = path;
  return rpc_.Call<char>(
      "MOUNT3 UMNT",
      [&](rpc_cb cb, void* pd) { return rpc_mount3_umnt_async(rpc_.context(), cb, p.data(), pd); },
      [](const char&) {});
}

bool MountClient::Umntall() {
  return rpc_.Call<char>(
      "MOUNT3 UMNTALL",
      [&](rpc_cb cb, void* pd) { return rpc_mount3_umntall_async(rpc_.context(), cb, pd); },
      [](const char&) {});
}

MountClient::ListResult MountClient::Export() {
  ListResult r;
  r.replied = rpc_.Call<exports>(
      "MOUNT3 EXPORT",
      [&](rpc_cb cb, void* pd) { return rpc_mount3_export_async(rpc_.context(), cb, pd); },
      [&](const exports& list) {
        for (const void* p = list; p != nullptr;) {
          const auto e = Load<exportnode>(p);
          r.dirs.emplace_back(e.ex_dir != nullptr ? e.ex_dir : "");
          p = e.ex_next;
        }
      });
  return r;
}

// ---- NFSv3 ----

namespace {

diropargs3 DirOp(std::string& dir, std::string& name) {
  diropargs3 op{};
  op.dir = FhView(dir);
  op.name = name.data();
  return op;
}

// CREATE, MKDIR, SYMLINK, MKNOD replies share their resok shape.
template <class ResOk>
void TakeObj(Nfs3Client::Obj& r, const ResOk& ok) {
  r.fh = Copy(ok.obj);
  r.attr = Copy(ok.obj_attributes);
}

const READDIR3resok& Ok(const READDIR3res& res) { return res.READDIR3res_u.resok; }
const READDIRPLUS3resok& Ok(const READDIRPLUS3res& res) { return res.READDIRPLUS3res_u.resok; }

Nfs3Client::DirEntry ToEntry(const entry3& e) {
  Nfs3Client::DirEntry entry;
  entry.name = e.name != nullptr ? e.name : "";
  entry.fileid = e.fileid;
  entry.cookie = e.cookie;
  return entry;
}

Nfs3Client::DirEntry ToEntry(const entryplus3& e) {
  Nfs3Client::DirEntry entry;
  entry.name = e.name != nullptr ? e.name : "";
  entry.fileid = e.fileid;
  entry.cookie = e.cookie;
  entry.attr = Copy(e.name_attributes);
  entry.fh = Copy(e.name_handle);
  return entry;
}

}  // namespace

template <class Res, class Args, class Take>
int Nfs3Client::Invoke(const char* what, int (*fn)(rpc_context*, rpc_cb, Args*, void*), Args& args,
                       Take take) {
  int status = kNoReply;
  rpc_.Call<Res>(
      what, [&](rpc_cb cb, void* pd) { return fn(rpc_.context(), cb, &args, pd); },
      [&](const Res& res) {
        status = res.status;
        if (res.status == NFS3_OK) take(res);
      });
  return status;
}

template <class Res, class Args>
Nfs3Client::DirResult Nfs3Client::ReadAll(const char* what,
                                          int (*fn)(rpc_context*, rpc_cb, Args*, void*),
                                          Args& args) {
  DirResult r;
  bool eof = false;
  while (!eof && r.pages < kMaxDirPages) {
    ++r.pages;
    r.status = Invoke<Res>(what, fn, args, [&](const Res& res) {
      const auto& ok = Ok(res);
      for (const void* p = ok.reply.entries; p != nullptr;) {
        const auto e = Load<std::remove_cvref_t<decltype(*ok.reply.entries)>>(p);
        r.entries.push_back(ToEntry(e));
        args.cookie = e.cookie;
        p = e.nextentry;
      }
      std::memcpy(args.cookieverf, ok.cookieverf, sizeof(args.cookieverf));
      eof = ok.reply.eof != 0;
    });
    if (r.status != NFS3_OK) break;
  }
  return r;
}

bool Nfs3Client::Null() {
  return rpc_.Call<char>(
      "NFS3 NULL", [&](rpc_cb cb, void* pd) { return rpc_nfs3_null_async(rpc_.context(), cb, pd); },
      [](const char&) {});
}

Nfs3Client::Attr Nfs3Client::Getattr(const std::string& fh) {
  Attr r;
  std::string f = fh;
  GETATTR3args args{};
  args.object = FhView(f);
  r.status = Invoke<GETATTR3res>(
      "NFS3 GETATTR", rpc_nfs3_getattr_async, args,
      [&](const GETATTR3res& res) { r.attr = res.GETATTR3res_u.resok.obj_attributes; });
  return r;
}

int Nfs3Client::Setattr(const std::string& fh, const SetAttrs& attrs,
                        std::optional<nfstime3> guard_ctime) {
  std::string f = fh;
  SETATTR3args args{};
  args.object = FhView(f);
  args.new_attributes = ToSattr(attrs);
  if (guard_ctime) {
    args.guard.check = 1;
    args.guard.sattrguard3_u.obj_ctime = *guard_ctime;
  }
  return Invoke<SETATTR3res>("NFS3 SETATTR", rpc_nfs3_setattr_async, args,
                             [](const SETATTR3res&) {});
}

Nfs3Client::Obj Nfs3Client::Lookup(const std::string& dir, const std::string& name) {
  Obj r;
  std::string d = dir;
  std::string n = name;
  LOOKUP3args args{};
  args.what = DirOp(d, n);
  r.status =
      Invoke<LOOKUP3res>("NFS3 LOOKUP", rpc_nfs3_lookup_async, args, [&](const LOOKUP3res& res) {
        r.fh = Copy(res.LOOKUP3res_u.resok.object);
        r.attr = Copy(res.LOOKUP3res_u.resok.obj_attributes);
      });
  return r;
}

Nfs3Client::AccessResult Nfs3Client::Access(const std::string& fh, uint32_t bits) {
  AccessResult r;
  std::string f = fh;
  ACCESS3args args{};
  args.object = FhView(f);
  args.access = bits;
  r.status =
      Invoke<ACCESS3res>("NFS3 ACCESS", rpc_nfs3_access_async, args,
                         [&](const ACCESS3res& res) { r.granted = res.ACCESS3res_u.resok.access; });
  return r;
}

Nfs3Client::ReadlinkResult Nfs3Client::Readlink(const std::string& fh) {
  ReadlinkResult r;
  std::string f = fh;
  READLINK3args args{};
  args.symlink = FhView(f);
  r.status = Invoke<READLINK3res>("NFS3 READLINK", rpc_nfs3_readlink_async, args,
                                  [&](const READLINK3res& res) {
                                    const char* target = res.READLINK3res_u.resok.data;
                                    if (target != nullptr) r.target = target;
                                  });
  return r;
}

Nfs3Client::ReadResult Nfs3Client::Read(const std::string& fh, uint64_t offset, uint32_t count) {
  ReadResult r;
  std::string f = fh;
  READ3args args{};
  args.file = FhView(f);
  args.offset = offset;
  args.count = count;
  r.status = Invoke<READ3res>("NFS3 READ", rpc_nfs3_read_async, args, [&](const READ3res& res) {
    const READ3resok& ok = res.READ3res_u.resok;
    if (ok.data.data_val != nullptr)
      r.data.assign(ok.data.data_val, std::min(ok.count, ok.data.data_len));
    r.eof = ok.eof != 0;
  });
  return r;
}

Nfs3Client::WriteResult Nfs3Client::Write(const std::string& fh, uint64_t offset,
                                          const std::string& data, stable_how stable) {
  WriteResult r;
  std::string f = fh;
  std::string d = data;
  WRITE3args args{};
  args.file = FhView(f);
  args.offset = offset;
  args.count = static_cast<count3>(d.size());
  args.stable = stable;
  args.data.data_len = static_cast<u_int>(d.size());
  args.data.data_val = d.data();
  r.status = Invoke<WRITE3res>("NFS3 WRITE", rpc_nfs3_write_async, args, [&](const WRITE3res& res) {
    const WRITE3resok& ok = res.WRITE3res_u.resok;
    r.count = ok.count;
    r.committed = ok.committed;
    r.verf.assign(ok.verf, NFS3_WRITEVERFSIZE);
  });
  return r;
}

Nfs3Client::Obj Nfs3Client::Create(const std::string& dir, const std::string& name,
                                   createmode3 mode, const SetAttrs& attrs, const Verifier& verf) {
  Obj r;
  std::string d = dir;
  std::string n = name;
  CREATE3args args{};
  args.where = DirOp(d, n);
  args.how.mode = mode;
  if (mode == EXCLUSIVE) {
    std::memcpy(args.how.createhow3_u.verf, verf.data(),
                std::min(verf.size(), sizeof(args.how.createhow3_u.verf)));
  } else {
    args.how.createhow3_u.obj_attributes = ToSattr(attrs);
  }
  r.status = Invoke<CREATE3res>("NFS3 CREATE", rpc_nfs3_create_async, args,
                                [&](const CREATE3res& res) { TakeObj(r, res.CREATE3res_u.resok); });
  return r;
}

Nfs3Client::Obj Nfs3Client::Mkdir(const std::string& dir, const std::string& name,
                                  const SetAttrs& attrs) {
  Obj r;
  std::string d = dir;
  std::string n = name;
  MKDIR3args args{};
  args.where = DirOp(d, n);
  args.attributes = ToSattr(attrs);
  r.status = Invoke<MKDIR3res>("NFS3 MKDIR", rpc_nfs3_mkdir_async, args,
                               [&](const MKDIR3res& res) { TakeObj(r, res.MKDIR3res_u.resok); });
  return r;
}

Nfs3Client::Obj Nfs3Client::Symlink(const std::string& dir, const std::string& name,
                                    const std::string& target) {
  Obj r;
  std::string d = dir;
  std::string n = name;
  std::string t = target;
  SYMLINK3args args{};
  args.where = DirOp(d, n);
  args.symlink.symlink_attributes = ToSattr({});
  args.symlink.symlink_data = t.data();
  r.status =
      Invoke<SYMLINK3res>("NFS3 SYMLINK", rpc_nfs3_symlink_async, args,
                          [&](const SYMLINK3res& res) { TakeObj(r, res.SYMLINK3res_u.resok); });
  return r;
}

Nfs3Client::Obj Nfs3Client::Mknod(const std::string& dir, const std::string& name, ftype3 type) {
  return MknodDevice(dir, name, type, 0, 0);
}

Nfs3Client::Obj Nfs3Client::MknodDevice(const std::string& dir, const std::string& name,
                                        ftype3 type, uint32_t major, uint32_t minor) {
  Obj r;
  std::string d = dir;
  std::string n = name;
  MKNOD3args args{};
  args.where = DirOp(d, n);
  args.what.type = type;
  SetAttrs attrs;
  attrs.mode = 0644;
  auto& what = args.what.mknoddata3_u;
  if (type == NF3SOCK) {
    what.sock_attributes = ToSattr(attrs);
  } else if (type == NF3FIFO) {
    what.pipe_attributes = ToSattr(attrs);
  } else {
    devicedata3& dev = type == NF3BLK ? what.blk_device : what.chr_device;
    dev.dev_attributes = ToSattr(attrs);
    dev.spec.specdata1 = major;
    dev.spec.specdata2 = minor;
  }
  r.status = Invoke<MKNOD3res>("NFS3 MKNOD", rpc_nfs3_mknod_async, args,
                               [&](const MKNOD3res& res) { TakeObj(r, res.MKNOD3res_u.resok); });
  return r;
}

int Nfs3Client::Remove(const std::string& dir, const std::string& name) {
  std::string d = dir;
  std::string n = name;
  REMOVE3args args{};
  args.object = DirOp(d, n);
  return Invoke<REMOVE3res>("NFS3 REMOVE", rpc_nfs3_remove_async, args, [](const REMOVE3res&) {});
}

int Nfs3Client::Rmdir(const std::string& dir, const std::string& name) {
  std::string d = dir;
  std::string n = name;
  RMDIR3args args{};
  args.object = DirOp(d, n);
  return Invoke<RMDIR3res>("NFS3 RMDIR", rpc_nfs3_rmdir_async, args, [](const RMDIR3res&) {});
}

int Nfs3Client::Rename(const std::string& from_dir, const std::string& from_name,
                       const std::string& to_dir, const std::string& to_name) {
  std::string fd = from_dir;
  std::string fn = from_name;
  std::string td = to_dir;
  std::string tn = to_name;
  RENAME3args args{};
  args.from = DirOp(fd, fn);
  args.to = DirOp(td, tn);
  return Invoke<RENAME3res>("NFS3 RENAME", rpc_nfs3_rename_async, args, [](const RENAME3res&) {});
}

Nfs3Client::LinkResult Nfs3Client::Link(const std::string& fh, const std::string& dir,
                                        const std::string& name) {
  LinkResult r;
  std::string f = fh;
  std::string d = dir;
  std::string n = name;
  LINK3args args{};
  args.file = FhView(f);
  args.link = DirOp(d, n);
  r.status = Invoke<LINK3res>("NFS3 LINK", rpc_nfs3_link_async, args, [&](const LINK3res& res) {
    r.file_attr = Copy(res.LINK3res_u.resok.file_attributes);
  });
  return r;
}

Nfs3Client::DirResult Nfs3Client::Readdir(const std::string& dir, uint32_t count) {
  std::string d = dir;
  READDIR3args args{};
  args.dir = FhView(d);
  args.count = count;
  return ReadAll<READDIR3res>("NFS3 READDIR", rpc_nfs3_readdir_async, args);
}

Nfs3Client::DirResult Nfs3Client::Readdirplus(const std::string& dir, uint32_t count) {
  std::string d = dir;
  READDIRPLUS3args args{};
  args.dir = FhView(d);
  args.dircount = count / 2;
  args.maxcount = count;
  return ReadAll<READDIRPLUS3res>("NFS3 READDIRPLUS", rpc_nfs3_readdirplus_async, args);
}

Nfs3Client::FsstatResult Nfs3Client::Fsstat(const std::string& fh) {
  FsstatResult r;
  std::string f = fh;
  FSSTAT3args args{};
  args.fsroot = FhView(f);
  r.status = Invoke<FSSTAT3res>("NFS3 FSSTAT", rpc_nfs3_fsstat_async, args,
                                [&](const FSSTAT3res& res) { r.ok = res.FSSTAT3res_u.resok; });
  return r;
}

Nfs3Client::FsinfoResult Nfs3Client::Fsinfo(const std::string& fh) {
  FsinfoResult r;
  std::string f = fh;
  FSINFO3args args{};
  args.fsroot = FhView(f);
  r.status = Invoke<FSINFO3res>("NFS3 FSINFO", rpc_nfs3_fsinfo_async, args,
                                [&](const FSINFO3res& res) { r.ok = res.FSINFO3res_u.resok; });
  return r;
}

Nfs3Client::PathconfResult Nfs3Client::Pathconf(const std::string& fh) {
  PathconfResult r;
  std::string f = fh;
  PATHCONF3args args{};
  args.object = FhView(f);
  r.status =
      Invoke<PATHCONF3res>("NFS3 PATHCONF", rpc_nfs3_pathconf_async, args,
                           [&](const PATHCONF3res& res) { r.ok = res.PATHCONF3res_u.resok; });
  return r;
}

Nfs3Client::CommitResult Nfs3Client::Commit(const std::string& fh, uint64_t offset,
                                            uint32_t count) {
  CommitResult r;
  std::string f = fh;
  COMMIT3args args{};
  args.file = FhView(f);
  args.offset = offset;
  args.count = count;
  r.status =
      Invoke<COMMIT3res>("NFS3 COMMIT", rpc_nfs3_commit_async, args, [&](const COMMIT3res& res) {
        r.verf.assign(res.COMMIT3res_u.resok.verf, NFS3_WRITEVERFSIZE);
      });
  return r;
}

}  // namespace cafs::nfs_test
