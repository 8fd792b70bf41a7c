// MasterKey: the root of the key hierarchy of the key & policy server.
//
//   master key (32 B) --AES-KWP--> KEK of each VM set --AES-KWP--> DEKs of that VM set
//
// The master key comes from one of two sources, chosen at `kpsd init` (docs/kps.md):
//   - a random 32-byte key in <data dir>/master.key (mode 0600), or
//   - scrypt(passphrase, salt) with the salt and the scrypt parameters kept in
//     <data dir>/master.json (the passphrase itself is never stored).
// <data dir>/master.json also keeps a key-check value, HMAC-SHA-256(master,
// "cafs/kps/master-key-check/v1"), so that a wrong key file or passphrase is detected at start:
// Open() then fails with AuthFailed and touches nothing on disk.
//
// Ownership: the key lives in a SecureBuffer (mlock'd, zeroed on destruction), is never
// logged and never leaves this object except as the KEK argument of crypto::WrapKey/UnwrapKey.
// Threading: a MasterKey is immutable after creation; safe to share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/bytes.h"
#include "util/result.h"
#include "util/secure_buffer.h"

namespace cafs::kps {

// scrypt cost parameters (RFC 7914). The defaults cost ~64 MiB and ~0.2 s per derivation.
struct ScryptParams {
  std::uint64_t n = 1u << 16;  // CPU/memory cost, a power of two
  std::uint32_t r = 8;         // block size
  std::uint32_t p = 1;         // parallelism
};

class MasterKey {
 public:
  static constexpr std::size_t kSize = 32;
  static constexpr const char* kKeyFile = "master.key";
  static constexpr const char* kMetaFile = "master.json";

  // Creates a new master key in `data_dir` (which must exist). With `passphrase`, derives it
  // with scrypt under a new random salt; otherwise writes a random key to master.key (0600).
  // AlreadyExists if master.json is already there (never overwrites a master key).
  static Result<MasterKey> Create(const std::string& data_dir,
                                  const std::optional<std::string>& passphrase,
                                  const ScryptParams& params = {});

  // Loads the master key of `data_dir` and checks it against the key-check value.
  // Errors: NotFound (no master.json: run `kpsd init`), InvalidArgument (a passphrase is
  // required but none given, or the reverse), Corruption (master.json unreadable),
  // AuthFailed (wrong key file or passphrase).
  static Result<MasterKey> Open(const std::string& data_dir,
                                const std::optional<std::string>& passphrase);

  // Rotation on disk (`kpsd rotate-master`, docs/kps.md "Shallow rekey and crypto-shred"):
  // the new master key is created with Create() in NextDir(data_dir) ("master-next", 0700),
  // the store is re-wrapped under it (keyring.h RewrapKeks), then InstallNext() copies its
  // files over the current ones (each atomically; master.key first, removed when the new key
  // comes from a passphrase) and only then removes master-next (master.json first).
  // RotationPending(): master-next holds a master.json, i.e. a rotation started and was not
  // installed: `kpsd serve` refuses to start and `kpsd rotate-master` finishes it. A
  // master-next without master.json is the debris of a Create() cut short or of an
  // InstallNext() cut short after its copies: CleanNext() removes it.
  static constexpr const char* kNextDir = "master-next";
  static std::string NextDir(const std::string& data_dir);
  static bool RotationPending(const std::string& data_dir);
  static Status InstallNext(const std::string& data_dir);
  static Status CleanNext(const std::string& data_dir);

  // Derives 32 bytes with scrypt (OpenSSL EVP_KDF "SCRYPT"). Exposed for tests and docs.
  static Result<SecureBuffer> DeriveFromPassphrase(const std::string& passphrase, ByteView salt,
                                                   const ScryptParams& params);

  // The key to pass to crypto::WrapKey / UnwrapKey for KEKs.
  const SecureBuffer& key() const { return key_; }
  // "file" or "passphrase".
  const std::string& source() const { return source_; }

 private:
  MasterKey(SecureBuffer key, std::string source)
      : key_(std::move(key)), source_(std::move(source)) {}

  SecureBuffer key_;
  std::string source_;
};

// Reads a passphrase from a file: the first line, without its line end.
Result<std::string> ReadPassphraseFile(const std::string& path);

}  // namespace cafs::kps
