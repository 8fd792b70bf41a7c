#include "pool/rados/rados_pool.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "util/logging.h"
#include "util/uuid.h"

namespace cafs::pool {

namespace {

constexpr std::uint64_t kObject = RadosPool::kObjectSize;
// Never a valid pool path (leading '/'): CheckAvailable stats it to reach an OSD.
constexpr const char* kProbeObject = "//cafs-probe";
// Data objects removed at once by RemoveDataObjects.
constexpr std::size_t kRemoveBatch = 64;

// One object's share of a byte range of a file.
struct Piece {
  std::string object;
  std::uint64_t object_offset = 0;
  std::size_t length = 0;
  std::uint8_t* buffer = nullptr;  // into the caller's buffer
  std::uint64_t index = 0;
};

std::vector<Piece> Split(const std::string& head, std::uint64_t offset, std::size_t length,
                         const std::uint8_t* buffer) {
  std::vector<Piece> pieces;
  std::size_t done = 0;
  while (done < length) {
    const std::uint64_t pos = offset + done;
    const std::uint64_t index = pos / kObject;
    const std::uint64_t in_object = pos % kObject;
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(length - done, kObject - in_object));
    pieces.push_back(Piece{index == 0 ? head : RadosDataObjectName(head, index), in_object, n,
                           const_cast<std::uint8_t*>(buffer) + done, index});
    done += n;
  }
  return pieces;
}

// Completions of operations started together; waits for and releases every one, whatever
// happens (an operation in flight must not outlive its buffer).
class Completions {
 public:
  Completions() = default;
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;
  ~Completions() { WaitAll(); }

  // A new completion, or nullptr (then the caller does not start the operation).
  rados_completion_t Add() {
    rados_completion_t c = nullptr;
    if (rados_aio_create_completion2(nullptr, nullptr, &c) < 0) return nullptr;
    pending_.push_back(c);
    return c;
  }
  // Return codes in the order of Add; afterwards nothing is pending.
  std::vector<int> WaitAll() {
    std::vector<int> rcs;
    for (rados_completion_t c : pending_) {
      rados_aio_wait_for_complete(c);
      rcs.push_back(rados_aio_get_return_value(c));
      rados_aio_release(c);
    }
    pending_.clear();
    return rcs;
  }
  // The last one added was not started: release it.
  void DropLast() {
    rados_aio_release(pending_.back());
    pending_.pop_back();
  }

