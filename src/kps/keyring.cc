#include "kps/keyring.h"

#include <chrono>

#include "crypto/cipher_id.h"
#include "crypto/key_wrap.h"
#include "crypto/rng.h"
#include "kps/key_inventory.h"
#include "kps/vmset_identity.h"
#include "util/uuid.h"

namespace cafs::kps {

std::int64_t Keyring::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

Result<SecureBuffer> Keyring::KekFor(StoreTxn& txn, const std::string& vmset_id, bool create) {
  auto kek = GetRecord<KekRecord>(txn, vmset_id);
  if (kek.ok()) {
    const KeyVersion* v = kek->Active();
    if (v == nullptr) {
      return Status::FailedPrecondition("VM set '" + kek->vmset + "' has no active KEK");
    }
    auto clear = crypto::UnwrapKey(master_.key(), v->wrapped);
    if (!clear.ok()) {
      return Status::AuthFailed("KEK of VM set '" + kek->vmset +
                                "' does not unwrap under the master key (wrong master key or "
                                "tampered store)");
    }
    return clear;
  }
  if (!kek.status().IsNotFound() || !create) return kek.status();
  CAFS_ASSIGN_OR_RETURN(SecureBuffer clear, crypto::RandomKey(kKekSize));
  KekRecord rec;
  rec.id = vmset_id;
  rec.vmset_id = vmset_id;
  rec.cipher = std::string(kKekCipher);
  rec.created = rec.rotated = Now();
  KeyVersion v;
  v.number = 1;
  v.state = KeyState::kActive;
  v.created = v.changed = rec.created;
  CAFS_ASSIGN_OR_RETURN(v.wrapped, crypto::WrapKey(master_.key(), clear.view()));
  rec.versions.push_back(std::move(v));
  CAFS_RETURN_IF_ERROR(PutRecord(txn, rec));
  return clear;
}

Result<std::size_t> DekSize(std::string_view cipher) {
  if (cipher == kKmipAes128Cipher) return std::size_t{16};
  if (cipher == kKmipAes256Cipher) return std::size_t{32};
  CAFS_ASSIGN_OR_RETURN(crypto::CipherId cid, crypto::ParseCipherName(cipher));
  if (cid == crypto::CipherId::kNone) {
    return Status::InvalidArgument("cipher 'none' has no key: name the clear-text key GUID " +
                                   Uuid::ClearTextKey().ToString() + " in the policy instead");
  }
  return crypto::CipherKeySize(cid);
}

Result<Bytes> Keyring::NewWrappedDek(StoreTxn& txn, const KeyRecord& key) {
  CAFS_ASSIGN_OR_RETURN(std::size_t size, DekSize(key.cipher));
  CAFS_ASSIGN_OR_RETURN(SecureBuffer kek, KekFor(txn, key.vmset_id, /*create=*/true));
  CAFS_ASSIGN_OR_RETURN(SecureBuffer dek, crypto::RandomKey(size));
  return crypto::WrapKey(kek, dek.view());
}

Result<KeyRecord> Keyring::CreateKey(std::string_view vmset, std::string_view cipher, bool activate,
                                     std::string_view id, std::string_view name) {
  if (vmset.empty()) return Status::InvalidArgument("a key needs a VM set");
  CAFS_RETURN_IF_ERROR(DekSize(cipher).status());
  Uuid guid = Uuid::Random();
  if (!id.empty()) {
    CAFS_ASSIGN_OR_RETURN(guid, Uuid::Parse(id));
  }
  if (guid == Uuid::ClearTextKey() || guid.IsNil()) {
    return Status::InvalidArgument("key GUID " + guid.ToString() +
                                   " is reserved (clear-text key / nil) and cannot be created");
  }
  KeyRecord rec;
  rec.id = guid.ToString();
  rec.vmset = std::string(vmset);
  rec.cipher = std::string(cipher);
  if (auto cid = crypto::ParseCipherName(cipher); cid.ok()) {
    rec.cipher = std::string(crypto::CipherName(*cid));  // canonical spelling
  }
  rec.name = std::string(name);
  rec.created = rec.rotated = Now();
  if (Status txn_status = store_.InTransaction([&](StoreTxn& txn) -> Status {
        CAFS_ASSIGN_OR_RETURN(rec.vmset_id, VmSetGuidOf(txn, vmset, /*mint=*/true, rec.created));
        KeyVersion v;
        v.number = 1;
        v.state = activate ? KeyState::kActive : KeyState::kPreActive;
        v.created = v.changed = rec.created;
        CAFS_ASSIGN_OR_RETURN(v.wrapped, NewWrappedDek(txn, rec));
        rec.versions = {std::move(v)};
        return PutRecord(txn, rec);
      });
      !txn_status.ok()) {
    return txn_status;
  }
  return rec;
}

Result<KeyRecord> Keyring::GetKey(std::string_view id) {
  KeyRecord out;
  if (Status txn_status = store_.InTransaction([&](StoreTxn& txn) -> Status {
        CAFS_ASSIGN_OR_RETURN(out, GetRecord<KeyRecord>(txn, id));
        return Status::OK();
      });
      !txn_status.ok()) {
    return txn_status;
  }
  return out;
}

Result<KeyRecord> Keyring::RotateKey(std::string_view id) {
  KeyRecord out;
  if (Status txn_status = store_.InTransaction([&](StoreTxn& txn) -> Status {
        CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, id));
        // A key whose versions are all compromised needs a new one most (rekey_triggers.h);
        // only an entirely destroyed key (crypto-shredded) gets none.
        bool usable = false;
        for (const auto& v : k.versions) usable = usable || v.state != KeyState::kDestroyed;
        if (!usable) {
          return Status::FailedPrecondition("key " + k.id +
                                            " has no version left (all destroyed): it cannot "
                                            "be rotated");
        }
        const std::int64_t now = Now();
        KeyVersion nv;
        nv.number = k.versions.empty() ? 1 : k.versions.back().number + 1;
        nv.state = KeyState::kActive;
        nv.created = nv.changed = now;
        CAFS_ASSIGN_OR_RETURN(nv.wrapped, NewWrappedDek(txn, k));
        for (auto& v : k.versions) {
          if (v.state == KeyState::kActive) {
            v.state = KeyState::kDeactivated;
            v.changed = now;
          }
        }
        k.versions.push_back(std::move(nv));
        k.rotated = now;
        CAFS_RETURN_IF_ERROR(PutRecord(txn, k));
        out = std::move(k);
        return Status::OK();
      });
      !txn_status.ok()) {
    return txn_status;
  }
  return out;
}

