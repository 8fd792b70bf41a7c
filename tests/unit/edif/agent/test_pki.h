// A throw-away PKI for agent tests: a CA and leaf certificates (EC P-256) written as PEM files
// into a directory, made with OpenSSL's APIs.
#pragma once

#include <string>

namespace cafs::edif::agent::testing {

struct PemFiles {
  std::string ca;    // the issuing CA's certificate
  std::string cert;  // leaf certificate
  std::string key;   // leaf private key
};

// Creates `dir`/<name>-ca.pem (CA "<name> CA") and leaves for `leaf_a` and `leaf_b`.
// Aborts the test process on an OpenSSL failure (test helper).
struct TestPki {
  PemFiles a;
  PemFiles b;
};
TestPki MakePki(const std::string& dir, const std::string& name, const std::string& leaf_a,
                const std::string& leaf_b);

}  // namespace cafs::edif::agent::testing
