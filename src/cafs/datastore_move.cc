#include "cafs/datastore_move.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <utility>

#include "cafs/backing_store_id.h"
#include "cafs/mirrored_file.h"
#include "cafs/redirector.h"
#include "cafs/store_walk.h"
#include "util/logging.h"

namespace cafs::core {
namespace {

// Every entry of ours fits a record string.
static_assert(kMaxBackingEntrySize <= kMoveRecordMaxString);

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

Result<Bytes> ReadWholeFile(env::Env& env, const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(auto file, env.OpenFile(path, env::OpenOptions::ReadOnly()));
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
  if (size > (std::uint64_t{4} << 30)) return Status::Corruption(path + ": too large");
  Bytes data(static_cast<std::size_t>(size));
  CAFS_RETURN_IF_ERROR(env::ReadExactly(*file, 0, MutableByteView(data)));
  return data;
}

std::string JournalPath(const std::string& root, const Uuid& id) {
  return root + "/" + MoveJournalName(id);
}

// The VM set's subtree, read into `m` (entries, files) and the GUIDs' mirror logs.
class SubtreeReader {
 public:
  SubtreeReader(env::Dir& root, MoveRecord& m) : root_(root), m_(m) {}

  Status Read(const std::string& backing_name) {
    CAFS_ASSIGN_OR_RETURN(env::EntryStat st, root_.Stat(backing_name));
    if (!st.is_directory()) return Status::NotFound("VM set '" + m_.vmset + "' is not a directory");
    CAFS_ASSIGN_OR_RETURN(auto dir, root_.OpenDir(backing_name));
    m_.entries.push_back(Entry(MoveEntry::Type::kDirectory, "", st));
    CAFS_RETURN_IF_ERROR(Walk(*dir, ""));
    for (const auto& [ino, seen] : links_) {
      if (seen.names != seen.nlink) {
        return Status::FailedPrecondition(
            "VM set '" + m_.vmset + "': " + seen.path + " has " + std::to_string(seen.nlink) +
            " names, " + std::to_string(seen.names) +
            " of them in the VM set: remove the names outside it first");
      }
    }
    // Mirror logs of the set's files (docs/redirectors.md "Mirror log").
    CAFS_ASSIGN_OR_RETURN(std::vector<Uuid> logs, MirrorLog::List(root_));
    for (const Uuid& guid : logs) {
      if (!guids_.count(guid)) continue;
      const std::string name = MirrorLog::NameFor(guid);
      CAFS_ASSIGN_OR_RETURN(env::EntryStat lst, root_.Stat(name));
      MoveEntry e = Entry(MoveEntry::Type::kMirrorLog, name, lst);
      CAFS_ASSIGN_OR_RETURN(e.data, ReadBackingEntry(root_, name));
      m_.entries.push_back(std::move(e));
    }
    return Status::OK();
  }

 private:
  static MoveEntry Entry(MoveEntry::Type type, std::string path, const env::EntryStat& st) {
    MoveEntry e;
    e.type = type;
    e.path = std::move(path);
    e.mode = st.mode;
    e.uid = st.uid;
    e.gid = st.gid;
    e.rdev = st.rdev;
    e.atime_s = st.atime.tv_sec;
    e.atime_ns = static_cast<std::uint32_t>(st.atime.tv_nsec);
    e.mtime_s = st.mtime.tv_sec;
    e.mtime_ns = static_cast<std::uint32_t>(st.mtime.tv_nsec);
    return e;
  }

  Status Walk(env::Dir& dir, const std::string& rel) {
    CAFS_ASSIGN_OR_RETURN(std::vector<std::string> names, dir.List());
    for (const std::string& name : names) {
      const std::string path = Join(rel, name);
      CAFS_ASSIGN_OR_RETURN(env::EntryStat st, dir.Stat(name));
      if (st.is_directory()) {
        m_.entries.push_back(Entry(MoveEntry::Type::kDirectory, path, st));
        CAFS_ASSIGN_OR_RETURN(auto sub, dir.OpenDir(name));
        CAFS_RETURN_IF_ERROR(Walk(*sub, path));
      } else if (st.is_symlink()) {
        MoveEntry e = Entry(MoveEntry::Type::kSymlink, path, st);
        CAFS_ASSIGN_OR_RETURN(e.data, dir.ReadLink(name));
        m_.entries.push_back(std::move(e));
      } else if (st.is_regular()) {
        CAFS_RETURN_IF_ERROR(Regular(dir, name, path, st));
      } else {
        m_.entries.push_back(Entry(MoveEntry::Type::kNode, path, st));
      }
    }
    return Status::OK();
  }

