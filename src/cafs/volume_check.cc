#include "cafs/volume_check.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <system_error>

#include "cafs/redirector.h"
#include "cafs/volume.h"
#include "format/header_codec.h"
#include "format/header_layout.h"
#include "util/bytes.h"

namespace cafs::core {
namespace {

namespace fs = std::filesystem;

// A redirector is a few hundred bytes; anything larger is not one of ours.
constexpr std::uintmax_t kMaxRedirectorSize = 64 * 1024;

using Kind = CheckFinding::Kind;

class Checker {
 public:
  Checker(const std::string& root, pool::PoolMapper& pools, const CheckOptions& options)
      : root_(root), pools_(pools), options_(options) {
    for (const auto& name : pools_.names()) configured_.insert(name);
  }

  CheckReport Run() {
    WalkBacking();
    Progress(true);
    for (const auto& name : pools_.names()) WalkPool(name);
    Progress(true);
    for (const auto& [key, named] : named_) {
      if (present_.count(key)) continue;
      std::string detail = "GUID " + key.second + " is in no file of pool " + key.first;
      if (unreadable_.count({key.first, named.pool_path})) {
        detail += " (" + named.pool_path + ", its path, has no readable header)";
      }
      Add(Kind::kMissingPoolFile, "backing:" + named.rel, std::move(detail));
    }
    return std::move(report_);
  }

 private:
  void Add(Kind kind, std::string where, std::string detail, std::uint64_t bytes = 0,
           bool removed = false) {
    report_.findings.push_back({kind, std::move(where), std::move(detail), bytes, removed});
  }

  void Progress(bool end_of_phase) {
    if (!options_.progress) return;
    const std::uint64_t seen = report_.redirectors + report_.pool_files;
    const std::uint64_t every = options_.progress_every == 0 ? 1 : options_.progress_every;
    if (end_of_phase || seen % every == 0) {
      options_.progress({report_.redirectors, report_.pool_files});
    }
  }

  // The backing store, one directory at a time (a directory that cannot be listed is a
  // finding; the walk goes on). Symlinks are not followed.
  void WalkBacking() {
    std::vector<fs::path> todo{fs::path(root_)};
    while (!todo.empty()) {
      const fs::path dir = std::move(todo.back());
      todo.pop_back();
      std::error_code ec;
      fs::directory_iterator it(dir, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        const fs::directory_entry& e = *it;
        std::error_code type_ec;
        const fs::file_status st = e.symlink_status(type_ec);
        if (type_ec) continue;
        if (fs::is_directory(st)) {
          todo.push_back(e.path());
        } else if (fs::is_regular_file(st)) {
          Entry(e.path());
        }
      }
      if (ec) Add(Kind::kUnreadable, "backing:" + Rel(dir), ec.message());
    }
  }

  std::string Rel(const fs::path& p) const {
    return p.lexically_relative(fs::path(root_)).generic_string();
  }

  void Entry(const fs::path& path) {
    const std::string name = path.filename().string();
    const std::string rel = Rel(path);
    if (name.rfind(kRedirectorTempPrefix, 0) == 0) {
      std::error_code ec;
      const bool removed = options_.remove_orphans && fs::remove(path, ec);
      Add(Kind::kStaleTempFile, "backing:" + rel,
          removed ? "removed" : "a create interrupted before its redirector was named", 0, removed);
      return;
    }
    const auto split = SplitRedirectorName(name);
    if (!split) return;  // not a redirector (the Volume hides it too), e.g. .cafs-lock
    ++report_.redirectors;
    Progress(false);
    const std::string pool(split->pool);
    auto text = ReadSmall(path);
    if (!text.ok()) {
      Add(Kind::kBadRedirector, "backing:" + rel, text.status().ToString());
      return;
    }
    auto r = DecodeRedirector(*text);
    if (!r.ok()) {
      Add(Kind::kBadRedirector, "backing:" + rel, r.status().ToString());
      return;
    }
    if (!configured_.count(pool)) {
      Add(Kind::kBadRedirector, "backing:" + rel, "names pool '" + pool + "', not configured");
      return;
    }
    const auto key = std::make_pair(pool, r->guid.ToString());
    if (auto [it, fresh] = named_.emplace(key, Named{rel, r->pool_path}); !fresh) {
      Add(Kind::kDuplicateGuid, "backing:" + rel,
          "GUID " + key.second + " also named by " + it->second.rel + " in pool " + pool);
    }
  }

