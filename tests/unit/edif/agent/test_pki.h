// A throw-away PKI for agent tests: a CA and leaf certificates (EC P-256) written as PEM files
// into a directory, made with OpenSSL's APIs. Leaves name their agent's port WWPN as a
// "urn:wwpn:<16 hex>" subjectAltName URI (docs/edif-agent.md section 4, "Certificate names").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cafs::edif::agent::testing {

struct PemFiles {
  std::string ca;    // the issuing CA's certificate
  std::string cert;  // leaf certificate
  std::string key;   // leaf private key
};

// Creates `dir`/<name>-ca.pem (CA "<name> CA", key in <name>-ca.key) and leaves for `leaf_a`
// (naming `wwpn_a`) and `leaf_b` (naming `wwpn_b`).
// Aborts the test process on an OpenSSL failure (test helper).
struct TestPki {
  PemFiles a;
  PemFiles b;
};
TestPki MakePki(const std::string& dir, const std::string& name, const std::string& leaf_a,
                std::uint64_t wwpn_a, const std::string& leaf_b, std::uint64_t wwpn_b);

// One more leaf `cn` from the CA MakePki(dir, ca_name, ...) made, naming `wwpn` (none if
// nullopt), or the given raw URI SANs instead when `uris` is non-empty.
PemFiles IssueLeaf(const std::string& dir, const std::string& ca_name, const std::string& cn,
                   std::optional<std::uint64_t> wwpn, const std::string& uris = "");

}  // namespace cafs::edif::agent::testing
