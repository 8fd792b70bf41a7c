#include "util/secure_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace cafs {

namespace {
std::size_t PageSize() {
  static const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return kPage;
}
}  // namespace

SecureBuffer::SecureBuffer(std::size_t size) { Allocate(size); }

SecureBuffer::SecureBuffer(const std::uint8_t* data, std::size_t size) {
  Allocate(size);
  if (size > 0) std::memcpy(data_, data, size);
}

SecureBuffer::~SecureBuffer() { Release(); }

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(other.data_), size_(other.size_), mapped_(other.mapped_), locked_(other.locked_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.mapped_ = 0;
  other.locked_ = false;
}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    locked_ = other.locked_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.mapped_ = 0;
    other.locked_ = false;
  }
  return *this;
}

void SecureBuffer::Allocate(std::size_t size) {
  size_ = size;
  if (size == 0) return;
  // Whole pages of our own, so mlock/madvise never touch unrelated heap data and
  // munlock on release cannot unlock a neighbour's key.
  mapped_ = (size + PageSize() - 1) / PageSize() * PageSize();
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<std::uint8_t*>(p);
  locked_ = mlock(p, mapped_) == 0;
  (void)madvise(p, mapped_, MADV_DONTDUMP);
}

void SecureBuffer::Release() {
  if (data_ == nullptr) return;
  explicit_bzero(data_, mapped_);
  if (locked_) munlock(data_, mapped_);
  munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
  locked_ = false;
}

bool SecureBuffer::Equals(const SecureBuffer& other) const {
  if (size_ != other.size_) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < size_; ++i)
    diff |= static_cast<unsigned char>(data_[i] ^ other.data_[i]);
  return diff == 0;
}

}  // namespace cafs