 private:
  std::vector<rados_completion_t> pending_;
};

// Starts operation i for every i in [0, n) (`start(i, completion)`: librados' return code as
// a Status), all in flight at once, and waits for every one started. Returns their return
// codes in order, or the error of a start that failed.
template <typename Start>
Result<std::vector<int>> RunAll(std::size_t n, Start start) {
  Completions done;
  for (std::size_t i = 0; i < n; ++i) {
    rados_completion_t c = done.Add();
    if (c == nullptr) {
      done.WaitAll();
      return Status::FromErrno(ENOMEM, "rados completion");
    }
    if (Status s = start(i, c); !s.ok()) {
      done.DropLast();
      done.WaitAll();
      return s;
    }
  }
  return done.WaitAll();
}

Status SetSize(RadosPool& pool, rados_ioctx_t io, const std::string& head, std::uint64_t size) {
  const std::string text = std::to_string(size);
  const int rc = rados_setxattr(io, head.c_str(), RadosPool::kSizeXattr, text.data(), text.size());
  return rc < 0 ? pool.Error(rc, "setxattr size of", head) : Status::OK();
}

// An open pool file (rados_pool.h "Layout").
class RadosFile final : public env::File {
 public:
  RadosFile(RadosPool* pool, std::string head, std::shared_ptr<RadosPool::FileState> state,
            std::shared_ptr<WriteLease> lease)
      : pool_(pool),
        head_(std::move(head)),
        state_(std::move(state)),
        lease_(std::move(lease)),
        path_(pool->location() + "/" + head_) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    const std::uint64_t size = state_->size.load();
    if (offset >= size || out.empty()) return std::size_t{0};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
    CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, pool_->Io());
    std::vector<Piece> pieces = Split(head_, offset, n, out.data());
    CAFS_ASSIGN_OR_RETURN(
        std::vector<int> rcs, RunAll(pieces.size(), [&](std::size_t i, rados_completion_t c) {
          const Piece& p = pieces[i];
          const int rc = rados_aio_read(io, p.object.c_str(), c, reinterpret_cast<char*>(p.buffer),
                                        p.length, p.object_offset);
          return rc < 0 ? pool_->Error(rc, "read", p.object) : Status::OK();
        }));
    for (std::size_t i = 0; i < rcs.size(); ++i) {
      const Piece& p = pieces[i];
      if (rcs[i] == -ENOENT) {  // never written: a hole
        std::memset(p.buffer, 0, p.length);
      } else if (rcs[i] < 0) {
        return pool_->Error(rcs[i], "read", p.object);
      } else if (static_cast<std::size_t>(rcs[i]) < p.length) {  // past the object's end
        std::memset(p.buffer + rcs[i], 0, p.length - static_cast<std::size_t>(rcs[i]));
      }
    }
    return n;
  }

  Status WriteAt(std::uint64_t offset, ByteView data) override {
    CAFS_RETURN_IF_ERROR(Writable());
    if (data.empty()) return Status::OK();
    CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, pool_->Io());
    const std::uint64_t end = offset + data.size();
    if (end > state_->size.load()) {
      // The size first: a crash before the data lands leaves zeros at the end, never old bytes.
      std::lock_guard lock(state_->mu);
      if (end > state_->size.load()) {
        CAFS_RETURN_IF_ERROR(SetSize(*pool_, io, head_, end));
        state_->size.store(end);
      }
    }
    std::vector<Piece> pieces = Split(head_, offset, data.size(), data.data());
    CAFS_ASSIGN_OR_RETURN(
        std::vector<int> rcs, RunAll(pieces.size(), [&](std::size_t i, rados_completion_t c) {
          const Piece& p = pieces[i];
          const int rc =
              rados_aio_write(io, p.object.c_str(), c, reinterpret_cast<const char*>(p.buffer),
                              p.length, p.object_offset);
          return rc < 0 ? pool_->Error(rc, "write", p.object) : Status::OK();
        }));
    for (std::size_t i = 0; i < rcs.size(); ++i) {
      if (rcs[i] < 0) return pool_->Error(rcs[i], "write", pieces[i].object);
    }
    return Status::OK();
  }

  Status Truncate(std::uint64_t size) override {
    CAFS_RETURN_IF_ERROR(Writable());
    CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, pool_->Io());
    std::lock_guard lock(state_->mu);
    const std::uint64_t old = state_->size.load();
    if (size < old) {
      // The data first, then the size: a crash between leaves zeros, never old bytes.
      const std::uint64_t first_gone = std::max<std::uint64_t>(1, (size + kObject - 1) / kObject);
      const std::uint64_t last = (old - 1) / kObject;
      if (first_gone <= last) CAFS_RETURN_IF_ERROR(RemoveData(io, first_gone, last));
      const std::uint64_t index = size / kObject;
      const std::uint64_t keep = size % kObject;
      if (keep != 0 || index == 0) {
        const std::string object = index == 0 ? head_ : RadosDataObjectName(head_, index);
        const int rc = rados_trunc(io, object.c_str(), keep);
        if (rc < 0 && rc != -ENOENT) return pool_->Error(rc, "truncate", object);
      }
    }
    if (size != old) {
      CAFS_RETURN_IF_ERROR(SetSize(*pool_, io, head_, size));
      state_->size.store(size);
    }
    return Status::OK();
  }

  // RADOS acknowledges a write once it is durable on every replica: nothing is left to do.
  Status Sync() override { return Status::OK(); }

  Result<std::uint64_t> Size() override { return state_->size.load(); }

  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    CAFS_RETURN_IF_ERROR(Writable());
    const std::uint64_t size = state_->size.load();
    if (offset >= size || length == 0) return Status::OK();
    const std::uint64_t n = std::min(length, size - offset);
    CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, pool_->Io());
    // Whole data objects are removed, parts zeroed (sparse in the object store).
    for (std::uint64_t done = 0; done < n;) {
      const std::uint64_t pos = offset + done;
      const std::uint64_t index = pos / kObject;
      const std::uint64_t in_object = pos % kObject;
      const std::uint64_t len = std::min(n - done, kObject - in_object);
      const std::string object = index == 0 ? head_ : RadosDataObjectName(head_, index);
      int rc = 0;
      if (index != 0 && in_object == 0 && len == kObject) {
        rc = rados_remove(io, object.c_str());
      } else {
        rados_write_op_t op = rados_create_write_op();
        rados_write_op_assert_exists(op);
        rados_write_op_zero(op, in_object, len);
        rc = rados_write_op_operate(op, io, object.c_str(), nullptr, 0);
        rados_release_write_op(op);
      }
      if (rc < 0 && rc != -ENOENT) return pool_->Error(rc, "punch hole in", object);
      done += len;
    }
    return Status::OK();
  }

  // RADOS is thin: nothing to reserve. Grows the size like Truncate when the range ends past it.
  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    const std::uint64_t end = offset + length;
    if (end <= state_->size.load()) return Writable();
    return Truncate(end);
  }

  const std::string& path() const override { return path_; }

 private:
  // Open for writing (a lease) and the lease still held.
  Status Writable() const {
    return lease_ == nullptr ? Status::FromErrno(EBADF, path_ + " is open read-only")
                             : lease_->Check();
  }
  Status RemoveData(rados_ioctx_t io, std::uint64_t first, std::uint64_t last);

  RadosPool* const pool_;
  const std::string head_;
  const std::shared_ptr<RadosPool::FileState> state_;
  const std::shared_ptr<WriteLease> lease_;  // null: open read-only
  const std::string path_;
};

