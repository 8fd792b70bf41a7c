#include "cafs/volume_check.h"

#include <sys/stat.h>

#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <utility>

#include "cafs/backing_store_id.h"
#include "cafs/datastore_move.h"
#include "cafs/mirrored_file.h"
#include "cafs/redirector.h"
#include "cafs/replicator.h"
#include "cafs/store_walk.h"
#include "cafs/volume.h"
#include "format/header_codec.h"
#include "format/header_layout.h"
#include "util/bytes.h"

namespace cafs::core {
namespace {

using Kind = CheckFinding::Kind;

class Checker {
 public:
  Checker(std::unique_ptr<env::Dir> root, pool::PoolMapper& pools, const CheckOptions& options,
          std::optional<Uuid> owner, MoveLedger ledger)
      : root_(std::move(root)),
        pools_(pools),
        options_(options),
        owner_(owner),
        ledger_(std::move(ledger)) {
    for (const auto& name : pools_.names()) configured_.insert(name);
  }

  // Backing-relative paths of the redirectors whose pool path is name-derived.
  const std::vector<std::string>& legacy() const { return legacy_; }

  CheckReport Run() {
    WalkBacking();
    MirrorLogs();
    Progress(true);
    for (const auto& name : pools_.names()) WalkPool(name);
    Adopted();
    Progress(true);
    for (const auto& [key, named] : named_) {
      if (present_.count(key)) continue;
      std::string detail = "GUID " + key.second + " is in no file of pool " + key.first;
      if (unreadable_.count({key.first, named.pool_path})) {
        detail += " (" + named.pool_path + ", its path, has no readable header)";
      }
      Add(Kind::kMissingPoolFile, "backing:" + named.rel, std::move(detail));
    }
    return std::move(report_);
  }

 private:
  void Add(Kind kind, std::string where, std::string detail, std::uint64_t bytes = 0,
           bool removed = false) {
    report_.findings.push_back({kind, std::move(where), std::move(detail), bytes, removed});
  }

  void Progress(bool end_of_phase) {
    if (!options_.progress) return;
    const std::uint64_t seen = report_.redirectors + report_.pool_files;
    const std::uint64_t every = options_.progress_every == 0 ? 1 : options_.progress_every;
    if (end_of_phase || seen % every == 0) {
      options_.progress({report_.redirectors, report_.pool_files});
    }
  }

  // The backing store, one directory at a time (a directory that cannot be listed is a
  // finding; the walk goes on). Symlinks are not followed.
  void WalkBacking() {
    // A directory to walk: its handle, its backing path and its caller-visible path (they
    // differ where a directory's name is stored hashed, NeedsHashedPlainName).
    struct Todo {
      std::unique_ptr<env::Dir> dir;
      std::string dir_rel, caller_rel;
    };
    std::vector<Todo> todo;
    auto root = root_->OpenDir(".");
    if (!root.ok()) {
      Add(Kind::kUnreadable, "backing:", root.status().ToString());
      return;
    }
    todo.push_back({std::move(*root), "", ""});
    while (!todo.empty()) {
      auto [dir, dir_rel, caller_rel] = std::move(todo.back());
      todo.pop_back();
      auto names = dir->List();
      if (!names.ok()) {
        Add(Kind::kUnreadable, "backing:" + dir_rel, names.status().ToString());
        continue;
      }
      long_stems_.clear();
      std::vector<std::string> side_entries;
      for (const std::string& name : *names) {
        const std::string rel = dir_rel.empty() ? name : dir_rel + "/" + name;
        auto st = dir->Stat(name);
        if (!st.ok()) continue;
        // A directory, symlink or special file stored under its stem: its side entry.
        std::string shown = name;
        if (!st->is_regular() && IsLongNameStem(name)) {
          long_stems_.insert(name);
          env::Dir& here = *dir;  // clang 14 does not capture a structured binding
          auto n = CallerNameOfEntry(
              name, false, [&](const std::string& entry) { return ReadBackingEntry(here, entry); });
          if (n.ok()) {
            shown = std::move(*n);
          } else {
            Add(Kind::kMissingLongName, "backing:" + rel,
                n.status().ToString() +
                    " (the entry is reachable by its name, but not listed; restore the side "
                    "entry)");
          }
        }
        if (st->is_directory()) {
          auto sub = dir->OpenDir(name);
          if (sub.ok()) {
            todo.push_back({std::move(*sub), rel, caller_rel + "/" + shown});
          } else {
            Add(Kind::kUnreadable, "backing:" + rel, sub.status().ToString());
          }
        } else if (st->is_regular() && LongNameEntryStem(name)) {
          side_entries.push_back(name);
        } else if (st->is_regular()) {
          Entry(*dir, name, rel, caller_rel, *st);
        }
      }
      // Side entries whose stem no redirector of this directory has: crash residue.
      for (const std::string& name : side_entries) {
        if (long_stems_.count(std::string(*LongNameEntryStem(name)))) continue;
        const std::string rel = dir_rel.empty() ? name : dir_rel + "/" + name;
        const bool removed = options_.remove_orphans && dir->Unlink(name).ok();
        Add(Kind::kOrphanLongName, "backing:" + rel,
            removed ? "removed" : "the name of a hashed name no entry has", 0, removed);
      }
    }
  }

