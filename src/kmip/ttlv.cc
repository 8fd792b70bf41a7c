#include "kmip/ttlv.h"

#include <cstring>

namespace cafs::kmip {

namespace {

std::size_t Padded(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

std::uint32_t Load32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::uint64_t Load64(const std::uint8_t* p) {
  return (std::uint64_t{Load32(p)} << 32) | std::uint64_t{Load32(p + 4)};
}

void Put32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(v >> shift));
  }
}

void Put64(Bytes& out, std::uint64_t v) {
  Put32(out, static_cast<std::uint32_t>(v >> 32));
  Put32(out, static_cast<std::uint32_t>(v));
}

// The value length a fixed-size type must have, or 0 for variable-size types.
std::size_t FixedLength(ItemType t) {
  switch (t) {
    case ItemType::kInteger:
    case ItemType::kEnumeration:
    case ItemType::kInterval:
      return 4;
    case ItemType::kLongInteger:
    case ItemType::kBoolean:
    case ItemType::kDateTime:
      return 8;
    default:
      return 0;
  }
}

bool KnownType(std::uint8_t t) { return t >= 0x01 && t <= 0x0A; }

class Decoder {
 public:
  Decoder(ByteView in, const DecodeLimits& limits) : in_(in), limits_(limits) {}

  // Decodes the item at in_[pos, end); sets *next to the offset after its padding.
  Result<Item> DecodeAt(std::size_t pos, std::size_t end, std::size_t depth, std::size_t* next) {
    if (depth > limits_.max_depth) {
      return Error(pos, "nesting deeper than " + std::to_string(limits_.max_depth));
    }
    if (++items_ > limits_.max_items) {
      return Error(pos, "more than " + std::to_string(limits_.max_items) + " items");
    }
    if (end - pos < kHeaderSize) return Error(pos, "truncated item header");
    const std::uint8_t* h = in_.data() + pos;
    Item item;
    item.tag = (std::uint32_t{h[0]} << 16) | (std::uint32_t{h[1]} << 8) | std::uint32_t{h[2]};
    if (!KnownType(h[3])) return Error(pos, "unknown item type " + std::to_string(h[3]));
    item.type = static_cast<ItemType>(h[3]);
    const std::size_t len = Load32(h + 4);
    const std::size_t value_pos = pos + kHeaderSize;
    const std::size_t room = end - value_pos;
    if (len > room) return Error(pos, "length " + std::to_string(len) + " overruns its container");
    const std::size_t padded = Padded(len);
    if (padded > room) return Error(pos, "padding overruns its container");
    if (const std::size_t fixed = FixedLength(item.type); fixed != 0 && len != fixed) {
      return Error(pos, std::string(ItemTypeName(item.type)) + " with length " +
                            std::to_string(len) + " (must be " + std::to_string(fixed) + ")");
    }
    for (std::size_t i = value_pos + len; i < value_pos + padded; ++i) {
      if (in_[i] != 0) return Error(i, "non-zero padding byte");
    }
    const std::uint8_t* v = in_.data() + value_pos;
    switch (item.type) {
      case ItemType::kStructure: {
        std::size_t p = value_pos;
        const std::size_t send = value_pos + len;
        if (len % 8 != 0) return Error(pos, "structure length is not a multiple of 8");
        while (p < send) {
          std::size_t after = 0;
          CAFS_ASSIGN_OR_RETURN(Item child, DecodeAt(p, send, depth + 1, &after));
          item.children.push_back(std::move(child));
          p = after;
        }
        break;
      }
      case ItemType::kInteger:
        item.integer = static_cast<std::int32_t>(Load32(v));
        break;
      case ItemType::kEnumeration:
      case ItemType::kInterval:
        item.integer = Load32(v);
        break;
      case ItemType::kLongInteger:
      case ItemType::kDateTime:
        item.integer = static_cast<std::int64_t>(Load64(v));
        break;
      case ItemType::kBoolean: {
        const std::uint64_t b = Load64(v);
        if (b > 1) return Error(pos, "boolean value other than 0 or 1");
        item.integer = static_cast<std::int64_t>(b);
        break;
      }
      case ItemType::kBigInteger:
        if (len % 8 != 0) return Error(pos, "big integer length is not a multiple of 8");
        item.bytes.assign(reinterpret_cast<const char*>(v), len);
        break;
      case ItemType::kTextString:
      case ItemType::kByteString:
        item.bytes.assign(reinterpret_cast<const char*>(v), len);
        break;
    }
    *next = value_pos + padded;
    return item;
  }

 private:
  static Status Error(std::size_t offset, const std::string& what) {
    return Status::InvalidArgument("TTLV at byte " + std::to_string(offset) + ": " + what);
  }

  ByteView in_;
  const DecodeLimits& limits_;
  std::size_t items_ = 0;
};

}  // namespace

std::string_view ItemTypeName(ItemType type) {
  switch (type) {
    case ItemType::kStructure:
      return "Structure";
    case ItemType::kInteger:
      return "Integer";
    case ItemType::kLongInteger:
      return "LongInteger";
    case ItemType::kBigInteger:
      return "BigInteger";
    case ItemType::kEnumeration:
      return "Enumeration";
    case ItemType::kBoolean:
      return "Boolean";
    case ItemType::kTextString:
      return "TextString";
    case ItemType::kByteString:
      return "ByteString";
    case ItemType::kDateTime:
      return "DateTime";
    case ItemType::kInterval:
      return "Interval";
  }
  return "Unknown";
}

