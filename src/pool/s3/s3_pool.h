// S3Pool: a storage pool in a bucket of an S3 service (a "cloud portal"; radosgw in the tests),
// the `[[pool]] kind = "s3"` plug-in. Only src/pool/s3/ includes curl headers; the core reaches
// it through the pool registry (pool_kinds.h, s3_pool_kind.h).
//
// Layout (docs/pools.md "s3"): a pool file of pool-relative path P is ONE object, key
// [prefix/]P, holding the file's bytes; its size is the object's size. Directories are virtual
// (prefixes): CreateDirs/SyncDir are no-ops, ListDir lists with delimiter '/'.
//
// S3 objects are written whole, so this kind suits files written once and read (DR replicas,
// archives, cold VM files), not live disks (capabilities: no random_write, sparse or discard;
// no atomic rename). Semantics:
//  - A file opened read-only is read from the object by HTTP Range requests; nothing is copied.
//  - A file opened for writing is STAGED: the object (unless truncated) is downloaded into an
//    anonymous local file under staging_dir (created then unlinked at once: a crash leaves
//    nothing behind), and reads, writes and truncates go to that copy. Sync uploads the copy
//    when it changed since the last upload (one PUT up to part_size, a multipart upload above)
//    and is the only durability point; the last close of the path in this process uploads too
//    (best effort: an error there is logged, as close(2) errors are — call Sync first). Every
//    handle of one path in this process shares one staged copy.
//  - Creating a file PUTs an empty object at once (with If-None-Match: * when exclusive), so a
//    created file is listed and stat'ed like in the other kinds.
//  - PunchHole and Allocate are NotSupported.
//  - Rename is a copy (server-side CopyObject up to part_size; above, a multipart upload of
//    ranges read through this client, see Copy), then a delete: a crash between leaves both names.
//    Callers close the file first.
//  - Space reports capacity_gib as total and free: S3 reports no capacity.
//
// Threading: every method, and every method of its files, is safe from many threads. The
// shared state of a path (Object) is guarded by its mutex, which an open, a Sync (the whole
// upload) and a last close hold: the other I/O of that path waits for an upload to finish.
// Requests for different paths run in parallel.
// Ownership: files opened here must not outlive the pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "env/env.h"
#include "pool/pool.h"
#include "pool/s3/s3_client.h"

namespace cafs::pool {

struct S3PoolOptions {
  S3ClientOptions client;                 // pool_name, endpoint, region, bucket, keys, retries
  std::string prefix;                     // key prefix (no leading or trailing '/'); empty: none
  std::string staging_dir;                // local directory for staged copies (must exist)
  std::uint64_t part_size = 16ull << 20;  // multipart upload/copy part size (>= 5 MiB)
  std::uint64_t capacity_bytes = 1ull << 40;
};

class S3Pool final : public Pool {
 public:
  S3Pool(S3PoolOptions options, env::Env* env);
  ~S3Pool() override;

  const std::string& name() const override { return options_.client.pool_name; }
  std::string location() const override;
  std::string_view kind() const override { return "s3"; }
  PoolCapabilities capabilities() const override {
    return {.random_write = false,
            .sparse = false,
            .discard = false,
            .atomic_rename = false,
            .write_lease = false};  // S3 has no compare-and-swap (docs/pools.md "Write leases")
  }

  Result<std::unique_ptr<env::File>> OpenFile(std::string_view rel_path,
                                              const env::OpenOptions& options) override;
  Status RemoveFile(std::string_view rel_path) override;
  Status Rename(std::string_view from, std::string_view to) override;
  Status CreateDirs(std::string_view rel_path) override;
  Status RemoveDir(std::string_view rel_path) override;
  Result<env::FileInfo> Stat(std::string_view rel_path) override;
  Result<std::vector<std::string>> ListDir(std::string_view rel_path) override;
  Status SyncDir(std::string_view rel_path) override;
  Result<PoolSpace> Space() override;
  Status CheckAvailable() override;

  // The state of one path shared by its open handles in this process.
  struct Object {
    std::mutex mu;                      // guards staged, handles, and every upload
    std::shared_ptr<env::File> staged;  // the local copy while a writable handle is open
    int handles = 0;
    std::atomic<bool> dirty{false};      // staged changed since the last upload
    std::atomic<std::uint64_t> size{0};  // object size when not staged
  };

  // Internal to the files of this pool.
  S3Client& client() { return client_; }
  // Downloads [offset, offset + out.size()) of `key` (a Range GET); the bytes read.
  Result<std::size_t> ReadRange(const std::string& key, std::uint64_t offset, MutableByteView out);
  // Uploads the staged copy of `key` if dirty; requires object.mu.
  Status Upload(const std::string& key, Object& object);
  // Called by a closing file: the last handle uploads and drops the staged copy.
  void Release(const std::string& key, Object& object);

 private:
  std::string Key(const std::string& rel) const;
  // HEAD: the object's size; NotFound when absent.
  Result<std::uint64_t> HeadSize(const std::string& key);
  Result<std::shared_ptr<env::File>> NewStaging();
  Status Download(const std::string& key, std::uint64_t size, env::File& to);
  Status PutWhole(const std::string& key, env::File& from, std::uint64_t size);
  // Reads `to.size()` bytes of the source at `at`; the bytes read.
  using ReadFn = std::function<Result<std::size_t>(std::uint64_t at, MutableByteView to)>;
  // A multipart upload of `size` bytes read by `read`, in part_size parts.
  Status PutInParts(const std::string& key, std::uint64_t size, const ReadFn& read);
  Status Copy(const std::string& from_key, const std::string& to_key, std::uint64_t size);
  // Runs a multipart upload of `parts` parts; `send(part_number, upload_id)` sends part i
  // (1-based) and returns its ETag. Aborts the upload on failure.
  template <typename SendPart>
  Status Multipart(const std::string& key, std::uint64_t parts, SendPart send);
  // Object keys and common prefixes below `prefix` (a full key prefix ending in '/', or the
  // pool's root), at most `limit` in all.
  struct Listing {
    std::vector<std::string> keys;
    std::vector<std::string> prefixes;
  };
  Result<Listing> List(const std::string& prefix, bool delimited, std::size_t limit);
  std::shared_ptr<Object> ObjectOf(const std::string& key);
  Status Expect2xx(const Result<S3Response>& response, std::string_view what,
                   const std::string& key) const;

  const S3PoolOptions options_;
  env::Env* const env_;
  S3Client client_;
  std::mutex objects_mu_;
  std::map<std::string, std::weak_ptr<Object>> objects_;  // guarded by objects_mu_
  std::atomic<std::uint64_t> staging_counter_{0};
};

}  // namespace cafs::pool
