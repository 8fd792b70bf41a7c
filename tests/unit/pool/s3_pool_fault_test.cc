// The s3 pool kind under faults (docs/pools.md "s3", "Faults"), against the radosgw of the test
// cluster (CAFS_TEST_CEPH_DIR, the CTest fixture `ceph`), through a fault-injecting proxy of our
// own (tests/integration/lib/s3_fault_proxy.py) that answers 500/503 or drops connections for a
// number of requests:
//  - transient 503s, 500s and dropped connections are retried with backoff, then succeed;
//  - a persistent failure is a clear error (Unavailable naming the pool, the status and the
//    number of attempts), and a staged file that could not be uploaded uploads at the next Sync;
//  - bad credentials, a missing bucket and an endpoint nobody listens on are clear errors at
//    CheckAvailable (cafsd start-up), and the secret never appears in a message.
// CTest runs this binary as s3_pool_faults; without the cluster every case skips.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "pool/pool_kinds.h"
#include "source_dir.h"
#include "unit/pool/test_cluster.h"

namespace cafs::pool {
namespace {

namespace fs = std::filesystem;

using testing::ReadText;

Bytes Pattern(std::size_t n, std::uint32_t seed) {
  Bytes b(n);
  std::mt19937 rng(seed);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

class S3PoolFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    const fs::path dir = testing::TestClusterDir("s3", "s3_pool_faults", &why);
    if (dir.empty()) GTEST_SKIP() << why;
    radosgw_ = testing::TestS3Settings(dir, &why);
    ASSERT_FALSE(radosgw_.empty()) << why;
    work_ = fs::temp_directory_path() / ("cafs-s3-faults-" + std::to_string(::getpid()));
    fs::create_directories(work_);
    SetControl("pass", 0, 0);
    StartProxy();
  }

  void TearDown() override {
    if (proxy_ > 0) {
      ::kill(proxy_, SIGTERM);
      ::waitpid(proxy_, nullptr, 0);
    }
    if (pool_ != nullptr) {
      SetControl("pass", 0, 0);
      auto names = pool_->ListDir("");
      if (names.ok()) {
        for (const auto& n : *names) (void)pool_->RemoveFile(n);
      }
    }
    if (!work_.empty()) fs::remove_all(work_);
  }

  void StartProxy() {
    const std::string port_file = (work_ / "port").string();
    const std::string control = (work_ / "control").string();
    const std::string upstream = radosgw_["endpoint"];
    const std::string script =
        std::string(cafs::testing::SourceDir()) + "/tests/integration/lib/s3_fault_proxy.py";
    proxy_ = ::fork();
    ASSERT_GE(proxy_, 0);
    if (proxy_ == 0) {
      ::execlp("python3", "python3", script.c_str(), "--upstream", upstream.c_str(), "--control",
               control.c_str(), "--port-file", port_file.c_str(), "--lifetime", "240",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(fs::exists(port_file)) << "the fault proxy did not start";
    proxy_endpoint_ = "http://127.0.0.1:" + ReadText(port_file);
  }

  // Asks the proxy for `count` faults (-1: all) from now on.
  void SetControl(const std::string& mode, int status, int count) {
    ++gen_;
    std::ofstream out(work_ / "control.tmp");
    out << "{\"gen\": " << gen_ << ", \"mode\": \"" << mode << "\", \"status\": " << status
        << ", \"count\": " << count << "}\n";
    out.close();
    fs::rename(work_ / "control.tmp", work_ / "control");
  }

  // Faults served in the current generation.
  int Served() {
    const std::string text = ReadText(work_ / "control.served");
    const auto space = text.find(' ');
    if (space == std::string::npos || std::stoi(text.substr(0, space)) != gen_) return 0;
    return std::stoi(text.substr(space + 1));
  }

  std::map<std::string, std::string> Settings(const std::string& endpoint, int retries) {
    auto values = radosgw_;
    values["endpoint"] = endpoint;
    values.insert({{"prefix", "faults-" + std::to_string(::getpid())},
                   {"staging_dir", work_.string()},
                   {"part_size_mib", "5"},
                   {"retries", std::to_string(retries)},
                   {"retry_base_ms", "20"},
                   {"op_timeout_s", "10"}});
    return values;
  }

  std::unique_ptr<Pool> Make(std::map<std::string, std::string> values) {
    auto pool = BuiltinPoolKinds().Create({"cloud", "s3", std::move(values)}, env::Env::Default());
    EXPECT_TRUE(pool.ok()) << pool.status().ToString();
    return pool.ok() ? std::move(*pool) : nullptr;
  }

  void UseProxy(int retries) {
    pool_ = Make(Settings(proxy_endpoint_, retries));
    ASSERT_NE(pool_, nullptr);
    ASSERT_TRUE(pool_->CheckAvailable().ok()) << pool_->CheckAvailable().ToString();
  }

  Bytes ReadBack(const std::string& path, std::size_t n) {
    auto f = pool_->OpenFile(path, env::OpenOptions::ReadOnly());
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) return {};
    Bytes out(n + 1);
    auto got = (*f)->ReadAt(0, out);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    out.resize(got.ok() ? *got : 0);
    return out;
  }

  std::map<std::string, std::string> radosgw_;  // the keys of a pool on the radosgw
  fs::path work_;
  pid_t proxy_ = -1;
  std::string proxy_endpoint_;
  int gen_ = 0;
  std::unique_ptr<Pool> pool_;
};

TEST_F(S3PoolFaultTest, TransientErrorsAreRetriedThenSucceed) {
  UseProxy(5);
  const Bytes data = Pattern(7 << 20, 1);  // above the part size: a multipart upload
  auto f = pool_->OpenFile("a", env::OpenOptions::CreateNew());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->WriteAt(0, data).ok());
  SetControl("status", 503, 3);
  Status synced = (*f)->Sync();
  EXPECT_TRUE(synced.ok()) << synced.ToString();
  EXPECT_EQ(Served(), 3);
  f->reset();
  SetControl("status", 500, 2);
  EXPECT_EQ(ReadBack("a", data.size()), data);
  EXPECT_EQ(Served(), 2);
  SetControl("reset", 0, 2);  // connections dropped without an answer
  auto info = pool_->Stat("a");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, data.size());
  EXPECT_EQ(Served(), 2);
}

