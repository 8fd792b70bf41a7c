#include "env/fault_injection_env.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cafs::env {

// One undo record: before an operation the file had `old_size` bytes and [offset,
// offset+old_bytes.size()) held old_bytes (clipped to old_size). Undo = write old_bytes back,
// then truncate to old_size; applying records newest-first restores the synced state.
struct FaultInjectionEnv::FileState {
  struct Undo {
    std::uint64_t old_size;
    std::uint64_t offset;
    Bytes old_bytes;
  };
  std::mutex mu;             // serializes mutations with their undo records
  std::vector<Undo> undo;    // guarded by mu; cleared by a successful Sync
  std::unique_ptr<File> io;  // a handle used to roll back (shares the target file)
};

namespace {

class FaultInjectionFile final : public File {
 public:
  FaultInjectionFile(FaultInjectionEnv* env, std::unique_ptr<File> target,
                     std::shared_ptr<FaultInjectionEnv::FileState> state)
      : env_(env), target_(std::move(target)), state_(std::move(state)) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeRead(path(), offset, out.size()));
    return target_->ReadAt(offset, out);
  }

  Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeNoWaitRead(path(), offset, out.size()));
    return target_->ReadAtNoWait(offset, out);
  }

  Status WriteAt(std::uint64_t offset, ByteView data) override {
    std::uint64_t allowed = data.size();
    Status fault = env_->BeforeWrite(path(), offset, data.size(), &allowed);
    if (allowed > 0) {
      std::lock_guard lock(state_->mu);
      CAFS_RETURN_IF_ERROR(RecordUndo(offset, allowed));
      CAFS_RETURN_IF_ERROR(target_->WriteAt(offset, data.first(static_cast<std::size_t>(allowed))));
    }
    return fault;
  }

  Status Truncate(std::uint64_t size) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeWrite(path(), size, 0, nullptr));
    std::lock_guard lock(state_->mu);
    CAFS_ASSIGN_OR_RETURN(std::uint64_t old_size, target_->Size());
    const std::uint64_t lo = std::min(size, old_size);
    CAFS_RETURN_IF_ERROR(RecordUndo(lo, old_size - lo));
    return target_->Truncate(size);
  }

  Status Sync() override {
    CAFS_RETURN_IF_ERROR(env_->BeforeSync(path()));
    std::lock_guard lock(state_->mu);
    CAFS_RETURN_IF_ERROR(target_->Sync());
    state_->undo.clear();
    env_->CountSync();
    return Status::OK();
  }

  Result<std::uint64_t> Size() override { return target_->Size(); }

  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeWrite(path(), offset, 0, nullptr));
    std::lock_guard lock(state_->mu);
    CAFS_RETURN_IF_ERROR(RecordUndo(offset, length));
    return target_->PunchHole(offset, length);
  }

  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeWrite(path(), offset, 0, nullptr));
    std::lock_guard lock(state_->mu);
    CAFS_RETURN_IF_ERROR(RecordUndo(offset, 0));
    return target_->Allocate(offset, length);
  }

  Result<EntryStat> Stat() override {
    env_->CountStat();
    return target_->Stat();
  }
  Status SetTimes(const struct timespec times[2]) override { return target_->SetTimes(times); }
  Status Chmod(std::uint32_t mode) override { return target_->Chmod(mode); }
  Status Chown(std::uint32_t uid, std::uint32_t gid) override { return target_->Chown(uid, gid); }

  const std::string& path() const override { return target_->path(); }

 private:
  // Saves what [offset, offset+length) and the size are now. Caller holds state_->mu.
  Status RecordUndo(std::uint64_t offset, std::uint64_t length) {
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, target_->Size());
    FaultInjectionEnv::FileState::Undo u{size, offset, {}};
    if (offset < size) {
      u.old_bytes.resize(static_cast<std::size_t>(std::min(length, size - offset)));
      CAFS_ASSIGN_OR_RETURN(std::size_t n, target_->ReadAt(offset, u.old_bytes));
      u.old_bytes.resize(n);
    }
    state_->undo.push_back(std::move(u));
    return Status::OK();
  }

  FaultInjectionEnv* env_;
  std::unique_ptr<File> target_;
  std::shared_ptr<FaultInjectionEnv::FileState> state_;
};

Status Injected(const std::string& what, const std::string& path, int err) {
  return Status::FromErrno(err, "injected fault: " + what + " " + path);
}

}  // namespace

