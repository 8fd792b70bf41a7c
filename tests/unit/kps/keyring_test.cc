#include "kps/keyring.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/key_wrap.h"
#include "kps/file_util.h"
#include "kps/sqlite_store.h"
#include "unit/kps/test_dir.h"
#include "util/uuid.h"

namespace cafs::kps {
namespace {

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mk = MasterKey::Create(dir_.path(), std::nullopt);
    ASSERT_TRUE(mk.ok()) << mk.status().ToString();
    master_.emplace(std::move(mk).value());
    auto st = OpenSqliteStore(dir_.path() + "/kps.db");
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    keyring_.emplace(*master_, *store_, clock_);
  }

  Result<KekRecord> Kek(const std::string& vmset) {
    KekRecord out;
    CAFS_RETURN_IF_ERROR(store_->InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(out, GetRecord<KekRecord>(txn, vmset));
      return Status::OK();
    }));
    return out;
  }

  testing::TempDir dir_;
  ManualClock clock_{Clock::TimePoint(std::chrono::seconds(1700000000))};
  std::optional<MasterKey> master_;
  std::unique_ptr<Store> store_;
  std::optional<Keyring> keyring_;
};

TEST_F(KeyringTest, HierarchyRoundTrip) {
  auto key = keyring_->CreateKey("my_vmset");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->cipher, "aes-256-xts");
  ASSERT_EQ(key->versions.size(), 1u);
  EXPECT_EQ(key->versions[0].state, KeyState::kActive);
  EXPECT_TRUE(Uuid::Parse(key->id).ok());

  auto dek = keyring_->UnwrapKey(key->id, 0);
  ASSERT_TRUE(dek.ok()) << dek.status().ToString();
  EXPECT_EQ(dek->size(), 64u);

  // Independently: the KEK unwraps under the master key, the DEK under the KEK.
  auto kek_rec = Kek("my_vmset");
  ASSERT_TRUE(kek_rec.ok());
  auto kek = crypto::UnwrapKey(master_->key(), kek_rec->versions[0].wrapped);
  ASSERT_TRUE(kek.ok());
  EXPECT_EQ(kek->size(), 32u);
  auto stored = keyring_->GetKey(key->id);
  ASSERT_TRUE(stored.ok());
  auto dek2 = crypto::UnwrapKey(*kek, stored->versions[0].wrapped);
  ASSERT_TRUE(dek2.ok());
  EXPECT_TRUE(dek2->Equals(*dek));

  // A second key of the same VM set shares the KEK; another VM set gets its own.
  ASSERT_TRUE(keyring_->CreateKey("my_vmset", "aes-128-xts").ok());
  auto other = keyring_->CreateKey("other_vmset", "aes-256-cbc-essiv");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(keyring_->UnwrapKey(other->id, 0)->size(), 32u);
  auto other_kek = Kek("other_vmset");
  ASSERT_TRUE(other_kek.ok());
  EXPECT_NE(other_kek->versions[0].wrapped, kek_rec->versions[0].wrapped);
}

TEST_F(KeyringTest, NamedGuidAndReservedClearTextGuid) {
  const std::string id = "062b9056-bf64-11df-8d3e-000c29abeb4d";
  auto key = keyring_->CreateKey("my_vmset", "aes-256-xts", true, id);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->id, id);
  EXPECT_EQ(keyring_->CreateKey("my_vmset", "aes-256-xts", true, id).status().code(),
            Status::Code::kAlreadyExists);
  auto clear =
      keyring_->CreateKey("my_vmset", "aes-256-xts", true, "01010101-0101-0101-0101-010101010101");
  EXPECT_TRUE(clear.status().IsInvalidArgument());
  EXPECT_TRUE(keyring_->CreateKey("my_vmset", "none").status().IsInvalidArgument());
  EXPECT_TRUE(keyring_->CreateKey("my_vmset", "rot13").status().IsInvalidArgument());
  EXPECT_TRUE(keyring_->UnwrapKey("01010101-0101-0101-0101-010101010101", 0).status().IsNotFound());
}

TEST_F(KeyringTest, RotateKeepsOldVersionsForDecryption) {
  auto key = keyring_->CreateKey("my_vmset");
  ASSERT_TRUE(key.ok());
  auto v1 = keyring_->UnwrapKey(key->id, 1);
  ASSERT_TRUE(v1.ok());
  clock_.Advance(std::chrono::hours(24));
  auto rotated = keyring_->RotateKey(key->id);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  ASSERT_EQ(rotated->versions.size(), 2u);
  EXPECT_EQ(rotated->versions[0].state, KeyState::kDeactivated);
  EXPECT_EQ(rotated->versions[1].state, KeyState::kActive);
  EXPECT_EQ(rotated->rotated, rotated->created + 24 * 3600);
  auto active = keyring_->UnwrapKey(key->id, 0);
  ASSERT_TRUE(active.ok());
  EXPECT_FALSE(active->Equals(*v1));
  EXPECT_TRUE(keyring_->UnwrapKey(key->id, 2)->Equals(*active));
  auto old = keyring_->UnwrapKey(key->id, 1);
  ASSERT_TRUE(old.ok()) << "deactivated versions still decrypt";
  EXPECT_TRUE(old->Equals(*v1));
}

