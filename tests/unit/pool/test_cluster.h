// The test cluster of the CTest fixture `ceph` (tests/integration/lib/ceph.sh), for the pool
// tests that run against it: its directory comes in CAFS_TEST_CEPH_DIR; its radosgw's user and
// bucket are in DIR/s3/ (DIR/s3-error says why radosgw did not start).
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include "pool/pool_kinds.h"

namespace cafs::pool::testing {

inline std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The fixture's directory for the tests of `kind`; empty with the reason in *why when the kind
// is not built or the cluster is not up (the test then skips). `test` names the CTest test that
// runs it with the fixture, for the message.
inline std::filesystem::path TestClusterDir(std::string_view kind, std::string_view test,
                                            std::string* why) {
  if (BuiltinPoolKinds().Find(kind) == nullptr) {
    *why = "the " + std::string(kind) +
           " pool kind is not built (its library was missing at configure)";
    return {};
  }
  const char* dir = std::getenv("CAFS_TEST_CEPH_DIR");
  if (dir == nullptr || !std::filesystem::exists(std::filesystem::path(dir) / "ready")) {
    *why = "no test cluster: CAFS_TEST_CEPH_DIR unset or the fixture did not start (ctest -R " +
           std::string(test) + " runs it with the `ceph` fixture)";
    return {};
  }
  return dir;
}

// The keys of an s3 [[pool]] table on the cluster's radosgw (endpoint, bucket, access_key,
// secret_key_file), once its set-up (in the background of the fixture's start) is done: waits
// at most 90 s for DIR/s3/ready. Empty with the reason in *why when radosgw did not start.
inline std::map<std::string, std::string> TestS3Settings(const std::filesystem::path& dir,
                                                         std::string* why) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (!std::filesystem::exists(dir / "s3" / "ready") &&
         !std::filesystem::exists(dir / "s3-error")) {
    if (std::chrono::steady_clock::now() > deadline) {
      *why = "radosgw set-up not done within 90 s (" + (dir / "logs/setup.log").string() + ")";
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (std::filesystem::exists(dir / "s3-error")) {
    *why = "radosgw did not start: " + ReadText(dir / "s3-error");
    return {};
  }
  const std::filesystem::path s3 = dir / "s3";
  return {{"endpoint", ReadText(s3 / "endpoint")},
          {"bucket", ReadText(s3 / "bucket")},
          {"access_key", ReadText(s3 / "access_key")},
          {"secret_key_file", (s3 / "secret_key").string()}};
}

}  // namespace cafs::pool::testing