namespace {

std::string ParentOf(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string InodeKey(const EntryStat& st) {
  return std::to_string(st.dev) + ":" + std::to_string(st.ino);
}

// Removes `name` in `dir` and, for a directory, everything below it (on the target Env).
Status RemoveTree(Dir& dir, const std::string& name) {
  CAFS_ASSIGN_OR_RETURN(EntryStat st, dir.Stat(name));
  if (!st.is_directory()) return dir.Unlink(name);
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> sub, dir.OpenDir(name));
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> names, sub->List());
  for (const auto& n : names) CAFS_RETURN_IF_ERROR(RemoveTree(*sub, n));
  return dir.RemoveDir(name);
}

}  // namespace

// One directory change not yet durable, and how to undo it.
struct FaultInjectionEnv::DirChange {
  enum class Kind {
    kCreated,    // `name` appeared in `dir` (create, mkdir, mknod, symlink, link)
    kRemoved,    // `name` left `dir` (unlink: kept as `stash`; rmdir: recreated from `old`)
    kRenamed,    // `name` in `dir` became `to_name` in `to_dir`, replacing `stash`/`old`
    kExchanged,  // `name` in `dir` and `to_name` in `to_dir` swapped
  };
  Kind kind;
  std::shared_ptr<Dir> dir;
  std::string name;
  std::shared_ptr<Dir> to_dir;
  std::string to_name;
  std::string stash;              // an entry removed or replaced, kept in the stash dir
  std::optional<EntryStat> old;   // a removed or replaced directory (recreated empty)
  std::set<std::string> pending;  // directories (by inode key) still to be synced
};

// The journal of directory changes (b'). Its mutex serializes each change with its record,
// so the journal's order is the order the changes happened in.
class FaultInjectionEnv::Journal {
 public:
  explicit Journal(std::unique_ptr<Dir> stash) : stash_(std::move(stash)) {}

  std::mutex& mu() { return mu_; }

  // Keeps `name` in `dir` as a hard link in the stash directory; returns the stash name.
  // Caller holds mu().
  Result<std::string> StashLocked(Dir& dir, const std::string& name) {
    std::string stash = "fi-stash-" + std::to_string(next_stash_++);
    CAFS_RETURN_IF_ERROR(dir.Link(name, *stash_, stash));
    return stash;
  }

  // A stash made for a change that then failed ("" = none). Caller holds mu().
  void DropStashLocked(const std::string& stash) {
    if (!stash.empty()) (void)stash_->Unlink(stash);
  }

  // Caller holds mu().
  void AddLocked(DirChange change) { changes_.push_back(std::move(change)); }

  void Synced(const std::string& dir_key) {
    std::lock_guard lock(mu_);
    for (auto it = changes_.begin(); it != changes_.end();) {
      it->pending.erase(dir_key);
      if (!it->pending.empty()) {
        ++it;
        continue;
      }
      if (!it->stash.empty()) (void)stash_->Unlink(it->stash);  // the removal is durable
      it = changes_.erase(it);
    }
  }

  std::size_t pending() {
    std::lock_guard lock(mu_);
    return changes_.size();
  }

  // Undoes every pending change, newest first.
  Status Undo() {
    std::lock_guard lock(mu_);
    Status first;
    for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
      Status s = UndoOne(*it);
      if (!s.ok() && first.ok()) first = s.WithContext("fault injection: undoing " + it->name);
    }
    changes_.clear();
    return first;
  }

 private:
  Status RestoreStash(const DirChange& c, Dir& dir, const std::string& name) {
    if (!c.stash.empty()) return stash_->Rename(c.stash, dir, name, RenameMode::kReplace);
    if (c.old) {
      CAFS_RETURN_IF_ERROR(dir.MakeDir(name, c.old->mode & 07777));
      (void)dir.Chown(name, c.old->uid, c.old->gid);
    }
    return Status::OK();
  }

  Status UndoOne(const DirChange& c) {
    switch (c.kind) {
      case DirChange::Kind::kCreated:
        return RemoveTree(*c.dir, c.name);
      case DirChange::Kind::kRemoved:
        return RestoreStash(c, *c.dir, c.name);
      case DirChange::Kind::kRenamed:
        CAFS_RETURN_IF_ERROR(c.to_dir->Rename(c.to_name, *c.dir, c.name, RenameMode::kReplace));
        return RestoreStash(c, *c.to_dir, c.to_name);
      case DirChange::Kind::kExchanged:
        return c.dir->Rename(c.name, *c.to_dir, c.to_name, RenameMode::kExchange);
    }
    return Status::OK();
  }

  std::mutex mu_;
  const std::unique_ptr<Dir> stash_;
  std::uint64_t next_stash_ = 0;    // guarded by mu_
  std::vector<DirChange> changes_;  // guarded by mu_; oldest first
};

