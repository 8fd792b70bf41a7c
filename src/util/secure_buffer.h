// SecureBuffer: memory for key material.
//
// - The pages are mlock'ed (kept out of swap) when the RLIMIT_MEMLOCK allows it, and marked
//   MADV_DONTDUMP (kept out of core dumps).
// - The bytes are zeroed (explicit_bzero, which the compiler may not elide) on destruction,
//   on move-from and on Resize.
// - It is move-only: copies of keys must be made on purpose with Clone().
// - It has no operator<< and a fmt formatter that prints only "<secret N bytes>", so a key
//   never reaches a log by accident.
//
// Threading: like std::vector, a SecureBuffer is not synchronized.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace cafs {

class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(std::size_t size);  // zero-filled
  SecureBuffer(const std::uint8_t* data, std::size_t size);
  explicit SecureBuffer(std::span<const std::uint8_t> data)
      : SecureBuffer(data.data(), data.size()) {}
  ~SecureBuffer();

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  SecureBuffer Clone() const { return SecureBuffer(data_, size_); }

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const std::uint8_t> view() const { return {data_, size_}; }
  std::span<std::uint8_t> mutable_view() { return {data_, size_}; }

  // Whether the pages are locked in RAM (false if mlock was refused, e.g. RLIMIT_MEMLOCK).
  bool locked() const { return locked_; }

  // Constant-time comparison of contents (sizes are not secret).
  bool Equals(const SecureBuffer& other) const;

 private:
  void Allocate(std::size_t size);
  void Release();

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // bytes mapped (page multiple)
  bool locked_ = false;
};

}  // namespace cafs

template <>
struct fmt::formatter<cafs::SecureBuffer> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const cafs::SecureBuffer& b, Ctx& ctx) const {
    return fmt::format_to(ctx.out(), "<secret {} bytes>", b.size());
  }
};
