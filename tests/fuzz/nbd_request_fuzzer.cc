// Fuzzes everything our NBD server decodes from a client: option headers, option handling
// (HandleOption over a small catalog), request headers and request validation.
//
// Input layout: first byte selects the mode; the rest is the wire data.
#include <cstddef>
#include <cstdint>

#include "edif/nbd/codec.h"
#include "edif/nbd/negotiation.h"

using namespace cafs::edif::nbd;

namespace {

const ExportCatalog& Catalog() {
  static const ExportCatalog catalog = [] {
    ExportCatalog c;
    ExportInfo a;
    a.name = "disk";
    a.size = 1 << 20;
    a.transmission_flags = kFlagHasFlags | kFlagSendFlush | kFlagSendTrim | kFlagSendFua;
    a.block_sizes = {512, 4096, 1 << 20};
    ExportInfo ro = a;
    ro.name = "ro";
    ro.transmission_flags |= kFlagReadOnly;
    c.exports = {a, ro};
    c.default_export = "disk";
    return c;
  }();
  return catalog;
}

void Trap(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  cafs::ByteView in(data + 1, size - 1);
  switch (mode % 3) {
    case 0: {  // a stream of options as a server reads them
      while (in.size() >= kOptionHeaderSize) {
        auto header = DecodeOptionHeader(in.first(kOptionHeaderSize));
        in = in.subspan(kOptionHeaderSize);
        if (!header.ok()) break;
        Trap(header->length <= kMaxOptionLength);
        const std::size_t n = header->length < in.size() ? header->length : in.size();
        OptionOutcome o = HandleOption(header->option, in.first(n), Catalog(), (mode & 4) != 0);
        in = in.subspan(n);
        if (o.next == OptionOutcome::Next::kTransmission) Trap(Catalog().Find(o.export_name));
        if (o.next != OptionOutcome::Next::kContinue) break;
      }
      break;
    }
    case 1: {  // requests as a server reads them in transmission
      const ExportInfo& e = Catalog().exports[(mode >> 2) & 1];
      while (in.size() >= kRequestSize) {
        auto request = DecodeRequest(in.first(kRequestSize));
        in = in.subspan(kRequestSize);
        if (!request.ok()) break;
        RequestCheck c = CheckRequest(*request, e);
        if (c.action == RequestAction::kDisconnect) break;
        Trap(c.payload_length <= e.max_payload());
        if (c.action == RequestAction::kExecute && request->type != kCmdDisc &&
            request->type != kCmdFlush) {
          Trap(request->offset <= e.size && request->length <= e.size - request->offset);
        }
        const std::size_t n = c.payload_length < in.size() ? c.payload_length : in.size();
        in = in.subspan(n);
      }
      break;
    }
    default: {  // client-side decoders over server bytes
      ExportInfo info;
      (void)ApplyInfoReply(in, &info);
      (void)DecodeServerReplyData(in);
      (void)DecodeInfoRequest(in);
      if (in.size() >= kOptionReplyHeaderSize) {
        (void)DecodeOptionReplyHeader(in.first(kOptionReplyHeaderSize));
      }
      if (in.size() >= kSimpleReplySize) (void)DecodeSimpleReply(in.first(kSimpleReplySize));
      if (in.size() >= kServerGreetingSize) {
        (void)DecodeServerGreeting(in.first(kServerGreetingSize));
      }
      break;
    }
  }
  return 0;
}
