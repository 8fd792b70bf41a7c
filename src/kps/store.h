// Store: where the key & policy server keeps its objects (SQLite or PostgreSQL).
//
// The store is a small transactional document store: every object is one JSON document
// (objects.h) under (kind, id) with a row version for optimistic concurrency, plus an
// append-only audit table. Typed access is in catalog.h; this interface is what each back-end
// implements, and tests/unit/kps/store_conformance_test.cc runs the same suite on all of them.
//
// Optimistic concurrency: Put(kind, id, body, expected_version) succeeds only when the stored
// row version equals `expected_version` (0 = the object must not exist yet) and returns the
// new version (old + 1). Two writers that read version v and both write: one wins, the other
// gets a Conflict status (IsConflict()); no update is lost.
//
// Secure erase: Delete() and Put() over an object overwrite the old bytes where the back-end
// allows it (SQLite: secure_delete=ON; after Compact() the WAL is checkpointed and truncated).
// See docs/kps.md for what PostgreSQL keeps.
//
// Threading: a Store is safe to use from several threads; transactions are serialized per
// Store object (one connection). Several processes may share one database (SQLite busy
// timeout / PostgreSQL row locks).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace cafs::kps {

enum class ObjectKind {
  kVmSet,
  kPolicy,
  kKey,
  kKek,
  kServer,
  kGateway,
  kAdmin,
  kAuditCursor,   // per gateway: the last record of its audit chain kpsd accepted
  kUsage,         // per gateway: its last usage/capacity snapshot
  kInventory,     // per gateway: its last key inventory (key_inventory.h)
  kVmSetGuid,     // per VM set GUID ever minted: its name, or its tombstone (vmset_identity.h)
  kRekeyRequest,  // per (key, version): a deep rekey asked of the gateways (rekey_triggers.h)
  kPool,          // per storage pool name: its GUID and allow list (pool_registry.h)
};
// "vmset", "policy", "key", "kek", "server", "gateway", "admin", "audit_cursor", "usage",
// "inventory", "vmset_guid", "rekey_request", "pool" (the kind column).
std::string_view ObjectKindName(ObjectKind kind);

struct StoredObject {
  std::string id;
  std::uint64_t version = 0;
  std::string body;  // JSON text
};

struct StoredAudit {
  std::uint64_t seq = 0;
  std::string body;  // JSON text
};

// NotFound "<kind> '<id>' not found": what every back-end answers for a missing object, and
// what the REST API answers for an object outside the caller's scope (no existence oracle).
Status NotFoundError(ObjectKind kind, std::string_view id);

// A version conflict (optimistic concurrency): FailedPrecondition with a message starting
// with "version conflict". REST maps it to 409.
Status ConflictError(std::string_view what);
bool IsConflict(const Status& s);

// The operations inside one transaction. Only valid inside Store::InTransaction.
class StoreTxn {
 public:
  virtual ~StoreTxn() = default;
  // NotFound if absent.
  virtual Result<StoredObject> Get(ObjectKind kind, std::string_view id) = 0;
  // All objects of a kind, ordered by id.
  virtual Result<std::vector<StoredObject>> List(ObjectKind kind) = 0;
  // Create (expected_version 0; AlreadyExists if present) or update (Conflict if the stored
  // version differs, NotFound if absent). Returns the new version.
  virtual Result<std::uint64_t> Put(ObjectKind kind, std::string_view id, std::string_view body,
                                    std::uint64_t expected_version) = 0;
  // Deletes when the stored version equals expected_version (Conflict otherwise; NotFound).
  virtual Status Delete(ObjectKind kind, std::string_view id, std::uint64_t expected_version) = 0;
  // Appends an audit record; returns its sequence number (1, 2, ...).
  virtual Result<std::uint64_t> AppendAudit(std::string_view body) = 0;
  // The last audit record, or NotFound when there is none.
  virtual Result<StoredAudit> LastAudit() = 0;
  // Records with seq > after_seq, ascending, at most `limit`.
  virtual Result<std::vector<StoredAudit>> ListAudit(std::uint64_t after_seq,
                                                     std::size_t limit) = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Runs `fn` in one transaction: commits when it returns OK, rolls back otherwise (and on
  // a failed commit). Returns fn's status or the commit error. Do not nest.
  // Every path ends the transaction (TransactionGuard): an exception thrown by `fn` rolls it
  // back and comes back as Internal naming it (RunTransactionBody); none leaves this call.
  // A transaction found still open when a new one starts (a bug) is rolled back and logged.
  virtual Status InTransaction(const std::function<Status(StoreTxn&)>& fn) = 0;
  // Makes erased bytes unrecoverable from the store's files as far as the back-end allows
  // (SQLite: WAL checkpoint + truncate; PostgreSQL: VACUUM FULL of the objects table).
  virtual Status Compact() = 0;
  // "sqlite:/path/kps.db" or "postgresql://..." (without password).
  virtual std::string Describe() const = 0;
};

// The one place a back-end runs a transaction body: fn's status, or Internal "exception in
// a store transaction: ..." when fn throws.
Status RunTransactionBody(const std::function<Status(StoreTxn&)>& fn, StoreTxn& txn);

// Ends a transaction on every path: calls `rollback` on destruction unless Committed().
// Back-ends create one right after BEGIN succeeded.
class TransactionGuard {
 public:
  explicit TransactionGuard(std::function<void()> rollback) : rollback_(std::move(rollback)) {}
  ~TransactionGuard() {
    if (rollback_) rollback_();
  }
  TransactionGuard(const TransactionGuard&) = delete;
  TransactionGuard& operator=(const TransactionGuard&) = delete;
  void Committed() { rollback_ = nullptr; }

 private:
  std::function<void()> rollback_;
};

// Opens the store named by `spec`: "" or "sqlite" = <data_dir>/kps.db, "sqlite:PATH",
// or a "postgresql://" / "postgres://" connection URI. Creates the schema if needed.
Result<std::unique_ptr<Store>> OpenStore(std::string_view spec, const std::string& data_dir);

}  // namespace cafs::kps
