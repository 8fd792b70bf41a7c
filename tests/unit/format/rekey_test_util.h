// Helpers for rekey tests: version 1 pool files (written with the codec, as builds before
// format version 2 wrote them), and opening a pool file with the keys its header names.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "env/env.h"
#include "format/encrypted_file.h"
#include "format/file_keys.h"
#include "format/header_codec.h"
#include "unit/format/test_util.h"

namespace cafs::format::testing {

// Creates `path` as an empty version 1 pool file (what Create wrote before version 2: the
// header Create makes, re-encoded with the version 1 layout) and opens it writable.
inline std::unique_ptr<EncryptedFile> CreateV1File(env::Env& env, const std::string& path,
                                                   const CreateParams& p, const SecureBuffer& dek) {
  Header h =
      Must(EncryptedFile::Create(Must(env.OpenFile(path, env::OpenOptions::CreateNew())), p, dek))
          ->header();
  h.version = kFormatVersion1;
  auto keys = Must(DeriveFileKeys(dek, h.cipher, h.file_nonce));
  std::vector<std::uint8_t> bytes(kHeaderSize);
  EXPECT_TRUE(EncodeHeader(h, keys.mac_key.view(), bytes).ok());
  auto file = Must(env.OpenFile(path, env::OpenOptions::ReadWrite()));
  EXPECT_TRUE(file->WriteAt(0, bytes).ok());
  EXPECT_TRUE(file->Sync().ok());
  return Must(EncryptedFile::Open(std::move(file), dek));
}

// cipher, sector size, format version of the file before the rekey
using RekeyParam = std::tuple<crypto::CipherId, std::uint32_t, std::uint16_t>;

inline std::string RekeyParamName(const ::testing::TestParamInfo<RekeyParam>& param_info) {
  return ParamName({std::get<0>(param_info.param), std::get<1>(param_info.param)}) + "_v" +
         std::to_string(std::get<2>(param_info.param));
}

// Every cipher x both sector sizes x both format versions.
inline auto AllRekeyParams() {
  return ::testing::Combine(::testing::ValuesIn(AllCiphers()),
                            ::testing::Values(std::uint32_t{512}, std::uint32_t{4096}),
                            ::testing::Values(kFormatVersion1, kFormatVersion2));
}

// The header of a pool file, unauthenticated (to learn which keys it names).
inline Header PeekHeader(env::Env& env, const std::string& path) {
  auto file = Must(env.OpenFile(path, env::OpenOptions::ReadOnly()));
  std::vector<std::uint8_t> bytes(kHeaderSize);
  EXPECT_EQ(*file->ReadAt(0, bytes), kHeaderSize);
  return Must(ParseHeaderUnverified(bytes));
}

}  // namespace cafs::format::testing
