// ApiFixture: the key & policy server core in a temporary directory, for tests that talk to
// the RestApi (in process or through the TLS listener): master key, CA, SQLite store,
// keyring and RestApi, created by SetUpApi() (call it first in SetUp; it asserts).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "kps/rest_api.h"
#include "unit/kps/test_dir.h"

namespace cafs::kps::testing {

class ApiFixture : public ::testing::Test {
 protected:
  void SetUpApi() {
    const std::string& dir = dir_.path();
    auto mk = MasterKey::Create(dir, std::nullopt);
    ASSERT_TRUE(mk.ok()) << mk.status().ToString();
    master_.emplace(std::move(mk).value());
    auto ca = CertificateAuthority::Create(dir, {});
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    ca_.emplace(std::move(ca).value());
    auto st = OpenStore("", dir);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    keyring_.emplace(*master_, *store_, SystemClock::Instance());
    api_.emplace(*keyring_, *store_, *ca_, SystemClock::Instance());
  }

  TempDir dir_;
  std::optional<MasterKey> master_;
  std::optional<CertificateAuthority> ca_;
  std::unique_ptr<Store> store_;
  std::optional<Keyring> keyring_;
  std::optional<RestApi> api_;
};

}  // namespace cafs::kps::testing