  Status Regular(env::Dir& dir, const std::string& name, const std::string& path,
                 const env::EntryStat& st) {
    if (name.rfind(kRedirectorTempPrefix, 0) == 0) {
      return Status::FailedPrecondition("VM set '" + m_.vmset + "': " + path +
                                        " is residue of an interrupted create or rename: run "
                                        "`cafsd fsck --remove-orphans` (or start cafsd) first");
    }
    if (st.nlink > 1) {
      auto [it, fresh] = links_.emplace(st.ino, Seen{path, st.nlink, 0});
      ++it->second.names;
      if (!fresh) {
        MoveEntry e = Entry(MoveEntry::Type::kLink, path, st);
        e.data = it->second.path;
        m_.entries.push_back(std::move(e));
        return Status::OK();
      }
    }
    MoveEntry e = Entry(MoveEntry::Type::kFile, path, st);
    CAFS_ASSIGN_OR_RETURN(e.data, ReadBackingEntry(dir, name));
    if (auto split = SplitRedirectorName(name)) {
      auto r = DecodeRedirector(e.data);
      if (!r.ok()) {
        return r.status().WithContext("VM set '" + m_.vmset + "': redirector " + path);
      }
      guids_.insert(r->guid);
      m_.files.push_back({r->guid, std::string(split->pool), r->pool_path});
      for (const ReplicaLocation& c : r->replicas) {
        m_.files.push_back({r->guid, c.pool, c.pool_path});
      }
    }
    m_.entries.push_back(std::move(e));
    return Status::OK();
  }

