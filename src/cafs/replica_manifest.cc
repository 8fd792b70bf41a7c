#include "cafs/replica_manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/kdf.h"
#include "crypto/mac.h"
#include "crypto/rng.h"

namespace cafs::core {
namespace {

constexpr char kMagic[8] = {'C', 'A', 'F', 'S', 'R', 'P', 'L', '1'};
// Version 2 added each file's mode, uid and gid; version 3 each extent's offset in the data
// file (append-only data files). Versions 1 and 2 still decode (version 1 files restore as
// 0644 root, what version 1 restores did; their chunk k is at k * chunk size).
constexpr std::uint32_t kVersion = 3;
constexpr std::uint32_t kVersionAtChunkOffsets = 2;
constexpr std::uint32_t kVersionWithoutOwner = 1;
constexpr std::size_t kFixedSize = 78;            // up to the VM path
constexpr std::size_t kFileFixedV1 = 64;          // a version 1 file record up to its names
constexpr std::size_t kFileFixed = 76;            // a version 2 or 3 file record up to its names
constexpr std::size_t kExtentSizeV2 = 40;         // chunk index + SHA-256
constexpr std::size_t kExtentSize = 48;           // chunk index + offset + SHA-256
constexpr std::uint64_t kMaxOffset = 1ull << 62;  // no offset + chunk overflows
constexpr std::size_t kMacSize = 32;
constexpr std::size_t kMaxFiles = 4096;
constexpr std::uint64_t kMaxExtents = std::uint64_t{1} << 28;

void PutUuid(Bytes& out, const Uuid& u) {
  out.insert(out.end(), u.bytes().begin(), u.bytes().end());
}
void Put16(Bytes& out, std::uint16_t v) {
  std::uint8_t b[2];
  StoreLe16(b, v);
  out.insert(out.end(), b, b + 2);
}
void Put32(Bytes& out, std::uint32_t v) {
  std::uint8_t b[4];
  StoreLe32(b, v);
  out.insert(out.end(), b, b + 4);
}
void Put64(Bytes& out, std::uint64_t v) {
  std::uint8_t b[8];
  StoreLe64(b, v);
  out.insert(out.end(), b, b + 8);
}

// A bounds-checked reader: every Take names the field that ran past the end.
class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  Result<ByteView> Take(std::size_t n, const char* field) {
    if (b_.size() - pos_ < n) {
      return Status::Corruption(std::string("replica manifest truncated in ") + field);
    }
    ByteView v = b_.subspan(pos_, n);
    pos_ += n;
    return v;
  }
  std::size_t Remaining() const { return b_.size() - pos_; }
  Result<Uuid> TakeUuid(const char* field) {
    CAFS_ASSIGN_OR_RETURN(ByteView v, Take(Uuid::kSize, field));
    return Uuid::FromBytes(v.data(), v.size());
  }
  Result<std::uint64_t> Take64(const char* f) {
    CAFS_ASSIGN_OR_RETURN(ByteView v, Take(8, f));
    return LoadLe64(v.data());
  }
  Result<std::uint32_t> Take32(const char* f) {
    CAFS_ASSIGN_OR_RETURN(ByteView v, Take(4, f));
    return LoadLe32(v.data());
  }
  Result<std::uint16_t> Take16(const char* f) {
    CAFS_ASSIGN_OR_RETURN(ByteView v, Take(2, f));
    return LoadLe16(v.data());
  }
  Result<std::string> TakeString(std::size_t n, const char* f) {
    CAFS_ASSIGN_OR_RETURN(ByteView v, Take(n, f));
    return std::string(v.begin(), v.end());
  }
  bool AtEnd() const { return pos_ == b_.size(); }

 private:
  ByteView b_;
  std::size_t pos_ = 0;
};

}  // namespace

const ReplicaFileEntry* ReplicaManifest::Find(const Uuid& file_guid) const {
  for (const auto& f : files) {
    if (f.file_guid == file_guid) return &f;
  }
  return nullptr;
}

Result<SecureBuffer> ReplicaMacKey(ByteView replica_secret) {
  return crypto::HkdfSha512(replica_secret, {}, "cafs/v1/replica-manifest", 32);
}

Result<SecureBuffer> LoadReplicaSecret(const std::string& path) {
  SecureBuffer secret(32);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open replica key " + path);
  const ssize_t got = ::read(fd, secret.data(), secret.size());
  std::uint8_t extra = 0;
  const ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (got != 32 || more != 0) {
    return Status::Corruption("replica key " + path + " is not exactly 32 bytes");
  }
  return secret;
}

