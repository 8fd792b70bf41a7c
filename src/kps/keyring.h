// Keyring: the key hierarchy of the key & policy server on top of a Store.
//
//   master key --AES-KWP (RFC 5649)--> KEK of a VM set (32 random bytes, kind kek)
//   KEK        --AES-KWP (RFC 5649)--> every version of every DEK of that VM set (kind key)
//
// Only wrapped bytes reach the Store; unwrapped keys exist only in SecureBuffers returned to
// the caller (for the gateway fetch) and in temporaries inside these methods. Nothing is
// logged. Key GUID 01010101-0101-0101-0101-010101010101 (the seed's clear-text key, "no
// encryption") is reserved: it is never created, stored or unwrapped.
//
// Life cycle (KMIP states): a key is created active (or pre-active); Rotate adds version n+1
// as active and moves the previous active version to deactivated (still unwrappable for
// decryption); SetState follows KeyStateTransitionAllowed; Destroy overwrites the wrapped
// bytes of one or all versions (state destroyed) and compacts the store (crypto-shred).
//
// Threading: safe from several threads (each call is one store transaction). `master`,
// `store` and `clock` must outlive the Keyring.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kps/catalog.h"
#include "kps/master_key.h"
#include "util/clock.h"
#include "util/secure_buffer.h"

namespace cafs::kps {

inline constexpr std::string_view kKekCipher = "aes-256-kwp";
inline constexpr std::size_t kKekSize = 32;
// Plain AES keys created over KMIP (docs/kmip.md): not a pool cipher, 16 / 32 bytes.
inline constexpr std::string_view kKmipAes128Cipher = "aes-128";
inline constexpr std::string_view kKmipAes256Cipher = "aes-256";
// The DEK length of `cipher` (a crypto::CipherName other than "none", or a KMIP AES cipher).
Result<std::size_t> DekSize(std::string_view cipher);

class Keyring {
 public:
  Keyring(const MasterKey& master, Store& store, const Clock& clock)
      : master_(master), store_(store), clock_(clock) {}

  // A new DEK for `vmset` (which need not exist as a record yet: the KEK is keyed by name).
  // `cipher` is a crypto::CipherName other than "none" or a KMIP AES cipher; the key length
  // follows the cipher (DekSize).
  // `id`: a GUID to use (e.g. one named in a policy descriptor); random when empty.
  // `name`: the KMIP Name attribute (empty = none).
  // Errors: InvalidArgument (cipher, reserved or malformed GUID), AlreadyExists.
  Result<KeyRecord> CreateKey(std::string_view vmset, std::string_view cipher = "aes-256-xts",
                              bool activate = true, std::string_view id = {},
                              std::string_view name = {});
  Result<KeyRecord> GetKey(std::string_view id);
  // New version n+1 active; previous active -> deactivated. FailedPrecondition if the key
  // is entirely destroyed or compromised.
  Result<KeyRecord> RotateKey(std::string_view id);
  Result<KeyRecord> SetState(std::string_view id, std::uint32_t number, KeyState to);
  // Crypto-shred of one version (`number`) or of all (nullopt).
  Result<KeyRecord> DestroyKey(std::string_view id, std::optional<std::uint32_t> number);

  // The clear key of version `number` (0 = the active one). FailedPrecondition when that
  // version's state does not allow decryption (pre-active, destroyed).
  Result<SecureBuffer> UnwrapKey(std::string_view id, std::uint32_t number);
  // The clear key of the newest version for a KMIP Get: allowed in every state that still
  // has key bytes (pre-active, active, deactivated, compromised); FailedPrecondition once
  // destroyed. The caller authorizes and audits.
  Result<SecureBuffer> ExportKey(std::string_view id);
  // The same inside a caller's transaction, for a record already read.
  Result<SecureBuffer> UnwrapKeyIn(StoreTxn& txn, const KeyRecord& key, std::uint32_t number);

 private:
  Result<SecureBuffer> KekFor(StoreTxn& txn, const std::string& vmset, bool create);
  Result<Bytes> NewWrappedDek(StoreTxn& txn, const KeyRecord& key);
  std::int64_t Now() const;

  const MasterKey& master_;
  Store& store_;
  const Clock& clock_;
};

}  // namespace cafs::kps
