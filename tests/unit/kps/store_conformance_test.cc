// One conformance suite for every Store back-end: SQLite (always) and PostgreSQL (a real
// server started from the Debian package; skipped with the reason when it cannot start).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <thread>

#include "kps/catalog.h"
#include "kps/keyring.h"
#include "kps/pool_registry.h"
#include "kps/vmset_identity.h"
#include "unit/kps/postgres_server.h"
#include "unit/kps/test_dir.h"

namespace cafs::kps {
namespace {

class StoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      spec_ = "sqlite:" + dir_.path() + "/kps.db";
    } else {
      std::string why;
      testing::PostgresServer* server = testing::PostgresServer::Shared(&why);
      if (server == nullptr) GTEST_SKIP() << "PostgreSQL store not tested: " << why;
      spec_ = server->uri();
      // Each test starts from empty tables (the server is shared within this process).
      PGconn* c = PQconnectdb(spec_.c_str());
      ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
      PQclear(PQexec(c, "SET client_min_messages = warning"));
      PQclear(PQexec(c, "DROP TABLE IF EXISTS kps_objects, kps_audit"));
      PQfinish(c);
    }
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  Result<std::unique_ptr<Store>> Open() { return OpenStore(spec_, dir_.path()); }

  Result<StoredObject> Get(ObjectKind kind, const std::string& id) {
    StoredObject out;
    CAFS_RETURN_IF_ERROR(store_->InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(out, txn.Get(kind, id));
      return Status::OK();
    }));
    return out;
  }
  Result<std::uint64_t> Put(ObjectKind kind, const std::string& id, const std::string& body,
                            std::uint64_t expected) {
    std::uint64_t v = 0;
    CAFS_RETURN_IF_ERROR(store_->InTransaction([&](StoreTxn& txn) -> Status {
      CAFS_ASSIGN_OR_RETURN(v, txn.Put(kind, id, body, expected));
      return Status::OK();
    }));
    return v;
  }

  // A keyring over this store with a new master key (keyring_).
  void NewKeyring() {
    auto mk = MasterKey::Create(dir_.path(), std::nullopt);
    ASSERT_TRUE(mk.ok()) << mk.status().ToString();
    master_.emplace(std::move(mk).value());
    keyring_.emplace(*master_, *store_, clock_);
  }

  testing::TempDir dir_;
  std::string spec_;
  std::unique_ptr<Store> store_;
  ManualClock clock_{Clock::TimePoint(std::chrono::seconds(1700000000))};
  std::optional<MasterKey> master_;
  std::optional<Keyring> keyring_;
};

TEST_P(StoreConformanceTest, CreateGetListDelete) {
  ASSERT_EQ(*Put(ObjectKind::kServer, "b", R"({"id":"b"})", 0), 1u);
  ASSERT_EQ(*Put(ObjectKind::kServer, "a", R"({"id":"a"})", 0), 1u);
  ASSERT_EQ(*Put(ObjectKind::kGateway, "a", R"({"name":"a"})", 0), 1u);
  auto got = Get(ObjectKind::kServer, "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->body, R"({"id":"a"})");
  EXPECT_EQ(got->version, 1u);
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    auto all = txn.List(ObjectKind::kServer);
                    EXPECT_TRUE(all.ok());
                    EXPECT_EQ(all->size(), 2u);
                    EXPECT_EQ((*all)[0].id, "a");
                    EXPECT_EQ((*all)[1].id, "b");
                    return txn.Delete(ObjectKind::kServer, "a", 1);
                  })
                  .ok());
  EXPECT_TRUE(Get(ObjectKind::kServer, "a").status().IsNotFound());
  EXPECT_TRUE(Get(ObjectKind::kGateway, "a").ok()) << "kinds are separate namespaces";
  EXPECT_TRUE(Get(ObjectKind::kServer, "zz").status().IsNotFound());
}

TEST_P(StoreConformanceTest, CreateTwiceIsAlreadyExists) {
  ASSERT_TRUE(Put(ObjectKind::kVmSet, "v", "{}", 0).ok());
  EXPECT_EQ(Put(ObjectKind::kVmSet, "v", "{}", 0).status().code(), Status::Code::kAlreadyExists);
}

