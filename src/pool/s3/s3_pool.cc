#include "pool/s3/s3_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>

#include "util/logging.h"

namespace cafs::pool {

namespace {

// Keys asked for in one ListObjectsV2 request (S3's maximum).
constexpr std::size_t kListPage = 1000;

Result<std::uint64_t> ParseSize(std::string_view text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Corruption("bad Content-Length '" + std::string(text) + "'");
  }
  return v;
}

bool Ok2xx(const S3Response& r) { return r.status >= 200 && r.status < 300; }

// An open pool file (s3_pool.h): reads by range while not staged, everything on the staged copy
// otherwise.
class S3File final : public env::File {
 public:
  S3File(S3Pool* pool, std::string key, std::shared_ptr<S3Pool::Object> object, bool read_only)
      : pool_(pool),
        key_(std::move(key)),
        object_(std::move(object)),
        read_only_(read_only),
        path_(pool->location() + "/" + key_) {}

  ~S3File() override { pool_->Release(key_, *object_); }

  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    if (auto staged = Staged()) return staged->ReadAt(offset, out);
    const std::uint64_t size = object_->size.load();
    if (offset >= size || out.empty()) return std::size_t{0};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
    return pool_->ReadRange(key_, offset, out.first(n));
  }

  Status WriteAt(std::uint64_t offset, ByteView data) override {
    CAFS_ASSIGN_OR_RETURN(std::shared_ptr<env::File> staged, Writable());
    CAFS_RETURN_IF_ERROR(staged->WriteAt(offset, data));
    object_->dirty.store(true);
    return Status::OK();
  }

  Status Truncate(std::uint64_t size) override {
    CAFS_ASSIGN_OR_RETURN(std::shared_ptr<env::File> staged, Writable());
    CAFS_RETURN_IF_ERROR(staged->Truncate(size));
    object_->dirty.store(true);
    return Status::OK();
  }

  // Uploads the staged copy if it changed: the durability point of this kind.
  Status Sync() override {
    if (read_only_) return Status::OK();
    std::lock_guard lock(object_->mu);
    return pool_->Upload(key_, *object_);
  }

  Result<std::uint64_t> Size() override {
    if (auto staged = Staged()) return staged->Size();
    return object_->size.load();
  }

  Status PunchHole(std::uint64_t /*offset*/, std::uint64_t /*length*/) override {
    return Status::NotSupported(path_ + ": an s3 pool cannot punch holes (objects are whole)");
  }
  Status Allocate(std::uint64_t /*offset*/, std::uint64_t /*length*/) override {
    return Status::NotSupported(path_ + ": an s3 pool reserves no space");
  }

  const std::string& path() const override { return path_; }

 private:
  std::shared_ptr<env::File> Staged() {
    std::lock_guard lock(object_->mu);
    return object_->staged;
  }
  Result<std::shared_ptr<env::File>> Writable() {
    if (read_only_) return Status::FromErrno(EBADF, path_ + " is open read-only");
    auto staged = Staged();
    if (staged == nullptr) return Status::Internal(path_ + ": writable but not staged");
    return staged;
  }

  S3Pool* const pool_;
  const std::string key_;
  const std::shared_ptr<S3Pool::Object> object_;
  const bool read_only_;
  const std::string path_;
};

}  // namespace

S3Pool::S3Pool(S3PoolOptions options, env::Env* env)
    : options_(std::move(options)),
      env_(env != nullptr ? env : env::Env::Default()),
      client_(options_.client) {}

S3Pool::~S3Pool() = default;

std::string S3Pool::location() const {
  return client_.location() + (options_.prefix.empty() ? "" : "/" + options_.prefix);
}

std::string S3Pool::Key(const std::string& rel) const {
  return options_.prefix.empty() ? rel : options_.prefix + "/" + rel;
}

Status S3Pool::Expect2xx(const Result<S3Response>& response, std::string_view what,
                         const std::string& key) const {
  if (!response.ok()) return response.status();
  // CopyObject and CompleteMultipartUpload may answer 200 with an error in the body.
  if (Ok2xx(*response) && response->body.find("<Error>") == std::string::npos) {
    return Status::OK();
  }
  return client_.ErrorOf(*response, what, key);
}

