#include "frontend/nfs/xdr.h"

#include <cstring>

namespace cafs::frontend::nfs {

ByteView XdrDecoder::Take(std::size_t n) {
  if (!ok_) return {};
  const std::size_t left = data_.size() - pos_;
  const std::size_t padded = n + XdrPadding(n);
  if (n > left || padded > left) {
    ok_ = false;
    return {};
  }
  ByteView out = data_.subspan(pos_, n);
  pos_ += padded;
  return out;
}

std::uint32_t XdrDecoder::U32() {
  ByteView b = Take(4);
  if (b.empty()) return 0;
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

std::uint64_t XdrDecoder::U64() {
  const std::uint64_t hi = U32();
  const std::uint64_t lo = U32();
  if (!ok_) return 0;  // a truncated hyper reads as zero, not as its first half
  return (hi << 32) | lo;
}

bool XdrDecoder::Bool() {
  const std::uint32_t v = U32();
  if (v > 1) ok_ = false;
  return ok_ && v == 1;
}

void XdrDecoder::FixedOpaque(std::size_t n, std::uint8_t* out) {
  ByteView b = Take(n);
  if (b.size() == n && n > 0) {
    std::memcpy(out, b.data(), n);
  } else if (n > 0) {
    std::memset(out, 0, n);
  }
}

ByteView XdrDecoder::OpaqueView(std::size_t max) {
  const std::uint32_t n = U32();
  if (!ok_ || n > max) {
    ok_ = false;
    return {};
  }
  return Take(n);
}

std::vector<std::uint8_t> XdrDecoder::Opaque(std::size_t max) {
  ByteView b = OpaqueView(max);
  return std::vector<std::uint8_t>(b.begin(), b.end());
}

std::string XdrDecoder::String(std::size_t max) {
  const std::uint32_t n = U32();
  if (!ok_ || n > max) {
    ok_ = false;
    return {};
  }
  ByteView b = Take(n);
  return std::string(b.begin(), b.end());
}

void XdrDecoder::Skip(std::size_t n) { Take(n); }

void XdrEncoder::U32(std::uint32_t v) {
  bytes_.push_back(static_cast<std::uint8_t>(v >> 24));
  bytes_.push_back(static_cast<std::uint8_t>(v >> 16));
  bytes_.push_back(static_cast<std::uint8_t>(v >> 8));
  bytes_.push_back(static_cast<std::uint8_t>(v));
}

void XdrEncoder::U64(std::uint64_t v) {
  U32(static_cast<std::uint32_t>(v >> 32));
  U32(static_cast<std::uint32_t>(v));
}

void XdrEncoder::FixedOpaque(ByteView bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  AlignTo4();
}

void XdrEncoder::Opaque(ByteView bytes) {
  U32(static_cast<std::uint32_t>(bytes.size()));
  FixedOpaque(bytes);
}

void XdrEncoder::String(std::string_view s) { Opaque(AsBytes(s)); }

std::size_t XdrEncoder::ReserveU32() {
  const std::size_t slot = bytes_.size();
  U32(0);
  return slot;
}

void XdrEncoder::PatchU32(std::size_t slot, std::uint32_t v) {
  bytes_[slot] = static_cast<std::uint8_t>(v >> 24);
  bytes_[slot + 1] = static_cast<std::uint8_t>(v >> 16);
  bytes_[slot + 2] = static_cast<std::uint8_t>(v >> 8);
  bytes_[slot + 3] = static_cast<std::uint8_t>(v);
}

std::size_t XdrEncoder::AppendSpace(std::size_t n) {
  const std::size_t start = bytes_.size();
  bytes_.resize(start + n);
  return start;
}

void XdrEncoder::AlignTo4() { bytes_.insert(bytes_.end(), XdrPadding(bytes_.size()), 0); }

}  // namespace cafs::frontend::nfs