namespace {

// A directory of the target, with every change journalled (when modelled) and every change
// and sync a durable step for CrashAfter.
class FaultInjectionDir final : public Dir {
 public:
  FaultInjectionDir(FaultInjectionEnv* env, std::shared_ptr<Dir> target, std::string key)
      : env_(env), target_(std::move(target)), key_(std::move(key)) {}

  static Result<std::unique_ptr<Dir>> Wrap(FaultInjectionEnv* env, std::unique_ptr<Dir> target) {
    CAFS_ASSIGN_OR_RETURN(EntryStat st, target->Stat("."));
    return std::unique_ptr<Dir>(
        new FaultInjectionDir(env, std::shared_ptr<Dir>(std::move(target)), InodeKey(st)));
  }

  const std::string& path() const override { return target_->path(); }
  const std::string& key() const { return key_; }
  Dir& target() { return *target_; }

  Result<std::unique_ptr<Dir>> OpenDir(const std::string& name) override {
    CAFS_ASSIGN_OR_RETURN(auto sub, target_->OpenDir(name));
    return Wrap(env_, std::move(sub));
  }

  Result<std::unique_ptr<File>> OpenFile(const std::string& name,
                                         const OpenOptions& options) override {
    std::unique_ptr<File> file;
    if (options.create) {
      CAFS_RETURN_IF_ERROR(env_->BeforeDirChange("create", Child(name)));
      auto* j = env_->journal();
      std::unique_lock<std::mutex> lock;
      if (j != nullptr) lock = std::unique_lock(j->mu());
      const bool existed = target_->Stat(name).ok();
      CAFS_ASSIGN_OR_RETURN(file, target_->OpenFile(name, options));
      if (j != nullptr && !existed) j->AddLocked(Created(name));
    } else {
      CAFS_ASSIGN_OR_RETURN(file, target_->OpenFile(name, options));
    }
    if (options.attributes_only) return file;  // no data: nothing to roll back
    std::shared_ptr<Dir> dir = target_;
    return env_->Track(std::move(file), options,
                       [dir, name] { return dir->OpenFile(name, OpenOptions::ReadWrite()); });
  }

  Status MakeDir(const std::string& name, std::uint32_t mode) override {
    return Create("mkdir", name, [&] { return target_->MakeDir(name, mode); });
  }
  Status MakeNode(const std::string& name, std::uint32_t mode, std::uint64_t dev) override {
    return Create("mknod", name, [&] { return target_->MakeNode(name, mode, dev); });
  }
  Status Symlink(const std::string& link_target, const std::string& name) override {
    return Create("symlink", name, [&] { return target_->Symlink(link_target, name); });
  }
  Result<std::string> ReadLink(const std::string& name) override { return target_->ReadLink(name); }

  Status Link(const std::string& name, Dir& to_dir, const std::string& to_name) override {
    CAFS_ASSIGN_OR_RETURN(FaultInjectionDir * to, Same(to_dir));
    return to->Create("link", to_name, [&] { return target_->Link(name, *to->target_, to_name); });
  }

  Status Rename(const std::string& name, Dir& to_dir, const std::string& to_name,
                RenameMode mode) override {
    CAFS_ASSIGN_OR_RETURN(FaultInjectionDir * to, Same(to_dir));
    CAFS_RETURN_IF_ERROR(env_->BeforeDirChange("rename", Child(name)));
    auto* j = env_->journal();
    if (j == nullptr) return target_->Rename(name, *to->target_, to_name, mode);
    std::lock_guard lock(j->mu());
    FaultInjectionEnv::DirChange c;
    c.kind = mode == RenameMode::kExchange ? FaultInjectionEnv::DirChange::Kind::kExchanged
                                           : FaultInjectionEnv::DirChange::Kind::kRenamed;
    c.dir = target_;
    c.name = name;
    c.to_dir = to->target_;
    c.to_name = to_name;
    c.pending = {key_, to->key_};
    auto replaced = to->target_->Stat(to_name);
    const bool same_entry = replaced.ok() && (name == to_name && key_ == to->key_);
    if (mode == RenameMode::kReplace && replaced.ok() && !same_entry) {
      if (replaced->is_directory()) {
        c.old = *replaced;  // an empty directory: recreated on undo
      } else {
        CAFS_ASSIGN_OR_RETURN(c.stash, j->StashLocked(*to->target_, to_name));
      }
    }
    Status s = target_->Rename(name, *to->target_, to_name, mode);
    if (!s.ok()) {
      j->DropStashLocked(c.stash);
      return s;
    }
    if (!same_entry) j->AddLocked(std::move(c));
    return Status::OK();
  }