  // `caller_rel`: the caller-visible path of the entry's directory ("" or "/a/b").
  void Entry(env::Dir& dir, const std::string& name, const std::string& rel,
             const std::string& caller_rel, const env::EntryStat& st) {
    if (name.rfind(kRedirectorTempPrefix, 0) == 0) {
      if (name.rfind(std::string(kRedirectorTempPrefix) + "replaced-", 0) == 0 && st.nlink > 1) {
        Add(Kind::kStaleTempFile, "backing:" + rel,
            "marks a redirector replaced by an interrupted rename; the next lookup of that name "
            "finishes the rename (kept)");
        return;
      }
      const bool removed = options_.remove_orphans && dir.Unlink(name).ok();
      Add(Kind::kStaleTempFile, "backing:" + rel,
          removed ? "removed" : "a create interrupted before its redirector was named", 0, removed);
      return;
    }
    const auto split = SplitRedirectorName(name);
    if (!split) return;  // not a redirector (the Volume hides it too), e.g. .cafs-lock
    ++report_.redirectors;
    Progress(false);
    const std::string pool(split->pool);
    if (IsLongNameStem(split->name)) long_stems_.insert(std::string(split->name));
    auto caller_name = CallerNameOf(
        *split, [&](const std::string& entry) { return ReadBackingEntry(dir, entry); });
    if (!caller_name.ok()) {
      Add(Kind::kMissingLongName, "backing:" + rel,
          caller_name.status().ToString() +
              " (the file is reachable by its name, but not listed; restore the side entry)");
    }
    auto text = ReadBackingEntry(dir, name);
    if (!text.ok()) {
      Add(Kind::kBadRedirector, "backing:" + rel, text.status().ToString());
      return;
    }
    auto r = DecodeRedirector(*text);
    if (!r.ok()) {
      Add(Kind::kBadRedirector, "backing:" + rel, r.status().ToString());
      return;
    }
    if (!configured_.count(pool)) {
      Add(Kind::kBadRedirector, "backing:" + rel, "names pool '" + pool + "', not configured");
      return;
    }
    if (!owner_ || (r->pool_path != NewPoolPath(*owner_, r->guid) && !IsAdoptedPath(*r))) {
      ++report_.legacy_pool_paths;
      if (caller_name.ok()) legacy_.push_back((caller_rel + "/" + *caller_name).substr(1));
    }
    const auto key = std::make_pair(pool, r->guid.ToString());
    if (auto [it, fresh] = named_.emplace(key, Named{rel, r->pool_path, st.ino}); !fresh) {
      if (it->second.ino == st.ino) return;  // another name (hard link) of the same redirector
      Add(Kind::kDuplicateGuid, "backing:" + rel,
          "GUID " + key.second + " also named by " + it->second.rel + " in pool " + pool);
    }
    // A mirrored file's other copies are named too (docs/redirectors.md "Mirrored files").
    for (const ReplicaLocation& c : r->replicas) {
      if (!configured_.count(c.pool)) {
        Add(Kind::kBadRedirector, "backing:" + rel,
            "names pool '" + c.pool + "' for a copy, not configured");
        continue;
      }
      named_.emplace(std::make_pair(c.pool, key.second), Named{rel, c.pool_path, st.ino});
    }
  }

  // Mirror logs (docs/redirectors.md "Mirror log") of files no redirector names any more: an
  // unlink interrupted between removing the redirector and the log. Removable.
  void MirrorLogs() {
    auto guids = MirrorLog::List(*root_);
    if (!guids.ok()) return;  // the walk reported the unreadable root
    std::set<std::string> named;
    for (const auto& [key, n] : named_) named.insert(key.second);
    for (const Uuid& guid : *guids) {
      if (named.count(guid.ToString())) continue;
      const bool removed = options_.remove_orphans && MirrorLog(root_.get(), guid).Remove().ok();
      Add(Kind::kOrphanMirrorLog, "backing:" + MirrorLog::NameFor(guid),
          removed ? "removed"
                  : "the mirror log of file " + guid.ToString() + ", named by no redirector",
          0, removed);
    }
  }