Result<KeyRecord> Keyring::SetState(std::string_view id, std::uint32_t number, KeyState to) {
  if (to == KeyState::kDestroyed) return DestroyKey(id, number);
  KeyRecord out;
  if (Status txn_status = store_.InTransaction([&](StoreTxn& txn) -> Status {
        CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, id));
        KeyVersion* v = k.Find(number);
        if (v == nullptr) {
          return Status::NotFound("key " + k.id + " has no version " + std::to_string(number));
        }
        if (v->state == to) {
          out = std::move(k);
          return Status::OK();
        }
        if (!KeyStateTransitionAllowed(v->state, to)) {
          return Status::FailedPrecondition("key " + k.id + " version " + std::to_string(number) +
                                            ": " + std::string(KeyStateName(v->state)) + " -> " +
                                            std::string(KeyStateName(to)) +
                                            " is not an allowed KMIP state change");
        }
        v->state = to;
        v->changed = Now();
        CAFS_RETURN_IF_ERROR(PutRecord(txn, k));
        out = std::move(k);
        return Status::OK();
      });
      !txn_status.ok()) {
    return txn_status;
  }
  return out;
}

namespace {

// Erases the wrapped bytes of `v` and marks it destroyed (at `now` if it was not yet).
void ShredVersion(KeyVersion& v, std::int64_t now) {
  std::fill(v.wrapped.begin(), v.wrapped.end(), std::uint8_t{0});
  v.wrapped.clear();
  if (v.state != KeyState::kDestroyed) {
    v.state = KeyState::kDestroyed;
    v.changed = now;
  }
}

// The inventory rule (key_inventory.h) for destroying `number` (nullopt: all) of `key`.
Status CheckDependents(StoreTxn& txn, const KeyRecord& key, std::optional<std::uint32_t> number,
                       DestroyMode mode, std::string* warning) {
  CAFS_ASSIGN_OR_RETURN(KeyDependents deps, FindKeyDependents(txn, key, number));
  if (deps.clear()) return Status::OK();
  if (mode == DestroyMode::kRefuseIfUsed) {
    return Status::FailedPrecondition("refusing to destroy: " + deps.Describe(key) +
                                      "; or destroy with force: those files become unreadable");
  }
  if (warning != nullptr) {
    *warning += (warning->empty() ? "" : "; ") + deps.Describe(key);
  }
  return Status::OK();
}

// The DEKs of the VM set with GUID `vmset_id`.
Result<std::vector<KeyRecord>> KeysOf(StoreTxn& txn, std::string_view vmset_id) {
  CAFS_ASSIGN_OR_RETURN(auto all, ListRecords<KeyRecord>(txn));
  std::vector<KeyRecord> out;
  for (auto& k : all) {
    if (k.vmset_id == vmset_id) out.push_back(std::move(k));
  }
  return out;
}

// The KEK of the live VM set named `vmset` (NotFound "kek '<name>' not found" otherwise).
Result<KekRecord> KekOfName(StoreTxn& txn, std::string_view vmset) {
  auto guid = VmSetGuidOf(txn, vmset);
  if (!guid.ok()) {
    return guid.status().IsNotFound() ? NotFoundError(ObjectKind::kKek, vmset) : guid.status();
  }
  auto kek = GetRecord<KekRecord>(txn, *guid);
  if (!kek.ok() && kek.status().IsNotFound()) return NotFoundError(ObjectKind::kKek, vmset);
  return kek;
}

}  // namespace