  Status Unlink(const std::string& name) override { return Remove("unlink", name, false); }
  Status RemoveDir(const std::string& name) override { return Remove("rmdir", name, true); }

  Result<EntryStat> Stat(const std::string& name) override { return target_->Stat(name); }
  Status Chmod(const std::string& name, std::uint32_t mode) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeDirChange("chmod", Child(name)));
    return target_->Chmod(name, mode);
  }
  Status Chown(const std::string& name, std::uint32_t uid, std::uint32_t gid) override {
    CAFS_RETURN_IF_ERROR(env_->BeforeDirChange("chown", Child(name)));
    return target_->Chown(name, uid, gid);
  }
  Status SetTimes(const std::string& name, const struct timespec times[2]) override {
    return target_->SetTimes(name, times);
  }
  Result<std::vector<std::string>> List() override { return target_->List(); }

  Status Sync() override {
    CAFS_RETURN_IF_ERROR(env_->BeforeSync(path()));
    CAFS_RETURN_IF_ERROR(target_->Sync());
    env_->CountSync();
    if (auto* j = env_->journal()) j->Synced(key_);
    return Status::OK();
  }
  Result<SpaceInfo> Space() override { return target_->Space(); }

 private:
  std::string Child(const std::string& name) const { return path() + "/" + name; }

  FaultInjectionEnv::DirChange Created(const std::string& name) const {
    FaultInjectionEnv::DirChange c;
    c.kind = FaultInjectionEnv::DirChange::Kind::kCreated;
    c.dir = target_;
    c.name = name;
    c.pending = {key_};
    return c;
  }

  template <typename Op>
  Status Create(const char* what, const std::string& name, const Op& op) {
    CAFS_RETURN_IF_ERROR(env_->BeforeDirChange(what, Child(name)));
    auto* j = env_->journal();
    if (j == nullptr) return op();
    std::lock_guard lock(j->mu());
    CAFS_RETURN_IF_ERROR(op());
    j->AddLocked(Created(name));
    return Status::OK();
  }

  Status Remove(const char* what, const std::string& name, bool directory) {
    CAFS_RETURN_IF_ERROR(env_->BeforeDirChange(what, Child(name)));
    auto* j = env_->journal();
    auto op = [&] { return directory ? target_->RemoveDir(name) : target_->Unlink(name); };
    if (j == nullptr) return op();
    std::lock_guard lock(j->mu());
    FaultInjectionEnv::DirChange c;
    c.kind = FaultInjectionEnv::DirChange::Kind::kRemoved;
    c.dir = target_;
    c.name = name;
    c.pending = {key_};
    auto st = target_->Stat(name);
    if (st.ok() && st->is_directory() == directory) {
      if (directory) {
        c.old = *st;
      } else {
        CAFS_ASSIGN_OR_RETURN(c.stash, j->StashLocked(*target_, name));
      }
    }
    Status s = op();
    if (!s.ok()) {
      j->DropStashLocked(c.stash);
      return s;
    }
    if (st.ok()) j->AddLocked(std::move(c));
    return Status::OK();
  }

  Result<FaultInjectionDir*> Same(Dir& other) {
    auto* d = dynamic_cast<FaultInjectionDir*>(&other);
    if (d == nullptr || d->env_ != env_) {
      return Status::InvalidArgument("directory of another Env");
    }
    return d;
  }

  FaultInjectionEnv* const env_;
  const std::shared_ptr<Dir> target_;
  const std::string key_;
};

}  // namespace

FaultInjectionEnv::FaultInjectionEnv(Env* target) : EnvWrapper(target) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

Status FaultInjectionEnv::ModelDirectoryCrashes(const std::string& stash_dir) {
  CAFS_RETURN_IF_ERROR(target()->CreateDirs(stash_dir));
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> stash, target()->OpenDirectory(stash_dir));
  journal_ = std::make_unique<Journal>(std::move(stash));
  return Status::OK();
}

std::size_t FaultInjectionEnv::pending_directory_changes() {
  return journal_ ? journal_->pending() : 0;
}

