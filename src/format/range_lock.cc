#include "format/range_lock.h"

namespace cafs::format {

bool RangeLock::ConflictsLocked(std::uint64_t first, std::uint64_t last, Mode mode) const {
  for (const Held& h : held_) {
    const bool overlap = h.first <= last && first <= h.last;
    if (overlap && (mode == Mode::kExclusive || h.mode == Mode::kExclusive)) return true;
  }
  return false;
}

RangeLock::Guard RangeLock::Lock(std::uint64_t first, std::uint64_t last, Mode mode) {
  std::unique_lock lock(mu_);
  released_.wait(lock, [&] { return !ConflictsLocked(first, last, mode); });
  const std::uint64_t id = next_id_++;
  held_.push_back(Held{first, last, mode, id});
  return Guard(this, id);
}

void RangeLock::Release(std::uint64_t id) {
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < held_.size(); ++i) {
      if (held_[i].id == id) {
        held_[i] = held_.back();
        held_.pop_back();
        break;
      }
    }
  }
  released_.notify_all();
}

std::size_t RangeLock::HeldCount() {
  std::lock_guard lock(mu_);
  return held_.size();
}

}  // namespace cafs::format
