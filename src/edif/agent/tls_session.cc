#include "edif/agent/tls_session.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

#include "edif/agent/cert_wwpn.h"
#include "edif/agent/psk_identity.h"

namespace cafs::edif::agent {

namespace {

std::string DrainErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL detail" : out;
}

const unsigned char kAes256GcmSha384[] = {0x13, 0x02};

SSL_SESSION* MakePskSession(SSL* ssl, const SecureBuffer& psk) {
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kAes256GcmSha384);
  if (cipher == nullptr) return nullptr;
  SSL_SESSION* s = SSL_SESSION_new();
  if (s == nullptr) return nullptr;
  if (SSL_SESSION_set1_master_key(s, psk.data(), psk.size()) != 1 ||
      SSL_SESSION_set_cipher(s, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return s;
}

// Client: offer our derived identity.
int UsePskCallback(SSL* ssl, const EVP_MD* md, const unsigned char** id, std::size_t* idlen,
                   SSL_SESSION** sess) {
  auto* self = static_cast<TlsSession*>(SSL_get_app_data(ssl));
  *sess = nullptr;
  *id = nullptr;
  *idlen = 0;
  SSL_SESSION* s = MakePskSession(ssl, self->tls_psk());
  if (s == nullptr) return 0;
  if (md != nullptr && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
    SSL_SESSION_free(s);
    return 1;  // no PSK compatible with the negotiated hash
  }
  *sess = s;
  *id = reinterpret_cast<const unsigned char*>(self->psk_identity().data());
  *idlen = self->psk_identity().size();
  return 1;
}

// Server: accept exactly the identity derived for this (initiator, target) pair.
int FindPskCallback(SSL* ssl, const unsigned char* id, std::size_t idlen, SSL_SESSION** sess) {
  auto* self = static_cast<TlsSession*>(SSL_get_app_data(ssl));
  *sess = nullptr;
  const std::string& want = self->psk_identity();
  if (idlen != want.size() || std::memcmp(id, want.data(), idlen) != 0) return 1;  // unknown
  *sess = MakePskSession(ssl, self->tls_psk());
  return *sess != nullptr ? 1 : 0;
}

// X.509: after the chain verifies, the leaf must name the peer's WWPN (cert_wwpn.h).
int VerifyCallback(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok != 1 || X509_STORE_CTX_get_error_depth(store) != 0) return preverify_ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = static_cast<TlsSession*>(SSL_get_app_data(ssl));
  if (self->CheckPeerCertificate(X509_STORE_CTX_get_current_cert(store))) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::Create(TlsRole role, const TlsCredentials& creds) {
  SSL_CTX* ctx = SSL_CTX_new(role == TlsRole::kClient ? TLS_client_method() : TLS_server_method());
  if (ctx == nullptr) return Status::Internal("SSL_CTX_new: " + DrainErrors());
  std::shared_ptr<TlsContext> out(new TlsContext(role, ctx, creds.psk_secret.Clone()));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  if (!creds.psk_secret.empty()) {
    if (creds.psk_secret.size() < kMinPskSecret) {
      return Status::InvalidArgument("PSK secret must be at least 32 bytes");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return out;
  }
  if (creds.ca_file.empty() || creds.cert_file.empty() || creds.key_file.empty()) {
    return Status::InvalidArgument("X.509 mode needs a CA, a certificate and a key");
  }
  if (SSL_CTX_load_verify_locations(ctx, creds.ca_file.c_str(), nullptr) != 1) {
    return Status::InvalidArgument("loading CA " + creds.ca_file + ": " + DrainErrors());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, creds.cert_file.c_str()) != 1) {
    return Status::InvalidArgument("loading certificate " + creds.cert_file + ": " + DrainErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, creds.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("loading key " + creds.key_file + ": " + DrainErrors());
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::unique_ptr<TlsSession>> TlsSession::Create(std::shared_ptr<TlsContext> ctx,
                                                       std::uint64_t initiator_wwpn,
                                                       std::uint64_t target_wwpn) {
  SSL* ssl = SSL_new(ctx->native());
  if (ssl == nullptr) return Status::Internal("SSL_new: " + DrainErrors());
  const bool client = ctx->role() == TlsRole::kClient;
  std::unique_ptr<TlsSession> s(new TlsSession(ctx, ssl));
  s->expected_peer_wwpn_ = client ? target_wwpn : initiator_wwpn;
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    return Status::Internal("BIO_new: " + DrainErrors());
  }
  SSL_set_bio(ssl, rbio, wbio);  // the SSL owns both
  SSL_set_app_data(ssl, s.get());
  if (ctx->psk_mode()) {
    CAFS_ASSIGN_OR_RETURN(PskIdentity id,
                          DerivePskIdentity(ctx->psk_secret().view(), initiator_wwpn, target_wwpn));
    s->psk_identity_ = std::move(id.identity);
    s->tls_psk_ = std::move(id.tls_psk);
    if (client) {
      SSL_set_psk_use_session_callback(ssl, UsePskCallback);
    } else {
      SSL_set_psk_find_session_callback(ssl, FindPskCallback);
    }
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyCallback);
  }
  if (client) {
    SSL_set_connect_state(ssl);
  } else {
    SSL_set_accept_state(ssl);
  }
  return s;
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
  if (!app_in_.empty()) std::memset(app_in_.data(), 0, app_in_.size());
}

Status TlsSession::Feed(ByteView records) {
  if (failed_) return Status::FailedPrecondition("TLS session already failed");
  if (!records.empty()) {
    if (BIO_write(SSL_get_rbio(ssl_), records.data(), static_cast<int>(records.size())) !=
        static_cast<int>(records.size())) {
      failed_ = true;
      return Status::Internal("BIO_write: " + DrainErrors());
    }
  }
  return Pump();
}

Status TlsSession::Pump() {
  if (!established_) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      established_ = true;
    } else {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::OK();
      failed_ = true;
      std::string why = DrainErrors();
      if (!peer_name_error_.empty()) {
        return Status::AuthFailed("TLS handshake failed: " + peer_name_error_);
      }
      const long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK)
        why += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
      return Status::AuthFailed("TLS handshake failed: " + why);
    }
  }
  std::uint8_t buf[4096];
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      app_in_.insert(app_in_.end(), buf, buf + n);
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    failed_ = true;
    if (e == SSL_ERROR_ZERO_RETURN) return Status::Unavailable("peer closed the TLS tunnel");
    return Status::AuthFailed("TLS read failed: " + DrainErrors());
  }
  std::memset(buf, 0, sizeof buf);
  std::size_t pos = 0;
  while (app_in_.size() - pos >= 2) {
    const std::size_t len = LoadBe16(app_in_.data() + pos);
    if (app_in_.size() - pos - 2 < len) break;
    messages_.emplace_back(app_in_.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                           app_in_.begin() + static_cast<std::ptrdiff_t>(pos + 2 + len));
    pos += 2 + len;
  }
  app_in_.erase(app_in_.begin(), app_in_.begin() + static_cast<std::ptrdiff_t>(pos));
  return Status::OK();
}