  static Result<std::string> ReadSmall(const fs::path& path) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) return Status::FromErrno(ec.value(), "stat " + path.string());
    if (size > kMaxRedirectorSize) return Status::Corruption("too large for a redirector");
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return Status::FromErrno(EIO, "read " + path.string());
    return text;
  }

  void WalkPool(const std::string& name) {
    auto pool = pools_.Find(name);
    if (!pool.ok()) return;
    std::vector<std::string> todo{""};
    while (!todo.empty()) {
      const std::string dir = std::move(todo.back());
      todo.pop_back();
      auto names = (*pool)->ListDir(dir);
      if (!names.ok()) {
        Add(Kind::kUnreadable, name + ":" + dir, names.status().ToString());
        continue;
      }
      for (const auto& n : *names) {
        const std::string rel = dir.empty() ? n : dir + "/" + n;
        auto info = (*pool)->Stat(rel);
        if (!info.ok()) {
          Add(Kind::kUnreadable, name + ":" + rel, info.status().ToString());
        } else if (info->is_directory) {
          todo.push_back(rel);
        } else {
          PoolFile(**pool, rel, *info);
        }
      }
    }
  }

  void PoolFile(pool::Pool& pool, const std::string& rel, const env::FileInfo& info) {
    ++report_.pool_files;
    Progress(false);
    const std::string where = pool.name() + ":" + rel;
    if (fs::path(rel).filename().string().rfind(kShredClaimPrefix, 0) == 0) {
      // Half shredded (its header may be random already): the job finishes it, never fsck.
      Add(Kind::kOrphanPoolFile, where,
          "claimed by a shred job that has not finished: start cafsd and it finishes the job",
          info.allocated_bytes, false);
      return;
    }
    auto guid = HeaderGuid(pool, rel);
    if (!guid.ok()) {
      unreadable_.insert({pool.name(), rel});
      Add(Kind::kBadPoolFile, where, guid.status().ToString());
      return;
    }
    const auto key = std::make_pair(pool.name(), guid->ToString());
    present_.insert(key);
    if (named_.count(key)) return;
    const bool removed = options_.remove_orphans && pool.RemoveFile(rel).ok();
    Add(Kind::kOrphanPoolFile, where, "GUID " + key.second + " is named by no redirector",
        info.allocated_bytes, removed);
  }

  static Result<Uuid> HeaderGuid(pool::Pool& pool, const std::string& rel) {
    CAFS_ASSIGN_OR_RETURN(auto file, pool.OpenFile(rel, env::OpenOptions::ReadOnly()));
    Bytes header(format::kHeaderSize);
    CAFS_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(0, MutableByteView(header)));
    header.resize(n);
    CAFS_ASSIGN_OR_RETURN(format::Header h, format::ParseHeaderUnverified(header));
    return h.file_guid;
  }

  const std::string root_;
  pool::PoolMapper& pools_;
  const CheckOptions& options_;
  std::set<std::string> configured_;
  struct Named {
    std::string rel;        // the redirector, backing-relative
    std::string pool_path;  // its `path` line
  };
  std::map<std::pair<std::string, std::string>, Named> named_;  // (pool, GUID) -> redirector
  std::set<std::pair<std::string, std::string>> present_;       // (pool, GUID) in pools
  std::set<std::pair<std::string, std::string>> unreadable_;    // (pool, path): bad headers
  CheckReport report_;
};

}  // namespace

const char* CheckFindingName(CheckFinding::Kind kind) {
  switch (kind) {
    case Kind::kOrphanPoolFile:
      return "orphan-pool-file";
    case Kind::kStaleTempFile:
      return "stale-temp-file";
    case Kind::kMissingPoolFile:
      return "missing-pool-file";
    case Kind::kBadRedirector:
      return "bad-redirector";
    case Kind::kDuplicateGuid:
      return "duplicate-guid";
    case Kind::kBadPoolFile:
      return "bad-pool-file";
    case Kind::kUnreadable:
      return "unreadable";
  }
  return "?";
}

std::size_t CheckReport::remaining() const {
  std::size_t n = 0;
  for (const auto& f : findings) n += f.removed ? 0 : 1;
  return n;
}

Result<CheckReport> CheckVolume(const std::string& backing_root, pool::PoolMapper& pools,
                                const CheckOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(backing_root, ec)) || ec) {
    return Status::FromErrno(ec ? ec.value() : ENOTDIR, "backing store " + backing_root);
  }
  return Checker(backing_root, pools, options).Run();
}

}  // namespace cafs::core