TEST_P(StoreConformanceTest, StaleVersionConflictsAndLosesNothing) {
  ASSERT_TRUE(Put(ObjectKind::kVmSet, "v", R"({"n":0})", 0).ok());
  // Two writers both read version 1.
  ASSERT_EQ(*Put(ObjectKind::kVmSet, "v", R"({"n":"first"})", 1), 2u);
  auto second = Put(ObjectKind::kVmSet, "v", R"({"n":"second"})", 1);
  EXPECT_TRUE(IsConflict(second.status())) << second.status().ToString();
  EXPECT_EQ(Get(ObjectKind::kVmSet, "v")->body, R"({"n":"first"})");
  EXPECT_TRUE(Put(ObjectKind::kVmSet, "missing", "{}", 3).status().IsNotFound());
  Status del =
      store_->InTransaction([&](StoreTxn& txn) { return txn.Delete(ObjectKind::kVmSet, "v", 1); });
  EXPECT_TRUE(IsConflict(del));
  EXPECT_TRUE(Get(ObjectKind::kVmSet, "v").ok());
}

TEST_P(StoreConformanceTest, FailedTransactionRollsBack) {
  Status s = store_->InTransaction([&](StoreTxn& txn) -> Status {
    CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kKey, "k", "{}", 0).status());
    CAFS_RETURN_IF_ERROR(txn.AppendAudit(R"({"x":1})").status());
    return Status::InvalidArgument("changed my mind");
  });
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_TRUE(Get(ObjectKind::kKey, "k").status().IsNotFound());
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    EXPECT_TRUE(txn.LastAudit().status().IsNotFound());
                    return Status::OK();
                  })
                  .ok());
}

// Every way a transaction body can end leaves no transaction open: an error status, an
// exception (it comes back as Internal), a failing statement (a Put of an existing id) and
// a write of text the back-end refuses (PostgreSQL: non-UTF-8) - each followed by a
// transaction that must work.
TEST_P(StoreConformanceTest, EveryFailedBodyEndsItsTransaction) {
  const std::vector<std::function<Status(StoreTxn&)>> bodies = {
      [](StoreTxn& txn) -> Status {
        CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kKey, "k", "{}", 0).status());
        return Status::InvalidArgument("changed my mind");
      },
      [](StoreTxn& txn) -> Status {
        CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kKey, "k", "{}", 0).status());
        throw std::runtime_error("thrown in a transaction");
      },
      [](StoreTxn& txn) -> Status {
        CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kKey, "k", "{}", 0).status());
        (void)nlohmann::json(std::string("\xff\xfe")).dump();  // throws: not UTF-8
        return Status::OK();
      },
      [](StoreTxn& txn) -> Status {
        CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kKey, "k", "{}", 0).status());
        return txn.Put(ObjectKind::kKey, "k", "{}", 0).status();  // AlreadyExists
      },
      [](StoreTxn& txn) -> Status {
        CAFS_RETURN_IF_ERROR(txn.Put(ObjectKind::kKey, "k", "{}", 0).status());
        CAFS_RETURN_IF_ERROR(txn.AppendAudit("\xff\xfe").status());
        return Status::InvalidArgument("a store that takes any bytes gets here");
      },
  };
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    SCOPED_TRACE("body " + std::to_string(i));
    Status s = store_->InTransaction(bodies[i]);
    EXPECT_FALSE(s.ok());
    if (i == 1 || i == 2) {
      EXPECT_EQ(s.code(), Status::Code::kInternal) << s.ToString();
      EXPECT_NE(s.message().find("exception"), std::string::npos) << s.ToString();
    }
    EXPECT_TRUE(Get(ObjectKind::kKey, "k").status().IsNotFound());
    ASSERT_TRUE(Put(ObjectKind::kServer, "s" + std::to_string(i), "{}", 0).ok());
  }
}

