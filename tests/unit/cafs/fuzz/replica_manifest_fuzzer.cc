// Input: a DR replica manifest without its trailing MAC (docs/replicas.md "Manifest"). The
// fuzzer closes it with a valid HMAC under a fixed key so the structure decoder is reached
// (a random tail would only ever fail the MAC), and also decodes the input as it is (the MAC
// path). A manifest that decodes must encode to bytes that decode to the same manifest, to
// exactly the bytes decoded when it was the current version (3: one codec, one canonical
// form), and a decoded manifest with one byte flipped must fail the MAC.
#include <cstdint>
#include <cstdlib>

#include "cafs/replica_manifest.h"
#include "crypto/mac.h"

namespace {

const cafs::SecureBuffer& MacKey() {
  static const cafs::SecureBuffer key = [] {
    auto k = cafs::core::ReplicaMacKey(cafs::Bytes(32, 0x5a));  // the golden files' key
    if (!k.ok()) std::abort();
    return std::move(*k);
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const cafs::ByteView key = MacKey().view();
  const cafs::ByteView raw(data, size);
  (void)cafs::core::DecodeManifest(raw, key);

  auto mac = cafs::crypto::HmacSha256(key, raw);
  if (!mac.ok()) std::abort();
  cafs::Bytes sealed(data, data + size);
  sealed.insert(sealed.end(), mac->begin(), mac->end());
  auto decoded = cafs::core::DecodeManifest(sealed, key);
  if (!decoded.ok()) return 0;
  auto encoded = cafs::core::EncodeManifest(*decoded, key);
  if (!encoded.ok()) std::abort();
  const bool current = size >= 12 && data[8] == 3 && data[9] == 0 && data[10] == 0 && data[11] == 0;
  if (current && *encoded != sealed) std::abort();
  auto again = cafs::core::DecodeManifest(*encoded, key);
  if (!again.ok() || !(*again == *decoded)) std::abort();
  sealed[size / 2] ^= 0x01;
  if (cafs::core::DecodeManifest(sealed, key).ok()) std::abort();
  return 0;
}
