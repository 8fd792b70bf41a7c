#include "kps/ca.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/mac.h"
#include "crypto/openssl_error.h"
#include "kps/file_util.h"

namespace cafs::kps {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Result<PKeyPtr> NewKey() {
  PKeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return crypto::OpenSslError("EC key generation");
  return key;
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return crypto::OpenSslError("PEM cert");
  return BioString(bio.get());
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return crypto::OpenSslError("PEM key");
  }
  return BioString(bio.get());
}

std::string SerialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex ? hex : "");
  OPENSSL_free(hex);
  BN_free(bn);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Fingerprint(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return {};
  auto fp = crypto::Sha256(ByteView(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return ToHex(fp);
}

std::string NameEntry(X509_NAME* name, int nid) {
  int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return {};
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return crypto::OpenSslError("certificate extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::OK() : crypto::OpenSslError("X509_add_ext");
}

struct Subject {
  std::string cn;
  std::string ou;
};

// Builds and signs a certificate. issuer/issuer_key null = self-signed (the CA).
Result<X509Ptr> MakeCert(const Subject& subject, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                         int days, const std::vector<std::pair<int, std::string>>& exts) {
  X509Ptr cert(X509_new());
  if (!cert) return crypto::OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);
  BIGNUM* bn = BN_new();
  BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto add = [&](const char* field, const std::string& v) {
    if (!v.empty()) {
      X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0);
    }
  };
  add("O", "CAFS");
  add("OU", subject.ou);
  add("CN", subject.cn);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : cert.get();
  for (const auto& [nid, value] : exts) CAFS_RETURN_IF_ERROR(AddExt(cert.get(), iss, nid, value));
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
    return crypto::OpenSslError("X509_sign");
  }
  return cert;
}

Result<X509Ptr> ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::InvalidArgument("not a PEM certificate");
  return cert;
}

}  // namespace

struct CertificateAuthority::Impl {
  X509Ptr cert;
  PKeyPtr key;
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  ca_pem_ = CertPem(impl_->cert.get()).value_or("");
}
CertificateAuthority::~CertificateAuthority() = default;
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;

Result<CertificateAuthority> CertificateAuthority::Create(
    const std::string& data_dir, const std::vector<std::string>& server_names) {
  if (FileExists(CaCertPath(data_dir))) {
    return Status::AlreadyExists(CaCertPath(data_dir) + " exists");
  }
  auto impl = std::make_unique<Impl>();
  CAFS_ASSIGN_OR_RETURN(impl->key, NewKey());
  CAFS_ASSIGN_OR_RETURN(impl->cert,
                        MakeCert({"CAFS kpsd CA", "ca"}, impl->key.get(), nullptr, nullptr, 3650,
                                 {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                  {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                  {NID_subject_key_identifier, "hash"}}));
  std::string san = "IP:127.0.0.1,DNS:localhost";
  for (const auto& n : server_names) {
    bool ip = !n.empty() && n.find_first_not_of("0123456789.:") == std::string::npos;
    san += (ip ? ",IP:" : ",DNS:") + n;
  }
  CAFS_ASSIGN_OR_RETURN(PKeyPtr server_key, NewKey());
  CAFS_ASSIGN_OR_RETURN(X509Ptr server, MakeCert({"kpsd", "server"}, server_key.get(),
                                                 impl->cert.get(), impl->key.get(), 365,
                                                 {{NID_basic_constraints, "critical,CA:FALSE"},
                                                  {NID_key_usage, "critical,digitalSignature"},
                                                  {NID_ext_key_usage, "serverAuth"},
                                                  {NID_subject_alt_name, san},
                                                  {NID_authority_key_identifier, "keyid"}}));
  CAFS_ASSIGN_OR_RETURN(std::string ca_key_pem, KeyPem(impl->key.get()));
  CAFS_ASSIGN_OR_RETURN(std::string ca_pem, CertPem(impl->cert.get()));
  CAFS_ASSIGN_OR_RETURN(std::string server_key_pem, KeyPem(server_key.get()));
  CAFS_ASSIGN_OR_RETURN(std::string server_pem, CertPem(server.get()));
  CAFS_RETURN_IF_ERROR(WriteFileAtomic(data_dir + "/ca.key", ca_key_pem, 0600, true));
  CAFS_RETURN_IF_ERROR(WriteFileAtomic(CaCertPath(data_dir), ca_pem, 0644, true));
  CAFS_RETURN_IF_ERROR(WriteFileAtomic(ServerKeyPath(data_dir), server_key_pem, 0600, true));
  CAFS_RETURN_IF_ERROR(WriteFileAtomic(ServerCertPath(data_dir), server_pem, 0644, true));
  return CertificateAuthority(std::move(impl));
}

Result<CertificateAuthority> CertificateAuthority::Open(const std::string& data_dir) {
  CAFS_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(CaCertPath(data_dir)));
  CAFS_ASSIGN_OR_RETURN(std::string key_pem, ReadFile(data_dir + "/ca.key"));
  auto impl = std::make_unique<Impl>();
  CAFS_ASSIGN_OR_RETURN(impl->cert, ReadCert(ca_pem));
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  impl->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  std::fill(key_pem.begin(), key_pem.end(), '\0');
  if (!impl->key) return Status::Corruption(data_dir + "/ca.key is not a PEM private key");
  if (X509_check_private_key(impl->cert.get(), impl->key.get()) != 1) {
    return Status::Corruption(data_dir + "/ca.key does not match ca.crt");
  }
  return CertificateAuthority(std::move(impl));
}

Result<IssuedCert> CertificateAuthority::IssueClient(const std::string& name, Role role,
                                                     int days) const {
  if (name.empty() || name.size() > 64) return Status::InvalidArgument("name must be 1..64 chars");
  CAFS_ASSIGN_OR_RETURN(PKeyPtr key, NewKey());
  CAFS_ASSIGN_OR_RETURN(X509Ptr cert, MakeCert({name, std::string(RoleName(role))}, key.get(),
                                               impl_->cert.get(), impl_->key.get(), days,
                                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                                {NID_key_usage, "critical,digitalSignature"},
                                                {NID_ext_key_usage, "clientAuth"},
                                                {NID_authority_key_identifier, "keyid"}}));
  IssuedCert out;
  CAFS_ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert.get()));
  CAFS_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  out.serial = SerialHex(cert.get());
  out.fingerprint = Fingerprint(cert.get());
  return out;
}

PeerIdentity IdentityFromCert(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  return PeerIdentity{NameEntry(subject, NID_commonName),
                      NameEntry(subject, NID_organizationalUnitName), SerialHex(cert),
                      Fingerprint(cert)};
}

Result<CertificateAuthority::ServerFiles> CertificateAuthority::ServerFilesOf(
    const std::string& dir) {
  ServerFiles f{ServerCertPath(dir), ServerKeyPath(dir), CaCertPath(dir)};
  for (const std::string* path : {&f.cert, &f.key, &f.ca}) {
    if (!FileExists(*path)) return Status::NotFound(*path + " missing: run `kpsd init` first");
  }
  return f;
}

Result<PeerIdentity> IdentityFromPem(const std::string& pem) {
  CAFS_ASSIGN_OR_RETURN(X509Ptr cert, ReadCert(pem));
  return IdentityFromCert(cert.get());
}

}  // namespace cafs::kps