Item Item::Structure(Tag tag, std::vector<Item> children) {
  Item i;
  i.tag = Value(tag);
  i.type = ItemType::kStructure;
  i.children = std::move(children);
  return i;
}

namespace {
Item Scalar(Tag tag, ItemType type, std::int64_t v) {
  Item i;
  i.tag = Value(tag);
  i.type = type;
  i.integer = v;
  return i;
}
Item Blob(Tag tag, ItemType type, std::string_view v) {
  Item i;
  i.tag = Value(tag);
  i.type = type;
  i.bytes = std::string(v);
  return i;
}
}  // namespace

Item Item::Integer(Tag tag, std::int32_t v) { return Scalar(tag, ItemType::kInteger, v); }
Item Item::LongInteger(Tag tag, std::int64_t v) { return Scalar(tag, ItemType::kLongInteger, v); }
Item Item::BigInteger(Tag tag, std::string big_endian) {
  return Blob(tag, ItemType::kBigInteger, big_endian);
}
Item Item::Enumeration(Tag tag, std::uint32_t v) { return Scalar(tag, ItemType::kEnumeration, v); }
Item Item::Boolean(Tag tag, bool v) { return Scalar(tag, ItemType::kBoolean, v ? 1 : 0); }
Item Item::TextString(Tag tag, std::string_view v) { return Blob(tag, ItemType::kTextString, v); }
Item Item::ByteString(Tag tag, std::string_view v) { return Blob(tag, ItemType::kByteString, v); }
Item Item::DateTime(Tag tag, std::int64_t unix_seconds) {
  return Scalar(tag, ItemType::kDateTime, unix_seconds);
}
Item Item::Interval(Tag tag, std::uint32_t seconds) {
  return Scalar(tag, ItemType::kInterval, seconds);
}

const Item* Item::Find(Tag t) const {
  for (const auto& c : children) {
    if (c.tag == Value(t)) return &c;
  }
  return nullptr;
}

std::vector<const Item*> Item::FindAll(Tag t) const {
  std::vector<const Item*> out;
  for (const auto& c : children) {
    if (c.tag == Value(t)) out.push_back(&c);
  }
  return out;
}

Result<Item> Decode(ByteView in, const DecodeLimits& limits) {
  if (in.size() > limits.max_size) {
    return Status::InvalidArgument("TTLV message of " + std::to_string(in.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(limits.max_size));
  }
  Decoder d(in, limits);
  std::size_t next = 0;
  CAFS_ASSIGN_OR_RETURN(Item item, d.DecodeAt(0, in.size(), 1, &next));
  if (next != in.size()) {
    return Status::InvalidArgument("TTLV: " + std::to_string(in.size() - next) +
                                   " trailing bytes after the item");
  }
  return item;
}

Result<std::size_t> EncodedSize(ByteView header) {
  if (header.size() < kHeaderSize) return Status::InvalidArgument("TTLV: short header");
  return kHeaderSize + Padded(Load32(header.data() + 4));
}

void EncodeTo(const Item& item, Bytes& out) {
  out.push_back(static_cast<std::uint8_t>(item.tag >> 16));
  out.push_back(static_cast<std::uint8_t>(item.tag >> 8));
  out.push_back(static_cast<std::uint8_t>(item.tag));
  out.push_back(static_cast<std::uint8_t>(item.type));
  const std::size_t len_pos = out.size();
  Put32(out, 0);
  const std::size_t value_pos = out.size();
  switch (item.type) {
    case ItemType::kStructure:
      for (const auto& c : item.children) EncodeTo(c, out);
      break;
    case ItemType::kInteger:
    case ItemType::kEnumeration:
    case ItemType::kInterval:
      Put32(out, static_cast<std::uint32_t>(item.integer));
      break;
    case ItemType::kLongInteger:
    case ItemType::kBoolean:
    case ItemType::kDateTime:
      Put64(out, static_cast<std::uint64_t>(item.integer));
      break;
    case ItemType::kBigInteger:
    case ItemType::kTextString:
    case ItemType::kByteString:
      out.insert(out.end(), item.bytes.begin(), item.bytes.end());
      break;
  }
  const std::size_t len = out.size() - value_pos;
  for (int i = 0; i < 4; ++i) {
    out[len_pos + static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(static_cast<std::uint32_t>(len) >> (24 - 8 * i));
  }
  out.resize(value_pos + Padded(len), 0);
}

Bytes Encode(const Item& item) {
  Bytes out;
  EncodeTo(item, out);
  return out;
}

namespace {
void DescribeTo(const Item& item, int indent, std::string& out) {
  char tag[16];
  std::snprintf(tag, sizeof tag, "%06X", item.tag);
  out.append(static_cast<std::size_t>(indent) * 2, ' ');
  out += tag;
  out += ' ';
  out += ItemTypeName(item.type);
  switch (item.type) {
    case ItemType::kStructure:
      out += '\n';
      for (const auto& c : item.children) DescribeTo(c, indent + 1, out);
      return;
    case ItemType::kTextString:
      out += " \"" + item.bytes + "\"";
      break;
    case ItemType::kByteString:
    case ItemType::kBigInteger:
      out += " (" + std::to_string(item.bytes.size()) + " bytes)";
      break;
    default:
      out += ' ' + std::to_string(item.integer);
  }
  out += '\n';
}
}  // namespace

std::string Describe(const Item& item) {
  std::string out;
  DescribeTo(item, 0, out);
  return out;
}

}  // namespace cafs::kmip
