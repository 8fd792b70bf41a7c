// CertificateAuthority: kpsd's own CA for mutual TLS (OpenSSL X509 APIs, EC P-256 keys,
// SHA-256 signatures).
//
// Files in the data dir (PEM): ca.key (0600) + ca.crt (10 years), server.key (0600) +
// server.crt (1 year, SAN IP:127.0.0.1, DNS:localhost and the names given). Client
// certificates carry the identity in the subject: CN=<name>, OU=<role>, O=CAFS, and a random
// 128-bit serial; kpsd also records name, role, scope and serial in its store, so a
// certificate can be revoked (the record's serial no longer matches or revoked=true).
// A client bundle is one PEM file: client certificate, its private key, then the CA cert.
//
// Threading: Issue* may be called from several threads (the CA key is read-only).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kps/objects.h"
#include "util/result.h"

struct x509_st;  // OpenSSL X509

namespace cafs::kps {

struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;      // the private key (secret: goes only into the bundle)
  std::string serial;       // lower-case hex
  std::string fingerprint;  // SHA-256 of the DER certificate, lower-case hex
  // cert + key + CA certificate, the file `cafsctl --cert` and curl --cert/--key take.
  std::string Bundle(const std::string& ca_pem) const { return cert_pem + key_pem + ca_pem; }
};

// Who a peer certificate says it is.
struct PeerIdentity {
  std::string name;  // CN
  std::string role;  // OU
  std::string serial;
  std::string fingerprint;
};

class CertificateAuthority {
 public:
  ~CertificateAuthority();
  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;

  // Creates ca.key/ca.crt and server.key/server.crt in `data_dir` (AlreadyExists if ca.crt
  // is there). `server_names`: extra DNS names or IP addresses for the server certificate.
  static Result<CertificateAuthority> Create(const std::string& data_dir,
                                             const std::vector<std::string>& server_names);
  // Loads ca.key/ca.crt of `data_dir`.
  static Result<CertificateAuthority> Open(const std::string& data_dir);

  // A client certificate for `name` with `role`, valid `days`.
  Result<IssuedCert> IssueClient(const std::string& name, Role role, int days = 365) const;

  const std::string& ca_pem() const { return ca_pem_; }
  static std::string CaCertPath(const std::string& dir) { return dir + "/ca.crt"; }
  static std::string ServerCertPath(const std::string& dir) { return dir + "/server.crt"; }
  static std::string ServerKeyPath(const std::string& dir) { return dir + "/server.key"; }

  // The files a TLS listener of kpsd needs (its certificate chain and key, and the CA that
  // client certificates must chain to). NotFound naming the first missing one ("run
  // `kpsd init` first").
  struct ServerFiles {
    std::string cert, key, ca;
  };
  static Result<ServerFiles> ServerFilesOf(const std::string& dir);

 private:
  struct Impl;
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string ca_pem_;
};

// Reads CN, OU, serial and fingerprint of a PEM certificate (the first in `pem`).
Result<PeerIdentity> IdentityFromPem(const std::string& pem);
// The same from a verified peer certificate (e.g. SSL_get0_peer_certificate).
PeerIdentity IdentityFromCert(x509_st* cert);

}  // namespace cafs::kps
