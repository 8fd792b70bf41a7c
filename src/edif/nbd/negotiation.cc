#include "edif/nbd/negotiation.h"

#include <algorithm>

#include "edif/nbd/codec.h"
#include "edif/nbd/protocol.h"

namespace cafs::edif::nbd {
namespace {

void Append(Bytes* out, const Bytes& more) { out->insert(out->end(), more.begin(), more.end()); }

Bytes ErrorReply(std::uint32_t option, std::uint32_t type, std::string_view message) {
  return EncodeOptionReply(option, type, AsBytes(message));
}

OptionOutcome HandleInfoOrGo(std::uint32_t option, ByteView payload, const ExportCatalog& catalog) {
  OptionOutcome out;
  Result<InfoRequest> request = DecodeInfoRequest(payload);
  if (!request.ok()) {
    out.reply = ErrorReply(option, kRepErrInvalid, request.status().message());
    return out;
  }
  const ExportInfo* info = catalog.Find(request->name);
  if (info == nullptr) {
    out.reply = ErrorReply(option, kRepErrUnknown, "no such export");
    return out;
  }
  auto asked = [&](std::uint16_t type) {
    return std::find(request->infos.begin(), request->infos.end(), type) != request->infos.end();
  };
  Append(&out.reply, EncodeOptionReply(option, kRepInfo,
                                       EncodeInfoExport(info->size, info->transmission_flags)));
  BlockSizeConstraints sizes = info->block_sizes;
  if (!asked(kInfoBlockSize)) sizes.minimum = 1;
  Append(&out.reply, EncodeOptionReply(option, kRepInfo, EncodeInfoBlockSize(sizes)));
  if (asked(kInfoName)) {
    Append(&out.reply,
           EncodeOptionReply(option, kRepInfo, EncodeInfoString(kInfoName, info->name)));
  }
  if (asked(kInfoDescription) && !info->description.empty()) {
    Append(&out.reply, EncodeOptionReply(option, kRepInfo,
                                         EncodeInfoString(kInfoDescription, info->description)));
  }
  Append(&out.reply, EncodeOptionReply(option, kRepAck, {}));
  if (option == kOptGo) {
    out.next = OptionOutcome::Next::kTransmission;
    out.export_name = info->name;
  }
  return out;
}

}  // namespace

const ExportInfo* ExportCatalog::Find(std::string_view name) const {
  const std::string_view wanted = name.empty() && !default_export.empty() ? default_export : name;
  for (const ExportInfo& e : exports) {
    if (e.name == wanted) return &e;
  }
  return nullptr;
}

OptionOutcome HandleOption(std::uint32_t option, ByteView payload, const ExportCatalog& catalog,
                           bool no_zeroes) {
  OptionOutcome out;
  switch (option) {
    case kOptExportName: {
      Result<std::string> name = DecodeExportNameOption(payload);
      const ExportInfo* info = name.ok() ? catalog.Find(*name) : nullptr;
      if (info == nullptr) {
        out.next = OptionOutcome::Next::kClose;
        return out;
      }
      out.reply = EncodeExportNameReply(info->size, info->transmission_flags, no_zeroes);
      out.next = OptionOutcome::Next::kTransmission;
      out.export_name = info->name;
      return out;
    }
    case kOptAbort:
      out.reply = EncodeOptionReply(option, kRepAck, {});
      out.next = OptionOutcome::Next::kClose;
      return out;
    case kOptList:
      if (!payload.empty()) {
        out.reply = ErrorReply(option, kRepErrInvalid, "NBD_OPT_LIST takes no data");
        return out;
      }
      for (const ExportInfo& e : catalog.exports) {
        Append(&out.reply,
               EncodeOptionReply(option, kRepServer, EncodeServerReplyData(e.name, e.description)));
      }
      Append(&out.reply, EncodeOptionReply(option, kRepAck, {}));
      return out;
    case kOptInfo:
    case kOptGo:
      return HandleInfoOrGo(option, payload, catalog);
    default:
      out.reply = ErrorReply(option, kRepErrUnsup, "option not supported");
      return out;
  }
}

}  // namespace cafs::edif::nbd
