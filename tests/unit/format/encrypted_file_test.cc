// EncryptedFile against an in-memory model of the plaintext, for every cipher and both
// sector sizes; concurrency on PosixEnv; sparse files.
#include "format/encrypted_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "env/mem_env.h"
#include "env/posix_env.h"
#include "unit/env/temp_dir.h"
#include "unit/format/test_util.h"

namespace cafs::format {
namespace {

using testing::CipherAndSector;

class EncryptedFileModelTest : public ::testing::TestWithParam<CipherAndSector> {
 protected:
  crypto::CipherId cipher() const { return std::get<0>(GetParam()); }
  std::uint32_t sector() const { return std::get<1>(GetParam()); }

  std::unique_ptr<EncryptedFile> CreateFile(env::Env& env, const std::string& path) {
    CreateParams p;
    p.cipher = cipher();
    p.sector_size = sector();
    p.key_guid = Uuid::Random();
    p.kps_locator = "kps://test";
    auto f = env.OpenFile(path, env::OpenOptions::CreateNew());
    EXPECT_TRUE(f.ok());
    auto ef = EncryptedFile::Create(std::move(f).value(), p, dek_);
    EXPECT_TRUE(ef.ok()) << ef.status().ToString();
    return std::move(ef).value();
  }
  std::unique_ptr<EncryptedFile> OpenFile(env::Env& env, const std::string& path) {
    auto f = env.OpenFile(path, env::OpenOptions::ReadWrite());
    EXPECT_TRUE(f.ok());
    auto ef = EncryptedFile::Open(std::move(f).value(), dek_);
    EXPECT_TRUE(ef.ok()) << ef.status().ToString();
    return std::move(ef).value();
  }

  SecureBuffer dek_ = testing::TestDek(std::get<0>(GetParam()));
};

void ExpectMatches(EncryptedFile& ef, const std::vector<std::uint8_t>& model, std::uint64_t off,
                   std::size_t len, const std::string& what) {
  std::vector<std::uint8_t> got(len, 0xcc);
  auto n = ef.Read(off, got);
  ASSERT_TRUE(n.ok()) << what << ": " << n.status().ToString();
  const std::size_t want = off >= model.size() ? 0 : std::min<std::size_t>(len, model.size() - off);
  ASSERT_EQ(*n, want) << what;
  ASSERT_TRUE(std::equal(
      got.begin(), got.begin() + static_cast<std::ptrdiff_t>(want),
      model.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(off, model.size()))))
      << what << " differs at read " << off << "+" << len;
}

TEST_P(EncryptedFileModelTest, RandomOperationsMatchModel) {
  env::MemEnv env;
  auto ef = CreateFile(env, "/pool");
  std::vector<std::uint8_t> model;
  std::mt19937_64 rng(0xCAF5 + static_cast<unsigned>(cipher()) * 10 + sector());
  const int ops = std::max(60, static_cast<int>(1000 * testing::TestScale()));
  constexpr std::uint64_t kMaxSize = 6 << 20;
  const std::uint64_t ss = sector();
  auto pick_size = [&]() -> std::size_t {
    switch (rng() % 4) {
      case 0:
        return 1 + rng() % 64;  // tiny
      case 1:
        return static_cast<std::size_t>(ss * (1 + rng() % 8));  // whole sectors
      case 2:
        return 1 + rng() % (64 * 1024);
      default:
        return 1 + rng() % (1 << 20);  // up to 1 MiB
    }
  };
  auto pick_offset = [&]() -> std::uint64_t {
    const std::uint64_t limit = std::min<std::uint64_t>(model.size() + (1 << 20), kMaxSize);
    std::uint64_t off = rng() % (limit + 1);
    if (rng() % 3 == 0) off = off / ss * ss;  // aligned
    return off;
  };
  for (int i = 0; i < ops; ++i) {
    const int op = static_cast<int>(rng() % 10);
    const std::string what = "op " + std::to_string(i);
    if (op < 5) {
      std::uint64_t off = pick_offset();
      std::size_t len = pick_size();
      if (off + len > kMaxSize) len = static_cast<std::size_t>(kMaxSize - off) + 1;
      std::vector<std::uint8_t> data(len);
      for (auto& b : data) b = static_cast<std::uint8_t>(rng());
      if (rng() % 8 == 0) std::fill(data.begin(), data.end(), 0);  // zeros are data too
      ASSERT_TRUE(ef->Write(off, data).ok()) << what;
      if (model.size() < off + len) model.resize(off + len, 0);
      std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(off));
    } else if (op < 8) {
      ExpectMatches(*ef, model, pick_offset(), pick_size(), what);
    } else if (op == 8) {
      const std::uint64_t n =
          rng() % 2 == 0 ? rng() % (model.size() + 1) : model.size() + rng() % (256 * 1024);
      ASSERT_TRUE(ef->Truncate(n).ok()) << what;
      model.resize(n, 0);
    } else {
      ASSERT_TRUE(ef->Sync().ok());
      ef.reset();
      ef = OpenFile(env, "/pool");
      ASSERT_EQ(ef->durable_size(), model.size()) << what;
    }
    ASSERT_EQ(ef->Size(), model.size()) << what;
  }
  ExpectMatches(*ef, model, 0, model.size() + 10, "final");
}