Bytes TlsSession::TakeOutput() {
  BIO* wbio = SSL_get_wbio(ssl_);
  Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
  if (!out.empty()) {
    const int n = BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  return out;
}

Status TlsSession::SendMessage(ByteView message) {
  if (!established_ || failed_) return Status::FailedPrecondition("TLS tunnel not established");
  if (message.size() > 0xFFFF) return Status::InvalidArgument("tunnel message too long");
  Bytes framed(2 + message.size());
  StoreBe16(framed.data(), static_cast<std::uint16_t>(message.size()));
  std::memcpy(framed.data() + 2, message.data(), message.size());
  ERR_clear_error();
  const int n = SSL_write(ssl_, framed.data(), static_cast<int>(framed.size()));
  std::memset(framed.data(), 0, framed.size());
  if (n != static_cast<int>(framed.size())) {
    return Status::Internal("SSL_write: " + DrainErrors());
  }
  return Status::OK();
}

std::vector<Bytes> TlsSession::TakeMessages() {
  std::vector<Bytes> out;
  out.swap(messages_);
  return out;
}

Result<SecureBuffer> TlsSession::Export(std::string_view label, ByteView context,
                                        std::size_t length) {
  if (!established_) return Status::FailedPrecondition("TLS handshake not complete");
  SecureBuffer out(length);
  if (SSL_export_keying_material(ssl_, out.data(), length, label.data(), label.size(),
                                 context.data(), context.size(), 1) != 1) {
    return Status::Internal("SSL_export_keying_material: " + DrainErrors());
  }
  return out;
}

bool TlsSession::CheckPeerCertificate(X509* cert) {
  Status s = CheckCertificateWwpn(cert, expected_peer_wwpn_);
  if (s.ok()) return true;
  peer_name_error_ = s.message();
  return false;
}

std::string TlsSession::peer_description() const {
  if (ctx_->psk_mode()) return "psk " + psk_identity_;
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (peer == nullptr) return "x509 <none>";
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(peer), name, sizeof name);
  X509_free(peer);
  return std::string("x509 ") + name;
}

}  // namespace cafs::edif::agent