Result<std::uint64_t> S3Pool::HeadSize(const std::string& key) {
  CAFS_ASSIGN_OR_RETURN(S3Response r, client_.Send({.method = "HEAD", .key = key}));
  if (!Ok2xx(r)) return client_.ErrorOf(r, "HEAD", key);
  auto length = r.headers.find("content-length");
  if (length == r.headers.end()) return std::uint64_t{0};
  auto size = ParseSize(length->second);
  if (!size.ok()) return client_.ErrorOf(r, "HEAD (" + size.status().message() + ")", key);
  return *size;
}

Result<std::size_t> S3Pool::ReadRange(const std::string& key, std::uint64_t offset,
                                      MutableByteView out) {
  if (out.empty()) return std::size_t{0};
  const std::string range =
      "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + out.size() - 1);
  CAFS_ASSIGN_OR_RETURN(
      S3Response r,
      client_.Send({.method = "GET", .key = key, .headers = {{"Range", range}}, .out = out}));
  if (r.status == 416) return std::size_t{0};  // past the end (the object shrank)
  if (r.status == 200 && offset != 0) {
    // A server that ignored the range sent the object from its start: not what was asked.
    return Status::FromErrno(
        EIO, "storage pool '" + name() + "': GET " + key + " ignored the Range header");
  }
  if (!Ok2xx(r)) return client_.ErrorOf(r, "GET", key);
  return r.received;
}

Result<std::shared_ptr<env::File>> S3Pool::NewStaging() {
  const std::string path = options_.staging_dir + "/cafs-s3-" + std::to_string(::getpid()) + "-" +
                           std::to_string(staging_counter_.fetch_add(1));
  CAFS_ASSIGN_OR_RETURN(std::unique_ptr<env::File> file,
                        env_->OpenFile(path, env::OpenOptions::CreateNew()));
  // Anonymous from here on: a crash leaves nothing in staging_dir.
  CAFS_RETURN_IF_ERROR(env_->RemoveFile(path));
  return std::shared_ptr<env::File>(std::move(file));
}

Status S3Pool::Download(const std::string& key, std::uint64_t size, env::File& to) {
  Bytes buffer(static_cast<std::size_t>(std::min<std::uint64_t>(size, options_.part_size)));
  for (std::uint64_t done = 0; done < size;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - done));
    CAFS_ASSIGN_OR_RETURN(std::size_t got, ReadRange(key, done, MutableByteView(buffer).first(n)));
    if (got != n) {
      return Status::FromErrno(
          EIO, "storage pool '" + name() + "': " + key + " is shorter than its size while staging");
    }
    CAFS_RETURN_IF_ERROR(to.WriteAt(done, ByteView(buffer).first(n)));
    done += n;
  }
  return to.Truncate(size);
}

Status S3Pool::PutWhole(const std::string& key, env::File& from, std::uint64_t size) {
  Bytes data(static_cast<std::size_t>(size));
  CAFS_ASSIGN_OR_RETURN(std::size_t got, from.ReadAt(0, data));
  data.resize(got);
  return Expect2xx(client_.Send({.method = "PUT", .key = key, .body = data}), "PUT", key);
}