TEST_P(EncryptedFileModelTest, HoleAndEdgeCases) {
  env::MemEnv env;
  auto ef = CreateFile(env, "/pool");
  const std::uint64_t ss = sector();
  // Write far out: the gap is a hole of zeros, not stored.
  ASSERT_TRUE(ef->Write(10 * ss + 3, AsBytes("abc")).ok());
  EXPECT_EQ(ef->Size(), 10 * ss + 6);
  std::vector<std::uint8_t> buf(10 * ss + 6);
  ASSERT_EQ(*ef->Read(0, buf), buf.size());
  EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(10 * ss + 3),
                          [](auto b) { return b == 0; }));
  // Reads past EOF are short / empty; zero-length I/O is fine.
  EXPECT_EQ(*ef->Read(10 * ss + 5, buf), 1u);
  EXPECT_EQ(*ef->Read(1 << 30, buf), 0u);
  EXPECT_TRUE(ef->Write(5, ByteView()).ok());
  EXPECT_EQ(ef->Size(), 10 * ss + 6);
  // Truncate into the middle of a sector, then grow: the tail reads as zeros.
  ASSERT_TRUE(ef->Truncate(10 * ss + 4).ok());
  ASSERT_TRUE(ef->Truncate(12 * ss).ok());
  std::vector<std::uint8_t> tail(4);
  ASSERT_EQ(*ef->Read(10 * ss + 3, tail), 4u);
  EXPECT_EQ(tail, (std::vector<std::uint8_t>{'a', 0, 0, 0}));
  // Offsets beyond the 2^62 limit are refused.
  EXPECT_TRUE(ef->Write(kMaxLogicalSize, AsBytes("x")).IsInvalidArgument());
  // The pool file never holds a plaintext copy (except cipher none).
  ASSERT_TRUE(ef->Write(0, AsBytes("SECRET-MARKER-SECRET-MARKER")).ok());
  ASSERT_TRUE(ef->Sync().ok());
  auto raw = env.OpenFile("/pool", env::OpenOptions::ReadOnly());
  std::vector<std::uint8_t> disk(*(*raw)->Size());
  ASSERT_EQ(*(*raw)->ReadAt(0, disk), disk.size());
  const std::string marker = "SECRET-MARKER";
  const bool found =
      std::search(disk.begin(), disk.end(), marker.begin(), marker.end()) != disk.end();
  EXPECT_EQ(found, cipher() == crypto::CipherId::kNone);
}

TEST_P(EncryptedFileModelTest, ReadOnlyOpenRejectsWrites) {
  env::MemEnv env;
  { ASSERT_TRUE(CreateFile(env, "/pool")->Write(0, AsBytes("data")).ok()); }
  auto ef =
      EncryptedFile::Open(testing::Must(env.OpenFile("/pool", env::OpenOptions::ReadOnly())), dek_,
                          OpenParams{.expected_key_guid = std::nullopt, .read_only = true});
  ASSERT_TRUE(ef.ok()) << ef.status().ToString();
  EXPECT_EQ((*ef)->Write(0, AsBytes("x")).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*ef)->Size(), 0u);  // the write was never synced: header still says 0
}