Status Keyring::InTransactionThenCompact(const std::function<Status(StoreTxn&)>& fn) {
  CAFS_RETURN_IF_ERROR(store_.InTransaction(fn));
  // The old row bytes are overwritten (secure_delete); make the WAL forget them too.
  return store_.Compact();
}

Result<KeyRecord> Keyring::DestroyKey(std::string_view id, std::optional<std::uint32_t> number,
                                      DestroyMode mode, std::string* warning) {
  KeyRecord out;
  CAFS_RETURN_IF_ERROR(InTransactionThenCompact([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, id));
    if (number && k.Find(*number) == nullptr) {
      return Status::NotFound("key " + k.id + " has no version " + std::to_string(*number));
    }
    CAFS_RETURN_IF_ERROR(CheckDependents(txn, k, number, mode, warning));
    const std::int64_t now = Now();
    for (auto& v : k.versions) {
      if (!number || v.number == *number) ShredVersion(v, now);
    }
    CAFS_RETURN_IF_ERROR(PutRecord(txn, k));
    out = std::move(k);
    return Status::OK();
  }));
  return out;
}

Result<KekRecord> Keyring::GetKek(std::string_view vmset) {
  KekRecord out;
  CAFS_RETURN_IF_ERROR(store_.InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_ASSIGN_OR_RETURN(out, KekOfName(txn, vmset));
    return Status::OK();
  }));
  return out;
}