TEST_F(S3PoolFaultTest, PersistentFailureIsAClearErrorAndSyncTriesAgain) {
  UseProxy(2);
  auto f = pool_->OpenFile("b", env::OpenOptions::CreateNew());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const Bytes data = Pattern(64 << 10, 2);
  ASSERT_TRUE((*f)->WriteAt(0, data).ok());
  SetControl("status", 500, -1);
  Status synced = (*f)->Sync();
  ASSERT_FALSE(synced.ok());
  EXPECT_EQ(synced.code(), Status::Code::kUnavailable) << synced.ToString();
  EXPECT_NE(synced.message().find("'cloud'"), std::string::npos) << synced.message();
  EXPECT_NE(synced.message().find("HTTP 500"), std::string::npos) << synced.message();
  EXPECT_NE(synced.message().find("after 3 attempts"), std::string::npos) << synced.message();
  EXPECT_EQ(Served(), 3);
  auto other = pool_->OpenFile("c", env::OpenOptions::CreateNew());
  EXPECT_EQ(other.status().code(), Status::Code::kUnavailable) << other.status().ToString();
  // Dropped connections alike: a curl error, not an HTTP status.
  SetControl("reset", 0, -1);
  Status stat = pool_->Stat("b").status();
  EXPECT_EQ(stat.code(), Status::Code::kUnavailable) << stat.ToString();
  EXPECT_NE(stat.message().find("after 3 attempts"), std::string::npos) << stat.message();
  // The service is back: the changes not uploaded are still staged and the next Sync sends them.
  SetControl("pass", 0, 0);
  synced = (*f)->Sync();
  ASSERT_TRUE(synced.ok()) << synced.ToString();
  f->reset();
  EXPECT_EQ(ReadBack("b", data.size()), data);
}

TEST_F(S3PoolFaultTest, BadCredentialsAreAClearErrorAtStart) {
  const fs::path wrong = work_ / "wrong_secret";
  const std::string wrong_secret = "0123456789abcdef0123456789abcdef01234567";
  std::ofstream(wrong) << wrong_secret << "\n";
  const std::string secret = ReadText(radosgw_["secret_key_file"]);
  struct Case {
    std::string key, value, code, hint;
  };
  const Case cases[] = {
      {"secret_key_file", wrong.string(), "SignatureDoesNotMatch", "secret_key_file"},
      {"access_key", "NOSUCHKEYCAFSTEST", "InvalidAccessKeyId", "access_key"},
      {"bucket", "cafs-no-such-bucket", "NoSuchBucket", "create it first"},
  };
  for (const Case& c : cases) {
    auto values = Settings(radosgw_["endpoint"], 1);
    values[c.key] = c.value;
    auto pool = Make(values);
    ASSERT_NE(pool, nullptr) << c.key;
    Status s = pool->CheckAvailable();
    EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find(c.code), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.hint), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(wrong_secret), std::string::npos) << "the secret leaked";
    EXPECT_EQ(s.message().find(secret), std::string::npos) << "the secret leaked";
  }
}

TEST_F(S3PoolFaultTest, NobodyListeningIsUnavailableAfterTheRetries) {
  auto pool = Make(Settings("http://127.0.0.1:9", 2));  // discard port: nothing listens
  ASSERT_NE(pool, nullptr);
  Status s = pool->CheckAvailable();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("after 3 attempts"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'cloud'"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace cafs::pool