// docs/format.md 2.1: an unbound file (vm_set_id nil) is bound to a VM set in place; the
// data and size stay; a bind interrupted after block 0 (the MAC still over the nil id) opens
// as unbound and binds again; a bound file is not re-bound to another VM set.
TEST_P(EncryptedFileModelTest, BindVmSetInPlaceAndAfterAnInterruptedBind) {
  env::MemEnv env;
  const Uuid id = Uuid::Random();
  {
    auto ef = CreateFile(env, "/pool");
    ASSERT_TRUE(ef->Write(0, AsBytes("data")).ok());
    ASSERT_TRUE(ef->Sync().ok());
    EXPECT_TRUE(ef->header().vm_set_id.IsNil());
  }
  auto raw = [&] {
    auto f = testing::Must(env.OpenFile("/pool", env::OpenOptions::ReadOnly()));
    std::vector<std::uint8_t> b(kHeaderSize);
    EXPECT_TRUE(f->ReadAt(0, b).ok());
    return b;
  };
  const std::vector<std::uint8_t> unbound = raw();
  {
    auto ef = OpenFile(env, "/pool");
    ASSERT_TRUE(ef->BindVmSet(id).ok());
    EXPECT_TRUE(ef->BindVmSet(id).ok());  // idempotent
    EXPECT_EQ(ef->BindVmSet(Uuid::Random()).code(), Status::Code::kFailedPrecondition);
  }
  const std::vector<std::uint8_t> bound = raw();
  {
    auto ef = OpenFile(env, "/pool");
    EXPECT_EQ(ef->header().vm_set_id, id);
    EXPECT_EQ(ef->Size(), 4u);
    ExpectMatches(*ef, {'d', 'a', 't', 'a'}, 0, 4, "bound");
  }
  // The crash between the two writes: block 0 of the bound header, tail of the unbound one.
  {
    auto f = testing::Must(env.OpenFile("/pool", env::OpenOptions::ReadWrite()));
    ASSERT_TRUE(f->WriteAt(0, ByteView(bound).first(512)).ok());
    ASSERT_TRUE(f->WriteAt(3584, ByteView(unbound).subspan(3584)).ok());
  }
  {
    auto ef = OpenFile(env, "/pool");
    EXPECT_TRUE(ef->header().vm_set_id.IsNil());
    ExpectMatches(*ef, {'d', 'a', 't', 'a'}, 0, 4, "interrupted bind");
    ASSERT_TRUE(ef->BindVmSet(id).ok());
  }
  EXPECT_EQ(OpenFile(env, "/pool")->header().vm_set_id, id);
  // A forged id in block 0 of a bound file (MAC over the real id) does not verify.
  {
    std::vector<std::uint8_t> forged = bound;
    forged[40] ^= 1;
    auto f = testing::Must(env.OpenFile("/pool", env::OpenOptions::ReadWrite()));
    ASSERT_TRUE(f->WriteAt(0, ByteView(forged).first(512)).ok());
  }
  auto f = testing::Must(env.OpenFile("/pool", env::OpenOptions::ReadWrite()));
  EXPECT_TRUE(EncryptedFile::Open(std::move(f), dek_).status().IsAuthFailed());
}

INSTANTIATE_TEST_SUITE_P(
    AllCiphers, EncryptedFileModelTest,
    ::testing::Combine(::testing::ValuesIn(testing::AllCiphers()),
                       ::testing::Values(std::uint32_t{512}, std::uint32_t{4096})),
    [](const auto& param_info) { return testing::ParamName(param_info.param); });

// --- concurrency on a real file ---

std::unique_ptr<EncryptedFile> NewPosixFile(const std::string& path, crypto::CipherId cipher,
                                            const SecureBuffer& dek) {
  auto f = env::Env::Default()->OpenFile(path, env::OpenOptions::CreateNew());
  EXPECT_TRUE(f.ok());
  CreateParams p;
  p.cipher = cipher;
  auto ef = EncryptedFile::Create(std::move(f).value(), p, dek);
  EXPECT_TRUE(ef.ok());
  return std::move(ef).value();
}

