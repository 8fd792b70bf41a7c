#include "kps/postgres_store.h"

#include <libpq-fe.h>

#include <memory>
#include <mutex>
#include <vector>

#include "util/logging.h"

namespace cafs::kps {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS kps_objects (
  kind    TEXT   NOT NULL,
  id      TEXT   NOT NULL,
  version BIGINT NOT NULL,
  body    TEXT   NOT NULL,
  PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS kps_audit (
  seq  BIGSERIAL PRIMARY KEY,
  body TEXT NOT NULL);
)sql";

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultFree>;

Status PgError(PGconn* conn, std::string_view what) {
  std::string msg = std::string(what) + ": " + PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (PQstatus(conn) != CONNECTION_OK) return Status::Unavailable(msg);
  return Status::FromErrno(EIO, msg);
}

class PgTxn final : public StoreTxn {
 public:
  explicit PgTxn(PGconn* conn) : conn_(conn) {}

  // Runs a parameterized statement; all parameters are text.
  Result<PgResult> Run(const char* sql, const std::vector<std::string>& params,
                       std::string_view what) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    PgResult r(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(),
                            nullptr, nullptr, 0));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = std::string(what) + ": " + PQresultErrorMessage(r.get());
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      if (state && std::string_view(state) == "53100") return Status::NoSpace(msg);
      if (state && std::string_view(state) == "40001") return ConflictError(what);
      if (PQstatus(conn_) != CONNECTION_OK) return Status::Unavailable(msg);
      return Status::FromErrno(EIO, msg);
    }
    return r;
  }

  static std::uint64_t U64(PGresult* r, int row, int col) {
    return std::stoull(PQgetvalue(r, row, col));
  }
  static std::string Text(PGresult* r, int row, int col) {
    return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
  }
  static std::uint64_t Affected(PGresult* r) { return std::stoull(PQcmdTuples(r)); }

  Result<StoredObject> Get(ObjectKind kind, std::string_view id) override {
    CAFS_ASSIGN_OR_RETURN(
        PgResult r, Run("SELECT version, body FROM kps_objects WHERE kind = $1 AND id = $2",
                        {std::string(ObjectKindName(kind)), std::string(id)}, "select object"));
    if (PQntuples(r.get()) == 0) {
      return NotFoundError(kind, id);
    }
    return StoredObject{std::string(id), U64(r.get(), 0, 0), Text(r.get(), 0, 1)};
  }

  Result<std::vector<StoredObject>> List(ObjectKind kind) override {
    CAFS_ASSIGN_OR_RETURN(
        PgResult r,
        Run("SELECT id, version, body FROM kps_objects WHERE kind = $1 ORDER BY id COLLATE \"C\"",
            {std::string(ObjectKindName(kind))}, "list objects"));
    std::vector<StoredObject> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      out.push_back({Text(r.get(), i, 0), U64(r.get(), i, 1), Text(r.get(), i, 2)});
    }
    return out;
  }

  Result<std::uint64_t> Put(ObjectKind kind, std::string_view id, std::string_view body,
                            std::uint64_t expected_version) override {
    const std::string what = std::string(ObjectKindName(kind)) + " '" + std::string(id) + "'";
    if (expected_version == 0) {
      CAFS_ASSIGN_OR_RETURN(
          PgResult r, Run("INSERT INTO kps_objects (kind, id, version, body) VALUES ($1, $2, 1, "
                          "$3) ON CONFLICT (kind, id) DO NOTHING",
                          {std::string(ObjectKindName(kind)), std::string(id), std::string(body)},
                          "insert " + what));
      if (Affected(r.get()) == 0) return Status::AlreadyExists(what + " already exists");
      return std::uint64_t{1};
    }
    CAFS_ASSIGN_OR_RETURN(PgResult r, Run("UPDATE kps_objects SET version = version + 1, body = $3 "
                                          "WHERE kind = $1 AND id = $2 AND version = $4",
                                          {std::string(ObjectKindName(kind)), std::string(id),
                                           std::string(body), std::to_string(expected_version)},
                                          "update " + what));
    if (Affected(r.get()) == 0) {
      CAFS_RETURN_IF_ERROR(Get(kind, id).status());
      return ConflictError(what);
    }
    return expected_version + 1;
  }

  Status Delete(ObjectKind kind, std::string_view id, std::uint64_t expected_version) override {
    const std::string what = std::string(ObjectKindName(kind)) + " '" + std::string(id) + "'";
    CAFS_ASSIGN_OR_RETURN(
        PgResult r,
        Run("DELETE FROM kps_objects WHERE kind = $1 AND id = $2 AND version = $3",
            {std::string(ObjectKindName(kind)), std::string(id), std::to_string(expected_version)},
            "delete " + what));
    if (Affected(r.get()) == 0) {
      CAFS_RETURN_IF_ERROR(Get(kind, id).status());
      return ConflictError(what);
    }
    return Status::OK();
  }

  Result<std::uint64_t> AppendAudit(std::string_view body) override {
    CAFS_ASSIGN_OR_RETURN(PgResult r, Run("INSERT INTO kps_audit (body) VALUES ($1) RETURNING seq",
                                          {std::string(body)}, "insert audit"));
    return U64(r.get(), 0, 0);
  }

  Result<StoredAudit> LastAudit() override {
    CAFS_ASSIGN_OR_RETURN(PgResult r, Run("SELECT seq, body FROM kps_audit ORDER BY seq DESC "
                                          "LIMIT 1",
                                          {}, "select audit"));
    if (PQntuples(r.get()) == 0) return Status::NotFound("no audit records");
    return StoredAudit{U64(r.get(), 0, 0), Text(r.get(), 0, 1)};
  }

  Result<std::vector<StoredAudit>> ListAudit(std::uint64_t after_seq, std::size_t limit) override {
    CAFS_ASSIGN_OR_RETURN(
        PgResult r, Run("SELECT seq, body FROM kps_audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                        {std::to_string(after_seq), std::to_string(limit)}, "list audit"));
    std::vector<StoredAudit> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      out.push_back({U64(r.get(), i, 0), Text(r.get(), i, 1)});
    }
    return out;
  }

 private:
  PGconn* conn_;
};