  // "a/b/" for the entry "a/b/name##p".
  static std::string dir_rel_of(const std::string& rel, const std::string& name) {
    return rel.substr(0, rel.size() - name.size());
  }

  void WalkPool(const std::string& name) {
    auto pool = pools_.Find(name);
    if (!pool.ok()) return;
    std::vector<std::string> todo{""};
    while (!todo.empty()) {
      const std::string dir = std::move(todo.back());
      todo.pop_back();
      auto names = (*pool)->ListDir(dir);
      if (!names.ok()) {
        Add(Kind::kUnreadable, name + ":" + dir, names.status().ToString());
        continue;
      }
      for (const auto& n : *names) {
        const std::string rel = dir.empty() ? n : dir + "/" + n;
        // DR replicas (docs/replicas.md): checked by `cafsd replica verify`, not pool files.
        if (dir.empty() && n == kReplicaRoot) continue;
        if (dir.empty() && Uuid::Parse(n).ok() && (!owner_ || n != owner_->ToString())) {
          ++report_.other_owners;  // another gateway's mark: never ours to judge
          continue;
        }
        auto info = (*pool)->Stat(rel);
        if (!info.ok()) {
          Add(Kind::kUnreadable, name + ":" + rel, info.status().ToString());
        } else if (info->is_directory) {
          todo.push_back(rel);
        } else {
          PoolFile(**pool, rel, *info);
        }
      }
    }
  }

  void PoolFile(pool::Pool& pool, const std::string& rel, const env::FileInfo& info) {
    ++report_.pool_files;
    Progress(false);
    const std::string where = pool.name() + ":" + rel;
    const std::size_t slash = rel.rfind('/');
    const std::string_view base =
        std::string_view(rel).substr(slash == std::string::npos ? 0 : slash + 1);
    if (base.rfind(kShredClaimPrefix, 0) == 0) {
      // Half shredded (its header may be random already): the job finishes it, never fsck.
      Add(Kind::kOrphanPoolFile, where,
          "claimed by a shred job that has not finished: start cafsd and it finishes the job",
          info.allocated_bytes, false);
      return;
    }
    if (base.rfind(kMigrateTempPrefix, 0) == 0) {
      // A copy a migration was making (docs/migration.md): never authoritative, the source
      // is; a running migration removes it itself, so it is crash residue here.
      const bool removed = options_.remove_orphans && pool.RemoveFile(rel).ok();
      Add(Kind::kOrphanPoolFile, where,
          removed ? "removed"
                  : "an incomplete copy left by an interrupted migration (the file is intact "
                    "in its pool)",
          info.allocated_bytes, removed);
      return;
    }
    auto header = ReadPoolFileHeader(pool, rel);
    if (!header.ok()) {
      unreadable_.insert({pool.name(), rel});
      Add(Kind::kBadPoolFile, where, header.status().ToString());
      return;
    }
    const auto key = std::make_pair(pool.name(), header->file_guid.ToString());
    present_.insert(key);
    if (named_.count(key)) return;
    if (ledger_.moved_out.count(header->file_guid)) {
      ++report_.moved_out;  // exported to another gateway (datastore_move.h): its file now
      return;
    }
    const bool removed = options_.remove_orphans && pool.RemoveFile(rel).ok();
    Add(Kind::kOrphanPoolFile, where, "GUID " + key.second + " is named by no redirector",
        info.allocated_bytes, removed);
  }

  // A redirector naming the GUID path of its file under another store's mark: a file adopted
  // by a datastore move (not a name-derived path to upgrade).
  static bool IsAdoptedPath(const Redirector& r) {
    const std::size_t slash = r.pool_path.find('/');
    if (slash == std::string::npos) return false;
    auto mark = Uuid::Parse(std::string_view(r.pool_path).substr(0, slash));
    return mark.ok() && r.pool_path == NewPoolPath(*mark, r.guid);
  }

