#include "cafs/dirty_map.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace cafs::core {

bool DirtyMap::Mark(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return false;
  bool added = false;
  const std::uint64_t first = offset / chunk_;
  const std::uint64_t last =
      (std::min(offset, std::numeric_limits<std::uint64_t>::max() - length) + length - 1) / chunk_;
  std::lock_guard lock(mu_);
  if (words_.size() <= last / 64) words_.resize(last / 64 + 1, 0);
  for (std::uint64_t k = first; k <= last; ++k) {
    std::uint64_t& w = words_[k / 64];
    const std::uint64_t bit = std::uint64_t{1} << (k % 64);
    if ((w & bit) == 0) {
      w |= bit;
      ++count_;
      added = true;
    }
  }
  return added;
}

std::optional<std::uint64_t> DirtyMap::Next(std::uint64_t from) const {
  std::lock_guard lock(mu_);
  for (std::uint64_t i = from / 64; i < words_.size(); ++i) {
    std::uint64_t w = words_[i];
    if (i == from / 64) w &= ~std::uint64_t{0} << (from % 64);
    if (w != 0) return i * 64 + static_cast<std::uint64_t>(std::countr_zero(w));
  }
  return std::nullopt;
}

std::vector<std::uint64_t> DirtyMap::Words() const {
  std::lock_guard lock(mu_);
  return words_;
}

void DirtyMap::SetWords(std::vector<std::uint64_t> words) {
  std::lock_guard lock(mu_);
  words_ = std::move(words);
  count_ = 0;
  for (std::uint64_t w : words_) count_ += static_cast<std::uint64_t>(std::popcount(w));
}

std::optional<std::uint64_t> DirtyMap::TakeNext(std::uint64_t from) {
  std::lock_guard lock(mu_);
  if (count_ == 0) return std::nullopt;
  for (std::uint64_t i = from / 64; i < words_.size(); ++i) {
    std::uint64_t w = words_[i];
    if (i == from / 64) w &= ~std::uint64_t{0} << (from % 64);
    if (w == 0) continue;
    const std::uint64_t k = i * 64 + static_cast<std::uint64_t>(std::countr_zero(w));
    words_[i] &= ~(std::uint64_t{1} << (k % 64));
    --count_;
    return k;
  }
  return std::nullopt;
}

std::uint64_t DirtyMap::DirtyChunks() const {
  std::lock_guard lock(mu_);
  return count_;
}

Status DirtyTrackingFile::WriteAt(std::uint64_t offset, ByteView data) {
  Status s = inner_->WriteAt(offset, data);
  map_->Mark(offset, data.size());
  return s;
}

Status DirtyTrackingFile::Truncate(std::uint64_t size) {
  auto before = inner_->Size();
  Status s = inner_->Truncate(size);
  // Everything between the old and the new end changed (cut off, or a new hole); an unknown
  // old size marks from the new end on, up to where the map has bits.
  const std::uint64_t old = before.ok() ? *before : size;
  const std::uint64_t lo = std::min(old, size), hi = std::max(old, size);
  map_->Mark(lo, std::max<std::uint64_t>(hi - lo, 1));
  return s;
}

Status DirtyTrackingFile::PunchHole(std::uint64_t offset, std::uint64_t length) {
  Status s = inner_->PunchHole(offset, length);
  map_->Mark(offset, length);
  return s;
}

Status DirtyTrackingFile::Allocate(std::uint64_t offset, std::uint64_t length) {
  Status s = inner_->Allocate(offset, length);
  map_->Mark(offset, length);
  return s;
}

}  // namespace cafs::core