using Steady = std::chrono::steady_clock;

// Steady-clock ticks: now, and `lease_s` seconds later (atomics hold ticks, not time_points).
Steady::rep Ticks(int after_s = 0) {
  return (Steady::now() + std::chrono::seconds(after_s)).time_since_epoch().count();
}

// The write lease of a pool file: the exclusive lock RadosPool::kLeaseLock on its head object
// (rados_pool.h "Write leases"). Valid until `valid_until_`: the start of the last successful
// lock or renewal plus the duration (the OSD starts counting later, so we stop first).
class RadosLease final : public WriteLease {
 public:
  RadosLease(RadosPool* pool, rados_ioctx_t io, std::string object, std::string cookie,
             Steady::rep valid_until)
      : pool_(pool),
        io_(io),
        object_(std::move(object)),
        cookie_(std::move(cookie)),
        valid_until_(valid_until) {}

  ~RadosLease() override {
    const int rc = rados_unlock(io_, object_.c_str(), RadosPool::kLeaseLock, cookie_.c_str());
    // ENOENT: the lock expired or the file was removed; nothing to give back.
    if (rc < 0 && rc != -ENOENT) {
      CAFS_LOG_WARN("{} (it expires by itself)",
                    pool_->Error(rc, "releasing the write lease of", object_).ToString());
    }
  }

  Status Check() const override {
    if (lost_.load() || Ticks() >= valid_until_.load()) {
      return Status::FromErrno(EIO, "storage pool '" + pool_->name() + "': the write lease of " +
                                        object_ + " was lost (not renewed in time); reopen it");
    }
    return Status::OK();
  }