  // The pool files adopted by datastore moves (under their exporter's mark, which the pool walk
  // skips): each read at its path alone, never the rest of that mark. One a redirector names
  // is present; one none names is this store's orphan (removable), unless this store moved it
  // out again since (then it is the next gateway's).
  void Adopted() {
    for (const MovedFile& f : ledger_.adopted) {
      const auto key = std::make_pair(f.pool, f.guid.ToString());
      if (present_.count(key)) continue;
      auto pool = pools_.Find(f.pool);
      if (!pool.ok()) continue;
      auto header = ReadPoolFileHeader(**pool, f.pool_path);
      if (!header.ok() || header->file_guid != f.guid) continue;  // gone since (unlinked)
      present_.insert(key);
      ++report_.adopted;
      if (named_.count(key) || ledger_.moved_out.count(f.guid)) continue;
      auto info = (*pool)->Stat(f.pool_path);
      const bool removed = options_.remove_orphans && (*pool)->RemoveFile(f.pool_path).ok();
      Add(Kind::kOrphanPoolFile, f.pool + ":" + f.pool_path,
          "GUID " + key.second + " (adopted by a datastore move) is named by no redirector",
          info.ok() ? info->allocated_bytes : 0, removed);
    }
  }

  const std::unique_ptr<env::Dir> root_;
  pool::PoolMapper& pools_;
  const CheckOptions& options_;
  const std::optional<Uuid> owner_;  // this backing store's id (none yet: no GUID paths)
  const MoveLedger ledger_;          // what datastore moves moved out and adopted
  std::vector<std::string> legacy_;
  std::set<std::string> configured_;
  std::set<std::string> long_stems_;  // stems of the long-name redirectors of the current dir
  struct Named {
    std::string rel;        // the redirector, backing-relative
    std::string pool_path;  // its `path` line
    std::uint64_t ino = 0;  // its inode: hard links of it are not duplicates
  };
  std::map<std::pair<std::string, std::string>, Named> named_;  // (pool, GUID) -> redirector
  std::set<std::pair<std::string, std::string>> present_;       // (pool, GUID) in pools
  std::set<std::pair<std::string, std::string>> unreadable_;    // (pool, path): bad headers
  CheckReport report_;
};

}  // namespace

const char* CheckFindingName(CheckFinding::Kind kind) {
  switch (kind) {
    case Kind::kOrphanPoolFile:
      return "orphan-pool-file";
    case Kind::kStaleTempFile:
      return "stale-temp-file";
    case Kind::kMissingPoolFile:
      return "missing-pool-file";
    case Kind::kBadRedirector:
      return "bad-redirector";
    case Kind::kDuplicateGuid:
      return "duplicate-guid";
    case Kind::kBadPoolFile:
      return "bad-pool-file";
    case Kind::kUnreadable:
      return "unreadable";
    case Kind::kOrphanLongName:
      return "orphan-long-name";
    case Kind::kMissingLongName:
      return "missing-long-name";
    case Kind::kOrphanMirrorLog:
      return "orphan-mirror-log";
  }
  return "?";
}

std::size_t CheckReport::remaining() const {
  std::size_t n = 0;
  for (const auto& f : findings) n += f.removed ? 0 : 1;
  return n;
}

Result<CheckReport> CheckVolume(const std::string& backing_root, pool::PoolMapper& pools,
                                const CheckOptions& options, env::Env* env) {
  auto root = env->OpenDirectory(backing_root);
  if (!root.ok()) {
    return Status::FromErrno(root.status().errno_value(), "backing store " + backing_root);
  }
  // A datastore move interrupted by a crash is finished first (datastore_move.h): until then
  // its files could look like orphans.
  CAFS_RETURN_IF_ERROR(RecoverDatastoreMoves(backing_root, env));
  auto owner = ReadBackingStoreId(**root);
  if (!owner.ok()) return owner.status().WithContext("backing store " + backing_root);
  MoveLedger ledger;
  if (*owner) {
    CAFS_ASSIGN_OR_RETURN(ledger, LoadMoveLedger(**root, **owner));
  }
  Checker checker(std::move(*root), pools, options, *owner, std::move(ledger));
  CheckReport report = checker.Run();
  if (options.upgrade_pool_paths && !checker.legacy().empty()) {
    CAFS_ASSIGN_OR_RETURN(auto volume, Volume::Open(backing_root, &pools, env));
    for (const std::string& rel : checker.legacy()) {
      Status s = volume->MoveToNewPoolPath(rel);
      if (s.ok()) {
        ++report.upgraded;
      } else {
        report.findings.push_back({Kind::kUnreadable, "backing:" + rel,
                                   "pool path not upgraded: " + s.ToString(), 0, false});
      }
    }
  }
  return report;
}

}  // namespace cafs::core
