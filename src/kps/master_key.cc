#include "kps/master_key.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <nlohmann/json.hpp>

#include "crypto/mac.h"
#include "crypto/openssl_error.h"
#include "crypto/rng.h"
#include "kps/file_util.h"
#include "util/json_text.h"

namespace cafs::kps {

namespace {

constexpr std::string_view kCheckLabel = "cafs/kps/master-key-check/v1";
constexpr std::string_view kFormat = "cafs-kps-master/1";
constexpr std::size_t kSaltSize = 16;

Result<std::string> CheckValue(const SecureBuffer& key) {
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac,
                        crypto::HmacSha256(key.view(), AsBytes(kCheckLabel)));
  return ToHex(mac);
}

std::string JoinPath(const std::string& dir, const char* name) { return dir + "/" + name; }

}  // namespace

Result<SecureBuffer> MasterKey::DeriveFromPassphrase(const std::string& passphrase, ByteView salt,
                                                     const ScryptParams& params) {
  if (passphrase.empty()) return Status::InvalidArgument("empty passphrase");
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr),
                                                        &EVP_KDF_free);
  if (!kdf) return crypto::OpenSslError("EVP_KDF_fetch SCRYPT");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (!ctx) return crypto::OpenSslError("EVP_KDF_CTX_new");
  std::uint64_t n = params.n;
  std::uint32_t r = params.r;
  std::uint32_t p = params.p;
  std::uint64_t maxmem = 1ull << 31;
  OSSL_PARAM ps[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        const_cast<char*>(passphrase.data()), passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  SecureBuffer out(kSize);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), ps) != 1) {
    return crypto::OpenSslError("scrypt");
  }
  return out;
}

Result<MasterKey> MasterKey::Create(const std::string& data_dir,
                                    const std::optional<std::string>& passphrase,
                                    const ScryptParams& params) {
  const std::string meta_path = JoinPath(data_dir, kMetaFile);
  if (FileExists(meta_path)) {
    return Status::AlreadyExists(meta_path + " exists: this data dir already has a master key");
  }
  nlohmann::json meta;
  meta["format"] = kFormat;
  SecureBuffer key;
  std::string source;
  if (passphrase) {
    Bytes salt(kSaltSize);
    CAFS_RETURN_IF_ERROR(crypto::RandomBytes(salt));
    CAFS_ASSIGN_OR_RETURN(key, DeriveFromPassphrase(*passphrase, salt, params));
    source = "passphrase";
    meta["scrypt"] = {{"n", params.n}, {"r", params.r}, {"p", params.p}, {"salt", ToHex(salt)}};
  } else {
    CAFS_ASSIGN_OR_RETURN(key, crypto::RandomKey(kSize));
    source = "file";
    std::string raw(reinterpret_cast<const char*>(key.data()), key.size());
    Status s = WriteFileAtomic(JoinPath(data_dir, kKeyFile), raw, 0600, /*exclusive=*/true);
    std::fill(raw.begin(), raw.end(), '\0');
    CAFS_RETURN_IF_ERROR(s);
  }
  meta["source"] = source;
  CAFS_ASSIGN_OR_RETURN(meta["check"], CheckValue(key));
  CAFS_RETURN_IF_ERROR(WriteFileAtomic(meta_path, meta.dump(2) + "\n", 0600, true));
  return MasterKey(std::move(key), std::move(source));
}