  // One renewal (from the renewer thread). A lock no longer ours (EBUSY: taken by another
  // holder after it expired; ENOENT: expired) is lost for good; other errors (the cluster is
  // slow or down) are retried at the next round while the lease lasts.
  void Renew(int lease_s) {
    if (lost_.load()) return;
    const Steady::rep until = Ticks(lease_s);  // from before the request: conservative
    struct timeval tv {
      lease_s, 0
    };
    const int rc =
        rados_lock_exclusive(io_, object_.c_str(), RadosPool::kLeaseLock, cookie_.c_str(),
                             "cafs write lease", &tv, LIBRADOS_LOCK_FLAG_MUST_RENEW);
    if (rc == 0) {
      valid_until_.store(until);
    } else if (rc == -EBUSY || rc == -ENOENT) {
      lost_.store(true);
      CAFS_LOG_ERROR("storage pool '{}': the write lease of {} was lost: {}", pool_->name(),
                     object_, std::strerror(-rc));
    } else {
      CAFS_LOG_WARN("{}", pool_->Error(rc, "renewing the write lease of", object_).ToString());
    }
  }

 private:
  RadosPool* const pool_;
  const rados_ioctx_t io_;
  const std::string object_;
  const std::string cookie_;
  std::atomic<Steady::rep> valid_until_;
  std::atomic<bool> lost_{false};
};

// The lockers of kLeaseLock on `object`: (client, cookie, address) each; empty on any error.
struct Locker {
  std::string client, cookie, addr;
};
std::vector<Locker> Lockers(rados_ioctx_t io, const std::string& object) {
  int exclusive = 0;
  std::vector<char> tag(256), clients(1024), cookies(1024), addrs(1024);
  std::size_t tag_len = tag.size(), clients_len = clients.size(), cookies_len = cookies.size(),
              addrs_len = addrs.size();
  const ssize_t n = rados_list_lockers(io, object.c_str(), RadosPool::kLeaseLock, &exclusive,
                                       tag.data(), &tag_len, clients.data(), &clients_len,
                                       cookies.data(), &cookies_len, addrs.data(), &addrs_len);
  std::vector<Locker> out;
  const char* c = clients.data();
  const char* k = cookies.data();
  const char* a = addrs.data();
  for (ssize_t i = 0; i < n; ++i) {
    out.push_back({c, k, a});
    c += std::strlen(c) + 1;
    k += std::strlen(k) + 1;
    a += std::strlen(a) + 1;
  }
  return out;
}

Status RemoveObjects(RadosPool& pool, rados_ioctx_t io, const std::vector<std::string>& objects) {
  for (std::size_t start = 0; start < objects.size(); start += kRemoveBatch) {
    const std::size_t end = std::min(objects.size(), start + kRemoveBatch);
    CAFS_ASSIGN_OR_RETURN(
        std::vector<int> rcs, RunAll(end - start, [&](std::size_t i, rados_completion_t c) {
          const int rc = rados_aio_remove(io, objects[start + i].c_str(), c);
          return rc < 0 ? pool.Error(rc, "remove", objects[start + i]) : Status::OK();
        }));
    for (std::size_t i = 0; i < rcs.size(); ++i) {
      if (rcs[i] < 0 && rcs[i] != -ENOENT) return pool.Error(rcs[i], "remove", objects[start + i]);
    }
  }
  return Status::OK();
}

std::vector<std::string> DataObjects(const std::string& head, std::uint64_t first,
                                     std::uint64_t last) {
  std::vector<std::string> names;
  for (std::uint64_t i = first; i <= last; ++i) names.push_back(RadosDataObjectName(head, i));
  return names;
}

Status RadosFile::RemoveData(rados_ioctx_t io, std::uint64_t first, std::uint64_t last) {
  return RemoveObjects(*pool_, io, DataObjects(head_, first, last));
}

}  // namespace

std::string RadosDataObjectName(const std::string& head, std::uint64_t index) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(index));
  return head + "//" + hex;
}

