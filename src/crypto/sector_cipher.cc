#include "crypto/sector_cipher.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/openssl_error.h"

namespace cafs::crypto {

namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

// A pool of EVP contexts keyed with one key in one direction. Acquire() hands out a context
// (a fresh one, keyed, when the pool is empty); Release() returns it. Bounded by the number
// of threads that ever ran a call at the same time.
class KeyedCtxPool {
 public:
  KeyedCtxPool(const EVP_CIPHER* cipher, SecureBuffer key, bool encrypt, bool no_padding)
      : cipher_(cipher), key_(std::move(key)), encrypt_(encrypt), no_padding_(no_padding) {}

  Result<CtxPtr> Acquire() const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        CtxPtr ctx = std::move(free_.back());
        free_.pop_back();
        return ctx;
      }
    }
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex2(ctx.get(), cipher_, key_.data(), nullptr, encrypt_ ? 1 : 0, nullptr) !=
        1) {
      return OpenSslError(std::string("keying ") + EVP_CIPHER_get0_name(cipher_));
    }
    if (no_padding_) EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    return ctx;
  }

  void Release(CtxPtr ctx) const {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(ctx));
  }

 private:
  const EVP_CIPHER* cipher_;
  SecureBuffer key_;
  bool encrypt_;
  bool no_padding_;
  mutable std::mutex mu_;
  mutable std::vector<CtxPtr> free_;  // guarded by mu_
};

// Returns a context to its pool when the call ends, on every path.
class PooledCtx {
 public:
  PooledCtx(const KeyedCtxPool& pool, CtxPtr ctx) : pool_(pool), ctx_(std::move(ctx)) {}
  ~PooledCtx() { pool_.Release(std::move(ctx_)); }
  PooledCtx(const PooledCtx&) = delete;
  PooledCtx& operator=(const PooledCtx&) = delete;
  EVP_CIPHER_CTX* get() const { return ctx_.get(); }

 private:
  const KeyedCtxPool& pool_;
  CtxPtr ctx_;
};

// The 16-byte plain64 IV/tweak: le64(sector) || 0^8.
void Plain64(std::uint64_t sector, std::uint8_t iv[16]) {
  std::memset(iv, 0, 16);
  StoreLe64(iv, sector);
}

Status RunSectors(EVP_CIPHER_CTX* ctx, int encrypt, std::uint64_t first_sector,
                  std::uint32_t sector_size, ByteView in, MutableByteView out,
                  const std::uint8_t* ivs /* 16 per sector, or null for plain64 */) {
  const std::size_t count = in.size() / sector_size;
  std::uint8_t iv[16];
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t* sector_iv = iv;
    if (ivs != nullptr) {
      sector_iv = ivs + 16 * i;
    } else {
      Plain64(first_sector + i, iv);
    }
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, sector_iv, encrypt, nullptr) != 1) {
      return OpenSslError("setting sector IV");
    }
    int outl = 0;
    if (EVP_CipherUpdate(ctx, out.data() + i * sector_size, &outl, in.data() + i * sector_size,
                         static_cast<int>(sector_size)) != 1 ||
        outl != static_cast<int>(sector_size)) {
      return OpenSslError("sector cipher update");
    }
  }
  return Status::OK();
}

class NullSectorCipher final : public SectorCipher {
 public:
  explicit NullSectorCipher(std::uint32_t sector_size)
      : SectorCipher(CipherId::kNone, sector_size) {}
  Status Encrypt(std::uint64_t, ByteView in, MutableByteView out) const override {
    return Copy(in, out);
  }
  Status Decrypt(std::uint64_t, ByteView in, MutableByteView out) const override {
    return Copy(in, out);
  }

 private:
  Status Copy(ByteView in, MutableByteView out) const {
    CAFS_RETURN_IF_ERROR(CheckSpans(in, out));
    if (in.data() != out.data()) std::memmove(out.data(), in.data(), in.size());
    return Status::OK();
  }
};

class XtsSectorCipher final : public SectorCipher {
 public:
  XtsSectorCipher(CipherId id, std::uint32_t sector_size, const EVP_CIPHER* cipher, ByteView key)
      : SectorCipher(id, sector_size),
        enc_(cipher, SecureBuffer(key), true, false),
        dec_(cipher, SecureBuffer(key), false, false) {}

  // Keys once so a bad key (e.g. equal halves) is reported by Create, not on first use.
  Status Probe() const {
    auto e = enc_.Acquire();
    if (!e.ok()) return e.status();
    enc_.Release(std::move(e).value());
    auto d = dec_.Acquire();
    if (!d.ok()) return d.status();
    dec_.Release(std::move(d).value());
    return Status::OK();
  }

  Status Encrypt(std::uint64_t first, ByteView in, MutableByteView out) const override {
    return Run(enc_, 1, first, in, out);
  }
  Status Decrypt(std::uint64_t first, ByteView in, MutableByteView out) const override {
    return Run(dec_, 0, first, in, out);
  }

 private:
  Status Run(const KeyedCtxPool& pool, int encrypt, std::uint64_t first, ByteView in,
             MutableByteView out) const {
    CAFS_RETURN_IF_ERROR(CheckSpans(in, out));
    CAFS_ASSIGN_OR_RETURN(CtxPtr raw, pool.Acquire());
    PooledCtx ctx(pool, std::move(raw));
    return RunSectors(ctx.get(), encrypt, first, sector_size(), in, out, nullptr);
  }

  KeyedCtxPool enc_;
  KeyedCtxPool dec_;
};