TEST(EncryptedFileConcurrencyTest, DisjointUnalignedRangesAllIntact) {
  env::testing::TempDir tmp;
  const auto dek = testing::TestDek(crypto::CipherId::kAes256Xts);
  auto ef = NewPosixFile(tmp.path() + "/c", crypto::CipherId::kAes256Xts, dek);
  constexpr int kThreads = 4;
  const int rounds = std::max(50, static_cast<int>(1000 * testing::TestScale()));
  // Thread t owns bytes [t*1000 + k*4000, +1000) for all k: ranges share sectors with
  // neighbours, so correctness depends on the sector range lock.
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::uint8_t> chunk(1000);
      for (int r = 0; r < rounds; ++r) {
        const std::uint64_t k = rng() % 64;
        const std::uint64_t off = static_cast<std::uint64_t>(t) * 1000 + k * 4000;
        std::fill(chunk.begin(), chunk.end(),
                  static_cast<std::uint8_t>(static_cast<std::uint64_t>(t) * 64 + k));
        ASSERT_TRUE(ef->Write(off, chunk).ok());
        std::vector<std::uint8_t> back(1000);
        ASSERT_EQ(*ef->Read(off, back), 1000u);
        ASSERT_EQ(back, chunk) << "thread " << t << " round " << r;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::uint8_t> all(ef->Size());
  ASSERT_EQ(*ef->Read(0, all), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::uint64_t k = i / 4000, t = (i % 4000) / 1000;
    ASSERT_TRUE(all[i] == 0 ||
                all[i] == static_cast<std::uint8_t>(static_cast<std::uint64_t>(t) * 64 + k))
        << "byte " << i;
  }
}

TEST(EncryptedFileConcurrencyTest, OverlappingWritesEndInASerialOrderPerSector) {
  env::testing::TempDir tmp;
  const auto dek = testing::TestDek(crypto::CipherId::kAes128CbcEssiv);
  auto ef = NewPosixFile(tmp.path() + "/o", crypto::CipherId::kAes128CbcEssiv, dek);
  constexpr int kThreads = 4;
  constexpr std::uint64_t kSpan = 16 * 4096;
  const int rounds = std::max(20, static_cast<int>(200 * testing::TestScale()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(100 + t));
      for (int r = 0; r < rounds; ++r) {
        // Sector-aligned writes of whole sectors with one fill byte per write.
        const std::uint64_t first = rng() % 16, count = 1 + rng() % (16 - first);
        std::vector<std::uint8_t> data(count * 4096, static_cast<std::uint8_t>(1 + t));
        ASSERT_TRUE(ef->Write(first * 4096, data).ok());
        // Unaligned overlapping small writes too.
        const std::uint64_t off = rng() % kSpan;
        std::vector<std::uint8_t> small(1 + rng() % 100, static_cast<std::uint8_t>(1 + t));
        ASSERT_TRUE(ef->Write(off, small).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  // Each byte holds one writer's value and decrypts cleanly (no torn sectors).
  std::vector<std::uint8_t> all(ef->Size());
  ASSERT_EQ(*ef->Read(0, all), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_LE(all[i], kThreads) << "byte " << i << " is garbage: torn sector";
  }
}

TEST(EncryptedFileSparseTest, WriteAtOneGibStaysSmallOnDisk) {
  env::testing::TempDir tmp;
  const std::string path = tmp.path() + "/sparse";
  const auto dek = testing::TestDek(crypto::CipherId::kAes256Xts);
  auto ef = NewPosixFile(path, crypto::CipherId::kAes256Xts, dek);
  ASSERT_TRUE(ef->Write(std::uint64_t{1} << 30, AsBytes("far away")).ok());
  ASSERT_TRUE(ef->Sync().ok());
  auto info = env::Env::Default()->Stat(path);
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->size, std::uint64_t{1} << 30);
  EXPECT_LT(info->allocated_bytes, std::uint64_t{1} << 20);
  std::vector<std::uint8_t> buf(8192);
  ASSERT_EQ(*ef->Read((std::uint64_t{1} << 30) - 8192, buf), 8192u);
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](auto b) { return b == 0; }));
}

}  // namespace
}  // namespace cafs::format