RadosPool::RadosPool(RadosPoolOptions options)
    : options_(std::move(options)),
      cookie_(options_.owner.empty() ? Uuid::Random().ToString() : options_.owner) {}

RadosPool::~RadosPool() {
  {
    std::lock_guard lock(renew_mu_);
    stopping_ = true;
  }
  renew_cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (io_ != nullptr) rados_ioctx_destroy(io_);
  if (cluster_ != nullptr) rados_shutdown(cluster_);
}

std::string RadosPool::location() const {
  return "rados:" + options_.rados_pool + (options_.ns.empty() ? "" : "/" + options_.ns);
}

Status RadosPool::Error(int rc, std::string_view what, const std::string& object) const {
  return Status::FromErrno(-rc, "storage pool '" + options_.name + "' (" + location() +
                                    "): " + std::string(what) + " " + object);
}

Status RadosPool::Connect() {
  const std::string where = "storage pool '" + options_.name + "' (" + location() + ")";
  rados_t cluster = nullptr;
  const std::string client = "client." + options_.user;
  int rc = rados_create2(&cluster, "ceph", client.c_str(), 0);
  if (rc < 0) return Status::Unavailable(where + ": rados_create2: " + std::strerror(-rc));
  auto fail = [&](std::string_view step, int code) {
    rados_shutdown(cluster);
    return Status::Unavailable(where + ": " + std::string(step) + ": " + std::strerror(-code));
  };
  rc = rados_conf_read_file(cluster, options_.conf.empty() ? nullptr : options_.conf.c_str());
  if (rc < 0) {
    return fail(
        "reading " + (options_.conf.empty() ? std::string("the default ceph.conf") : options_.conf),
        rc);
  }
  const std::string timeout = std::to_string(options_.op_timeout_s);
  for (const char* key : {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"}) {
    rc = rados_conf_set(cluster, key, timeout.c_str());
    if (rc < 0) return fail(std::string("setting ") + key, rc);
  }
  if (!options_.keyring.empty()) {
    rc = rados_conf_set(cluster, "keyring", options_.keyring.c_str());
    if (rc < 0) return fail("setting keyring", rc);
  }
  rc = rados_connect(cluster);
  if (rc < 0) return fail("connecting to the cluster", rc);
  rados_ioctx_t io = nullptr;
  rc = rados_ioctx_create(cluster, options_.rados_pool.c_str(), &io);
  if (rc < 0) return fail("opening RADOS pool '" + options_.rados_pool + "'", rc);
  rados_ioctx_set_namespace(io, options_.ns.empty() ? nullptr : options_.ns.c_str());
  cluster_ = cluster;
  io_ = io;
  return Status::OK();
}

Result<rados_ioctx_t> RadosPool::Io() {
  std::lock_guard lock(mu_);
  if (io_ == nullptr) CAFS_RETURN_IF_ERROR(Connect());
  return io_;
}

Result<std::uint64_t> RadosPool::ReadSize(rados_ioctx_t io, const std::string& object) {
  char text[32];
  const int rc = rados_getxattr(io, object.c_str(), kSizeXattr, text, sizeof text);
  if (rc == -ENOENT) {
    return Status::NotFound("storage pool '" + options_.name + "': no file " + object);
  }
  if (rc == -ENODATA) {
    return Status::Corruption("storage pool '" + options_.name + "': object " + object +
                              " has no " + kSizeXattr + " (not a CAFS pool file)");
  }
  if (rc < 0) return Error(rc, "getxattr size of", object);
  std::uint64_t size = 0;
  auto [end, ec] = std::from_chars(text, text + rc, size);
  if (ec != std::errc() || end != text + rc) {
    return Status::Corruption("storage pool '" + options_.name + "': object " + object +
                              " has a bad " + kSizeXattr);
  }
  return size;
}

std::shared_ptr<RadosPool::FileState> RadosPool::StateOf(const std::string& object,
                                                         std::uint64_t size) {
  std::lock_guard lock(states_mu_);
  auto& slot = states_[object];
  if (auto live = slot.lock()) return live;
  auto state = std::make_shared<FileState>();
  state->size.store(size);
  slot = state;
  // Drop the slots of files no longer open so the map stays as small as the open set.
  std::erase_if(states_, [](const auto& entry) { return entry.second.expired(); });
  return state;
}

void RadosPool::ForgetState(const std::string& object) {
  std::lock_guard lock(states_mu_);
  states_.erase(object);
}

Result<std::unique_ptr<WriteLease>> RadosPool::TakeLease(rados_ioctx_t io,
                                                         const std::string& object) {
  const int lease_s = options_.lease_s;
  for (int attempt = 0;; ++attempt) {
    const Steady::rep until = Ticks(lease_s);
    struct timeval tv {
      lease_s, 0
    };
    int rc = rados_lock_exclusive(io, object.c_str(), kLeaseLock, cookie_.c_str(),
                                  "cafs write lease", &tv, 0);
    if (rc == -EEXIST) {  // ours already (a release that failed): renew it
      rc = rados_lock_exclusive(io, object.c_str(), kLeaseLock, cookie_.c_str(), "cafs write lease",
                                &tv, LIBRADOS_LOCK_FLAG_MAY_RENEW);
    }
    if (rc == 0) {
      {
        std::lock_guard lock(renew_mu_);
        if (!renewer_.joinable()) renewer_ = std::thread([this] { RenewLoop(); });
      }
      return std::unique_ptr<WriteLease>(
          std::make_unique<RadosLease>(this, io, object, cookie_, until));
    }
    if (rc != -EBUSY) return Error(rc, "taking the write lease of", object);
    const std::vector<Locker> lockers = Lockers(io, object);
    std::string holder;
    bool broke = false;
    for (const Locker& l : lockers) {
      if (l.cookie == cookie_ && attempt == 0) {
        // Our own owner id under another client: our predecessor, which died.
        const int brc =
            rados_break_lock(io, object.c_str(), kLeaseLock, l.client.c_str(), l.cookie.c_str());
        if (brc == 0 || brc == -ENOENT) {
          CAFS_LOG_INFO("storage pool '{}': broke the write lease of {} left by {} (ours, {})",
                        options_.name, object, l.client, l.addr);
          broke = true;
        }
      }
      holder = "held by " + l.client + " at " + l.addr + ", owner " + l.cookie;
    }
    if (!broke) return LeaseHeld(options_.name, object, holder);
  }
}

void RadosPool::RenewLoop() {
  const auto period = std::chrono::milliseconds(options_.lease_s * 1000 / 3);
  std::unique_lock lock(renew_mu_);
  while (!renew_cv_.wait_for(lock, period, [this] { return stopping_; })) {
    lock.unlock();
    leases_.ForEach([this](WriteLease& l) { static_cast<RadosLease&>(l).Renew(options_.lease_s); });
    lock.lock();
  }
}

Result<std::unique_ptr<env::File>> RadosPool::OpenFile(std::string_view rel_path,
                                                       const env::OpenOptions& options) {
  CAFS_ASSIGN_OR_RETURN(std::string object, ValidateRelativePath(rel_path));
  CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, Io());
  auto size = ReadSize(io, object);
  if (size.ok() && options.create && options.exclusive) {
    return Status::AlreadyExists("storage pool '" + options_.name + "': " + object + " exists");
  }
  if (!size.ok()) {
    if (size.status().code() != Status::Code::kNotFound || !options.create) return size.status();
    rados_write_op_t op = rados_create_write_op();
    rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, nullptr);
    rados_write_op_setxattr(op, kSizeXattr, "0", 1);
    const int rc = rados_write_op_operate(op, io, object.c_str(), nullptr, 0);
    rados_release_write_op(op);
    if (rc == -EEXIST && options.exclusive) {
      return Status::AlreadyExists("storage pool '" + options_.name + "': " + object + " exists");
    }
    if (rc < 0 && rc != -EEXIST) return Error(rc, "create", object);
    if (rc == -EEXIST) {
      size = ReadSize(io, object);  // created by someone else in between
      if (!size.ok()) return size.status();
    } else {
      size = std::uint64_t{0};
    }
  }
  std::shared_ptr<WriteLease> lease;
  if (!options.read_only) {
    CAFS_ASSIGN_OR_RETURN(lease, leases_.Hold(object, [&] { return TakeLease(io, object); }));
    size = ReadSize(io, object);  // as the last holder left it
    if (!size.ok()) return size.status();
  }
  auto file = std::make_unique<RadosFile>(this, object, StateOf(object, *size), std::move(lease));
  if (options.truncate && !options.read_only) CAFS_RETURN_IF_ERROR(file->Truncate(0));
  return std::unique_ptr<env::File>(std::move(file));
}