template <typename SendPart>
Status S3Pool::Multipart(const std::string& key, std::uint64_t parts, SendPart send) {
  auto started = client_.Send({.method = "POST", .key = key, .query = "uploads="});
  CAFS_RETURN_IF_ERROR(Expect2xx(started, "initiate multipart upload of", key));
  const std::vector<std::string> ids = S3XmlValues(started->body, "UploadId");
  if (ids.empty()) {
    return Status::FromErrno(EIO, "storage pool '" + name() + "': no UploadId for " + key);
  }
  const std::string upload_query = "uploadId=" + S3UriEncode(ids.front(), false);
  std::string complete = "<CompleteMultipartUpload>";
  Status status;
  for (std::uint64_t part = 1; part <= parts && status.ok(); ++part) {
    const std::string query = "partNumber=" + std::to_string(part) + "&" + upload_query;
    auto etag = send(part, query);
    if (!etag.ok()) {
      status = etag.status();
      break;
    }
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + *etag +
                "</ETag></Part>";
  }
  if (status.ok()) {
    complete += "</CompleteMultipartUpload>";
    status = Expect2xx(
        client_.Send(
            {.method = "POST", .key = key, .query = upload_query, .body = AsBytes(complete)}),
        "complete multipart upload of", key);
  }
  if (!status.ok()) {
    // Leaves no parts behind (they would be billed and never seen); the failure is the error.
    (void)client_.Send({.method = "DELETE", .key = key, .query = upload_query});
  }
  return status;
}

Status S3Pool::PutInParts(const std::string& key, std::uint64_t size, const ReadFn& read) {
  const std::uint64_t part_size = options_.part_size;
  Bytes buffer(static_cast<std::size_t>(part_size));
  return Multipart(
      key, (size + part_size - 1) / part_size,
      [&](std::uint64_t part, const std::string& query) -> Result<std::string> {
        const std::uint64_t at = (part - 1) * part_size;
        const auto n = static_cast<std::size_t>(std::min(part_size, size - at));
        CAFS_ASSIGN_OR_RETURN(std::size_t got, read(at, MutableByteView(buffer).first(n)));
        if (got != n) return Status::FromErrno(EIO, "the source of " + key + " shrank");
        auto r = client_.Send(
            {.method = "PUT", .key = key, .query = query, .body = ByteView(buffer).first(n)});
        CAFS_RETURN_IF_ERROR(Expect2xx(r, "upload part of", key));
        return r->headers["etag"];
      });
}

Status S3Pool::Upload(const std::string& key, Object& object) {
  if (object.staged == nullptr || !object.dirty.exchange(false)) return Status::OK();
  auto size = object.staged->Size();
  Status status = size.status();
  if (status.ok()) {
    status = *size <= options_.part_size
                 ? PutWhole(key, *object.staged, *size)
                 : PutInParts(key, *size, [&](std::uint64_t at, MutableByteView to) {
                     return object.staged->ReadAt(at, to);
                   });
  }
  if (!status.ok()) {
    object.dirty.store(true);  // the next Sync tries again
    return status;
  }
  object.size.store(*size);
  return Status::OK();
}

void S3Pool::Release(const std::string& key, Object& object) {
  std::lock_guard lock(object.mu);
  if (--object.handles > 0) return;
  if (Status s = Upload(key, object); !s.ok()) {
    CAFS_LOG_ERROR("closing {}: upload failed, changes since the last sync are lost: {}", key,
                   s.ToString());
  }
  object.staged.reset();
}

std::shared_ptr<S3Pool::Object> S3Pool::ObjectOf(const std::string& key) {
  std::lock_guard lock(objects_mu_);
  auto& slot = objects_[key];
  if (auto live = slot.lock()) return live;
  auto object = std::make_shared<Object>();
  slot = object;
  std::erase_if(objects_, [](const auto& entry) { return entry.second.expired(); });
  return object;
}