class CbcEssivSectorCipher final : public SectorCipher {
 public:
  CbcEssivSectorCipher(CipherId id, std::uint32_t sector_size, const EVP_CIPHER* cipher,
                       ByteView key, SecureBuffer salt)
      : SectorCipher(id, sector_size),
        enc_(cipher, SecureBuffer(key), true, true),
        dec_(cipher, SecureBuffer(key), false, true),
        essiv_(EVP_aes_256_ecb(), std::move(salt), true, true) {}

  Status Probe() const {
    for (const KeyedCtxPool* pool : {&enc_, &dec_, &essiv_}) {
      auto c = pool->Acquire();
      if (!c.ok()) return c.status();
      pool->Release(std::move(c).value());
    }
    return Status::OK();
  }

  Status Encrypt(std::uint64_t first, ByteView in, MutableByteView out) const override {
    return Run(enc_, 1, first, in, out);
  }
  Status Decrypt(std::uint64_t first, ByteView in, MutableByteView out) const override {
    return Run(dec_, 0, first, in, out);
  }

 private:
  // All IVs of a call in one ECB pass: E_salt(plain64(s)) for each sector s.
  Status ComputeIvs(std::uint64_t first, std::size_t count, std::vector<std::uint8_t>* ivs) const {
    ivs->assign(count * 16, 0);
    for (std::size_t i = 0; i < count; ++i) Plain64(first + i, ivs->data() + 16 * i);
    CAFS_ASSIGN_OR_RETURN(CtxPtr raw, essiv_.Acquire());
    PooledCtx ctx(essiv_, std::move(raw));
    int outl = 0;
    if (EVP_EncryptUpdate(ctx.get(), ivs->data(), &outl, ivs->data(),
                          static_cast<int>(ivs->size())) != 1 ||
        outl != static_cast<int>(ivs->size())) {
      return OpenSslError("ESSIV");
    }
    return Status::OK();
  }

  Status Run(const KeyedCtxPool& pool, int encrypt, std::uint64_t first, ByteView in,
             MutableByteView out) const {
    CAFS_RETURN_IF_ERROR(CheckSpans(in, out));
    std::vector<std::uint8_t> ivs;
    CAFS_RETURN_IF_ERROR(ComputeIvs(first, in.size() / sector_size(), &ivs));
    CAFS_ASSIGN_OR_RETURN(CtxPtr raw, pool.Acquire());
    PooledCtx ctx(pool, std::move(raw));
    return RunSectors(ctx.get(), encrypt, first, sector_size(), in, out, ivs.data());
  }

  KeyedCtxPool enc_;
  KeyedCtxPool dec_;
  KeyedCtxPool essiv_;
};

}  // namespace

Status SectorCipher::CheckSpans(ByteView in, MutableByteView out) const {
  if (in.size() != out.size()) {
    return Status::InvalidArgument("sector cipher: input and output sizes differ");
  }
  if (in.size() % sector_size_ != 0) {
    return Status::InvalidArgument("sector cipher: " + std::to_string(in.size()) +
                                   " bytes is not a whole number of " +
                                   std::to_string(sector_size_) + "-byte sectors");
  }
  return Status::OK();
}

Result<std::unique_ptr<SectorCipher>> SectorCipher::Create(CipherId id, ByteView key,
                                                           std::uint32_t sector_size) {
  if (!IsSupportedSectorSize(sector_size)) {
    return Status::InvalidArgument("sector size " + std::to_string(sector_size) +
                                   " is not supported (512 or 4096)");
  }
  if (key.size() != CipherKeySize(id)) {
    return Status::InvalidArgument(std::string(CipherName(id)) + " needs a " +
                                   std::to_string(CipherKeySize(id)) + "-byte key, got " +
                                   std::to_string(key.size()));
  }
  switch (id) {
    case CipherId::kNone:
      return std::unique_ptr<SectorCipher>(new NullSectorCipher(sector_size));
    case CipherId::kAes128Xts:
    case CipherId::kAes256Xts: {
      // SP 800-38E: the two XTS key halves must differ. OpenSSL 3 refuses such a key only
      // for encryption, so check here and report it as the caller's mistake.
      const std::size_t half = key.size() / 2;
      if (std::memcmp(key.data(), key.data() + half, half) == 0) {
        return Status::InvalidArgument(std::string(CipherName(id)) +
                                       " key has two equal halves (SP 800-38E forbids it)");
      }
      const EVP_CIPHER* cipher = id == CipherId::kAes128Xts ? EVP_aes_128_xts() : EVP_aes_256_xts();
      auto c = std::make_unique<XtsSectorCipher>(id, sector_size, cipher, key);
      CAFS_RETURN_IF_ERROR(c->Probe());
      return std::unique_ptr<SectorCipher>(std::move(c));
    }
    case CipherId::kAes128CbcEssiv:
    case CipherId::kAes256CbcEssiv: {
      const EVP_CIPHER* cipher =
          id == CipherId::kAes128CbcEssiv ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
      SecureBuffer salt(SHA256_DIGEST_LENGTH);
      if (EVP_Digest(key.data(), key.size(), salt.data(), nullptr, EVP_sha256(), nullptr) != 1) {
        return OpenSslError("ESSIV salt");
      }
      auto c =
          std::make_unique<CbcEssivSectorCipher>(id, sector_size, cipher, key, std::move(salt));
      CAFS_RETURN_IF_ERROR(c->Probe());
      return std::unique_ptr<SectorCipher>(std::move(c));
    }
  }
  return Status::InvalidArgument("unknown cipher");
}

}  // namespace cafs::crypto