TEST_P(StoreConformanceTest, ConcurrentReadModifyWriteLosesNoUpdate) {
  ASSERT_TRUE(Put(ObjectKind::kServer, "counter", R"({"n":0})", 0).ok());
  constexpr int kThreads = 4;
  constexpr int kIncrements = 20;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Store>> stores;
  for (int t = 0; t < kThreads; ++t) {
    auto s = Open();  // one connection per thread, as separate kpsd processes would have
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    stores.push_back(std::move(s).value());
  }
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& store = *stores[static_cast<std::size_t>(t)];
      for (int i = 0; i < kIncrements;) {
        StoredObject o;
        Status r = store.InTransaction([&](StoreTxn& txn) -> Status {
          CAFS_ASSIGN_OR_RETURN(o, txn.Get(ObjectKind::kServer, "counter"));
          return Status::OK();
        });
        if (!r.ok()) continue;  // busy: retry
        int n = nlohmann::json::parse(o.body)["n"].get<int>();
        Status w = store.InTransaction([&](StoreTxn& txn) -> Status {
          return txn
              .Put(ObjectKind::kServer, "counter", nlohmann::json{{"n", n + 1}}.dump(), o.version)
              .status();
        });
        if (w.ok()) {
          ++i;
        } else if (IsConflict(w)) {
          ++conflicts;
        } else if (!w.retryable()) {
          ADD_FAILURE() << w.ToString();
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto final_obj = Get(ObjectKind::kServer, "counter");
  ASSERT_TRUE(final_obj.ok());
  EXPECT_EQ(nlohmann::json::parse(final_obj->body)["n"].get<int>(), kThreads * kIncrements);
  EXPECT_EQ(final_obj->version, static_cast<std::uint64_t>(kThreads * kIncrements + 1));
}

TEST_P(StoreConformanceTest, TypedRecordsRoundTrip) {
  VmSetRecord v;
  v.name = "my_vmset";
  v.mount_point = "/nfs";
  v.position = 1;
  v.servers = {"755083456"};
  v.policy_id = "45aa9e57-bf64-11df-8d3e-000c29abeb4d";
  ASSERT_TRUE(store_->InTransaction([&](StoreTxn& txn) { return PutRecord(txn, v); }).ok());
  EXPECT_EQ(v.version, 1u);
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(VmSetRecord got, GetRecord<VmSetRecord>(txn, "my_vmset"));
                    EXPECT_EQ(got.mount_point, "/nfs");
                    EXPECT_EQ(got.servers, v.servers);
                    EXPECT_EQ(got.version, 1u);
                    got.position = 2;
                    CAFS_RETURN_IF_ERROR(PutRecord(txn, got));
                    EXPECT_EQ(got.version, 2u);
                    EXPECT_TRUE(IsConflict(PutRecord(txn, v)));  // v still says version 1
                    return Status::OK();
                  })
                  .ok());
}

// Pool records (pool_registry.h) on every back-end: a GUID minted once, unique names and GUIDs,
// an allow list kept by VM set GUID and shown by name.
TEST_P(StoreConformanceTest, PoolRecordsRoundTrip) {
  VmSetRecord v{"my_vmset", "/nfs", 1, {}, "", 0};
  std::string guid;
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(v.guid, VmSetGuidOf(txn, "my_vmset", true, 1));
                    CAFS_RETURN_IF_ERROR(PutRecord(txn, v));
                    CAFS_ASSIGN_OR_RETURN(PoolRecord p, CreatePool(txn, "pool_a", {}, 7));
                    guid = p.guid;
                    EXPECT_EQ(CreatePool(txn, "pool_a", {}, 7).status().code(),
                              Status::Code::kAlreadyExists);
                    EXPECT_EQ(CreatePool(txn, "pool_b", guid, 7).status().code(),
                              Status::Code::kAlreadyExists);
                    return SetPoolAllowed(txn, "pool_a", "my_vmset", true).status();
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(PoolRecord got, GetRecord<PoolRecord>(txn, "pool_a"));
                    EXPECT_EQ(got.guid, guid);
                    EXPECT_EQ(got.vmset_ids, std::vector<std::string>{v.guid});
                    EXPECT_EQ(got.vmsets, std::vector<std::string>{"my_vmset"});
                    EXPECT_EQ(got.created, 7);
                    EXPECT_EQ(got.version, 2u);
                    CAFS_ASSIGN_OR_RETURN(nlohmann::json fetched, AllowedPoolsJson(txn, v.guid));
                    EXPECT_EQ(fetched.size(), 1u);
                    CAFS_RETURN_IF_ERROR(CheckPoolsAllowed(txn, "my_vmset", v.guid, {"pool_a"}));
                    EXPECT_TRUE(CheckPoolsAllowed(txn, "my_vmset", v.guid, {"pool_a", "pool_b"})
                                    .IsPermissionDenied());
                    CAFS_RETURN_IF_ERROR(DeletePool(txn, "pool_a"));
                    EXPECT_TRUE(GetRecord<PoolRecord>(txn, "pool_a").status().IsNotFound());
                    return Status::OK();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, AuditTrailIsHashChained) {
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    for (int i = 0; i < 5; ++i) {
                      AuditRecord r;
                      r.time = 1700000000 + i;
                      r.actor = "alice";
                      r.action = "GET /v1/vmsets";
                      r.result = i == 3 ? "denied" : "ok";
                      CAFS_ASSIGN_OR_RETURN(AuditRecord stored, AppendAuditRecord(txn, r));
                      EXPECT_EQ(stored.seq, static_cast<std::uint64_t>(i + 1));
                    }
                    return Status::OK();
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    CAFS_ASSIGN_OR_RETURN(auto all, ListAuditRecords(txn, 0, 100));
                    EXPECT_EQ(all.size(), 5u);
                    EXPECT_EQ(all[0].prev_hash, "");
                    EXPECT_EQ(all[1].prev_hash, all[0].hash);
                    EXPECT_EQ(all[3].result, "denied");
                    CAFS_ASSIGN_OR_RETURN(auto tail, ListAuditRecords(txn, 3, 100));
                    EXPECT_EQ(tail.size(), 2u);
                    return VerifyAuditChain(txn);
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, KeyringWorksOnThisStore) {
  ASSERT_NO_FATAL_FAILURE(NewKeyring());
  Keyring& keyring = *keyring_;
  auto key = keyring.CreateKey("my_vmset");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto v1 = keyring.UnwrapKey(key->id, 0);
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(keyring.RotateKey(key->id).ok());
  EXPECT_TRUE(keyring.UnwrapKey(key->id, 1)->Equals(*v1));
  EXPECT_FALSE(keyring.UnwrapKey(key->id, 0)->Equals(*v1));
  auto destroyed = keyring.DestroyKey(key->id, 1);
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(keyring.UnwrapKey(key->id, 1).status().code(), Status::Code::kFailedPrecondition);
}