Result<std::unique_ptr<env::File>> S3Pool::OpenFile(std::string_view rel_path,
                                                    const env::OpenOptions& options) {
  CAFS_ASSIGN_OR_RETURN(std::string rel, ValidateRelativePath(rel_path));
  const std::string key = Key(rel);
  std::shared_ptr<Object> object = ObjectOf(key);
  std::lock_guard lock(object->mu);
  const bool open_here = object->handles > 0;
  Result<std::uint64_t> size =
      open_here ? Result<std::uint64_t>(object->size.load()) : HeadSize(key);
  if (size.ok() && options.create && options.exclusive) {
    return Status::AlreadyExists("storage pool '" + name() + "': " + key + " exists");
  }
  bool created = false;
  if (!size.ok()) {
    if (!size.status().IsNotFound() || !options.create) return size.status();
    std::vector<std::pair<std::string, std::string>> headers;
    if (options.exclusive) headers.emplace_back("If-None-Match", "*");
    auto put = client_.Send({.method = "PUT", .key = key, .headers = headers});
    Status s = Expect2xx(put, "create", key);
    if (s.code() == Status::Code::kAlreadyExists) {
      return Status::AlreadyExists("storage pool '" + name() + "': " + key + " exists");
    }
    CAFS_RETURN_IF_ERROR(s);
    size = std::uint64_t{0};
    created = true;
  }
  const bool truncate = options.truncate && !options.read_only;
  if (!options.read_only && object->staged == nullptr) {
    CAFS_ASSIGN_OR_RETURN(std::shared_ptr<env::File> staged, NewStaging());
    if (!created && !truncate) CAFS_RETURN_IF_ERROR(Download(key, *size, *staged));
    object->staged = std::move(staged);
    object->dirty.store(false);
  }
  if (!open_here) object->size.store(*size);
  if (truncate && object->staged != nullptr) {
    CAFS_RETURN_IF_ERROR(object->staged->Truncate(0));
    object->dirty.store(!created);
  }
  ++object->handles;
  return std::unique_ptr<env::File>(
      std::make_unique<S3File>(this, key, std::move(object), options.read_only));
}

Status S3Pool::RemoveFile(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string rel, ValidateRelativePath(rel_path));
  const std::string key = Key(rel);
  CAFS_RETURN_IF_ERROR(HeadSize(key).status());
  return Expect2xx(client_.Send({.method = "DELETE", .key = key}), "DELETE", key);
}

Status S3Pool::Copy(const std::string& from_key, const std::string& to_key, std::uint64_t size) {
  const std::string source = "/" + options_.client.bucket + "/" + S3UriEncode(from_key, true);
  if (size <= options_.part_size) {
    return Expect2xx(
        client_.Send({.method = "PUT", .key = to_key, .headers = {{"x-amz-copy-source", source}}}),
        "copy " + from_key + " to", to_key);
  }
  // Above part_size the parts go through this client (range GET, part PUT), not UploadPartCopy:
  // libcurl 7.88 signs a request carrying both x-amz-copy-source and x-amz-copy-source-range
  // wrongly (it sorts the header lines, not the names), and the server refuses the signature.
  return PutInParts(to_key, size, [&](std::uint64_t at, MutableByteView to) {
    return ReadRange(from_key, at, to);
  });
}

Status S3Pool::Rename(std::string_view from, std::string_view to) {
  CAFS_ASSIGN_OR_RETURN(std::string src_rel, ValidateRelativePath(from));
  CAFS_ASSIGN_OR_RETURN(std::string dst_rel, ValidateRelativePath(to));
  if (src_rel == dst_rel) return Status::OK();
  const std::string src = Key(src_rel);
  const std::string dst = Key(dst_rel);
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, HeadSize(src));
  // The copy replaces `to` whole (S3 makes an object visible complete or not at all).
  CAFS_RETURN_IF_ERROR(Copy(src, dst, size));
  return Expect2xx(client_.Send({.method = "DELETE", .key = src}), "DELETE", src);
}

Result<S3Pool::Listing> S3Pool::List(const std::string& prefix, bool delimited, std::size_t limit) {
  Listing listing;
  std::string token;
  while (listing.keys.size() + listing.prefixes.size() < limit) {
    const std::size_t page =
        std::min(kListPage, limit - listing.keys.size() - listing.prefixes.size());
    // Parameters in canonical (sorted) order: the signature covers the query as sent.
    std::string query;
    if (!token.empty()) query += "continuation-token=" + S3UriEncode(token, false) + "&";
    if (delimited) query += "delimiter=%2F&";
    query +=
        "list-type=2&max-keys=" + std::to_string(page) + "&prefix=" + S3UriEncode(prefix, false);
    auto r = client_.Send({.method = "GET", .query = query});
    CAFS_RETURN_IF_ERROR(Expect2xx(r, "list", prefix + "*"));
    for (auto& key : S3XmlValues(r->body, "Key", "Contents"))
      listing.keys.push_back(std::move(key));
    for (auto& p : S3XmlValues(r->body, "Prefix", "CommonPrefixes")) {
      listing.prefixes.push_back(std::move(p));
    }
    auto truncated = S3XmlValues(r->body, "IsTruncated");
    auto next = S3XmlValues(r->body, "NextContinuationToken");
    if (truncated.empty() || truncated.front() != "true" || next.empty()) break;
    token = next.front();
  }
  return listing;
}

