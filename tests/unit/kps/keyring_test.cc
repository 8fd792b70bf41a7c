#include "kps/keyring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

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

  // The KEK record of the VM set named `vmset` (keyed by its GUID, vmset_identity.h).
  Result<KekRecord> Kek(const std::string& vmset) { return keyring_->GetKek(vmset); }

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

// Every byte of the store's SQLite files: the database, its WAL and a rollback journal.
std::string StoreFileBytes(const std::string& dir) {
  std::string all;
  for (const char* f : {"/kps.db", "/kps.db-wal", "/kps.db-journal", "/kps.db-shm"}) {
    auto bytes = ReadFile(dir + f);
    if (bytes.ok()) all += *bytes;
  }
  return all;
}

// The wrapped bytes of every version of every KEK and DEK record in the store.
std::vector<Bytes> WrappedBytes(Store& store) {
  std::vector<Bytes> out;
  EXPECT_TRUE(store
                  .InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(auto keks, ListRecords<KekRecord>(txn));
                    CAFS_ASSIGN_OR_RETURN(auto keys, ListRecords<KeyRecord>(txn));
                    for (const auto& k : keys) {
                      for (const auto& v : k.versions) out.push_back(v.wrapped);
                    }
                    for (const auto& k : keks) {
                      for (const auto& v : k.versions) out.push_back(v.wrapped);
                    }
                    return Status::OK();
                  })
                  .ok());
  std::erase_if(out, [](const Bytes& b) { return b.empty(); });
  return out;
}

TEST_F(KeyringTest, KekRotationLeavesNoOldWrappedBytesInTheStoreFiles) {
  std::vector<std::string> ids;
  std::vector<SecureBuffer> deks;
  for (int i = 0; i < 3; ++i) {
    auto key = keyring_->CreateKey("my_vmset");
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(keyring_->RotateKey(key->id).ok());
    ids.push_back(key->id);
    for (std::uint32_t v : {1u, 2u})
      deks.push_back(std::move(keyring_->UnwrapKey(key->id, v)).value());
  }
  auto other = keyring_->CreateKey("other_vmset");
  ASSERT_TRUE(other.ok());
  auto other_kek = Kek("other_vmset");
  ASSERT_TRUE(other_kek.ok());
  const std::vector<Bytes> before = WrappedBytes(*store_);
  auto rotated = keyring_->RotateKek("my_vmset");
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->rewrapped, 6u);
  ASSERT_EQ(rotated->kek.versions.size(), 2u);
  EXPECT_EQ(rotated->kek.versions[0].state, KeyState::kDestroyed);
  EXPECT_TRUE(rotated->kek.versions[0].wrapped.empty());
  EXPECT_EQ(rotated->kek.versions[1].state, KeyState::kActive);
  // The DEKs are the same (pool files need nothing), now under the new KEK.
  std::size_t i = 0;
  for (const auto& id : ids) {
    for (std::uint32_t v : {1u, 2u}) EXPECT_TRUE(keyring_->UnwrapKey(id, v)->Equals(deks[i++]));
  }
  // The old wrapped bytes of my_vmset (KEK and DEKs) are in none of the SQLite files; the
  // other VM set's are untouched.
  const std::string files = StoreFileBytes(dir_.path());
  ASSERT_GT(files.size(), 4096u);
  std::size_t gone = 0;
  for (const auto& w : before) {
    const bool other_vmset = w == other_kek->versions[0].wrapped || w == other->versions[0].wrapped;
    EXPECT_EQ(Contains(files, w), other_vmset);
    gone += other_vmset ? 0 : 1;
  }
  EXPECT_EQ(gone, 7u);  // 6 DEK versions + the old KEK
  // A tampered DEK stops the rotation with nothing changed.
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(KeyRecord k, GetRecord<KeyRecord>(txn, ids[0]));
                    k.versions[0].wrapped[3] ^= 1;
                    return PutRecord(txn, k);
                  })
                  .ok());
  const auto kek_before = Kek("my_vmset");
  EXPECT_TRUE(keyring_->RotateKek("my_vmset").status().IsAuthFailed());
  EXPECT_EQ(Kek("my_vmset")->versions.size(), kek_before->versions.size());
  EXPECT_TRUE(keyring_->UnwrapKey(ids[1], 2)->Equals(deks[3]));
}