Result<SecureBuffer> LoadOrCreateReplicaSecret(const std::string& path) {
  auto existing = LoadReplicaSecret(path);
  if (existing.ok() || !existing.status().IsNotFound()) return existing;
  SecureBuffer secret(32);
  CAFS_RETURN_IF_ERROR(crypto::RandomBytes(MutableByteView(secret.data(), secret.size())));
  const std::string temp = path + ".new";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + temp);
  const bool ok = ::write(fd, secret.data(), secret.size()) == 32 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::FromErrno(err, "write " + temp);
  // link, not rename: never replaces a key another process created meanwhile (EEXIST).
  const bool linked = ::link(temp.c_str(), path.c_str()) == 0;
  const int link_err = errno;
  ::unlink(temp.c_str());
  if (!linked && link_err != EEXIST) return Status::FromErrno(link_err, "create " + path);
  return LoadReplicaSecret(path);
}

Result<Bytes> EncodeManifest(const ReplicaManifest& m, ByteView mac_key) {
  if (m.vm_path.size() > 0xffff) return Status::InvalidArgument("VM path too long");
  if (m.files.size() > kMaxFiles) return Status::InvalidArgument("too many files in a replica");
  if (m.chunk_bytes == 0) return Status::InvalidArgument("chunk size 0");
  Bytes out(kMagic, kMagic + sizeof kMagic);
  Put32(out, kVersion);
  Put32(out, m.chunk_bytes);
  PutUuid(out, m.replica_id);
  PutUuid(out, m.parent_id);
  PutUuid(out, m.vm_set_id);
  Put64(out, m.created_ms);
  Put32(out, static_cast<std::uint32_t>(m.files.size()));
  Put16(out, static_cast<std::uint16_t>(m.vm_path.size()));
  out.insert(out.end(), m.vm_path.begin(), m.vm_path.end());
  for (const auto& f : m.files) {
    if (f.name.size() > 0xffff || f.pool.size() > 0xffff || f.extents.size() > kMaxExtents) {
      return Status::InvalidArgument("replica manifest: file " + f.name + " too large");
    }
    PutUuid(out, f.file_guid);
    PutUuid(out, f.key_guid);
    Put32(out, f.key_version);
    Put32(out, f.sector_size);
    Put64(out, f.pool_file_size);
    Put64(out, f.logical_size);
    Put32(out, f.mode);
    Put32(out, f.uid);
    Put32(out, f.gid);
    Put32(out, static_cast<std::uint32_t>(f.extents.size()));
    Put16(out, static_cast<std::uint16_t>(f.name.size()));
    Put16(out, static_cast<std::uint16_t>(f.pool.size()));
    out.insert(out.end(), f.name.begin(), f.name.end());
    out.insert(out.end(), f.pool.begin(), f.pool.end());
    for (const auto& e : f.extents) {
      Put64(out, e.chunk);
      Put64(out, e.offset);
      out.insert(out.end(), e.sha256.begin(), e.sha256.end());
    }
  }
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac, crypto::HmacSha256(mac_key, out));
  out.insert(out.end(), mac.begin(), mac.end());
  return out;
}

