// RangeLock: reader/writer locks on ranges of sector numbers, so I/O on disjoint ranges of
// one EncryptedFile runs in parallel while a read-modify-write of a sector excludes readers
// and other writers of that sector.
//
// A lock covers the inclusive range [first, last]. Shared locks conflict only with exclusive
// locks on overlapping ranges; exclusive locks conflict with any overlapping lock. Acquiring
// blocks until no conflicting lock is held. There is no fairness guarantee (a stream of
// overlapping readers can delay a writer); each holder holds one range at a time, so there is
// no lock-order deadlock as long as a thread never holds two Guards of one RangeLock.
//
// Cost: one mutex and a scan of the held ranges (at most one per thread in I/O) per
// acquire/release; no heap allocation once the held list has grown to the thread count.
// Threading: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace cafs::format {

class RangeLock {
 public:
  enum class Mode : std::uint8_t { kShared, kExclusive };

  // Releases the range on destruction.
  class [[nodiscard]] Guard {
   public:
    Guard(Guard&& other) noexcept : owner_(other.owner_), id_(other.id_) { other.owner_ = nullptr; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (owner_ != nullptr) owner_->Release(id_);
    }

   private:
    friend class RangeLock;
    Guard(RangeLock* owner, std::uint64_t id) : owner_(owner), id_(id) {}
    RangeLock* owner_;
    std::uint64_t id_;
  };

  RangeLock() = default;
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

  // Blocks until [first, last] (first <= last) can be held in `mode`.
  Guard Lock(std::uint64_t first, std::uint64_t last, Mode mode);

  // Number of ranges held now (for tests).
  std::size_t HeldCount();

 private:
  struct Held {
    std::uint64_t first;
    std::uint64_t last;
    Mode mode;
    std::uint64_t id;
  };
  void Release(std::uint64_t id);
  bool ConflictsLocked(std::uint64_t first, std::uint64_t last, Mode mode) const;

  std::mutex mu_;
  std::condition_variable released_;
  std::vector<Held> held_;     // guarded by mu_
  std::uint64_t next_id_ = 1;  // guarded by mu_
};

}  // namespace cafs::format
