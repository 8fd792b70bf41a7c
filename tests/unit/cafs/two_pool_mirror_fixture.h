// TwoPoolMirrorFixture: what the tests of mirrored files share (tests/unit/cafs/mirror_test.cc,
// tests/unit/jobs/resync_job_test.cc): a temporary directory with a backing store
// (`backing/vs/vm1`) and two pool directories (`pools/pool_a`, `pools/pool_b`), a random
// 64-byte data key and its key GUID, the placement of a file mirrored in pool_a (primary) and
// pool_b, and byte helpers. The tests build their own PoolMappers, Volume and jobs over it.
// Ownership: the fixture owns the directory (removed by RemoveDirs, called from TearDown).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "cafs/volume.h"
#include "crypto/rng.h"
#include "util/secure_buffer.h"
#include "util/uuid.h"

namespace cafs::testing {

class TwoPoolMirrorFixture : public ::testing::Test {
 protected:
  static constexpr char kPoolA[] = "pool_a";
  static constexpr char kPoolB[] = "pool_b";

  // Makes the directories under /tmp/<prefix>-XXXXXX and the key (call from SetUp).
  void MakeDirsAndKey(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (const char* sub : {"backing/vs/vm1", "pools/pool_a", "pools/pool_b"}) {
      std::filesystem::create_directories(dir_ / sub);
    }
    std::vector<std::uint8_t> key(64);
    ASSERT_TRUE(crypto::RandomBytes(key).ok());
    dek_ = SecureBuffer(key.data(), key.size());
    key_guid_ = Uuid::Random();
  }
  void RemoveDirs() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A new file in pool_a with its copy in pool_b, AES-256-XTS under the fixture's key.
  core::Placement MirroredPlacement() const {
    core::Placement p;
    p.pool = kPoolA;
    p.replica_pools = {kPoolB};
    p.params.key_guid = key_guid_;
    p.params.key_version = 1;
    p.params.cipher = crypto::CipherId::kAes256Xts;
    p.dek = &dek_;
    return p;
  }

  static std::string Random(std::size_t n, std::mt19937_64& rng) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }
  static std::string Slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  SecureBuffer dek_;
  Uuid key_guid_;
};

}  // namespace cafs::testing