TEST_F(KeyringTest, MasterRotationRewrapsEveryKekAndIsIdempotent) {
  auto a = keyring_->CreateKey("vmset_a");
  auto b = keyring_->CreateKey("vmset_b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto dek_a = keyring_->UnwrapKey(a->id, 1);
  auto dek_b = keyring_->UnwrapKey(b->id, 1);
  const std::vector<Bytes> old_keks = {Kek("vmset_a")->versions[0].wrapped,
                                       Kek("vmset_b")->versions[0].wrapped};
  testing::TempDir next_dir;
  auto next = MasterKey::Create(next_dir.path(), std::nullopt);
  ASSERT_TRUE(next.ok());
  auto n = RewrapKeks(*store_, &*master_, *next, clock_, "test");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2u);
  // Under the new master the same DEKs come out; the old master unwraps no KEK any more.
  Keyring renewed(*next, *store_, clock_);
  EXPECT_TRUE(renewed.UnwrapKey(a->id, 1)->Equals(*dek_a));
  EXPECT_TRUE(renewed.UnwrapKey(b->id, 1)->Equals(*dek_b));
  EXPECT_TRUE(keyring_->UnwrapKey(a->id, 1).status().IsAuthFailed());
  const std::string files = StoreFileBytes(dir_.path());
  for (const auto& w : old_keks) EXPECT_FALSE(Contains(files, w));
  // Run again (an interrupted rotation finished): nothing left to do, old master not needed.
  auto again = RewrapKeks(*store_, nullptr, *next, clock_, "test");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 0u);
  // A master key that matches nothing changes nothing.
  testing::TempDir wrong_dir;
  auto wrong = MasterKey::Create(wrong_dir.path(), std::nullopt);
  EXPECT_TRUE(RewrapKeks(*store_, &*wrong, *wrong, clock_, "test").status().IsAuthFailed());
  EXPECT_TRUE(renewed.UnwrapKey(a->id, 1)->Equals(*dek_a));
  // Audited, in the chain.
  std::size_t audited = 0;
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(auto recs, ListAuditRecords(txn, 0, 100));
                    for (const auto& r : recs) audited += r.action == "rotate-master" ? 1u : 0u;
                    return VerifyAuditChain(txn);
                  })
                  .ok());
  EXPECT_EQ(audited, 2u);
}

TEST_F(KeyringTest, MasterKeyFilesInstallAndAnInterruptedRotationIsPending) {
  const std::string dir = dir_.path();
  EXPECT_FALSE(MasterKey::RotationPending(dir));
  ASSERT_EQ(::mkdir(MasterKey::NextDir(dir).c_str(), 0700), 0);
  auto next = MasterKey::Create(MasterKey::NextDir(dir), std::string("new passphrase"),
                                ScryptParams{1u << 10, 8, 1});
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(MasterKey::RotationPending(dir));
  ASSERT_TRUE(MasterKey::InstallNext(dir).ok());
  EXPECT_FALSE(MasterKey::RotationPending(dir));
  EXPECT_FALSE(FileExists(MasterKey::NextDir(dir)));
  // The data dir now holds the passphrase master (its key file removed).
  EXPECT_FALSE(FileExists(dir + "/" + MasterKey::kKeyFile));
  EXPECT_TRUE(MasterKey::Open(dir, std::nullopt).status().IsInvalidArgument());
  auto opened = MasterKey::Open(dir, std::string("new passphrase"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->key().Equals(next->key()));
}

}  // namespace
}  // namespace cafs::kps
