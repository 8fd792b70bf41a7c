#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>

#include "edif/agent/cert_wwpn.h"

namespace cafs::edif::agent::testing {

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test PKI: %s failed\n", what);
    std::abort();
  }
}

// `san`: a subjectAltName value in openssl.cnf syntax ("" = none).
X509* MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
               long serial, const std::string& san = "") {
  X509* x = X509_new();
  Check(x != nullptr, "X509_new");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints,
                                            ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  Check(ext != nullptr, "basic constraints");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  if (!san.empty()) {
    ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
    Check(ext != nullptr, "subjectAltName");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (ca) {
    ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  Check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return x;
}

void WriteCert(const std::string& path, X509* x) {
  FILE* f = std::fopen(path.c_str(), "w");
  Check(f != nullptr, "fopen cert");
  Check(PEM_write_X509(f, x) == 1, "PEM_write_X509");
  std::fclose(f);
}

void WriteKey(const std::string& path, EVP_PKEY* k) {
  FILE* f = std::fopen(path.c_str(), "w");
  Check(f != nullptr, "fopen key");
  Check(PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM key");
  std::fclose(f);
}

std::string SanFor(std::optional<std::uint64_t> wwpn, const std::string& uris) {
  if (!uris.empty()) return uris;
  return wwpn ? "URI:" + WwpnUri(*wwpn) : "";
}

PemFiles Leaf(const std::string& dir, const std::string& cn, X509* ca, EVP_PKEY* ca_key,
              const std::string& ca_path, long serial, const std::string& san) {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  Check(k != nullptr, "EVP_EC_gen");
  X509* x = MakeCert(k, cn, ca, ca_key, false, serial, san);
  PemFiles p{ca_path, dir + "/" + cn + ".crt", dir + "/" + cn + ".key"};
  WriteCert(p.cert, x);
  WriteKey(p.key, k);
  X509_free(x);
  EVP_PKEY_free(k);
  return p;
}

}  // namespace

TestPki MakePki(const std::string& dir, const std::string& name, const std::string& leaf_a,
                std::uint64_t wwpn_a, const std::string& leaf_b, std::uint64_t wwpn_b) {
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  Check(ca_key != nullptr, "EVP_EC_gen CA");
  X509* ca = MakeCert(ca_key, name + " CA", nullptr, nullptr, true, 1);
  const std::string ca_path = dir + "/" + name + "-ca.pem";
  WriteCert(ca_path, ca);
  WriteKey(dir + "/" + name + "-ca.key", ca_key);
  TestPki pki{Leaf(dir, leaf_a, ca, ca_key, ca_path, 2, SanFor(wwpn_a, "")),
              Leaf(dir, leaf_b, ca, ca_key, ca_path, 3, SanFor(wwpn_b, ""))};
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return pki;
}

PemFiles IssueLeaf(const std::string& dir, const std::string& ca_name, const std::string& cn,
                   std::optional<std::uint64_t> wwpn, const std::string& uris) {
  const std::string ca_path = dir + "/" + ca_name + "-ca.pem";
  FILE* f = std::fopen(ca_path.c_str(), "r");
  Check(f != nullptr, "fopen CA");
  X509* ca = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen((dir + "/" + ca_name + "-ca.key").c_str(), "r");
  Check(f != nullptr, "fopen CA key");
  EVP_PKEY* ca_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  Check(ca != nullptr && ca_key != nullptr, "reading the CA");
  static long serial = 100;
  PemFiles p = Leaf(dir, cn, ca, ca_key, ca_path, ++serial, SanFor(wwpn, uris));
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return p;
}

}  // namespace cafs::edif::agent::testing