  struct Seen {
    std::string path;
    std::uint64_t nlink = 0;
    std::uint64_t names = 0;
  };
  env::Dir& root_;
  MoveRecord& m_;
  std::map<std::uint64_t, Seen> links_;  // by inode: regular entries with several names
  std::set<Uuid> guids_;
};

// Removes the entry `name` of `parent` and everything below it; every directory synced before
// it is removed, `parent` synced at the end. OK when it is not there.
Status RemoveTree(env::Dir& parent, const std::string& name) {
  auto st = parent.Stat(name);
  if (!st.ok()) return st.status().IsNotFound() ? Status::OK() : st.status();
  if (st->is_directory()) {
    CAFS_ASSIGN_OR_RETURN(auto dir, parent.OpenDir(name));
    CAFS_ASSIGN_OR_RETURN(std::vector<std::string> names, dir->List());
    for (const std::string& child : names) {
      auto cst = dir->Stat(child);
      if (!cst.ok()) return cst.status();
      if (cst->is_directory()) {
        CAFS_RETURN_IF_ERROR(RemoveTree(*dir, child));
      } else {
        CAFS_RETURN_IF_ERROR(dir->Unlink(child));
      }
    }
    CAFS_RETURN_IF_ERROR(dir->Sync());
    dir.reset();
    CAFS_RETURN_IF_ERROR(parent.RemoveDir(name));
  } else {
    CAFS_RETURN_IF_ERROR(parent.Unlink(name));
  }
  return parent.Sync();
}

Status SetAttrs(env::Dir& dir, const std::string& name, const MoveEntry& e) {
  CAFS_ASSIGN_OR_RETURN(env::EntryStat st, dir.Stat(name));
  if (st.uid != e.uid || st.gid != e.gid) CAFS_RETURN_IF_ERROR(dir.Chown(name, e.uid, e.gid));
  if (e.type != MoveEntry::Type::kSymlink && (st.mode & 07777) != (e.mode & 07777)) {
    CAFS_RETURN_IF_ERROR(dir.Chmod(name, e.mode & 07777));
  }
  const struct timespec times[2] = {
      {static_cast<time_t>(e.atime_s), static_cast<long>(e.atime_ns)},
      {static_cast<time_t>(e.mtime_s), static_cast<long>(e.mtime_ns)}};
  return dir.SetTimes(name, times);
}

Status WriteNewFile(env::Dir& dir, const std::string& name, const std::string& data,
                    std::uint32_t mode) {
  CAFS_ASSIGN_OR_RETURN(
      auto file, dir.OpenFile(name, {.create = true, .exclusive = true, .mode = mode & 07777}));
  CAFS_RETURN_IF_ERROR(file->WriteAt(0, AsBytes(data)));
  return file->Sync();
}

// The parent directory of backing path `path` below the VM set's directory, and the last
// component.
std::pair<std::string, std::string> SplitLast(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Rebuilds the record's subtree in `root` (nothing of it may be there) and its mirror logs.
Status BuildTree(env::Dir& root, const MoveRecord& m) {
  const std::string top = PlainBackingName(m.vmset);
  std::map<std::string, std::unique_ptr<env::Dir>> dirs;  // by path below the VM set's dir
  std::vector<const MoveEntry*> dir_entries;
  for (const MoveEntry& e : m.entries) {
    if (e.type == MoveEntry::Type::kMirrorLog) {
      (void)root.Unlink(e.path);  // a copy from an earlier attempt
      CAFS_RETURN_IF_ERROR(WriteNewFile(root, e.path, e.data, e.mode));
      continue;
    }
    if (e.type == MoveEntry::Type::kDirectory && e.path.empty()) {
      CAFS_RETURN_IF_ERROR(root.MakeDir(top, 0700));
      CAFS_ASSIGN_OR_RETURN(dirs[""], root.OpenDir(top));
      dir_entries.push_back(&e);
      continue;
    }
    auto [parent_path, name] = SplitLast(e.path);
    auto parent = dirs.find(parent_path);
    if (parent == dirs.end()) {
      return Status::Corruption("move record: " + e.path + " comes before its directory");
    }
    env::Dir& dir = *parent->second;
    switch (e.type) {
      case MoveEntry::Type::kDirectory: {
        CAFS_RETURN_IF_ERROR(dir.MakeDir(name, 0700));
        CAFS_ASSIGN_OR_RETURN(dirs[e.path], dir.OpenDir(name));
        dir_entries.push_back(&e);
        continue;  // attributes once its entries are made
      }
      case MoveEntry::Type::kFile:
        CAFS_RETURN_IF_ERROR(WriteNewFile(dir, name, e.data, e.mode));
        break;
      case MoveEntry::Type::kSymlink:
        CAFS_RETURN_IF_ERROR(dir.Symlink(e.data, name));
        break;
      case MoveEntry::Type::kNode:
        CAFS_RETURN_IF_ERROR(dir.MakeNode(name, e.mode, e.rdev));
        break;
      case MoveEntry::Type::kLink: {
        auto [from_parent, from_name] = SplitLast(e.data);
        auto from = dirs.find(from_parent);
        if (from == dirs.end()) {
          return Status::Corruption("move record: link " + e.path + " to an unknown entry");
        }
        CAFS_RETURN_IF_ERROR(from->second->Link(from_name, dir, name));
        continue;  // the attributes are the inode's: set with its first name
      }
      case MoveEntry::Type::kMirrorLog:
        break;
    }
    CAFS_RETURN_IF_ERROR(SetAttrs(dir, name, e));
  }
  if (dirs.find("") == dirs.end()) return Status::Corruption("move record: no VM set directory");
  // Deepest first: a directory's entries are durable, then its own attributes and name.
  for (auto it = dir_entries.rbegin(); it != dir_entries.rend(); ++it) {
    const MoveEntry& e = **it;
    CAFS_RETURN_IF_ERROR(dirs[e.path]->Sync());
    if (e.path.empty()) {
      CAFS_RETURN_IF_ERROR(SetAttrs(root, top, e));
    } else {
      auto [parent_path, name] = SplitLast(e.path);
      CAFS_RETURN_IF_ERROR(SetAttrs(*dirs[parent_path], name, e));
    }
  }
  return root.Sync();
}

Status MarkDone(env::Env& env, const std::string& root, const Uuid& id) {
  {
    CAFS_ASSIGN_OR_RETURN(
        auto marker,
        env.OpenFile(JournalPath(root, id) + std::string(kMoveDoneSuffix), {.create = true}));
    CAFS_RETURN_IF_ERROR(marker->Sync());
  }
  return env.SyncDir(root);
}

// The ids of the journals in `root` (names `.cafs-move-<uuid>` exactly: not the marker, not a
// `.new` left by a crash) and whether each is done.
Result<std::map<Uuid, bool>> Journals(env::Dir& root) {
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> names, root.List());
  std::map<Uuid, bool> out;
  std::set<std::string> all(names.begin(), names.end());
  for (const std::string& name : names) {
    if (name.rfind(kMoveJournalPrefix, 0) != 0) continue;
    auto id = Uuid::Parse(std::string_view(name).substr(kMoveJournalPrefix.size()));
    if (!id.ok() || MoveJournalName(*id) != name) continue;
    out[*id] = all.count(name + std::string(kMoveDoneSuffix)) > 0;
  }
  return out;
}

Result<MoveRecord> LoadJournal(env::Dir& root, const std::string& name) {
  CAFS_ASSIGN_OR_RETURN(auto file, root.OpenFile(name, env::OpenOptions::Metadata()));
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
  Bytes data(static_cast<std::size_t>(size));
  CAFS_RETURN_IF_ERROR(env::ReadExactly(*file, 0, MutableByteView(data)));
  auto m = DecodeMoveRecord(data);
  if (!m.ok()) return m.status().WithContext("move journal " + name);
  return m;
}

// Finishes the move `m` of this store (`owner`): an export removes the subtree and the mirror
// logs, an import rebuilds the subtree whole.
Status Finish(env::Env& env, const std::string& root_path, env::Dir& root, const Uuid& owner,
              const MoveRecord& m) {
  CAFS_RETURN_IF_ERROR(RemoveTree(root, PlainBackingName(m.vmset)));
  for (const MoveEntry& e : m.entries) {
    if (e.type != MoveEntry::Type::kMirrorLog) continue;
    if (Status s = root.Unlink(e.path); !s.ok() && !s.IsNotFound()) return s;
  }
  CAFS_RETURN_IF_ERROR(root.Sync());
  if (m.source != owner) CAFS_RETURN_IF_ERROR(BuildTree(root, m));
  return MarkDone(env, root_path, m.move_id);
}

// What would make the rebuild fail after the commit point whatever the retries (and so keep
// the store from being served): owners only root may give, device nodes only root may make.
Status CheckCanRebuild(const MoveRecord& m) {
  const std::uint32_t euid = ::geteuid(), egid = ::getegid();
  if (euid == 0) return Status::OK();
  for (const MoveEntry& e : m.entries) {
    const bool device = e.type == MoveEntry::Type::kNode && (S_ISCHR(e.mode) || S_ISBLK(e.mode));
    if (device || e.uid != euid || e.gid != egid) {
      return Status::FailedPrecondition(
          "VM set '" + m.vmset + "': entry " + e.path + " is owned by " + std::to_string(e.uid) +
          ":" + std::to_string(e.gid) + (device ? " and is a device node" : "") +
          "; only root can recreate it: import as root (cafsd's user)");
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<env::Dir>> OpenRoot(env::Env& env, const std::string& backing_root) {
  auto dir = env.OpenDirectory(backing_root);
  if (!dir.ok()) {
    return Status::FromErrno(dir.status().errno_value(), "open backing store " + backing_root);
  }
  return std::move(*dir);
}

}  // namespace

std::string MoveJournalName(const Uuid& move_id) {
  return std::string(kMoveJournalPrefix) + move_id.ToString();
}

Status RecoverDatastoreMoves(const std::string& backing_root, env::Env* env) {
  CAFS_ASSIGN_OR_RETURN(auto root, OpenRoot(*env, backing_root));
  CAFS_ASSIGN_OR_RETURN(auto journals, Journals(*root));
  std::optional<Uuid> owner;
  for (const auto& [id, done] : journals) {
    if (done) continue;
    if (!owner) {
      CAFS_ASSIGN_OR_RETURN(owner, ReadBackingStoreId(*root));
      if (!owner) return Status::Corruption("move journals in a backing store without an id");
    }
    CAFS_ASSIGN_OR_RETURN(MoveRecord m, LoadJournal(*root, MoveJournalName(id)));
    CAFS_LOG_INFO("finishing the {} of VM set {} (move {}) interrupted by a crash",
                  m.source == *owner ? "export" : "import", m.vmset, id.ToString());
    CAFS_RETURN_IF_ERROR(Finish(*env, backing_root, *root, *owner, m));
  }
  return Status::OK();
}

Result<MoveRecord> ExportDatastore(const std::string& backing_root, const std::string& vmset,
                                   const std::string& record_path, env::Env* env) {
  CAFS_RETURN_IF_ERROR(RecoverDatastoreMoves(backing_root, env));
  CAFS_ASSIGN_OR_RETURN(auto root, OpenRoot(*env, backing_root));
  CAFS_ASSIGN_OR_RETURN(std::optional<Uuid> owner, ReadBackingStoreId(*root));
  if (!owner) return Status::NotFound("VM set '" + vmset + "': the backing store has no files");
  if (vmset.empty() || vmset.find('/') != std::string::npos || vmset == "." || vmset == "..") {
    return Status::InvalidArgument("bad VM set name '" + vmset + "'");
  }
  if (NeedsHashedPlainName(vmset)) {
    // Its side entry would sit in the backing root beside other VM sets' (not moved here).
    return Status::InvalidArgument("VM set '" + vmset +
                                   "': a name stored hashed (with \"##\") cannot be moved");
  }
  if (env->Stat(record_path).ok()) {
    return Status::AlreadyExists(record_path + " exists: the record goes to a new file");
  }
  MoveRecord m;
  m.move_id = Uuid::Random();
  m.source = *owner;
  m.vmset = vmset;
  {
    SubtreeReader reader(*root, m);
    Status s = reader.Read(PlainBackingName(vmset));
    if (s.IsNotFound()) return Status::NotFound("no VM set '" + vmset + "' in " + backing_root);
    CAFS_RETURN_IF_ERROR(s);
  }
  const Bytes bytes = EncodeMoveRecord(m);
  std::string record_dir = std::filesystem::path(record_path).parent_path().string();
  if (record_dir.empty()) record_dir = ".";
  CAFS_RETURN_IF_ERROR(env::ReplaceFileAtomically(*env, record_dir, record_path, bytes)
                           .WithContext("writing the move record " + record_path));
  // The commit point.
  CAFS_RETURN_IF_ERROR(
      env::ReplaceFileAtomically(*env, backing_root, JournalPath(backing_root, m.move_id), bytes)
          .WithContext("writing the move journal"));
  CAFS_RETURN_IF_ERROR(Finish(*env, backing_root, *root, *owner, m));
  return m;
}

Result<MoveRecord> ImportDatastore(const std::string& backing_root, const std::string& record_path,
                                   pool::PoolMapper& pools, env::Env* env) {
  CAFS_RETURN_IF_ERROR(RecoverDatastoreMoves(backing_root, env));
  CAFS_ASSIGN_OR_RETURN(auto root, OpenRoot(*env, backing_root));
  CAFS_ASSIGN_OR_RETURN(Bytes bytes, ReadWholeFile(*env, record_path));
  auto decoded = DecodeMoveRecord(bytes);
  if (!decoded.ok()) return decoded.status().WithContext(record_path);
  MoveRecord m = std::move(*decoded);
  CAFS_ASSIGN_OR_RETURN(Uuid owner, LoadOrMintBackingStoreId(*root));
  if (m.source == owner) {
    return Status::InvalidArgument(record_path + " was exported by this backing store (" +
                                   owner.ToString() + ")");
  }
  if (root->Stat(MoveJournalName(m.move_id)).ok()) {
    return Status::AlreadyExists("move " + m.move_id.ToString() + " (VM set '" + m.vmset +
                                 "') is imported already");
  }
  if (root->Stat(PlainBackingName(m.vmset)).ok()) {
    return Status::AlreadyExists("VM set '" + m.vmset + "' exists in " + backing_root +
                                 ": move or remove it first");
  }
  for (const MovedFile& f : m.files) {
    auto pool = pools.Find(f.pool);
    if (!pool.ok()) {
      return Status::FailedPrecondition("VM set '" + m.vmset + "' has files in pool '" + f.pool +
                                        "', which this gateway does not configure");
    }
    auto header = ReadPoolFileHeader(**pool, f.pool_path);
    if (!header.ok() || header->file_guid != f.guid) {
      return Status::FailedPrecondition(
          "VM set '" + m.vmset + "': pool file " + f.pool + ":" + f.pool_path + " of file " +
          f.guid.ToString() + " is not there or holds another file" +
          (header.ok() ? std::string() : " (" + header.status().ToString() + ")"));
    }
  }
  CAFS_RETURN_IF_ERROR(CheckCanRebuild(m));
  // The commit point.
  CAFS_RETURN_IF_ERROR(
      env::ReplaceFileAtomically(*env, backing_root, JournalPath(backing_root, m.move_id), bytes)
          .WithContext("writing the move journal"));
  CAFS_RETURN_IF_ERROR(Finish(*env, backing_root, *root, owner, m));
  return m;
}

Result<MoveLedger> LoadMoveLedger(env::Dir& root, const Uuid& owner) {
  CAFS_ASSIGN_OR_RETURN(auto journals, Journals(root));
  MoveLedger ledger;
  for (const auto& [id, done] : journals) {
    CAFS_ASSIGN_OR_RETURN(MoveRecord m, LoadJournal(root, MoveJournalName(id)));
    for (const MovedFile& f : m.files) {
      if (m.source == owner) {
        ledger.moved_out.insert(f.guid);
      } else {
        ledger.adopted.push_back(f);
      }
    }
  }
  return ledger;
}

}  // namespace cafs::core
