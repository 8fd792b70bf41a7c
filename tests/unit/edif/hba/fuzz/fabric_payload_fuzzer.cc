// libFuzzer target: what edifd and edif-agent decode from the fabric beyond the link frame
// itself (link_frame_fuzzer covers that): the LOGIN / LOGIN_ACC / LOGIN_RJT / AUTH_ELS / DATA
// request and reply payloads (src/edif/hba/fabric_payloads.h), and the agents' AuthFrame and
// tunnel message carried inside AUTH_ELS (src/edif/agent/auth_frame.h), including an AuthFrame
// nested in a decoded AUTH_ELS payload. Every decoder runs on every input.
// Invariants: decoders never crash or over-read; whatever decodes re-encodes to exactly the
// input (the encodings are canonical); a payload is never both a DATA request and a reply, and
// IsDataRequest agrees with the decoder that accepted it.
// Seeds in tests/fuzz/corpus/fabric_payload_fuzzer/: one valid payload of each kind.
#include <algorithm>
#include <cstdlib>

#include "edif/agent/auth_frame.h"
#include "edif/hba/fabric_payloads.h"

namespace {

namespace hba = cafs::edif::hba;
namespace agent = cafs::edif::agent;

void Same(cafs::ByteView a, cafs::ByteView b) {
  if (a.size() != b.size() || !std::equal(a.begin(), a.end(), b.begin())) std::abort();
}

void AuthFrames(cafs::ByteView in) {
  auto f = agent::DecodeAuthFrame(in);
  if (f.ok()) Same(agent::EncodeAuthFrame(*f), in);
  auto t = agent::DecodeTunnelMessage(in);
  if (t.ok()) Same(agent::EncodeTunnelMessage(*t), in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cafs::ByteView in(data, size);
  if (hba::DecodeLogin(in).ok()) Same(hba::EncodeLogin(), in);
  if (auto acc = hba::DecodeLoginAcc(in); acc.ok()) {
    if (acc->size() > hba::kMaxLuns) std::abort();
    auto re = hba::EncodeLoginAcc(*acc);
    if (!re.ok()) std::abort();
    Same(*re, in);
  }
  if (auto rjt = hba::DecodeLoginRjt(in); rjt.ok()) Same(hba::EncodeLoginRjt(*rjt), in);
  if (auto els = hba::DecodeAuthEls(in); els.ok()) {
    Same(hba::EncodeAuthEls(els->els_flags, els->frame), in);
    AuthFrames(els->frame);
  }
  auto req = hba::DecodeDataRequest(in);
  auto rep = hba::DecodeDataReply(in);
  auto kind = hba::IsDataRequest(in);
  if (req.ok() && rep.ok()) std::abort();
  if (req.ok()) {
    if (req->length > hba::kMaxDataLength || !kind.ok() || !*kind) std::abort();
    auto re = hba::EncodeDataRequest(*req);
    if (!re.ok()) std::abort();
    Same(*re, in);
  }
  if (rep.ok()) {
    if (!kind.ok() || *kind) std::abort();
    Same(hba::EncodeDataReply(*rep), in);
  }
  AuthFrames(in);
  return 0;
}