Status RadosPool::RemoveFile(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string object, ValidateRelativePath(rel_path));
  CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, Io());
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, ReadSize(io, object));
  // Data first, head last: a crash in between leaves a head that fsck sees, never data
  // objects without one.
  if (size > kObject) {
    CAFS_RETURN_IF_ERROR(RemoveObjects(*this, io, DataObjects(object, 1, (size - 1) / kObject)));
  }
  const int rc = rados_remove(io, object.c_str());
  if (rc < 0 && rc != -ENOENT) return Error(rc, "remove", object);
  ForgetState(object);
  return Status::OK();
}

Status RadosPool::Rename(std::string_view from, std::string_view to) {
  CAFS_ASSIGN_OR_RETURN(std::string src, ValidateRelativePath(from));
  CAFS_ASSIGN_OR_RETURN(std::string dst, ValidateRelativePath(to));
  if (src == dst) return Status::OK();
  CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, Io());
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, ReadSize(io, src));
  if (Status gone = RemoveFile(dst); !gone.ok() && gone.code() != Status::Code::kNotFound) {
    return gone;
  }
  std::vector<char> buffer(kObject);
  const std::uint64_t last = size == 0 ? 0 : (size - 1) / kObject;
  // Data objects, then the head of `to` (data and size in one operation): `to` is complete
  // once its head exists.
  for (std::uint64_t i = last; i >= 1; --i) {
    const std::string s = RadosDataObjectName(src, i);
    const int n = rados_read(io, s.c_str(), buffer.data(), buffer.size(), 0);
    if (n == -ENOENT) continue;
    if (n < 0) return Error(n, "read", s);
    const std::string d = RadosDataObjectName(dst, i);
    const int rc = rados_write_full(io, d.c_str(), buffer.data(), static_cast<std::size_t>(n));
    if (rc < 0) return Error(rc, "write", d);
  }
  const int n = rados_read(io, src.c_str(), buffer.data(), buffer.size(), 0);
  if (n < 0) return Error(n, "read", src);
  const std::string size_text = std::to_string(size);
  rados_write_op_t op = rados_create_write_op();
  rados_write_op_write_full(op, buffer.data(), static_cast<std::size_t>(n));
  rados_write_op_setxattr(op, kSizeXattr, size_text.data(), size_text.size());
  const int rc = rados_write_op_operate(op, io, dst.c_str(), nullptr, 0);
  rados_release_write_op(op);
  if (rc < 0) return Error(rc, "write", dst);
  return RemoveFile(src);
}

