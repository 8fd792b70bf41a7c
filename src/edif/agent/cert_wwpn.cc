#include "edif/agent/cert_wwpn.h"

#include <fmt/format.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <optional>

namespace cafs::edif::agent {

std::string WwpnUri(std::uint64_t wwpn) { return fmt::format("{}{:016x}", kWwpnUriPrefix, wwpn); }

Result<std::uint64_t> ParseWwpnUri(const std::string& uri) {
  const std::string prefix = kWwpnUriPrefix;
  if (uri.size() != prefix.size() + 16 || uri.compare(0, prefix.size(), prefix) != 0) {
    return Status::Corruption("not a urn:wwpn:<16 hex digits> URI: '" + uri + "'");
  }
  std::uint64_t v = 0;
  for (std::size_t i = prefix.size(); i < uri.size(); ++i) {
    const char c = uri[i];
    std::uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<std::uint64_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<std::uint64_t>(c - 'A' + 10);
    } else {
      return Status::Corruption("not a urn:wwpn:<16 hex digits> URI: '" + uri + "'");
    }
    v = (v << 4) | d;
  }
  return v;
}

Result<std::uint64_t> CertificateWwpn(X509* cert) {
  if (cert == nullptr) return Status::NotFound("no certificate");
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return Status::NotFound("certificate names no WWPN (no subjectAltName)");
  std::optional<std::uint64_t> found;
  Status bad = Status::OK();
  const int n = sk_GENERAL_NAME_num(names);
  for (int i = 0; i < n && bad.ok(); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = g->d.uniformResourceIdentifier;
    const std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (uri.rfind(kWwpnUriPrefix, 0) != 0) continue;
    auto w = ParseWwpnUri(uri);
    if (!w.ok()) {
      bad = w.status();
    } else if (found && *found != *w) {
      bad = Status::Corruption(
          fmt::format("certificate names two WWPNs ({:016x} and {:016x})", *found, *w));
    } else {
      found = *w;
    }
  }
  GENERAL_NAMES_free(names);
  if (!bad.ok()) return bad;
  if (!found) return Status::NotFound("certificate names no WWPN (no urn:wwpn: URI)");
  return *found;
}

Status CheckCertificateWwpn(X509* cert, std::uint64_t expected) {
  auto w = CertificateWwpn(cert);
  if (!w.ok()) {
    return Status::AuthFailed(fmt::format("peer certificate does not name WWPN {:016x}: {}",
                                          expected, w.status().message()));
  }
  if (*w != expected) {
    return Status::AuthFailed(fmt::format(
        "peer certificate names WWPN {:016x}, but the peer port is {:016x}", *w, expected));
  }
  return Status::OK();
}

}  // namespace cafs::edif::agent