Result<ReplicaManifest> DecodeManifest(ByteView bytes, ByteView mac_key) {
  if (bytes.size() < kFixedSize + kMacSize) return Status::Corruption("replica manifest truncated");
  const ByteView body = bytes.first(bytes.size() - kMacSize);
  CAFS_ASSIGN_OR_RETURN(crypto::Sha256Mac mac, crypto::HmacSha256(mac_key, body));
  if (!crypto::ConstantTimeEquals(mac, bytes.last(kMacSize))) {
    return Status::AuthFailed(
        "replica manifest MAC mismatch: tampered, or made with another replica key");
  }
  Reader r(body);
  CAFS_ASSIGN_OR_RETURN(ByteView magic, r.Take(8, "magic"));
  if (std::memcmp(magic.data(), kMagic, 8) != 0)
    return Status::Corruption("replica manifest: bad magic");
  CAFS_ASSIGN_OR_RETURN(std::uint32_t version, r.Take32("version"));
  if (version != kVersion && version != kVersionAtChunkOffsets && version != kVersionWithoutOwner) {
    return Status::Corruption("replica manifest: version " + std::to_string(version));
  }
  const bool has_owner = version != kVersionWithoutOwner;
  const bool has_offsets = version == kVersion;
  const std::size_t file_fixed = has_owner ? kFileFixed : kFileFixedV1;
  const std::size_t extent_size = has_offsets ? kExtentSize : kExtentSizeV2;
  ReplicaManifest m;
  CAFS_ASSIGN_OR_RETURN(m.chunk_bytes, r.Take32("chunk size"));
  if (m.chunk_bytes == 0 || m.chunk_bytes % 4096 != 0) {
    return Status::Corruption("replica manifest: chunk size " + std::to_string(m.chunk_bytes));
  }
  CAFS_ASSIGN_OR_RETURN(m.replica_id, r.TakeUuid("replica id"));
  CAFS_ASSIGN_OR_RETURN(m.parent_id, r.TakeUuid("parent id"));
  CAFS_ASSIGN_OR_RETURN(m.vm_set_id, r.TakeUuid("VM set GUID"));
  CAFS_ASSIGN_OR_RETURN(m.created_ms, r.Take64("time"));
  CAFS_ASSIGN_OR_RETURN(std::uint32_t count, r.Take32("file count"));
  // Counts are checked against the bytes left before anything is allocated for them.
  if (count > kMaxFiles || count > r.Remaining() / file_fixed) {
    return Status::Corruption("replica manifest: file count");
  }
  CAFS_ASSIGN_OR_RETURN(std::uint16_t path_len, r.Take16("VM path length"));
  CAFS_ASSIGN_OR_RETURN(m.vm_path, r.TakeString(path_len, "VM path"));
  for (std::uint32_t i = 0; i < count; ++i) {
    ReplicaFileEntry f;
    CAFS_ASSIGN_OR_RETURN(f.file_guid, r.TakeUuid("file GUID"));
    CAFS_ASSIGN_OR_RETURN(f.key_guid, r.TakeUuid("key GUID"));
    CAFS_ASSIGN_OR_RETURN(f.key_version, r.Take32("key version"));
    CAFS_ASSIGN_OR_RETURN(f.sector_size, r.Take32("sector size"));
    CAFS_ASSIGN_OR_RETURN(f.pool_file_size, r.Take64("pool file size"));
    CAFS_ASSIGN_OR_RETURN(f.logical_size, r.Take64("logical size"));
    if (has_owner) {
      CAFS_ASSIGN_OR_RETURN(f.mode, r.Take32("mode"));
      CAFS_ASSIGN_OR_RETURN(f.uid, r.Take32("uid"));
      CAFS_ASSIGN_OR_RETURN(f.gid, r.Take32("gid"));
      if (f.mode > 07777) return Status::Corruption("replica manifest: mode beyond 07777");
    }
    CAFS_ASSIGN_OR_RETURN(std::uint32_t extents, r.Take32("extent count"));
    CAFS_ASSIGN_OR_RETURN(std::uint16_t name_len, r.Take16("name length"));
    CAFS_ASSIGN_OR_RETURN(std::uint16_t pool_len, r.Take16("pool length"));
    CAFS_ASSIGN_OR_RETURN(f.name, r.TakeString(name_len, "name"));
    CAFS_ASSIGN_OR_RETURN(f.pool, r.TakeString(pool_len, "pool"));
    if (f.name.empty() || f.name.find('/') != std::string::npos || f.name == "." ||
        f.name == "..") {
      return Status::Corruption("replica manifest: bad file name");
    }
    const std::uint64_t chunks = (f.pool_file_size + m.chunk_bytes - 1) / m.chunk_bytes;
    if (extents > chunks) return Status::Corruption("replica manifest: more extents than chunks");
    if (extents > r.Remaining() / extent_size) {
      return Status::Corruption("replica manifest truncated in extents");
    }
    f.extents.resize(extents);
    for (auto& e : f.extents) {
      CAFS_ASSIGN_OR_RETURN(e.chunk, r.Take64("extent"));
      if (has_offsets) {
        CAFS_ASSIGN_OR_RETURN(e.offset, r.Take64("extent offset"));
      }
      CAFS_ASSIGN_OR_RETURN(ByteView d, r.Take(kManifestDigestSize, "extent digest"));
      std::memcpy(e.sha256.data(), d.data(), d.size());
      if (e.chunk >= chunks || (&e != f.extents.data() && (&e - 1)->chunk >= e.chunk)) {
        return Status::Corruption("replica manifest: extents out of order or beyond the size");
      }
      if (!has_offsets) {
        e.offset = e.IsHole() ? 0 : e.chunk * m.chunk_bytes;
      } else if (e.offset > kMaxOffset || (e.IsHole() && e.offset != 0)) {
        return Status::Corruption("replica manifest: extent offset");
      }
    }
    m.files.push_back(std::move(f));
  }
  if (!r.AtEnd()) return Status::Corruption("replica manifest: trailing bytes");
  return m;
}

}  // namespace cafs::core