Result<std::vector<std::string>> RadosPool::ListHeads(std::string_view prefix, std::size_t limit) {
  CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, Io());
  rados_list_ctx_t ctx = nullptr;
  int rc = rados_nobjects_list_open(io, &ctx);
  if (rc < 0) return Error(rc, "list", std::string(prefix) + "*");
  std::vector<std::string> names;
  while (names.size() < limit) {
    const char* entry = nullptr;
    std::size_t entry_size = 0;
    rc = rados_nobjects_list_next2(ctx, &entry, nullptr, nullptr, &entry_size, nullptr, nullptr);
    if (rc == -ENOENT) break;
    if (rc < 0) {
      rados_nobjects_list_close(ctx);
      return Error(rc, "list", std::string(prefix) + "*");
    }
    std::string_view name(entry, entry_size);
    if (name.starts_with(prefix) && name.find("//") == std::string_view::npos) {
      names.emplace_back(name);
    }
  }
  rados_nobjects_list_close(ctx);
  return names;
}

Result<std::vector<std::string>> RadosPool::ListDir(std::string_view rel_path) {
  std::string prefix;
  if (!rel_path.empty()) {
    CAFS_ASSIGN_OR_RETURN(prefix, ValidateRelativePath(rel_path));
    prefix += '/';
  }
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> heads, ListHeads(prefix, SIZE_MAX));
  std::set<std::string> children;
  for (const std::string& head : heads) {
    std::string_view rest = std::string_view(head).substr(prefix.size());
    children.emplace(rest.substr(0, rest.find('/')));
  }
  if (children.empty() && !prefix.empty()) {
    return Status::NotFound("storage pool '" + options_.name + "': no directory " +
                            std::string(rel_path));
  }
  return std::vector<std::string>(children.begin(), children.end());
}