Result<MasterKey> MasterKey::Open(const std::string& data_dir,
                                  const std::optional<std::string>& passphrase) {
  const std::string meta_path = JoinPath(data_dir, kMetaFile);
  auto text = ReadFile(meta_path);
  if (!text.ok()) {
    if (text.status().IsNotFound()) {
      return Status::NotFound(meta_path + " not found: run `kpsd init --data-dir " + data_dir +
                              "` first");
    }
    return text.status();
  }
  auto parsed = ParseJson(*text, meta_path);
  const nlohmann::json meta = parsed.ok() ? std::move(parsed).value() : nlohmann::json();
  if (!meta.is_object() || !meta.contains("format") || meta["format"] != std::string(kFormat) ||
      !meta.contains("check") || !meta["check"].is_string()) {
    return Status::Corruption(meta_path + " is not a CAFS master key description");
  }
  const std::string source = meta.value("source", "");
  SecureBuffer key;
  if (source == "passphrase") {
    if (!passphrase) {
      return Status::InvalidArgument("the master key of " + data_dir +
                                     " is derived from a passphrase: give --passphrase-file");
    }
    const auto& s = meta["scrypt"];
    if (!s.is_object() || !s.contains("salt") || !s.contains("n") || !s.contains("r") ||
        !s.contains("p")) {
      return Status::Corruption(meta_path + ": scrypt parameters missing");
    }
    auto salt = FromHex(s["salt"].get<std::string>());
    if (!salt.ok()) return Status::Corruption(meta_path + ": bad salt");
    ScryptParams params{s["n"].get<std::uint64_t>(), s["r"].get<std::uint32_t>(),
                        s["p"].get<std::uint32_t>()};
    CAFS_ASSIGN_OR_RETURN(key, DeriveFromPassphrase(*passphrase, *salt, params));
  } else if (source == "file") {
    if (passphrase) {
      return Status::InvalidArgument("the master key of " + data_dir +
                                     " is a key file, not a passphrase: drop --passphrase-file");
    }
    CAFS_ASSIGN_OR_RETURN(std::string raw, ReadFile(JoinPath(data_dir, kKeyFile)));
    if (raw.size() != kSize) {
      std::fill(raw.begin(), raw.end(), '\0');
      return Status::Corruption(JoinPath(data_dir, kKeyFile) + " is not 32 bytes");
    }
    key = SecureBuffer(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size());
    std::fill(raw.begin(), raw.end(), '\0');
  } else {
    return Status::Corruption(meta_path + ": unknown master key source '" + source + "'");
  }
  CAFS_ASSIGN_OR_RETURN(std::string check, CheckValue(key));
  if (!crypto::ConstantTimeEquals(AsBytes(check), AsBytes(meta["check"].get<std::string>()))) {
    return Status::AuthFailed(source == "passphrase"
                                  ? "wrong passphrase: it does not match the key-check value in " +
                                        meta_path + "; nothing was changed"
                                  : "wrong master key: " + JoinPath(data_dir, kKeyFile) +
                                        " does not match the key-check value in " + meta_path +
                                        "; nothing was changed");
  }
  return MasterKey(std::move(key), source);
}

std::string MasterKey::NextDir(const std::string& data_dir) { return JoinPath(data_dir, kNextDir); }

bool MasterKey::RotationPending(const std::string& data_dir) {
  return FileExists(JoinPath(NextDir(data_dir), kMetaFile));
}

Status MasterKey::CleanNext(const std::string& data_dir) {
  const std::string next = NextDir(data_dir);
  for (const char* name : {kMetaFile, kKeyFile}) {
    const std::string path = JoinPath(next, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, "remove " + path);
    }
    (void)::unlink((path + ".tmp").c_str());
  }
  if (::rmdir(next.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove " + next);
  }
  return SyncDir(data_dir);
}

Status MasterKey::InstallNext(const std::string& data_dir) {
  const std::string next = NextDir(data_dir);
  CAFS_ASSIGN_OR_RETURN(std::string meta, ReadFile(JoinPath(next, kMetaFile)));
  auto raw = ReadFile(JoinPath(next, kKeyFile));
  if (raw.ok()) {
    Status s = WriteFileAtomic(JoinPath(data_dir, kKeyFile), *raw, 0600, /*exclusive=*/false);
    std::fill(raw->begin(), raw->end(), '\0');
    CAFS_RETURN_IF_ERROR(s);
  } else if (raw.status().IsNotFound()) {
    const std::string old_key = JoinPath(data_dir, kKeyFile);
    if (::unlink(old_key.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, "remove " + old_key);
    }
  } else {
    return raw.status();
  }
  CAFS_RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(data_dir, kMetaFile), meta, 0600, /*exclusive=*/false));
  return CleanNext(data_dir);
}

Result<std::string> ReadPassphraseFile(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto nl = text.find_first_of("\r\n");
  if (nl != std::string::npos) text.resize(nl);
  if (text.empty()) return Status::InvalidArgument(path + ": empty passphrase");
  return text;
}

}  // namespace cafs::kps