// Shallow rekey on this back-end: after a KEK rotation (one transaction, then Compact: the
// WAL checkpoint of SQLite, VACUUM FULL of PostgreSQL) no row of the store - objects or
// audit - holds the old wrapped bytes of the KEK or of any DEK version, in hex as stored.
TEST_P(StoreConformanceTest, KekRotationLeavesNoOldWrappedBytesInTheTable) {
  ASSERT_NO_FATAL_FAILURE(NewKeyring());
  Keyring& keyring = *keyring_;
  auto key = keyring.CreateKey("my_vmset");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  ASSERT_TRUE(keyring.RotateKey(key->id).ok());
  auto dek = keyring.UnwrapKey(key->id, 1);
  ASSERT_TRUE(dek.ok());
  std::vector<std::string> old_hex;
  auto stored = keyring.GetKey(key->id);
  auto kek = keyring.GetKek("my_vmset");
  ASSERT_TRUE(stored.ok() && kek.ok());
  for (const auto& v : stored->versions) old_hex.push_back(ToHex(v.wrapped));
  old_hex.push_back(ToHex(kek->versions[0].wrapped));
  auto rotated = keyring.RotateKek("my_vmset");
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->rewrapped, 2u);
  EXPECT_TRUE(keyring.UnwrapKey(key->id, 1)->Equals(*dek));
  std::string rows;
  ASSERT_TRUE(store_
                  ->InTransaction([&](StoreTxn& txn) -> Status {
                    for (ObjectKind kind : {ObjectKind::kKey, ObjectKind::kKek, ObjectKind::kVmSet,
                                            ObjectKind::kInventory}) {
                      CAFS_ASSIGN_OR_RETURN(auto all, txn.List(kind));
                      for (const auto& o : all) rows += o.body;
                    }
                    CAFS_ASSIGN_OR_RETURN(auto audit, txn.ListAudit(0, 100000));
                    for (const auto& a : audit) rows += a.body;
                    return Status::OK();
                  })
                  .ok());
  ASSERT_NE(rows.find(ToHex(rotated->kek.versions[1].wrapped)), std::string::npos);
  for (const auto& h : old_hex) EXPECT_EQ(rows.find(h), std::string::npos) << h;
  if (GetParam() == "postgresql") {
    // Every row of the table as PostgreSQL itself returns it, whatever its kind.
    PGconn* c = PQconnectdb(spec_.c_str());
    ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    PGresult* r = PQexec(c, "SELECT body FROM kps_objects UNION ALL SELECT body FROM kps_audit");
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    std::string all;
    for (int i = 0; i < PQntuples(r); ++i) all += PQgetvalue(r, i, 0);
    PQclear(r);
    PQfinish(c);
    for (const auto& h : old_hex) EXPECT_EQ(all.find(h), std::string::npos) << h;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest,
                         ::testing::Values(std::string("sqlite"), std::string("postgresql")),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cafs::kps