Result<env::FileInfo> RadosPool::Stat(std::string_view rel_path) {
  if (rel_path.empty()) {
    CAFS_RETURN_IF_ERROR(Io().status());
    return env::FileInfo{.is_directory = true};
  }
  CAFS_ASSIGN_OR_RETURN(std::string object, ValidateRelativePath(rel_path));
  CAFS_ASSIGN_OR_RETURN(rados_ioctx_t io, Io());
  auto size = ReadSize(io, object);
  if (size.ok()) return env::FileInfo{.size = *size, .allocated_bytes = *size};
  if (size.status().code() != Status::Code::kNotFound) return size.status();
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> below, ListHeads(object + "/", 1));
  if (below.empty()) return size.status();
  return env::FileInfo{.is_directory = true};
}

Status RadosPool::CreateDirs(std::string_view rel_path) {
  if (rel_path.empty()) return Status::OK();
  return ValidateRelativePath(rel_path).status();  // directories are virtual
}

Status RadosPool::RemoveDir(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string object, ValidateRelativePath(rel_path));
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> below, ListHeads(object + "/", 1));
  if (!below.empty()) {
    return Status::FromErrno(ENOTEMPTY,
                             "storage pool '" + options_.name + "': remove directory " + object);
  }
  return Status::OK();
}

Status RadosPool::SyncDir(std::string_view rel_path) {
  if (rel_path.empty()) return Status::OK();
  return ValidateRelativePath(rel_path).status();  // object creates/removes are durable on ack
}

Result<PoolSpace> RadosPool::Space() {
  CAFS_RETURN_IF_ERROR(Io().status());
  struct rados_cluster_stat_t st {};
  const int rc = rados_cluster_stat(cluster_, &st);
  if (rc < 0) {
    return Status::Unavailable("storage pool '" + options_.name + "' (" + location() +
                               "): cluster stat: " + std::strerror(-rc));
  }
  return PoolSpace{.total_bytes = st.kb * 1024, .free_bytes = st.kb_avail * 1024};
}

Status RadosPool::CheckAvailable() {
  auto io = Io();
  if (!io.ok()) return io.status();
  std::uint64_t size = 0;
  time_t mtime = 0;
  const int rc = rados_stat(*io, kProbeObject, &size, &mtime);
  if (rc < 0 && rc != -ENOENT) {
    return Status::Unavailable("storage pool '" + options_.name + "' (" + location() +
                               ") is unavailable: " + std::strerror(-rc));
  }
  return Status::OK();
}

}  // namespace cafs::pool
