#include "cafs/store_walk.h"

#include <system_error>
#include <vector>

#include "env/env.h"
#include "format/header_codec.h"
#include "format/header_layout.h"
#include "util/bytes.h"

namespace cafs::core {

namespace fs = std::filesystem;

namespace {
// A redirector is a few hundred bytes; anything larger is not one of ours.
}  // namespace

void WalkRegularFiles(
    const fs::path& dir, const std::function<void(const fs::path&)>& visit,
    const std::function<void(const fs::path&, const std::error_code&)>& unreadable) {
  std::vector<fs::path> todo{dir};
  while (!todo.empty()) {
    const fs::path d = std::move(todo.back());
    todo.pop_back();
    std::error_code ec;
    fs::directory_iterator it(d, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::directory_entry& e = *it;
      std::error_code type_ec;
      const fs::file_status st = e.symlink_status(type_ec);
      if (type_ec) continue;
      if (fs::is_directory(st)) {
        todo.push_back(e.path());
      } else if (fs::is_regular_file(st)) {
        visit(e.path());
      }
    }
    if (ec) unreadable(d, ec);
  }
}

namespace {

// A small file of ours (a redirector, a long name's side entry), read without touching its
// access time: a redirector's is the client-visible atime.
Result<std::string> ReadSmallFile(const fs::path& path) {
  CAFS_ASSIGN_OR_RETURN(auto file,
                        env::Env::Default()->OpenFile(path.string(), env::OpenOptions::Metadata()));
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
  if (size > kMaxBackingEntrySize) return Status::Corruption("too large for a redirector");
  std::string text(static_cast<std::size_t>(size), '\0');
  CAFS_RETURN_IF_ERROR(env::ReadExactly(
      *file, 0, MutableByteView(reinterpret_cast<std::uint8_t*>(text.data()), text.size())));
  return text;
}

}  // namespace

Result<std::string> ReadBackingEntry(env::Dir& dir, const std::string& name) {
  CAFS_ASSIGN_OR_RETURN(auto file, dir.OpenFile(name, env::OpenOptions::Metadata()));
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
  if (size > kMaxBackingEntrySize)
    return Status::Corruption(name + ": too large for an entry of ours");
  std::string text(static_cast<std::size_t>(size), '\0');
  CAFS_RETURN_IF_ERROR(env::ReadExactly(
      *file, 0, MutableByteView(reinterpret_cast<std::uint8_t*>(text.data()), text.size())));
  return text;
}

Result<Redirector> ReadRedirectorFile(const fs::path& path) {
  CAFS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  return DecodeRedirector(text);
}

Result<std::string> CallerNameOfFile(const fs::path& path) {
  const std::string backing_name = path.filename().string();
  const auto split = SplitRedirectorName(backing_name);
  if (!split) return Status::NotFound(backing_name + " is not a redirector");
  return CallerNameOf(
      *split, [&](const std::string& entry) { return ReadSmallFile(path.parent_path() / entry); });
}

Result<std::string> CallerPathOfFile(const fs::path& root, const fs::path& path) {
  const fs::path rel = path.parent_path().lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..")
    return Status::InvalidArgument(path.string() + " is not below " + root.string());
  std::string out;
  fs::path at = root;
  for (const fs::path& comp : rel) {
    if (comp == ".") continue;
    auto name = CallerNameOfEntry(
        comp.string(), false, [&](const std::string& entry) { return ReadSmallFile(at / entry); });
    if (!name.ok()) return name.status();
    out += "/" + *name;
    at /= comp;
  }
  CAFS_ASSIGN_OR_RETURN(std::string name, CallerNameOfFile(path));
  return out + "/" + name;
}

Result<format::Header> ReadPoolFileHeader(pool::Pool& pool, const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(auto file, pool.OpenFile(rel, env::OpenOptions::ReadOnly()));
  Bytes header(format::kHeaderSize);
  CAFS_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(0, MutableByteView(header)));
  header.resize(n);
  return format::ParseHeaderUnverified(header);
}

}  // namespace cafs::core
