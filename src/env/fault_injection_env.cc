#include "env/fault_injection_env.h"

#include <algorithm>
#include <string>
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

FaultInjectionEnv::FaultInjectionEnv(Env* target) : EnvWrapper(target) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

Result<std::unique_ptr<File>> FaultInjectionEnv::OpenFile(const std::string& path,
                                                          const OpenOptions& options) {
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<File> file, target()->OpenFile(path, options));
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mu_);
    auto& slot = states_[path];
    if (!slot) slot = std::make_shared<FileState>();
    state = slot;
  }
  {
    std::lock_guard lock(state->mu);
    if (!state->io && !options.read_only) {
      CAFS_ASSIGN_OR_RETURN(state->io, target()->OpenFile(path, OpenOptions::ReadWrite()));
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

Status FaultInjectionEnv::Rename(const std::string& from, const std::string& to) {
  {
    std::lock_guard lock(mu_);
    if (rename_fault_) return Injected("rename", from, EIO);
  }
  CAFS_RETURN_IF_ERROR(target()->Rename(from, to));
  std::lock_guard lock(mu_);
  auto it = states_.find(from);
  if (it != states_.end()) {
    auto state = std::move(it->second);
    states_.erase(it);
    states_[to] = std::move(state);
  }
  return Status::OK();
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  CAFS_RETURN_IF_ERROR(BeforeSync(path));
  return target()->SyncDir(path);
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
  write_limited_ = false;
  write_fault_ = nullptr;
  read_fault_ = nullptr;
  sync_fault_ = nullptr;
  rename_fault_ = false;
}

Status FaultInjectionEnv::BeforeWrite(const std::string& path, std::uint64_t offset,
                                      std::uint64_t length, std::uint64_t* allowed) {
  std::lock_guard lock(mu_);
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

Status FaultInjectionEnv::BeforeSync(const std::string& path) {
  std::lock_guard lock(mu_);
  if (sync_fault_ && sync_fault_(path)) return Injected("sync", path, EIO);
  return Status::OK();
}

Status FaultInjectionEnv::DropUnsyncedData() {
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
