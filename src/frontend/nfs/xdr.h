// XDR (RFC 4506) encoding and decoding of the types ONC RPC, MOUNT v3 and NFSv3 use: 32/64-bit
// integers, booleans, fixed and variable opaque data and strings, all big-endian and padded to
// four bytes. docs/nfs.md ("XDR") has the byte layouts.
//
// XdrDecoder reads from a borrowed buffer (the caller keeps it alive). Errors are sticky: a
// read past the end, a length above the caller's limit or a boolean other than 0/1 marks the
// decoder failed, returns zero/empty values from then on, and `ok()` turns false; protocol code
// decodes a whole argument structure and checks `ok()` once (GARBAGE_ARGS when false).
// XdrEncoder appends to an owned byte vector. Neither is thread-safe; one per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/bytes.h"
#include "util/default_init_allocator.h"

namespace cafs::frontend::nfs {

class XdrDecoder {
 public:
  explicit XdrDecoder(ByteView data) : data_(data) {}

  std::uint32_t U32();
  std::int32_t I32() { return static_cast<std::int32_t>(U32()); }
  std::uint64_t U64();
  bool Bool();  // only 0 and 1 are valid
  // Fixed-length opaque[n]: n bytes + padding.
  void FixedOpaque(std::size_t n, std::uint8_t* out);
  // Variable-length opaque<max>: a length (fails above `max`), the bytes, padding.
  std::vector<std::uint8_t> Opaque(std::size_t max);
  // As Opaque, without a copy: a view into the decoder's buffer (valid while it is; empty
  // when failed). For bulk data (WRITE).
  ByteView OpaqueView(std::size_t max);
  // string<max>: as opaque; bytes are kept as they are (no UTF-8 check).
  std::string String(std::size_t max);
  // Skips `n` bytes + padding (fails past the end).
  void Skip(std::size_t n);

  bool ok() const { return ok_; }
  void Fail() { ok_ = false; }
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }

 private:
  // Returns a view of the next `n` bytes and advances past them and their padding; empty and
  // failed when they are not all there.
  ByteView Take(std::size_t n);

  ByteView data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Encoded XDR: a byte vector that AppendSpace() grows without zeroing (see XdrEncoder).
using XdrBytes = UninitBytes;

class XdrEncoder {
 public:
  XdrEncoder() = default;
  // Encodes into `reuse` (cleared; its capacity is kept, so a recycled buffer's pages are not
  // allocated and faulted in again).
  explicit XdrEncoder(XdrBytes reuse) : bytes_(std::move(reuse)) { bytes_.clear(); }

  void U32(std::uint32_t v);
  void I32(std::int32_t v) { U32(static_cast<std::uint32_t>(v)); }
  void U64(std::uint64_t v);
  void Bool(bool v) { U32(v ? 1u : 0u); }
  void FixedOpaque(ByteView bytes);  // bytes + padding, no length
  void Opaque(ByteView bytes);       // length + bytes + padding
  void String(std::string_view s);   // as Opaque
  // Reserves a 4-byte slot to fill later with PatchU32 (e.g. a length known only at the end).
  std::size_t ReserveU32();
  void PatchU32(std::size_t slot, std::uint32_t v);
  // Appends `n` uninitialised bytes (not zeroed: the caller must fill every one, e.g. READ data
  // read into place, or Truncate what it did not fill) and returns where they start. To finish
  // variable data of unknown length: ReserveU32 for the length, AppendSpace the maximum, fill,
  // Truncate to the used end, PatchU32 the length, then AlignTo4.
  std::size_t AppendSpace(std::size_t n);
  // Pads with zero bytes up to a multiple of four (the stream always starts aligned).
  void AlignTo4();

  std::size_t size() const { return bytes_.size(); }
  XdrBytes& bytes() { return bytes_; }
  const XdrBytes& bytes() const { return bytes_; }
  // A copy as plain Bytes (tests, small messages).
  Bytes ToBytes() const { return Bytes(bytes_.begin(), bytes_.end()); }
  // Drops everything after `size` (to discard a partly encoded reply); never grows.
  void Truncate(std::size_t size) {
    if (size < bytes_.size()) bytes_.resize(size);
  }

 private:
  XdrBytes bytes_;
};

// Padding that follows `n` bytes of opaque data.
constexpr std::size_t XdrPadding(std::size_t n) { return (4 - (n & 3)) & 3; }

}  // namespace cafs::frontend::nfs
