// Which WWPN an agent's X.509 certificate names (docs/edif-agent.md section 4,
// "Certificate names").
//
// Convention: the leaf certificate carries a subjectAltName URI "urn:wwpn:" followed by exactly
// 16 hexadecimal digits (either case, no separators), e.g. "urn:wwpn:5000000000000001". The
// agent of port P must present a certificate naming P; a certificate that names no WWPN, or
// names two different ones, names none that can be trusted. The CN is free text (not used).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

typedef struct x509_st X509;

namespace cafs::edif::agent {

inline constexpr char kWwpnUriPrefix[] = "urn:wwpn:";

// "urn:wwpn:" + 16 lower-case hex digits.
std::string WwpnUri(std::uint64_t wwpn);
// The WWPN of a "urn:wwpn:<16 hex>" URI; Corruption for anything else.
Result<std::uint64_t> ParseWwpnUri(const std::string& uri);

// The WWPN `cert` names. NotFound: no urn:wwpn URI; Corruption: a malformed urn:wwpn URI or
// two different WWPNs.
Result<std::uint64_t> CertificateWwpn(X509* cert);

// OK when `cert` names `expected`; AuthFailed with a message naming both otherwise.
Status CheckCertificateWwpn(X509* cert, std::uint64_t expected);

}  // namespace cafs::edif::agent