Result<std::vector<std::string>> S3Pool::ListDir(std::string_view rel_path) {
  std::string prefix = options_.prefix.empty() ? "" : options_.prefix + "/";
  if (!rel_path.empty()) {
    CAFS_ASSIGN_OR_RETURN(std::string rel, ValidateRelativePath(rel_path));
    prefix += rel + "/";
  }
  CAFS_ASSIGN_OR_RETURN(Listing listing, List(prefix, true, SIZE_MAX));
  std::set<std::string> children;
  for (const std::string& key : listing.keys) children.insert(key.substr(prefix.size()));
  for (const std::string& p : listing.prefixes) {
    children.insert(p.substr(prefix.size(), p.size() - prefix.size() - 1));
  }
  children.erase("");
  if (children.empty() && !rel_path.empty()) {
    return Status::NotFound("storage pool '" + name() + "': no directory " + std::string(rel_path));
  }
  return std::vector<std::string>(children.begin(), children.end());
}

Result<env::FileInfo> S3Pool::Stat(std::string_view rel_path) {
  if (rel_path.empty()) {
    CAFS_RETURN_IF_ERROR(CheckAvailable());
    return env::FileInfo{.is_directory = true};
  }
  CAFS_ASSIGN_OR_RETURN(std::string rel, ValidateRelativePath(rel_path));
  const std::string key = Key(rel);
  auto size = HeadSize(key);
  if (size.ok()) return env::FileInfo{.size = *size, .allocated_bytes = *size};
  if (!size.status().IsNotFound()) return size.status();
  CAFS_ASSIGN_OR_RETURN(Listing below, List(key + "/", false, 1));
  if (below.keys.empty()) return size.status();
  return env::FileInfo{.is_directory = true};
}

Status S3Pool::CreateDirs(std::string_view rel_path) {
  if (rel_path.empty()) return Status::OK();
  return ValidateRelativePath(rel_path).status();  // directories are virtual
}

Status S3Pool::RemoveDir(std::string_view rel_path) {
  CAFS_ASSIGN_OR_RETURN(std::string rel, ValidateRelativePath(rel_path));
  CAFS_ASSIGN_OR_RETURN(Listing below, List(Key(rel) + "/", false, 1));
  if (!below.keys.empty()) {
    return Status::FromErrno(ENOTEMPTY, "storage pool '" + name() + "': remove directory " + rel);
  }
  return Status::OK();
}

Status S3Pool::SyncDir(std::string_view rel_path) {
  if (rel_path.empty()) return Status::OK();
  return ValidateRelativePath(rel_path).status();  // a PUT or DELETE is durable when answered
}

Result<PoolSpace> S3Pool::Space() {
  return PoolSpace{.total_bytes = options_.capacity_bytes, .free_bytes = options_.capacity_bytes};
}

Status S3Pool::CheckAvailable() {
  const std::string prefix = options_.prefix.empty() ? "" : options_.prefix + "/";
  auto r = client_.Send(
      {.method = "GET", .query = "list-type=2&max-keys=1&prefix=" + S3UriEncode(prefix, false)});
  if (!r.ok()) return Status::Unavailable(r.status().message());
  if (Ok2xx(*r)) return Status::OK();
  std::string why = client_.ErrorOf(*r, "list", "bucket " + options_.client.bucket).message();
  if (r->ErrorCode() == "NoSuchBucket") why += " (the bucket does not exist: create it first)";
  return Status::Unavailable(why + " — the pool is unavailable");
}

}  // namespace cafs::pool
