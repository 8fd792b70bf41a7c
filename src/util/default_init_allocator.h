// DefaultInitAllocator: a std::allocator whose value-less construct() default-initialises, so
// std::vector<std::uint8_t, DefaultInitAllocator<std::uint8_t>>::resize() leaves new bytes
// uninitialised instead of zeroing them. For buffers that something else fills right away
// (a socket read, a pread): zeroing first would touch every byte twice. Everything else about
// the vector is standard; a caller that needs zeroed bytes writes them itself.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace cafs {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}  // NOLINT
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// A byte vector whose resize() does not zero (see above).
using UninitBytes = std::vector<std::uint8_t, DefaultInitAllocator<std::uint8_t>>;

}  // namespace cafs