class PostgresStore final : public Store {
 public:
  PostgresStore(PGconn* conn, std::string uri) : conn_(conn), uri_(std::move(uri)) {}
  ~PostgresStore() override { PQfinish(conn_); }

  Status Exec(const char* sql, std::string_view what) {
    PgResult r(PQexec(conn_, sql));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgError(conn_, what);
    return Status::OK();
  }

  Status InTransaction(const std::function<Status(StoreTxn&)>& fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE && PQstatus(conn_) == CONNECTION_OK) {
      CAFS_LOG_ERROR("kps store {}: a transaction was left open; rolling it back", Describe());
      (void)Exec("ROLLBACK", "rollback");
    }
    CAFS_RETURN_IF_ERROR(Exec("BEGIN", "begin transaction"));
    TransactionGuard guard([this] {
      if (PQtransactionStatus(conn_) != PQTRANS_IDLE) (void)Exec("ROLLBACK", "rollback");
    });
    PgTxn txn(conn_);
    CAFS_RETURN_IF_ERROR(RunTransactionBody(fn, txn));
    // A failed COMMIT of PostgreSQL ends the transaction itself (rolled back).
    CAFS_RETURN_IF_ERROR(Exec("COMMIT", "commit"));
    guard.Committed();
    return Status::OK();
  }

  Status Compact() override {
    std::lock_guard<std::mutex> lock(mu_);
    return Exec("VACUUM FULL kps_objects", "vacuum");
  }

  std::string Describe() const override {
    auto at = uri_.find('@');
    auto colon = uri_.find(':', uri_.find("://") + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      return uri_.substr(0, colon) + uri_.substr(at);  // drop the password
    }
    return uri_;
  }

 private:
  std::mutex mu_;  // serializes transactions on the one connection
  PGconn* conn_;
  std::string uri_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    Status s =
        Status::Unavailable(std::string("cannot connect to PostgreSQL: ") + PQerrorMessage(conn));
    PQfinish(conn);
    return s;
  }
  auto store = std::make_unique<PostgresStore>(conn, uri);
  CAFS_RETURN_IF_ERROR(store->Exec("SET client_min_messages = warning", "set messages"));
  CAFS_RETURN_IF_ERROR(store->Exec(kSchema, "create schema"));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace cafs::kps