Result<KekRotation> Keyring::RotateKek(std::string_view vmset) {
  KekRotation out;
  CAFS_RETURN_IF_ERROR(InTransactionThenCompact([&](StoreTxn& txn) -> Status {
    out.rewrapped = 0;
    CAFS_ASSIGN_OR_RETURN(KekRecord kek, KekOfName(txn, vmset));
    const std::string name = kek.vmset;
    // The old KEK, when there is one (none after DestroyKek: then no DEK has bytes left).
    std::optional<SecureBuffer> old;
    if (kek.Active() != nullptr) {
      CAFS_ASSIGN_OR_RETURN(SecureBuffer clear, KekFor(txn, kek.vmset_id, /*create=*/false));
      old = std::move(clear);
    }
    CAFS_ASSIGN_OR_RETURN(SecureBuffer fresh, crypto::RandomKey(kKekSize));
    CAFS_ASSIGN_OR_RETURN(auto keys, KeysOf(txn, kek.vmset_id));
    for (auto& k : keys) {
      bool changed = false;
      for (auto& v : k.versions) {
        if (v.wrapped.empty()) continue;
        auto dek = old ? crypto::UnwrapKey(*old, v.wrapped)
                       : Result<SecureBuffer>(Status::FailedPrecondition("no KEK"));
        if (!dek.ok()) {
          return Status::AuthFailed("key " + k.id + " version " + std::to_string(v.number) +
                                    " does not unwrap under VM set " + name +
                                    "'s KEK (tampered store); nothing was changed");
        }
        CAFS_ASSIGN_OR_RETURN(v.wrapped, crypto::WrapKey(fresh, dek->view()));
        changed = true;
        ++out.rewrapped;
      }
      if (changed) CAFS_RETURN_IF_ERROR(PutRecord(txn, k));
    }
    const std::int64_t now = Now();
    for (auto& v : kek.versions) ShredVersion(v, now);
    KeyVersion nv;
    nv.number = kek.versions.empty() ? 1 : kek.versions.back().number + 1;
    nv.state = KeyState::kActive;
    nv.created = nv.changed = now;
    CAFS_ASSIGN_OR_RETURN(nv.wrapped, crypto::WrapKey(master_.key(), fresh.view()));
    kek.versions.push_back(std::move(nv));
    kek.rotated = now;
    CAFS_RETURN_IF_ERROR(PutRecord(txn, kek));
    out.kek = std::move(kek);
    return Status::OK();
  }));
  return out;
}

Result<KekDestruction> Keyring::DestroyKek(std::string_view vmset, DestroyMode mode) {
  KekDestruction out;
  CAFS_RETURN_IF_ERROR(InTransactionThenCompact([&](StoreTxn& txn) -> Status {
    out.keys = 0;
    out.warning.clear();
    CAFS_ASSIGN_OR_RETURN(KekRecord kek, KekOfName(txn, vmset));
    CAFS_ASSIGN_OR_RETURN(auto keys, KeysOf(txn, kek.vmset_id));
    for (const auto& k : keys) {
      CAFS_RETURN_IF_ERROR(CheckDependents(txn, k, std::nullopt, mode, &out.warning));
    }
    const std::int64_t now = Now();
    for (auto& k : keys) {
      for (auto& v : k.versions) ShredVersion(v, now);
      CAFS_RETURN_IF_ERROR(PutRecord(txn, k));
      ++out.keys;
    }
    for (auto& v : kek.versions) ShredVersion(v, now);
    CAFS_RETURN_IF_ERROR(PutRecord(txn, kek));
    out.kek = std::move(kek);
    return Status::OK();
  }));
  return out;
}

Result<SecureBuffer> Keyring::UnwrapKeyIn(StoreTxn& txn, const KeyRecord& key,
                                          std::uint32_t number) {
  const KeyVersion* v = number == 0 ? key.Active() : key.Find(number);
  if (v == nullptr) {
    return number == 0
               ? Status::FailedPrecondition("key " + key.id + " has no active version")
               : Status::NotFound("key " + key.id + " has no version " + std::to_string(number));
  }
  if (!CanDecrypt(v->state) || v->wrapped.empty()) {
    return Status::FailedPrecondition("key " + key.id + " version " + std::to_string(v->number) +
                                      " is " + std::string(KeyStateName(v->state)) +
                                      " and cannot be used");
  }
  CAFS_ASSIGN_OR_RETURN(SecureBuffer kek, KekFor(txn, key.vmset_id, /*create=*/false));
  auto dek = crypto::UnwrapKey(kek, v->wrapped);
  if (!dek.ok()) {
    return Status::AuthFailed("key " + key.id + " version " + std::to_string(v->number) +
                              " does not unwrap under its VM set's KEK (tampered store)");
  }
  return dek;
}

