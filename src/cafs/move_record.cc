#include "cafs/move_record.h"

#include <cstring>

#include "crypto/mac.h"

namespace cafs::core {
namespace {

class Writer {
 public:
  void Raw(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void U8(std::uint8_t v) { out_.push_back(v); }
  void U32(std::uint32_t v) {
    std::uint8_t b[4];
    StoreLe32(b, v);
    Raw(ByteView(b, 4));
  }
  void U64(std::uint64_t v) {
    std::uint8_t b[8];
    StoreLe64(b, v);
    Raw(ByteView(b, 8));
  }
  void Id(const Uuid& id) { Raw(ByteView(id.bytes().data(), id.bytes().size())); }
  void Str(std::string_view s) {
    U32(static_cast<std::uint32_t>(s.size()));
    Raw(AsBytes(s));
  }
  Bytes Take() { return std::move(out_); }
  ByteView view() const { return ByteView(out_.data(), out_.size()); }

 private:
  Bytes out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  bool done() const { return pos_ == in_.size(); }

  Status Raw(std::size_t n, const char* what, const std::uint8_t** p) {
    if (in_.size() - pos_ < n)
      return Status::Corruption(std::string("move record: ") + what + " runs past the end");
    *p = in_.data() + pos_;
    pos_ += n;
    return Status::OK();
  }
  Result<std::uint8_t> U8(const char* what) {
    const std::uint8_t* p;
    CAFS_RETURN_IF_ERROR(Raw(1, what, &p));
    return *p;
  }
  Result<std::uint32_t> U32(const char* what) {
    const std::uint8_t* p;
    CAFS_RETURN_IF_ERROR(Raw(4, what, &p));
    return LoadLe32(p);
  }
  Result<std::uint64_t> U64(const char* what) {
    const std::uint8_t* p;
    CAFS_RETURN_IF_ERROR(Raw(8, what, &p));
    return LoadLe64(p);
  }
  Result<Uuid> Id(const char* what) {
    const std::uint8_t* p;
    CAFS_RETURN_IF_ERROR(Raw(Uuid::kSize, what, &p));
    return Uuid::FromBytes(p, Uuid::kSize);
  }
  Result<std::string> Str(const char* what) {
    CAFS_ASSIGN_OR_RETURN(std::uint32_t n, U32(what));
    if (n > kMoveRecordMaxString) {
      return Status::Corruption(std::string("move record: ") + what + " longer than the bound");
    }
    const std::uint8_t* p;
    CAFS_RETURN_IF_ERROR(Raw(n, what, &p));
    return std::string(reinterpret_cast<const char*>(p), n);
  }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
};

// Backing names joined by '/': none empty, ".", ".." (so a record never reaches outside the
// VM set's directory); "" is the directory itself.
bool IsRelativeBackingPath(std::string_view path, bool allow_empty) {
  if (path.empty()) return allow_empty;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool KnownType(std::uint8_t t) {
  return t >= static_cast<std::uint8_t>(MoveEntry::Type::kDirectory) &&
         t <= static_cast<std::uint8_t>(MoveEntry::Type::kMirrorLog);
}

}  // namespace

Bytes EncodeMoveRecord(const MoveRecord& record) {
  Writer w;
  w.Raw(AsBytes(kMoveRecordMagic));
  w.U32(kMoveRecordVersion);
  w.Id(record.move_id);
  w.Id(record.source);
  w.Str(record.vmset);
  w.U32(static_cast<std::uint32_t>(record.entries.size()));
  for (const MoveEntry& e : record.entries) {
    w.U8(static_cast<std::uint8_t>(e.type));
    w.U32(e.mode);
    w.U32(e.uid);
    w.U32(e.gid);
    w.U64(e.rdev);
    w.U64(static_cast<std::uint64_t>(e.atime_s));
    w.U32(e.atime_ns);
    w.U64(static_cast<std::uint64_t>(e.mtime_s));
    w.U32(e.mtime_ns);
    w.Str(e.path);
    w.Str(e.data);
  }
  w.U32(static_cast<std::uint32_t>(record.files.size()));
  for (const MovedFile& f : record.files) {
    w.Id(f.guid);
    w.Str(f.pool);
    w.Str(f.pool_path);
  }
  const crypto::Sha256Mac sum = crypto::Sha256(w.view());
  w.Raw(ByteView(sum.data(), sum.size()));
  return w.Take();
}

Result<MoveRecord> DecodeMoveRecord(ByteView bytes) {
  const std::size_t sum_size = crypto::Sha256Mac().size();
  if (bytes.size() < kMoveRecordMagic.size() + 4 + sum_size ||
      std::memcmp(bytes.data(), kMoveRecordMagic.data(), kMoveRecordMagic.size()) != 0) {
    return Status::Corruption("not a CAFS move record (bad magic)");
  }
  const ByteView body = bytes.first(bytes.size() - sum_size);
  const crypto::Sha256Mac sum = crypto::Sha256(body);
  if (std::memcmp(sum.data(), bytes.data() + body.size(), sum_size) != 0) {
    return Status::Corruption("move record: checksum does not match (torn or damaged)");
  }
  Reader r(body.subspan(kMoveRecordMagic.size()));
  CAFS_ASSIGN_OR_RETURN(std::uint32_t version, r.U32("version"));
  if (version != kMoveRecordVersion) {
    return Status::Corruption("move record: version " + std::to_string(version) +
                              " (this cafsd reads version 1)");
  }
  MoveRecord m;
  CAFS_ASSIGN_OR_RETURN(m.move_id, r.Id("move id"));
  CAFS_ASSIGN_OR_RETURN(m.source, r.Id("source store id"));
  CAFS_ASSIGN_OR_RETURN(m.vmset, r.Str("VM set name"));
  if (!IsRelativeBackingPath(m.vmset, false) || m.vmset.find('/') != std::string::npos) {
    return Status::Corruption("move record: bad VM set name");
  }
  CAFS_ASSIGN_OR_RETURN(std::uint32_t entries, r.U32("entry count"));
  if (entries > kMoveRecordMaxEntries) return Status::Corruption("move record: too many entries");
  for (std::uint32_t i = 0; i < entries; ++i) {
    MoveEntry e;
    CAFS_ASSIGN_OR_RETURN(std::uint8_t type, r.U8("entry type"));
    if (!KnownType(type)) {
      return Status::Corruption("move record: entry " + std::to_string(i) + " has unknown type " +
                                std::to_string(type));
    }
    e.type = static_cast<MoveEntry::Type>(type);
    CAFS_ASSIGN_OR_RETURN(e.mode, r.U32("mode"));
    CAFS_ASSIGN_OR_RETURN(e.uid, r.U32("uid"));
    CAFS_ASSIGN_OR_RETURN(e.gid, r.U32("gid"));
    CAFS_ASSIGN_OR_RETURN(e.rdev, r.U64("rdev"));
    CAFS_ASSIGN_OR_RETURN(std::uint64_t atime, r.U64("atime"));
    CAFS_ASSIGN_OR_RETURN(e.atime_ns, r.U32("atime ns"));
    CAFS_ASSIGN_OR_RETURN(std::uint64_t mtime, r.U64("mtime"));
    CAFS_ASSIGN_OR_RETURN(e.mtime_ns, r.U32("mtime ns"));
    e.atime_s = static_cast<std::int64_t>(atime);
    e.mtime_s = static_cast<std::int64_t>(mtime);
    CAFS_ASSIGN_OR_RETURN(e.path, r.Str("entry path"));
    CAFS_ASSIGN_OR_RETURN(e.data, r.Str("entry data"));
    const bool root_ok = e.type == MoveEntry::Type::kDirectory;
    const bool path_ok =
        e.type == MoveEntry::Type::kMirrorLog
            ? IsRelativeBackingPath(e.path, false) && e.path.find('/') == std::string::npos
            : IsRelativeBackingPath(e.path, root_ok);
    if (!path_ok || (e.type == MoveEntry::Type::kLink && !IsRelativeBackingPath(e.data, false))) {
      return Status::Corruption("move record: entry " + std::to_string(i) + " has a bad path");
    }
    m.entries.push_back(std::move(e));
  }
  CAFS_ASSIGN_OR_RETURN(std::uint32_t files, r.U32("file count"));
  if (files > kMoveRecordMaxEntries) return Status::Corruption("move record: too many files");
  for (std::uint32_t i = 0; i < files; ++i) {
    MovedFile f;
    CAFS_ASSIGN_OR_RETURN(f.guid, r.Id("file GUID"));
    CAFS_ASSIGN_OR_RETURN(f.pool, r.Str("pool"));
    CAFS_ASSIGN_OR_RETURN(f.pool_path, r.Str("pool path"));
    m.files.push_back(std::move(f));
  }
  if (!r.done()) return Status::Corruption("move record: bytes after the file list");
  return m;
}

}  // namespace cafs::core
