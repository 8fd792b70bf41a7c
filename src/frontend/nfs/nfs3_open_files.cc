#include "frontend/nfs/nfs3_open_files.h"

#include <vector>

#include "util/logging.h"

namespace cafs::frontend::nfs {
namespace {

std::string KeyOf(ByteView fh) { return std::string(fh.begin(), fh.end()); }

}  // namespace

Nfs3OpenFiles::Entry::~Entry() {
  Status s = gateway->Release(opener, handle);
  if (!s.ok()) {
    CAFS_LOG_WARN("nfs: closing an idle file failed: {}", s.ToString());
    if (lost) lost();
  }
}

Nfs3OpenFiles::Nfs3OpenFiles(core::Gateway* gateway, std::size_t capacity,
                             std::chrono::milliseconds idle, std::function<void()> on_lost_write)
    : gateway_(gateway),
      capacity_(capacity == 0 ? 1 : capacity),
      idle_(idle),
      on_lost_write_(std::move(on_lost_write)) {}

Nfs3OpenFiles::~Nfs3OpenFiles() {
  std::map<std::string, Slot> slots;
  {
    std::lock_guard lock(mu_);
    slots.swap(slots_);
  }
}  // entries are released here, outside the lock

Nfs3OpenFiles::EntryPtr Nfs3OpenFiles::Insert(std::string key, EntryPtr entry) {
  EntryPtr evicted;  // released after the lock is dropped
  EntryPtr previous;
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  auto it = slots_.find(key);
  if (it != slots_.end()) {
    previous = std::move(it->second.entry);
    it->second = Slot{entry, now};
    return entry;
  }
  if (slots_.size() >= capacity_) {
    auto oldest = slots_.begin();
    for (auto i = slots_.begin(); i != slots_.end(); ++i) {
      if (i->second.last_used < oldest->second.last_used) oldest = i;
    }
    evicted = std::move(oldest->second.entry);
    slots_.erase(oldest);
  }
  slots_.emplace(std::move(key), Slot{entry, now});
  return entry;
}

Result<Nfs3OpenFiles::EntryPtr> Nfs3OpenFiles::Acquire(const core::Caller& caller, ByteView fh,
                                                       const std::string& path,
                                                       std::uint64_t generation) {
  if (EntryPtr found = Find(fh)) return found;
  CAFS_ASSIGN_OR_RETURN(core::OpenResult opened, gateway_->Open(caller, path, false));
  auto entry =
      std::make_shared<Entry>(gateway_, caller, opened.handle, path, generation, on_lost_write_);
  {
    // Two requests may have opened the same file at once: keep the first, drop ours.
    std::lock_guard lock(mu_);
    auto it = slots_.find(KeyOf(fh));
    if (it != slots_.end()) {
      it->second.last_used = std::chrono::steady_clock::now();
      return it->second.entry;
    }
  }
  return Insert(KeyOf(fh), std::move(entry));
}

Nfs3OpenFiles::EntryPtr Nfs3OpenFiles::Adopt(const core::Caller& caller, ByteView fh,
                                             core::FileHandle handle, const std::string& path,
                                             std::uint64_t generation) {
  return Insert(KeyOf(fh), std::make_shared<Entry>(gateway_, caller, handle, path, generation,
                                                   on_lost_write_));
}

Nfs3OpenFiles::EntryPtr Nfs3OpenFiles::Find(ByteView fh) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(KeyOf(fh));
  if (it == slots_.end()) return nullptr;
  it->second.last_used = std::chrono::steady_clock::now();
  return it->second.entry;
}

void Nfs3OpenFiles::Evict(ByteView fh) {
  EntryPtr dropped;
  std::lock_guard lock(mu_);
  auto it = slots_.find(KeyOf(fh));
  if (it == slots_.end()) return;
  dropped = std::move(it->second.entry);
  slots_.erase(it);
}

void Nfs3OpenFiles::ReleaseIdle() {
  std::vector<EntryPtr> dropped;
  {
    std::lock_guard lock(mu_);
    const auto cutoff = std::chrono::steady_clock::now() - idle_;
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->second.last_used <= cutoff) {
        dropped.push_back(std::move(it->second.entry));
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

std::size_t Nfs3OpenFiles::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

}  // namespace cafs::frontend::nfs
