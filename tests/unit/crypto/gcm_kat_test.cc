// AES-256-GCM known answers through crypto::Aes256Gcm.
//
// Source: NIST CAVP GCM test vectors (GCMVS), gcmEncryptExtIV256.rsp,
// [Keylen = 256] [IVlen = 96] [Taglen = 128], the section and Count named on each vector
// (https://csrc.nist.gov/Projects/Cryptographic-Algorithm-Validation-Program/CAVP-TESTING-BLOCK-CIPHER-MODES).
// The failing cases follow gcmDecrypt256.rsp's FAIL entries: a modified tag, ciphertext or
// AAD must not decrypt.
#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "kat_support.h"

namespace cafs::crypto {
namespace {

using testing::Hex;

struct GcmVector {
  const char* name;
  std::string_view key, iv, pt, aad, ct, tag;
};

constexpr GcmVector kVectors[] = {
    {"PTlen=0 AADlen=0 Count=0", "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
     "516c33929df5a3284ff463d7", "", "", "", "bdc1ac884d332457a1d2664f168c76f0"},
    {"PTlen=0 AADlen=0 Count=1", "5fe0861cdc2690ce69b3658c7f26f8458eec1c9243c5ba0845305d897e96ca0f",
     "770ac1a5a3d476d5d96944a1", "", "", "", "196d691e1047093ca4b3d2ef4baba216"},
    {"PTlen=0 AADlen=128 Count=0",
     "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223", "d79cf22d504cc793c3fb6c8a",
     "", "b96baa8c1c75a671bfb2d08d06be5f36", "", "3e5d486aa2e30b22e040b85723a06e76"},
    {"PTlen=0 AADlen=160 Count=0",
     "886cff5f3e6b8d0e1ad0a38fcdb26de97e8acbe79f6bed66959a598fa5047d65", "3a8efa1cd74bbab5448f9945",
     "", "519fee519d25c7a304d6c6aa1897ee1eb8c59655", "", "f6d47505ec96c98a42dc3ae719877b87"},
    {"PTlen=128 AADlen=0 Count=0",
     "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22", "0d18e06c7c725ac9e362e1ce",
     "2db5168e932556f8089a0622981d017d", "", "fa4362189661d163fcd6a56d8bf0405a",
     "d636ac1bbedd5cc3ee727dc2ab4a9489"},
    {"PTlen=128 AADlen=128 Count=0",
     "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b", "ac93a1a6145299bde902f21a",
     "2d71bcfa914e4ac045b2aa60955fad24", "1e0889016f67601c8ebea4943bc23ad6",
     "8995ae2e6df3dbf96fac7b7137bae67f", "eca5aa77d51d4a0a14d9c51e1da474ab"},
    {"PTlen=104 AADlen=160 Count=1",
     "97431e565e8370a4879de962746a2fd67eca868b1c8e51eece2c1f94f74af407", "17fb63066e2726d282ecc610",
     "e21629cc973fbe40176e621d9d", "78e7374da7c77be5938de8dd76cf0308618306a9",
     "80dbd469de480389ba6c2fca52", "4e284abb8b4f9f13c7497ae56df05fa5"},
    {"PTlen=408 AADlen=720 Count=2",
     "c277df045d0a1a3956958f271055c229d2634427b1d73e99d54920da69f72e01", "79e24f84bc77a21a6cb14ee2",
     "5ca68d858cc30b1cb0514c4e9de98e1a1a835df401f69e9ec6f1bcb1158f09114dff551683b3827457f77e17a7"
     "097b1ea69eac",
     "ca09282238d492029afbd30ea9b4aa9d448d77b4b41a791c35ebe3f8e5034ac71210117a843fae647cea020712"
     "c27e5c8f85acf933d5e28430c7770862d8dbb197cbbcfe49dd63f6aa05fbd13e32c459342698dfee5935c7c321",
     "5c5223c8eda59a8dc28b08e6c21482a46e5d84d32c7050bf144fc57f4e8094de133198da7b4b8398b167204aff"
     "837da15d9ab2",
     "378885950a4491bee3cd681d3c957b9a"},
};

TEST(GcmKatTest, SealMatchesCavpEncryptVectors) {
  for (const GcmVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto gcm = Aes256Gcm::Create(Hex(v.key));
    ASSERT_TRUE(gcm.ok()) << gcm.status().ToString();
    auto sealed = (*gcm)->Seal(Hex(v.iv), Hex(v.aad), Hex(v.pt));
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(ToHex(*sealed), std::string(v.ct) + std::string(v.tag));
  }
}

TEST(GcmKatTest, OpenRecoversCavpPlaintexts) {
  for (const GcmVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto gcm = Aes256Gcm::Create(Hex(v.key));
    ASSERT_TRUE(gcm.ok());
    Bytes in = Hex(std::string(v.ct) + std::string(v.tag));
    auto opened = (*gcm)->Open(Hex(v.iv), Hex(v.aad), in);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(ToHex(*opened), v.pt);
  }
}

// gcmDecrypt256-style FAIL cases: every single-bit change to the tag, the ciphertext or the AAD
// gives AuthFailed and releases no plaintext.
TEST(GcmKatTest, ModifiedTagCiphertextOrAadFailsWithAuthFailed) {
  for (const GcmVector& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto gcm = Aes256Gcm::Create(Hex(v.key));
    ASSERT_TRUE(gcm.ok());
    const Bytes good = Hex(std::string(v.ct) + std::string(v.tag));
    const Bytes aad = Hex(v.aad);
    for (std::size_t i = 0; i < good.size(); ++i) {
      Bytes bad = good;
      bad[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
      Bytes out(bad.size() - Aes256Gcm::kTagSize, 0xee);
      Status s = (*gcm)->Open(Hex(v.iv), aad, bad, MutableByteView(out));
      EXPECT_TRUE(s.code() == Status::Code::kAuthFailed) << "byte " << i << ": " << s.ToString();
      EXPECT_EQ(out, Bytes(out.size(), 0)) << "plaintext released on failure";
    }
    if (!aad.empty()) {
      Bytes bad_aad = aad;
      bad_aad.back() ^= 0x80;
      EXPECT_TRUE((*gcm)->Open(Hex(v.iv), bad_aad, good).status().code() ==
                  Status::Code::kAuthFailed);
    }
    // The right ciphertext still opens afterwards (the context recovers from a failure).
    EXPECT_TRUE((*gcm)->Open(Hex(v.iv), aad, good).ok());
  }
}

// A wrong key fails the same way.
TEST(GcmKatTest, WrongKeyFails) {
  const GcmVector& v = kVectors[5];
  Bytes key = Hex(v.key);
  key[0] ^= 1;
  auto gcm = Aes256Gcm::Create(key);
  ASSERT_TRUE(gcm.ok());
  EXPECT_TRUE((*gcm)
                  ->Open(Hex(v.iv), Hex(v.aad), Hex(std::string(v.ct) + std::string(v.tag)))
                  .status()
                  .code() == Status::Code::kAuthFailed);
}

}  // namespace
}  // namespace cafs::crypto
