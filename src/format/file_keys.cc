#include "format/file_keys.h"

#include <cstring>
#include <string>

#include "crypto/kdf.h"

namespace cafs::format {

Result<FileKeys> DeriveFileKeys(const SecureBuffer& dek, crypto::CipherId cipher,
                                const std::array<std::uint8_t, kFileNonceSize>& file_nonce) {
  if (dek.empty() && cipher != crypto::CipherId::kNone) {
    return Status::InvalidArgument(std::string("cipher ") +
                                   std::string(crypto::CipherName(cipher)) + " needs a DEK");
  }
  static constexpr std::array<std::uint8_t, 32> kEmptyDekIkm{};
  const ByteView ikm = dek.empty() ? ByteView(kEmptyDekIkm) : dek.view();
  const ByteView salt(file_nonce);
  FileKeys keys;
  const std::size_t data_key_size = crypto::CipherKeySize(cipher);
  if (data_key_size > 0) {
    const std::string info = kDataKeyInfoPrefix + std::string(crypto::CipherName(cipher));
    CAFS_ASSIGN_OR_RETURN(keys.data_key, crypto::HkdfSha512(ikm, salt, info, data_key_size));
  }
  CAFS_ASSIGN_OR_RETURN(keys.mac_key,
                        crypto::HkdfSha512(ikm, salt, kHeaderMacInfo, kHeaderMacKeySize));
  CAFS_ASSIGN_OR_RETURN(SecureBuffer check,
                        crypto::HkdfSha512(ikm, salt, kKeyCheckInfo, kKeyCheckSize));
  std::memcpy(keys.key_check.data(), check.data(), kKeyCheckSize);
  return keys;
}

}  // namespace cafs::format
