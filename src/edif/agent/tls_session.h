// TlsSession: one TLS 1.3 handshake and tunnel between two agents, run by OpenSSL over memory
// BIOs (SSL_set_bio with two BIO_s_mem). No socket: the caller moves TLS records in and out,
// here inside mailbox AUTH_ELS frames relayed by the two drivers.
//
// Roles: the initiator-side agent is the TLS client, the target-side agent the server.
// Authentication (TlsContext): mutual X.509 (both sides present a certificate chaining to the
// configured CA and naming the WWPN of its port as a "urn:wwpn:<16 hex>" subjectAltName URI,
// cert_wwpn.h: the client checks the target's WWPN, the server the initiator's; a missing or
// foreign certificate, or one naming another WWPN, fails the handshake), or an external PSK
// derived from a configured secret and both WWPNs (psk_identity.h). TLS 1.3 only, no session
// tickets, no renegotiation.
//
// Tunnel messages: after the handshake, SendMessage() frames each message as
// length (u16 BE) || bytes inside the TLS stream; TakeMessages() returns whole messages.
//
// Threading: not synchronized; one session per peer, used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"
#include "util/secure_buffer.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct x509_st X509;

namespace cafs::edif::agent {

enum class TlsRole { kClient, kServer };

struct TlsCredentials {
  // X.509 mode: PEM files. Used when psk_secret is empty.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // External PSK mode when non-empty (>= kMinPskSecret bytes).
  SecureBuffer psk_secret;
};

class TlsContext {
 public:
  // Loads and checks the credentials. Errors: InvalidArgument (missing/unreadable files,
  // key does not match certificate, short PSK secret).
  static Result<std::shared_ptr<TlsContext>> Create(TlsRole role, const TlsCredentials& creds);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  TlsRole role() const { return role_; }
  bool psk_mode() const { return !psk_secret_.empty(); }
  SSL_CTX* native() const { return ctx_; }
  const SecureBuffer& psk_secret() const { return psk_secret_; }

 private:
  TlsContext(TlsRole role, SSL_CTX* ctx, SecureBuffer psk)
      : role_(role), ctx_(ctx), psk_secret_(std::move(psk)) {}
  TlsRole role_;
  SSL_CTX* ctx_;
  SecureBuffer psk_secret_;
};

class TlsSession {
 public:
  // A session between initiator port `initiator_wwpn` and target port `target_wwpn` (the PSK
  // identity binds both).
  static Result<std::unique_ptr<TlsSession>> Create(std::shared_ptr<TlsContext> ctx,
                                                    std::uint64_t initiator_wwpn,
                                                    std::uint64_t target_wwpn);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Feeds records received from the peer (may be empty: the client's first call produces its
  // ClientHello) and advances the handshake / reads tunnel messages. Errors: AuthFailed with
  // OpenSSL's reason (bad certificate, unknown PSK identity, decrypt error ...) — the
  // session is then unusable.
  Status Feed(ByteView records);
  // Records to send to the peer (possibly empty).
  Bytes TakeOutput();
  bool established() const { return established_; }
  bool failed() const { return failed_; }

  // FailedPrecondition before the handshake completes.
  Status SendMessage(ByteView message);
  std::vector<Bytes> TakeMessages();

  // SSL_export_keying_material (RFC 8446 section 7.5). FailedPrecondition before completion.
  Result<SecureBuffer> Export(std::string_view label, ByteView context, std::size_t length);

  // "x509 <peer subject>" or "psk <identity>" after the handshake.
  std::string peer_description() const;

  // For the OpenSSL PSK callbacks.
  const std::string& psk_identity() const { return psk_identity_; }
  const SecureBuffer& tls_psk() const { return tls_psk_; }
  // For the OpenSSL verify callback (X.509 mode): whether the peer's leaf certificate names
  // the peer's WWPN; the reason is kept for Feed()'s error otherwise.
  bool CheckPeerCertificate(X509* cert);

 private:
  TlsSession(std::shared_ptr<TlsContext> ctx, SSL* ssl) : ctx_(std::move(ctx)), ssl_(ssl) {}
  Status Pump();

  std::shared_ptr<TlsContext> ctx_;
  SSL* ssl_;
  bool established_ = false;
  bool failed_ = false;
  std::uint64_t expected_peer_wwpn_ = 0;
  std::string peer_name_error_;
  std::string psk_identity_;
  SecureBuffer tls_psk_;
  Bytes app_in_;  // tunnel stream bytes not yet forming a whole message
  std::vector<Bytes> messages_;
};

}  // namespace cafs::edif::agent