Result<std::unique_ptr<File>> FaultInjectionEnv::Track(
    std::unique_ptr<File> file, const OpenOptions& options,
    const std::function<Result<std::unique_ptr<File>>()>& reopen) {
  auto st = file->Stat();
  const std::string key = st.ok() ? InodeKey(*st) : "path:" + file->path();
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mu_);
    auto& slot = states_[key];
    if (!slot) slot = std::make_shared<FileState>();
    state = slot;
  }
  {
    std::lock_guard lock(state->mu);
    if (!state->io && !options.read_only) {
      CAFS_ASSIGN_OR_RETURN(state->io, reopen());
    }
    if (options.truncate) {
      // O_TRUNC is a mutation like any other: not durable until a Sync.
      // (The target already truncated; we cannot recover the old bytes, so treat the
      // truncation as synced: documented limitation of opening with truncate.)
      state->undo.clear();
    }
  }
  return std::unique_ptr<File>(new FaultInjectionFile(this, std::move(file), std::move(state)));
}

Result<std::unique_ptr<File>> FaultInjectionEnv::OpenFile(const std::string& path,
                                                          const OpenOptions& options) {
  std::unique_ptr<File> file;
  if (options.create) {
    // A create is a directory change: journalled against the parent directory.
    CAFS_RETURN_IF_ERROR(BeforeDirChange("create", path));
    std::unique_lock<std::mutex> lock;
    if (journal_) lock = std::unique_lock(journal_->mu());
    const bool existed = target()->Stat(path).ok();
    CAFS_ASSIGN_OR_RETURN(file, target()->OpenFile(path, options));
    if (journal_ && !existed) {
      CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> parent, target()->OpenDirectory(ParentOf(path)));
      CAFS_ASSIGN_OR_RETURN(EntryStat pst, parent->Stat("."));
      DirChange c;
      c.kind = DirChange::Kind::kCreated;
      c.dir = std::shared_ptr<Dir>(std::move(parent));
      c.name = BaseOf(path);
      c.pending = {InodeKey(pst)};
      journal_->AddLocked(std::move(c));
    }
  } else {
    CAFS_ASSIGN_OR_RETURN(file, target()->OpenFile(path, options));
  }
  Env* t = target();
  return Track(std::move(file), options,
               [t, path] { return t->OpenFile(path, OpenOptions::ReadWrite()); });
}

Result<std::unique_ptr<Dir>> FaultInjectionEnv::OpenDirectory(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> dir, target()->OpenDirectory(path));
  return FaultInjectionDir::Wrap(this, std::move(dir));
}

Status FaultInjectionEnv::Rename(const std::string& from, const std::string& to) {
  {
    std::lock_guard lock(mu_);
    if (rename_fault_) return Injected("rename", from, EIO);
  }
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> fdir, OpenDirectory(ParentOf(from)));
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> tdir, OpenDirectory(ParentOf(to)));
  return fdir->Rename(BaseOf(from), *tdir, BaseOf(to), RenameMode::kReplace);
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> dir, OpenDirectory(ParentOf(path)));
  return dir->Unlink(BaseOf(path));
}

Status FaultInjectionEnv::CreateDir(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> dir, OpenDirectory(ParentOf(path)));
  return dir->MakeDir(BaseOf(path), 0700);
}

Status FaultInjectionEnv::RemoveDir(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> dir, OpenDirectory(ParentOf(path)));
  return dir->RemoveDir(BaseOf(path));
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<Dir> dir, OpenDirectory(path));
  return dir->Sync();
}

void FaultInjectionEnv::FailWritesAfter(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  write_limited_ = true;
  write_budget_ = bytes;
}

void FaultInjectionEnv::ClearWriteLimit() {
  std::lock_guard lock(mu_);
  write_limited_ = false;
}

void FaultInjectionEnv::SetWriteFault(IoPredicate pred) {
  std::lock_guard lock(mu_);
  write_fault_ = std::move(pred);
}

void FaultInjectionEnv::SetReadFault(IoPredicate pred) {
  std::lock_guard lock(mu_);
  read_fault_ = std::move(pred);
}

void FaultInjectionEnv::SetNoWaitMiss(IoPredicate pred) {
  std::lock_guard lock(mu_);
  nowait_miss_ = std::move(pred);
}

void FaultInjectionEnv::SetSyncFault(PathPredicate pred) {
  std::lock_guard lock(mu_);
  sync_fault_ = std::move(pred);
}

