// HKDF known answers through crypto::Hkdf.
//
// Source: RFC 5869 Appendix A, test cases 1-7 (1-3 HKDF-SHA-256, 4-7 HKDF-SHA-1),
// https://www.rfc-editor.org/rfc/rfc5869#appendix-A ("OKM" values). RFC 5869 has no SHA-512
// cases, so HKDF-SHA-512 (what CAFS derives per-file keys with) is cross-checked against an
// independent computation: the `openssl kdf ... HKDF` command line, run per case.
#include <gtest/gtest.h>

#include <random>

#include "crypto/kdf.h"
#include "kat_support.h"

namespace cafs::crypto {
namespace {

using testing::Hex;

struct HkdfVector {
  const char* name;
  Digest digest;
  std::string_view ikm, salt, info;
  std::size_t length;
  std::string_view okm;
};

constexpr std::string_view kLongIkm =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d"
    "2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f";
constexpr std::string_view kLongSalt =
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d"
    "8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
constexpr std::string_view kLongInfo =
    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdd"
    "dedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

constexpr HkdfVector kVectors[] = {
    {"RFC5869 A.1 (SHA-256)", Digest::kSha256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
     "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"RFC5869 A.2 (SHA-256, long inputs)", Digest::kSha256, kLongIkm, kLongSalt, kLongInfo, 82,
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e"
     "590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"RFC5869 A.3 (SHA-256, empty salt and info)", Digest::kSha256,
     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
    {"RFC5869 A.4 (SHA-1)", Digest::kSha1, "0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", 42,
     "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896"},
    {"RFC5869 A.5 (SHA-1, long inputs)", Digest::kSha1, kLongIkm, kLongSalt, kLongInfo, 82,
     "0bd770a74d1160f7c9f12cd5912a06ebff6adcae899d92191fe4305673ba2ffe8fa3f1a4e5ad79f3f334b3b202"
     "b2173c486ea37ce3d397ed034c7f9dfeb15c5e927336d0441f4c4300e2cff0d0900b52d3b4"},
    {"RFC5869 A.6 (SHA-1, empty salt and info)", Digest::kSha1,
     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
     "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0ea00033de03984d34918"},
    // A.7: salt "not provided" = HashLen zero octets; our empty salt means the same.
    {"RFC5869 A.7 (SHA-1, salt not provided)", Digest::kSha1,
     "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "", "", 42,
     "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48"},
};

TEST(HkdfKatTest, Rfc5869TestCases1To7) {
  for (const HkdfVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto okm = Hkdf(v.digest, Hex(v.ikm), Hex(v.salt), Hex(v.info), v.length);
    ASSERT_TRUE(okm.ok()) << okm.status().ToString();
    EXPECT_EQ(ToHex(okm->view()), v.okm);
  }
}

// RFC 5869 A.7 also says an absent salt equals HashLen zero octets: check both spellings agree.
TEST(HkdfKatTest, AbsentSaltEqualsZeroSalt) {
  auto absent = Hkdf(Digest::kSha1, Hex(kVectors[6].ikm), ByteView(), ByteView(), 42);
  auto zeros = Hkdf(Digest::kSha1, Hex(kVectors[6].ikm), Bytes(20, 0), ByteView(), 42);
  ASSERT_TRUE(absent.ok() && zeros.ok());
  EXPECT_EQ(ToHex(absent->view()), ToHex(zeros->view()));
}

TEST(HkdfKatTest, RejectsLengthsOutsideRfcRange) {
  EXPECT_TRUE(
      Hkdf(Digest::kSha256, Hex("0b"), ByteView(), ByteView(), 0).status().IsInvalidArgument());
  EXPECT_TRUE(Hkdf(Digest::kSha256, Hex("0b"), ByteView(), ByteView(), 255 * 32 + 1)
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(Hkdf(Digest::kSha512, Hex("0b"), ByteView(), ByteView(), 255 * 64).ok());
}

// `openssl kdf` prints the key as colon-separated hex.
std::optional<std::string> CliHkdfSha512(ByteView ikm, ByteView salt, ByteView info,
                                         std::size_t length) {
  std::string cmd = "openssl kdf -keylen " + std::to_string(length) +
                    " -kdfopt digest:SHA512 -kdfopt hexkey:" + ToHex(ikm);
  if (!salt.empty()) cmd += " -kdfopt hexsalt:" + ToHex(salt);
  if (!info.empty()) cmd += " -kdfopt hexinfo:" + ToHex(info);
  cmd += " HKDF";
  auto out = testing::RunCommand(cmd);
  if (!out) return std::nullopt;
  std::string hex;
  for (char c : *out) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return hex;
}

TEST(HkdfKatTest, Sha512MatchesOpensslCommandLine) {
  if (!testing::OpenSslCliAvailable()) GTEST_SKIP() << "no OpenSSL 3 `openssl` command line";
  struct Case {
    std::size_t ikm, salt, info, length;
  };
  // The RFC 5869 shapes at SHA-512, the CAFS per-file key shape (64-byte key, 32-byte salt,
  // text info, 64 bytes out), multi-block outputs and the maximum length 255 * 64.
  const Case cases[] = {{22, 13, 10, 42}, {80, 80, 80, 82}, {22, 0, 0, 42}, {64, 32, 24, 64},
                        {32, 16, 0, 128}, {64, 0, 40, 97},  {1, 1, 1, 1},   {64, 64, 64, 16320}};
  std::mt19937 rng(5869);
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "ikm=" << c.ikm << " salt=" << c.salt << " info=" << c.info
                                      << " L=" << c.length);
    auto fill = [&rng](std::size_t n) {
      Bytes b(n);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      return b;
    };
    const Bytes ikm = fill(c.ikm), salt = fill(c.salt), info = fill(c.info);
    auto ours = Hkdf(Digest::kSha512, ikm, salt, info, c.length);
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    auto theirs = CliHkdfSha512(ikm, salt, info, c.length);
    ASSERT_TRUE(theirs.has_value());
    EXPECT_EQ(ToHex(ours->view()), *theirs);
  }
  // The inline helper is the same function.
  auto a = HkdfSha512(Hex("0b0b"), Hex("00"), "cafs file key", 64);
  auto b = Hkdf(Digest::kSha512, Hex("0b0b"), Hex("00"), AsBytes("cafs file key"), 64);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ToHex(a->view()), ToHex(b->view()));
}

}  // namespace
}  // namespace cafs::crypto
