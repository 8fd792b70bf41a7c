#include "kps/sqlite_store.h"

#include <sqlite3.h>

#include <mutex>

#include "util/logging.h"

namespace cafs::kps {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS objects (
  kind    TEXT    NOT NULL,
  id      TEXT    NOT NULL,
  version INTEGER NOT NULL,
  body    TEXT    NOT NULL,
  PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS audit (
  seq  INTEGER PRIMARY KEY AUTOINCREMENT,
  body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '1');
)sql";

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::NoSpace(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return Status::FromErrno(EACCES, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg);
    default:
      return Status::FromErrno(EIO, msg);
  }
}

// A prepared statement, finalized on destruction.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status status(std::string_view what) const {
    return rc_ == SQLITE_OK ? Status::OK() : SqliteError(db_, rc_, what);
  }
  Stmt& Bind(int i, std::string_view text) {
    if (rc_ == SQLITE_OK) {
      rc_ =
          sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  Stmt& Bind(int i, std::uint64_t v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, i, static_cast<sqlite3_int64>(v));
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step() {
    if (rc_ != SQLITE_OK) return rc_;
    int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) rc_ = rc;
    return rc;
  }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::uint64_t U64(int col) const {
    return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

class SqliteTxn final : public StoreTxn {
 public:
  explicit SqliteTxn(sqlite3* db) : db_(db) {}

  Result<StoredObject> Get(ObjectKind kind, std::string_view id) override {
    Stmt s(db_, "SELECT version, body FROM objects WHERE kind = ?1 AND id = ?2");
    s.Bind(1, ObjectKindName(kind)).Bind(2, id);
    int rc = s.Step();
    if (rc == SQLITE_DONE) {
      return NotFoundError(kind, id);
    }
    if (rc != SQLITE_ROW) return s.status("select object");
    return StoredObject{std::string(id), s.U64(0), s.Text(1)};
  }

  Result<std::vector<StoredObject>> List(ObjectKind kind) override {
    Stmt s(db_, "SELECT id, version, body FROM objects WHERE kind = ?1 ORDER BY id");
    s.Bind(1, ObjectKindName(kind));
    std::vector<StoredObject> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back({s.Text(0), s.U64(1), s.Text(2)});
    if (rc != SQLITE_DONE) return s.status("list objects");
    return out;
  }

  Result<std::uint64_t> Put(ObjectKind kind, std::string_view id, std::string_view body,
                            std::uint64_t expected_version) override {
    const std::string what = std::string(ObjectKindName(kind)) + " '" + std::string(id) + "'";
    if (expected_version == 0) {
      Stmt s(db_,
             "INSERT INTO objects (kind, id, version, body) VALUES (?1, ?2, 1, ?3) "
             "ON CONFLICT (kind, id) DO NOTHING");
      s.Bind(1, ObjectKindName(kind)).Bind(2, id).Bind(3, body);
      if (s.Step() != SQLITE_DONE) return s.status("insert " + what);
      if (sqlite3_changes(db_) == 0) return Status::AlreadyExists(what + " already exists");
      return std::uint64_t{1};
    }
    Stmt s(db_,
           "UPDATE objects SET version = version + 1, body = ?3 "
           "WHERE kind = ?1 AND id = ?2 AND version = ?4");
    s.Bind(1, ObjectKindName(kind)).Bind(2, id).Bind(3, body).Bind(4, expected_version);
    if (s.Step() != SQLITE_DONE) return s.status("update " + what);
    if (sqlite3_changes(db_) == 0) {
      CAFS_RETURN_IF_ERROR(Get(kind, id).status());
      return ConflictError(what);
    }
    return expected_version + 1;
  }

  Status Delete(ObjectKind kind, std::string_view id, std::uint64_t expected_version) override {
    const std::string what = std::string(ObjectKindName(kind)) + " '" + std::string(id) + "'";
    Stmt s(db_, "DELETE FROM objects WHERE kind = ?1 AND id = ?2 AND version = ?3");
    s.Bind(1, ObjectKindName(kind)).Bind(2, id).Bind(3, expected_version);
    if (s.Step() != SQLITE_DONE) return s.status("delete " + what);
    if (sqlite3_changes(db_) == 0) {
      CAFS_RETURN_IF_ERROR(Get(kind, id).status());
      return ConflictError(what);
    }
    return Status::OK();
  }

  Result<std::uint64_t> AppendAudit(std::string_view body) override {
    Stmt s(db_, "INSERT INTO audit (body) VALUES (?1)");
    s.Bind(1, body);
    if (s.Step() != SQLITE_DONE) return s.status("insert audit");
    return static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<StoredAudit> LastAudit() override {
    Stmt s(db_, "SELECT seq, body FROM audit ORDER BY seq DESC LIMIT 1");
    int rc = s.Step();
    if (rc == SQLITE_DONE) return Status::NotFound("no audit records");
    if (rc != SQLITE_ROW) return s.status("select audit");
    return StoredAudit{s.U64(0), s.Text(1)};
  }

  Result<std::vector<StoredAudit>> ListAudit(std::uint64_t after_seq, std::size_t limit) override {
    Stmt s(db_, "SELECT seq, body FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    s.Bind(1, after_seq).Bind(2, static_cast<std::uint64_t>(limit));
    std::vector<StoredAudit> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back({s.U64(0), s.Text(1)});
    if (rc != SQLITE_DONE) return s.status("list audit");
    return out;
  }

 private:
  sqlite3* db_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status Exec(const char* sql, std::string_view what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = std::string(what) + ": " + (err ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
      return SqliteError(nullptr, rc, msg);
    }
    return Status::OK();
  }

  Status InTransaction(const std::function<Status(StoreTxn&)>& fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (sqlite3_get_autocommit(db_) == 0) {
      CAFS_LOG_ERROR("kps store {}: a transaction was left open; rolling it back", path_);
      (void)Exec("ROLLBACK", "rollback");
    }
    CAFS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin transaction"));
    TransactionGuard guard([this] {
      if (sqlite3_get_autocommit(db_) == 0) (void)Exec("ROLLBACK", "rollback");
    });
    SqliteTxn txn(db_);
    CAFS_RETURN_IF_ERROR(RunTransactionBody(fn, txn));
    CAFS_RETURN_IF_ERROR(Exec("COMMIT", "commit"));
    guard.Committed();
    return Status::OK();
  }

  Status Compact() override {
    std::lock_guard<std::mutex> lock(mu_);
    return Exec("PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint");
  }

  std::string Describe() const override { return "sqlite:" + path_; }

 private:
  std::mutex mu_;  // serializes transactions on the one connection
  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(db, rc, "open " + path);
    sqlite3_close_v2(db);
    return s;
  }
  auto store = std::make_unique<SqliteStore>(db, path);
  sqlite3_busy_timeout(db, 5000);
  CAFS_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL", "set WAL mode " + path));
  CAFS_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL", "set synchronous"));
  CAFS_RETURN_IF_ERROR(store->Exec("PRAGMA secure_delete=ON", "set secure_delete"));
  CAFS_RETURN_IF_ERROR(store->Exec("PRAGMA foreign_keys=ON", "set foreign_keys"));
  CAFS_RETURN_IF_ERROR(store->Exec(kSchema, "create schema in " + path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace cafs::kps