void FaultInjectionEnv::SetRenameFault(bool fail) {
  std::lock_guard lock(mu_);
  rename_fault_ = fail;
}

void FaultInjectionEnv::ClearFaults() {
  std::lock_guard lock(mu_);
  crash_armed_ = false;
  crashed_ = false;
  write_limited_ = false;
  write_fault_ = nullptr;
  read_fault_ = nullptr;
  nowait_miss_ = nullptr;
  sync_fault_ = nullptr;
  rename_fault_ = false;
}

void FaultInjectionEnv::CrashAfter(std::uint64_t steps) {
  std::lock_guard lock(mu_);
  crash_armed_ = true;
  crashed_ = false;
  crash_budget_ = steps;
}

bool FaultInjectionEnv::crashed() {
  std::lock_guard lock(mu_);
  return crashed_;
}

Status FaultInjectionEnv::StepLocked(const std::string& what, const std::string& path) {
  if (!crash_armed_) return Status::OK();
  if (!crashed_ && crash_budget_ > 0) {
    --crash_budget_;
    return Status::OK();
  }
  crashed_ = true;
  return Injected("crash before " + what, path, EIO);
}

Status FaultInjectionEnv::BeforeDirChange(const std::string& what, const std::string& path) {
  std::lock_guard lock(mu_);
  return StepLocked(what, path);
}

Status FaultInjectionEnv::BeforeWrite(const std::string& path, std::uint64_t offset,
                                      std::uint64_t length, std::uint64_t* allowed) {
  std::lock_guard lock(mu_);
  if (Status s = StepLocked("write", path); !s.ok()) {
    if (allowed != nullptr) *allowed = 0;
    return s;
  }
  if (write_fault_ && write_fault_(path, offset, length)) {
    if (allowed != nullptr) *allowed = 0;
    return Injected("write", path, ENOSPC);
  }
  if (!write_limited_) {
    bytes_written_.fetch_add(length);
    return Status::OK();
  }
  if (allowed == nullptr) {  // a metadata operation (truncate, allocate) on a full disk
    return write_budget_ > 0 ? Status::OK() : Injected("write", path, ENOSPC);
  }
  if (length <= write_budget_) {
    write_budget_ -= length;
    bytes_written_.fetch_add(length);
    return Status::OK();
  }
  *allowed = write_budget_;
  bytes_written_.fetch_add(write_budget_);
  write_budget_ = 0;
  return Injected("write", path, ENOSPC);
}

Status FaultInjectionEnv::BeforeRead(const std::string& path, std::uint64_t offset,
                                     std::uint64_t length) {
  std::lock_guard lock(mu_);
  if (read_fault_ && read_fault_(path, offset, length)) return Injected("read", path, EIO);
  return Status::OK();
}

Status FaultInjectionEnv::BeforeNoWaitRead(const std::string& path, std::uint64_t offset,
                                           std::uint64_t length) {
  CAFS_RETURN_IF_ERROR(BeforeRead(path, offset, length));
  std::lock_guard lock(mu_);
  if (nowait_miss_ && nowait_miss_(path, offset, length)) {
    nowait_misses_.fetch_add(1);
    return Status::FromErrno(EAGAIN, "injected: not in the page cache: " + path);
  }
  return Status::OK();
}

Status FaultInjectionEnv::BeforeSync(const std::string& path) {
  std::lock_guard lock(mu_);
  CAFS_RETURN_IF_ERROR(StepLocked("sync", path));
  if (sync_fault_ && sync_fault_(path)) return Injected("sync", path, EIO);
  return Status::OK();
}

Status FaultInjectionEnv::DropUnsyncedData() {
  if (journal_) CAFS_RETURN_IF_ERROR(journal_->Undo());
  std::vector<std::shared_ptr<FileState>> states;
  {
    std::lock_guard lock(mu_);
    for (auto& [path, state] : states_) states.push_back(state);
  }
  for (auto& state : states) {
    std::lock_guard lock(state->mu);
    if (state->undo.empty()) continue;
    if (!state->io) return Status::Internal("fault injection: no handle to roll back");
    for (auto it = state->undo.rbegin(); it != state->undo.rend(); ++it) {
      if (!it->old_bytes.empty())
        CAFS_RETURN_IF_ERROR(state->io->WriteAt(it->offset, it->old_bytes));
      CAFS_RETURN_IF_ERROR(state->io->Truncate(it->old_size));
    }
    state->undo.clear();
  }
  return Status::OK();
}

}  // namespace cafs::env
