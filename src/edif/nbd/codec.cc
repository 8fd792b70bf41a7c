#include "edif/nbd/codec.h"

namespace cafs::edif::nbd {
namespace {

// Appends big-endian fields to a Bytes buffer.
class Writer {
 public:
  explicit Writer(Bytes* out) : out_(out) {}
  void U16(std::uint16_t v) {
    std::uint8_t b[2];
    StoreBe16(b, v);
    out_->insert(out_->end(), b, b + 2);
  }
  void U32(std::uint32_t v) {
    std::uint8_t b[4];
    StoreBe32(b, v);
    out_->insert(out_->end(), b, b + 4);
  }
  void U64(std::uint64_t v) {
    std::uint8_t b[8];
    StoreBe64(b, v);
    out_->insert(out_->end(), b, b + 8);
  }
  void Raw(ByteView data) { out_->insert(out_->end(), data.begin(), data.end()); }
  void Str(std::string_view s) { Raw(AsBytes(s)); }

 private:
  Bytes* out_;
};

std::string ToString(ByteView data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace

const char* CommandName(std::uint16_t type) {
  switch (type) {
    case kCmdRead:
      return "NBD_CMD_READ";
    case kCmdWrite:
      return "NBD_CMD_WRITE";
    case kCmdDisc:
      return "NBD_CMD_DISC";
    case kCmdFlush:
      return "NBD_CMD_FLUSH";
    case kCmdTrim:
      return "NBD_CMD_TRIM";
    case kCmdCache:
      return "NBD_CMD_CACHE";
    case kCmdWriteZeroes:
      return "NBD_CMD_WRITE_ZEROES";
    case kCmdBlockStatus:
      return "NBD_CMD_BLOCK_STATUS";
    default:
      return "unknown";
  }
}

const char* OptionName(std::uint32_t option) {
  switch (option) {
    case kOptExportName:
      return "NBD_OPT_EXPORT_NAME";
    case kOptAbort:
      return "NBD_OPT_ABORT";
    case kOptList:
      return "NBD_OPT_LIST";
    case kOptStartTls:
      return "NBD_OPT_STARTTLS";
    case kOptInfo:
      return "NBD_OPT_INFO";
    case kOptGo:
      return "NBD_OPT_GO";
    case kOptStructuredReply:
      return "NBD_OPT_STRUCTURED_REPLY";
    default:
      return "unknown";
  }
}

std::array<std::uint8_t, kServerGreetingSize> EncodeServerGreeting(std::uint16_t handshake_flags) {
  std::array<std::uint8_t, kServerGreetingSize> out{};
  StoreBe64(out.data(), kNbdMagic);
  StoreBe64(out.data() + 8, kIHaveOpt);
  StoreBe16(out.data() + 16, handshake_flags);
  return out;
}

Result<std::uint16_t> DecodeServerGreeting(ByteView data) {
  if (data.size() != kServerGreetingSize) {
    return Status::InvalidArgument("nbd greeting: wrong size");
  }
  if (LoadBe64(data.data()) != kNbdMagic) {
    return Status::InvalidArgument("nbd greeting: not NBDMAGIC");
  }
  if (LoadBe64(data.data() + 8) != kIHaveOpt) {
    return Status::NotSupported("nbd greeting: not a newstyle server");
  }
  return LoadBe16(data.data() + 16);
}

Bytes EncodeOption(std::uint32_t option, ByteView payload) {
  Bytes out;
  out.reserve(kOptionHeaderSize + payload.size());
  Writer w(&out);
  w.U64(kIHaveOpt);
  w.U32(option);
  w.U32(static_cast<std::uint32_t>(payload.size()));
  w.Raw(payload);
  return out;
}

Result<OptionHeader> DecodeOptionHeader(ByteView data) {
  if (data.size() != kOptionHeaderSize) {
    return Status::InvalidArgument("nbd option: wrong header size");
  }
  if (LoadBe64(data.data()) != kIHaveOpt) {
    return Status::InvalidArgument("nbd option: magic is not IHAVEOPT");
  }
  OptionHeader h;
  h.option = LoadBe32(data.data() + 8);
  h.length = LoadBe32(data.data() + 12);
  if (h.length > kMaxOptionLength) {
    return Status::InvalidArgument("nbd option: payload longer than 64 KiB");
  }
  return h;
}

Result<std::string> DecodeExportNameOption(ByteView payload) {
  if (payload.size() > kMaxStringLength) {
    return Status::InvalidArgument("nbd export name: longer than 4096 bytes");
  }
  return ToString(payload);
}

Bytes EncodeInfoRequest(const InfoRequest& request) {
  Bytes out;
  Writer w(&out);
  w.U32(static_cast<std::uint32_t>(request.name.size()));
  w.Str(request.name);
  w.U16(static_cast<std::uint16_t>(request.infos.size()));
  for (std::uint16_t info : request.infos) w.U16(info);
  return out;
}

Result<InfoRequest> DecodeInfoRequest(ByteView payload) {
  if (payload.size() < 6) return Status::InvalidArgument("nbd info request: too short");
  const std::uint32_t name_len = LoadBe32(payload.data());
  if (name_len > kMaxStringLength || name_len > payload.size() - 6) {
    return Status::InvalidArgument("nbd info request: bad name length");
  }
  InfoRequest r;
  r.name = ToString(payload.subspan(4, name_len));
  const std::size_t count_at = 4 + std::size_t{name_len};
  const std::uint16_t count = LoadBe16(payload.data() + count_at);
  const std::size_t left = payload.size() - count_at - 2;
  if (left != std::size_t{count} * 2) {
    return Status::InvalidArgument("nbd info request: count does not match length");
  }
  r.infos.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    r.infos.push_back(LoadBe16(payload.data() + count_at + 2 + 2 * i));
  }
  return r;
}

Bytes EncodeOptionReply(std::uint32_t option, std::uint32_t type, ByteView data) {
  Bytes out;
  out.reserve(kOptionReplyHeaderSize + data.size());
  Writer w(&out);
  w.U64(kOptionReplyMagic);
  w.U32(option);
  w.U32(type);
  w.U32(static_cast<std::uint32_t>(data.size()));
  w.Raw(data);
  return out;
}

Result<OptionReplyHeader> DecodeOptionReplyHeader(ByteView data) {
  if (data.size() != kOptionReplyHeaderSize) {
    return Status::InvalidArgument("nbd option reply: wrong header size");
  }
  if (LoadBe64(data.data()) != kOptionReplyMagic) {
    return Status::InvalidArgument("nbd option reply: wrong magic");
  }
  OptionReplyHeader h;
  h.option = LoadBe32(data.data() + 8);
  h.type = LoadBe32(data.data() + 12);
  h.length = LoadBe32(data.data() + 16);
  if (h.length > kMaxOptionLength) {
    return Status::InvalidArgument("nbd option reply: payload longer than 64 KiB");
  }
  return h;
}

Bytes EncodeServerReplyData(std::string_view name, std::string_view description) {
  Bytes out;
  Writer w(&out);
  w.U32(static_cast<std::uint32_t>(name.size()));
  w.Str(name);
  w.Str(description);
  return out;
}

Result<ExportListing> DecodeServerReplyData(ByteView data) {
  if (data.size() < 4) return Status::InvalidArgument("nbd export listing: too short");
  const std::uint32_t name_len = LoadBe32(data.data());
  if (name_len > data.size() - 4 || name_len > kMaxStringLength) {
    return Status::InvalidArgument("nbd export listing: bad name length");
  }
  ExportListing l;
  l.name = ToString(data.subspan(4, name_len));
  l.description = ToString(data.subspan(4 + std::size_t{name_len}));
  return l;
}

Bytes EncodeInfoExport(std::uint64_t size, std::uint16_t transmission_flags) {
  Bytes out;
  Writer w(&out);
  w.U16(kInfoExport);
  w.U64(size);
  w.U16(transmission_flags);
  return out;
}

Bytes EncodeInfoString(std::uint16_t info_type, std::string_view text) {
  Bytes out;
  Writer w(&out);
  w.U16(info_type);
  w.Str(text.substr(0, kMaxStringLength));
  return out;
}

Bytes EncodeInfoBlockSize(const BlockSizeConstraints& sizes) {
  Bytes out;
  Writer w(&out);
  w.U16(kInfoBlockSize);
  w.U32(sizes.minimum);
  w.U32(sizes.preferred);
  w.U32(sizes.maximum);
  return out;
}

Status ApplyInfoReply(ByteView data, ExportInfo* info) {
  if (data.size() < 2) return Status::InvalidArgument("nbd info reply: too short");
  const std::uint16_t type = LoadBe16(data.data());
  ByteView body = data.subspan(2);
  switch (type) {
    case kInfoExport:
      if (body.size() != 10) return Status::InvalidArgument("nbd NBD_INFO_EXPORT: wrong length");
      info->size = LoadBe64(body.data());
      info->transmission_flags = LoadBe16(body.data() + 8);
      return Status::OK();
    case kInfoName:
      if (body.size() > kMaxStringLength) return Status::InvalidArgument("nbd info: long name");
      info->name = ToString(body);
      return Status::OK();
    case kInfoDescription:
      if (body.size() > kMaxStringLength) {
        return Status::InvalidArgument("nbd info: long description");
      }
      info->description = ToString(body);
      return Status::OK();
    case kInfoBlockSize:
      if (body.size() != 12) {
        return Status::InvalidArgument("nbd NBD_INFO_BLOCK_SIZE: wrong length");
      }
      info->block_sizes.minimum = LoadBe32(body.data());
      info->block_sizes.preferred = LoadBe32(body.data() + 4);
      info->block_sizes.maximum = LoadBe32(body.data() + 8);
      return Status::OK();
    default:
      return Status::OK();  // unknown info types are ignored
  }
}

Bytes EncodeExportNameReply(std::uint64_t size, std::uint16_t transmission_flags, bool no_zeroes) {
  Bytes out;
  Writer w(&out);
  w.U64(size);
  w.U16(transmission_flags);
  if (!no_zeroes) out.resize(out.size() + kExportNameZeroPad, 0);
  return out;
}

std::array<std::uint8_t, kRequestSize> EncodeRequest(const Request& request) {
  std::array<std::uint8_t, kRequestSize> out{};
  StoreBe32(out.data(), kRequestMagic);
  StoreBe16(out.data() + 4, request.flags);
  StoreBe16(out.data() + 6, request.type);
  StoreBe64(out.data() + 8, request.cookie);
  StoreBe64(out.data() + 16, request.offset);
  StoreBe32(out.data() + 24, request.length);
  return out;
}

Result<Request> DecodeRequest(ByteView data) {
  if (data.size() != kRequestSize) return Status::InvalidArgument("nbd request: wrong size");
  if (LoadBe32(data.data()) != kRequestMagic) {
    return Status::InvalidArgument("nbd request: wrong magic");
  }
  Request r;
  r.flags = LoadBe16(data.data() + 4);
  r.type = LoadBe16(data.data() + 6);
  r.cookie = LoadBe64(data.data() + 8);
  r.offset = LoadBe64(data.data() + 16);
  r.length = LoadBe32(data.data() + 24);
  return r;
}

std::array<std::uint8_t, kSimpleReplySize> EncodeSimpleReply(const SimpleReply& reply) {
  std::array<std::uint8_t, kSimpleReplySize> out{};
  StoreBe32(out.data(), kSimpleReplyMagic);
  StoreBe32(out.data() + 4, reply.error);
  StoreBe64(out.data() + 8, reply.cookie);
  return out;
}

Result<SimpleReply> DecodeSimpleReply(ByteView data) {
  if (data.size() != kSimpleReplySize) return Status::InvalidArgument("nbd reply: wrong size");
  if (LoadBe32(data.data()) != kSimpleReplyMagic) {
    return Status::InvalidArgument("nbd reply: not a simple reply");
  }
  SimpleReply r;
  r.error = LoadBe32(data.data() + 4);
  r.cookie = LoadBe64(data.data() + 8);
  return r;
}

RequestCheck CheckRequest(const Request& request, const ExportInfo& export_info) {
  RequestCheck check;
  auto fail = [&](std::uint32_t error) {
    check.action = RequestAction::kReplyError;
    check.error = error;
    return check;
  };
  // Does [offset, offset + length) fit the export? (No overflow: compare against the rest.)
  const bool in_bounds =
      request.offset <= export_info.size && request.length <= export_info.size - request.offset;
  const std::uint16_t known_flags = static_cast<std::uint16_t>(
      kCmdFlagFua | (request.type == kCmdWriteZeroes ? kCmdFlagNoHole : 0));
  const bool bad_flags = (request.flags & ~known_flags) != 0;

  switch (request.type) {
    case kCmdWrite:
      if (request.length > export_info.max_payload()) {
        check.action = RequestAction::kDisconnect;
        check.error = kNbdEoverflow;
        return check;
      }
      check.payload_length = request.length;
      if (bad_flags) return fail(kNbdEinval);
      if (export_info.read_only()) return fail(kNbdEperm);
      if (!in_bounds) return fail(kNbdEnospc);
      return check;
    case kCmdRead:
      if (bad_flags) return fail(kNbdEinval);
      if (request.length > export_info.max_payload()) return fail(kNbdEoverflow);
      if (!in_bounds) return fail(kNbdEinval);
      return check;
    case kCmdDisc:
      return check;
    case kCmdFlush:
      if (bad_flags || !export_info.can_flush()) return fail(kNbdEinval);
      return check;
    case kCmdTrim:
      if (bad_flags || !export_info.can_trim()) return fail(kNbdEinval);
      if (export_info.read_only()) return fail(kNbdEperm);
      if (!in_bounds) return fail(kNbdEinval);
      return check;
    case kCmdWriteZeroes:
      if (bad_flags || !export_info.can_write_zeroes()) return fail(kNbdEinval);
      if (export_info.read_only()) return fail(kNbdEperm);
      if (!in_bounds) return fail(kNbdEnospc);
      return check;
    default:  // CACHE, BLOCK_STATUS and unknown commands: never advertised
      return fail(kNbdEinval);
  }
}

}  // namespace cafs::edif::nbd
