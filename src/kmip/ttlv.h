// TTLV: the binary encoding of KMIP 1.x (KMIP 1.1 specification section 9.1, docs/kmip.md).
//
// Every item is Tag (3 bytes, big endian) | Type (1 byte) | Length (4 bytes, big endian) |
// Value (Length bytes, then zero bytes up to the next multiple of 8). A Structure's value is
// its children's items back to back. All integers are big endian, two's complement.
//
// Decode is strict and never trusts the input: fixed-size types must have their exact length
// (Integer/Enumeration/Interval 4, Long Integer/Boolean/Date-Time 8, Big Integer a multiple
// of 8), padding bytes must be zero, a Boolean is 0 or 1, a Structure's children must fill
// it exactly, nesting is bounded (`DecodeLimits::max_depth`) and so are the total size and
// the number of items. Any violation is an InvalidArgument Status naming the byte offset;
// the decoder never reads outside its input and never recurses deeper than max_depth.
// Encode produces the canonical form, so Decode(Encode(x)) == x and Encode(Decode(b)) == b.
//
// Threading: values; functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kmip/tags.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::kmip {

// 9.1.1.2 Item Type.
enum class ItemType : std::uint8_t {
  kStructure = 0x01,
  kInteger = 0x02,
  kLongInteger = 0x03,
  kBigInteger = 0x04,
  kEnumeration = 0x05,
  kBoolean = 0x06,
  kTextString = 0x07,
  kByteString = 0x08,
  kDateTime = 0x09,
  kInterval = 0x0A,
};
std::string_view ItemTypeName(ItemType type);

inline constexpr std::size_t kHeaderSize = 8;  // tag 3 + type 1 + length 4

// One TTLV item. Which member holds the value depends on `type`:
//   integer:  Integer (int32 range), Long Integer, Enumeration and Interval (uint32 range),
//             Boolean (0/1), Date-Time (seconds since the Unix epoch)
//   bytes:    Text String (UTF-8, not validated), Byte String, Big Integer (big-endian two's
//             complement, a multiple of 8 bytes)
//   children: Structure
struct Item {
  std::uint32_t tag = 0;
  ItemType type = ItemType::kStructure;
  std::int64_t integer = 0;
  std::string bytes;
  std::vector<Item> children;

  static Item Structure(Tag tag, std::vector<Item> children);
  static Item Integer(Tag tag, std::int32_t v);
  static Item LongInteger(Tag tag, std::int64_t v);
  static Item BigInteger(Tag tag, std::string big_endian);  // padded to 8 by the caller
  static Item Enumeration(Tag tag, std::uint32_t v);
  static Item Boolean(Tag tag, bool v);
  static Item TextString(Tag tag, std::string_view v);
  static Item ByteString(Tag tag, std::string_view v);
  static Item DateTime(Tag tag, std::int64_t unix_seconds);
  static Item Interval(Tag tag, std::uint32_t seconds);

  bool Is(Tag t) const { return tag == Value(t); }
  // The first child with `tag` (any type), or nullptr. Only meaningful for a Structure.
  const Item* Find(Tag t) const;
  // Every child with `tag`, in order.
  std::vector<const Item*> FindAll(Tag t) const;

  friend bool operator==(const Item&, const Item&) = default;
};

struct DecodeLimits {
  std::size_t max_size = 64 * 1024;  // bytes of the whole top-level item
  std::size_t max_depth = 16;        // a top-level primitive is depth 1
  std::size_t max_items = 4096;      // items in total
};

// Decodes exactly one item that spans all of `in` (trailing bytes are an error).
Result<Item> Decode(ByteView in, const DecodeLimits& limits = {});

// The total size (header + padded value) of the item whose first 8 bytes are `header`, for
// framing a stream: InvalidArgument if `header` is shorter than 8 bytes.
Result<std::size_t> EncodedSize(ByteView header);

// Canonical encoding. Integer values out of their type's range are truncated to the wire
// width (callers use the typed factories, which cannot produce them).
Bytes Encode(const Item& item);
void EncodeTo(const Item& item, Bytes& out);

// A one-line-per-item dump for tests and debug logs ("42000F Structure ..."); Byte String
// values are shown as their length only, so key material never reaches a log.
std::string Describe(const Item& item);

}  // namespace cafs::kmip