Result<SecureBuffer> Keyring::ExportKey(std::string_view id) {
  SecureBuffer out;
  if (Status txn_status = store_.InTransaction([&](StoreTxn& txn) -> Status {
        CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, id));
        if (k.versions.empty() || k.versions.back().wrapped.empty() ||
            k.versions.back().state == KeyState::kDestroyed) {
          return Status::FailedPrecondition("key " + k.id + " is destroyed");
        }
        const KeyVersion& v = k.versions.back();
        CAFS_ASSIGN_OR_RETURN(SecureBuffer kek, KekFor(txn, k.vmset_id, /*create=*/false));
        auto dek = crypto::UnwrapKey(kek, v.wrapped);
        if (!dek.ok()) {
          return Status::AuthFailed("key " + k.id + " version " + std::to_string(v.number) +
                                    " does not unwrap under its VM set's KEK (tampered store)");
        }
        out = std::move(dek).value();
        return Status::OK();
      });
      !txn_status.ok()) {
    return txn_status;
  }
  return out;
}

Result<SecureBuffer> Keyring::UnwrapKey(std::string_view id, std::uint32_t number) {
  SecureBuffer out;
  if (Status txn_status = store_.InTransaction([&](StoreTxn& txn) -> Status {
        CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, id));
        CAFS_ASSIGN_OR_RETURN(out, UnwrapKeyIn(txn, k, number));
        return Status::OK();
      });
      !txn_status.ok()) {
    return txn_status;
  }
  return out;
}

}  // namespace cafs::kps

namespace cafs::kps {

Result<std::size_t> RewrapKeks(Store& store, const MasterKey* old_master,
                               const MasterKey& new_master, const Clock& clock,
                               std::string_view actor) {
  std::size_t rewrapped = 0;
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  CAFS_RETURN_IF_ERROR(store.InTransaction([&](StoreTxn& txn) -> Status {
    rewrapped = 0;
    CAFS_ASSIGN_OR_RETURN(auto keks, ListRecords<KekRecord>(txn));
    for (auto& kek : keks) {
      bool changed = false;
      for (auto& v : kek.versions) {
        if (v.wrapped.empty()) continue;
        if (crypto::UnwrapKey(new_master.key(), v.wrapped).ok()) continue;  // done before
        auto clear = old_master ? crypto::UnwrapKey(old_master->key(), v.wrapped)
                                : Result<SecureBuffer>(Status::AuthFailed("no old master key"));
        if (!clear.ok()) {
          return Status::AuthFailed("the KEK of VM set " + kek.vmset + " (version " +
                                    std::to_string(v.number) +
                                    ") unwraps under neither the old nor the new master key; "
                                    "nothing was changed");
        }
        CAFS_ASSIGN_OR_RETURN(v.wrapped, crypto::WrapKey(new_master.key(), clear->view()));
        changed = true;
        ++rewrapped;
      }
      if (changed) CAFS_RETURN_IF_ERROR(PutRecord(txn, kek));
    }
    AuditRecord r;
    r.time = now;
    r.actor = AuditText(actor);
    r.role = "local";
    r.action = "rotate-master";
    r.object = "master key";
    r.result = "ok";
    r.reason = "re-wrapped " + std::to_string(rewrapped) + " KEK version(s) of " +
               std::to_string(keks.size()) + " VM set(s) under the new master key (source " +
               new_master.source() + ")";
    return AppendAuditRecord(txn, std::move(r)).status();
  }));
  CAFS_RETURN_IF_ERROR(store.Compact());
  return rewrapped;
}

}  // namespace cafs::kps
