// Fuzzes the KMIP TTLV decoder and the request/response message layer (src/kmip): what
// kpsd's KMIP listener decodes from a client before any operation runs.
// Checks, besides "no crash, no leak, no UB": a decoded item re-encodes to the same bytes
// (the codec is canonical), and a parsed request rebuilds to a request that parses again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kmip/attribute.h"
#include "kmip/message.h"
#include "kmip/ttlv.h"

using namespace cafs::kmip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cafs::ByteView in(data, size);
  DecodeLimits limits;
  limits.max_size = 1 << 16;
  auto item = Decode(in, limits);
  if (!item.ok()) return 0;
  const cafs::Bytes again = Encode(*item);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  (void)Describe(*item);
  (void)EncodedSize(in);
  if (auto req = ParseRequest(*item); req.ok()) {
    for (const auto& bi : req->items) {
      (void)AttributesIn(bi.payload);
      if (const Item* ta = bi.payload.Find(Tag::kTemplateAttribute)) (void)AttributesIn(*ta);
    }
    if (!ParseRequest(BuildRequest(req->version, req->items)).ok()) std::abort();
  }
  if (auto resp = ParseResponse(*item); resp.ok()) (void)BuildResponse(*resp);
  if (auto a = AttributeFrom(*item); a.ok()) (void)NameText(a->value);
  return 0;
}