TEST_F(KeyringTest, StateChangesFollowKmip) {
  auto key = keyring_->CreateKey("my_vmset", "aes-256-xts", /*activate=*/false);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->versions[0].state, KeyState::kPreActive);
  EXPECT_EQ(keyring_->UnwrapKey(key->id, 1).status().code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(keyring_->SetState(key->id, 1, KeyState::kActive).ok());
  ASSERT_TRUE(keyring_->UnwrapKey(key->id, 0).ok());
  ASSERT_TRUE(keyring_->SetState(key->id, 1, KeyState::kDeactivated).ok());
  EXPECT_EQ(keyring_->SetState(key->id, 1, KeyState::kActive).status().code(),
            Status::Code::kFailedPrecondition);
  ASSERT_TRUE(keyring_->SetState(key->id, 1, KeyState::kCompromised).ok());
  EXPECT_TRUE(keyring_->UnwrapKey(key->id, 1).ok()) << "compromised keys may still decrypt";
  EXPECT_TRUE(keyring_->SetState(key->id, 7, KeyState::kActive).status().IsNotFound());
}

TEST_F(KeyringTest, DestroyShredsWrappedBytes) {
  auto key = keyring_->CreateKey("my_vmset");
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(keyring_->RotateKey(key->id).ok());
  auto before = keyring_->GetKey(key->id);
  ASSERT_TRUE(before.ok());
  const Bytes wrapped_v1 = before->versions[0].wrapped;
  auto destroyed = keyring_->DestroyKey(key->id, 1);
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(destroyed->versions[0].state, KeyState::kDestroyed);
  EXPECT_TRUE(destroyed->versions[0].wrapped.empty());
  EXPECT_EQ(keyring_->UnwrapKey(key->id, 1).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(keyring_->UnwrapKey(key->id, 2).ok()) << "other versions survive";

  // The wrapped bytes of v1 are gone from the database file and its WAL.
  for (const char* f : {"/kps.db", "/kps.db-wal"}) {
    auto bytes = ReadFile(dir_.path() + f);
    if (!bytes.ok()) continue;
    EXPECT_EQ(bytes->find(ToHex(wrapped_v1)), std::string::npos) << f;
  }

  ASSERT_TRUE(keyring_->DestroyKey(key->id, std::nullopt).ok());
  EXPECT_EQ(keyring_->RotateKey(key->id).status().code(), Status::Code::kFailedPrecondition);
}

// Scans `hay` for `needle` as raw bytes, lower/upper hex and base64-ish raw substrings.
bool Contains(const std::string& hay, ByteView needle) {
  std::string raw(reinterpret_cast<const char*>(needle.data()), needle.size());
  std::string hex = ToHex(needle);
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  // Any 16-byte window of the key appearing raw is also a leak.
  for (std::size_t off = 0; off + 16 <= needle.size(); off += 8) {
    if (hay.find(raw.substr(off, 16)) != std::string::npos) return true;
    if (hay.find(hex.substr(2 * off, 32)) != std::string::npos) return true;
    if (hay.find(upper.substr(2 * off, 32)) != std::string::npos) return true;
  }
  return false;
}

TEST_F(KeyringTest, NoUnwrappedKeyInStoreBytes) {
  std::vector<SecureBuffer> secrets;
  for (int i = 0; i < 8; ++i) {
    const std::string vmset = "vmset_" + std::to_string(i % 3);
    auto key = keyring_->CreateKey(vmset, i % 2 ? "aes-256-xts" : "aes-128-cbc-essiv");
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(keyring_->RotateKey(key->id).ok());
    for (std::uint32_t v : {1u, 2u}) {
      auto dek = keyring_->UnwrapKey(key->id, v);
      ASSERT_TRUE(dek.ok());
      secrets.push_back(std::move(dek).value());
    }
  }
  for (int i = 0; i < 3; ++i) {
    auto kek_rec = Kek("vmset_" + std::to_string(i));
    ASSERT_TRUE(kek_rec.ok());
    auto kek = crypto::UnwrapKey(master_->key(), kek_rec->versions[0].wrapped);
    ASSERT_TRUE(kek.ok());
    secrets.push_back(std::move(kek).value());
  }
  secrets.push_back(master_->key().Clone());
  // Look before the checkpoint (data in the WAL) and after it (data in the main file).
  for (int pass = 0; pass < 2; ++pass) {
    std::string all;
    for (const char* f : {"/kps.db", "/kps.db-wal", "/kps.db-shm"}) {
      auto bytes = ReadFile(dir_.path() + f);
      if (bytes.ok()) all += *bytes;
    }
    ASSERT_GT(all.size(), 4096u);
    for (const auto& s : secrets) EXPECT_FALSE(Contains(all, s.view())) << "pass " << pass;
    ASSERT_TRUE(store_->Compact().ok());
  }
}

}  // namespace
}  // namespace cafs::kps
