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
// bytes of one or all versions (state destroyed) and compacts the store (crypto-shred). A
// destroy is refused while files may still depend on the version (key_inventory.h) unless
// forced.
//
// Shallow rekey (docs/kps.md "Shallow rekey and crypto-shred"): RotateKek gives a VM set a
// new KEK and re-wraps every DEK version of the VM set under it; RewrapKeks re-wraps every KEK
// under a new master key (`kpsd rotate-master`). Each is one store transaction: a reader sees
// the hierarchy entirely before or entirely after; the DEKs do not change, so no pool file is
// touched. The old wrapped bytes are overwritten and the store compacted.
//
// Threading: safe from several threads (each call is one store transaction). `master`,
// `store` and `clock` must outlive the Keyring.
#pragma once

#include <functional>
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

// What DestroyKey / DestroyKek do while files may still depend on a version.
enum class DestroyMode {
  kRefuseIfUsed,  // FailedPrecondition listing the files / the gateways not heard from
  kForce,         // destroy anyway; the same list comes back as a warning
};

struct KekRotation {
  KekRecord kek;
  std::size_t rewrapped = 0;  // DEK versions re-wrapped under the new KEK
};

struct KekDestruction {
  KekRecord kek;
  std::size_t keys = 0;  // DEKs of the VM set, all of whose versions are now destroyed
  std::string warning;   // kForce over dependent files: what became unreadable
};

class Keyring {
 public:
  Keyring(const MasterKey& master, Store& store, const Clock& clock)
      : master_(master), store_(store), clock_(clock) {}

  // A new DEK for the VM set named `vmset`, bound to its GUID (vmset_identity.h). A name
  // without a VM set record (KMIP clients' keys) is given a GUID on its first key; the KEK
  // is keyed by the GUID.
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
  // is entirely destroyed (a key whose versions are all compromised may be rotated: that is
  // how it gets a version to rekey to).
  Result<KeyRecord> RotateKey(std::string_view id);
  Result<KeyRecord> SetState(std::string_view id, std::uint32_t number, KeyState to);
  // Crypto-shred of one version (`number`) or of all (nullopt). With kRefuseIfUsed,
  // FailedPrecondition (KeyDependents::Describe) while files may depend on it; with kForce
  // that text goes to `*warning` (when not null) and the versions are destroyed.
  Result<KeyRecord> DestroyKey(std::string_view id, std::optional<std::uint32_t> number,
                               DestroyMode mode = DestroyMode::kRefuseIfUsed,
                               std::string* warning = nullptr);

  // The KEK record of the live VM set named `vmset` (NotFound: no key was ever created for
  // it). RotateKek and DestroyKek take the name too and act on the GUID it has now.
  Result<KekRecord> GetKek(std::string_view vmset);
  // Shallow rekey of a VM set: a new active KEK version; every DEK version of the VM set that
  // still has key bytes re-wrapped under it; the previous KEK versions destroyed (bytes
  // erased); one transaction, then the store is compacted. After DestroyKek (no active KEK,
  // every DEK destroyed) it gives the VM set a fresh KEK for new keys.
  // Errors: NotFound, AuthFailed (a wrapped key does not unwrap: nothing is changed).
  Result<KekRotation> RotateKek(std::string_view vmset);
  // Crypto-shred of a whole VM set: every KEK version and every version of every DEK of
  // `vmset` destroyed in one transaction (the DEKs' wrapped bytes are useless without the
  // KEK; they are erased too), then the store is compacted. Refused like DestroyKey while
  // files may depend on any of those versions, unless kForce.
  Result<KekDestruction> DestroyKek(std::string_view vmset, DestroyMode mode);

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
  // The clear KEK of the VM set with GUID `vmset_id` (created when `create` and absent).
  Result<SecureBuffer> KekFor(StoreTxn& txn, const std::string& vmset_id, bool create);
  // Runs `fn` in a transaction, then compacts the store (the erased bytes leave its files).
  Status InTransactionThenCompact(const std::function<Status(StoreTxn&)>& fn);
  Result<Bytes> NewWrappedDek(StoreTxn& txn, const KeyRecord& key);
  std::int64_t Now() const;

  const MasterKey& master_;
  Store& store_;
  const Clock& clock_;
};

// Master-key rotation (`kpsd rotate-master`, offline): in one transaction, every KEK version
// that still has key bytes is re-wrapped from `old_master` to `new_master`, and an audit
// record (actor `actor`, action "rotate-master") is appended; then the store is compacted.
// Idempotent, so an interrupted rotation is finished by running it again: a KEK that already
// unwraps under `new_master` is left as is; `old_master` may be null when every KEK is
// already under the new one. AuthFailed (nothing changed) when a KEK unwraps under neither.
// Returns the number of KEK versions re-wrapped.
Result<std::size_t> RewrapKeks(Store& store, const MasterKey* old_master,
                               const MasterKey& new_master, const Clock& clock,
                               std::string_view actor);

}  // namespace cafs::kps
